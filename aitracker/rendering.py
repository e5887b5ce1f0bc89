"""Analysts' Markdown to HTML that is safe to show to anyone, in bounded time whatever the text holds.

Rendered once, when an update is saved (the services store it in `ProgressUpdate.summary_html`); pages and
feeds show the stored HTML. After a change to the rules below, `manage.py rerender_markdown` renders every
stored summary again.

The parser is cmark (GitHub's C implementation of CommonMark, through cmarkgfm): it is built and fuzzed to
run in linear time on any input and never recurses, where Python-Markdown took 72 s on 20,000 "[" and raised
RecursionError on a 2,000-deep list, and markdown-it-py, linear too, still took 0.2 s on the same "[". The
sanitiser (nh3, html5ever) is linear on well-nested HTML but quadratic in the depth of nesting, so HTML
nested deeper than MAX_NESTING is never handed to it: such a text is shown as plain, escaped paragraphs.
"""

import html
import re

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options

# What an analyst's Markdown may become. Headings start at h3 so that a summary never competes with the
# page's own h1 and h2; images are left out because the CSP would block remote ones anyway.
ALLOWED_TAGS = {
    "a",
    "abbr",
    "blockquote",
    "br",
    "code",
    "em",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}

# No real summary nests lists or quotes this deep; past it the sanitiser's cost grows with the square.
MAX_NESTING = 50

_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags={"script", "style", "iframe", "object", "embed", "template", "noscript"},
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https"},
    # Relative and protocol-relative links would point into this site or anywhere at all: only absolute
    # http(s) addresses survive.
    url_relative="deny",
    link_rel="nofollow noopener",
    strip_comments=True,
)

# Raw HTML is kept (and sanitised below) so that analysts' inline links and abbreviations survive.
_CMARK_OPTIONS = Options.CMARK_OPT_UNSAFE
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_BLANK_LINES = re.compile(r"\n\s*\n")


def _nesting_exceeds(markup: str, limit: int) -> bool:
    depth = 0
    for match in _TAG.finditer(markup):
        if match.group(1):
            depth -= 1
        elif match.group(2).lower() not in _VOID:
            depth += 1
            if depth > limit:
                return True
    return False


def _plain_paragraphs(text: str) -> str:
    paragraphs = (part.strip() for part in _BLANK_LINES.split(text))
    return "\n".join(f"<p>{html.escape(part)}</p>" for part in paragraphs if part)


def render_markdown(text: str | None) -> str:
    """Markdown to sanitised HTML; a pure function of the text."""
    text = (text or "").replace("\x00", "\ufffd")
    if not text:
        return ""
    markup = cmarkgfm.markdown_to_html(text, options=_CMARK_OPTIONS)
    if _nesting_exceeds(markup, MAX_NESTING):
        markup = _plain_paragraphs(text)
    return _cleaner.clean(markup)
