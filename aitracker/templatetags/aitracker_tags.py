"""Template helpers for the public site: safe Markdown, the one date format, status bars and navigation state."""

import functools
import hashlib
import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import get_template
from django.utils import formats, timezone
from django.utils.dateformat import format as format_date
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from aitracker import querysets
from aitracker.fragments import cached_fragment
from aitracker.i18n import translated_html, translated_text
from aitracker.models import Status
from aitracker.rendering import render_markdown

register = template.Library()


def status_badge_html(status) -> str:
    """The badge of a status (includes/status_badge.html)."""
    return _status_badge(status or Status.NOT_ASSESSED, get_language())


def progress_bar_html(progress) -> str:
    """The bar of a progress figure (includes/progress_bar.html)."""
    return _progress_bar(progress, get_language())


def confidence_badge_html(confidence) -> str:
    """The badge of a confidence level (includes/confidence.html)."""
    return _confidence_badge(confidence, get_language())


# A badge or a bar depends only on its value and the language (seven statuses, three confidence levels, 101
# figures): each is rendered once per process, where an include would render its template for every row of a
# table or update of a timeline. The language is part of each key because the labels are translated.
@functools.lru_cache(maxsize=64)
def _status_badge(value, language):
    status = Status(value)
    return _render("aitracker/includes/status_badge.html", {"status": status.value, "label": status.label})


@functools.lru_cache(maxsize=512)
def _progress_bar(progress, language):
    return _render("aitracker/includes/progress_bar.html", {"progress": progress})


@functools.lru_cache(maxsize=64)
def _confidence_badge(confidence, language):
    return _render("aitracker/includes/confidence.html", {"confidence": confidence})


def _render(template_name, context):
    return mark_safe(get_template(template_name).render(context))


@register.filter(name="list_of")
def list_of_filter(items):
    """Names run together with the page language's list separator (aitracker.i18n.list_of)."""
    from aitracker.i18n import list_of

    return list_of(items)


@register.filter(name="markdown")
def markdown_filter(text):
    """For the staff form's preview only: pages show the HTML stored when the update was saved."""
    # Safe because render_markdown sanitised it with nh3.
    return mark_safe(render_markdown(text))


@register.filter
def http_url(value):
    """An address for an outbound link, or "" unless it is http(s): the database checks this too, but a page
    should never depend on every path into the database having done so."""
    value = (value or "").strip()
    return value if value.lower().startswith(("http://", "https://")) else ""


@register.filter
def display_date(value):
    """The one date format of the site, in the page's language: "11 Feb 2025", "11 février 2025",
    "2025年2月11日" (DATE_FORMAT of aitracker/formats/<lang>/formats.py, else Django's own for the language)."""
    if not value:
        return ""
    return _first_as_ordinal(formats.date_format(value, "DATE_FORMAT"), value)


@register.filter
def display_datetime(value):
    """The one date-and-time format of the site (staff pages, history, e-mails), in the page's language and the
    site's time zone: "1 Dec 2026, 06:52", "1er décembre 2026 06:52" (DATETIME_FORMAT, as display_date)."""
    if not value:
        return ""
    value = timezone.localtime(value) if timezone.is_aware(value) else value
    return _first_as_ordinal(formats.date_format(value, "DATETIME_FORMAT"), value)


def _first_as_ordinal(text, value):
    if value.day == 1 and text.startswith("1 ") and get_language() == "fr":
        return "1er" + text[1:]  # French writes the first of the month as an ordinal: "1er décembre 2026"
    return text


@register.filter
def time_tag(value):
    """A date in the site's format inside a machine-readable <time> element."""
    if not value:
        return ""
    return _time_tag(value, get_language())


@functools.lru_cache(maxsize=4096)
def _time_tag(value, language):
    # Formatting a date costs more than the rest of a table cell, and a page repeats the same few dates.
    return format_html('<time datetime="{}">{}</time>', format_date(value, "Y-m-d"), display_date(value))


@register.simple_tag
def status_badge(status):
    return status_badge_html(status)


@register.simple_tag
def confidence_badge(confidence):
    return confidence_badge_html(confidence)


@register.simple_tag(takes_context=True)
def update_article(context, update, show_commitment=False, show_sources=True):
    """`{% update_article update show_commitment=True show_sources=False %}`: a progress update's article
    (aitracker/markup.py), with the links to correct it for a viewer who may."""
    from aitracker.markup import update_article_html  # it builds on this module's helpers

    perms = context.get("perms")
    staff_links = bool(perms) and "aitracker.publish_progressupdate" in perms
    return mark_safe(
        update_article_html(update, show_commitment=show_commitment, show_sources=show_sources, staff_links=staff_links)
    )


@register.simple_tag
def party_rows(rows, party_status=""):
    """`{% party_rows party_rows party_status %}`: a commitment's rows for the parties it binds (markup.py)."""
    from aitracker.markup import party_rows_html  # it builds on this module's helpers

    return mark_safe(party_rows_html(rows, party_status=party_status))


@register.inclusion_tag("aitracker/includes/status_bar.html")
def status_bar(counts, label=""):
    """A stacked bar (decorative SVG) plus the same numbers as text, for a {status: count} mapping."""
    total = sum(counts.values())
    segments, offset = [], 0.0
    for status in Status:
        count = counts.get(status.value, 0)
        if not count:
            continue
        width = 100 * count / total
        segments.append(
            {
                "status": status.value,
                "label": status.label,
                "count": count,
                "x": f"{offset:.3f}",
                "width": f"{width:.3f}",
            }
        )
        offset += width
    return {"segments": segments, "total": total, "label": label}


@register.simple_tag
def progress_bar(progress):
    return progress_bar_html(progress)


# Which navigation entry each public URL name belongs to. Pages not listed (staff pages, errors) mark none.
NAV_SECTIONS = {
    "dashboard": "dashboard",
    "commitment_list": "commitments",
    "commitment_detail": "commitments",
    "instrument_list": "instruments",
    "instrument_detail": "instruments",
    "party_list": "parties",
    "party_detail": "parties",
    "theme_list": "themes",
    "theme_detail": "themes",
    "update_list": "updates",
    "methodology": "methodology",
}
# The page at the root of each section, in the navigation's order (the sitemap lists them too).
SECTION_ROOTS = (
    "dashboard",
    "commitment_list",
    "instrument_list",
    "party_list",
    "theme_list",
    "update_list",
    "methodology",
)


@register.simple_tag(takes_context=True)
def aria_current(context, section):
    """`aria-current="page"` on the entry of the page itself, `"true"` on the section of a detail page."""
    match = getattr(context.get("request"), "resolver_match", None)
    url_name = getattr(match, "url_name", None)
    if NAV_SECTIONS.get(url_name) != section:
        return ""
    return mark_safe('aria-current="page"' if url_name in SECTION_ROOTS else 'aria-current="true"')


@register.simple_tag
def stale_after_days():
    """The setting's number of days, for the translated sentences about staleness: `{% stale_after_days as days %}`."""
    return querysets.stale_after_days()


class CaptureNode(template.Node):
    def __init__(self, nodelist, name):
        self.nodelist, self.name = nodelist, name

    def render(self, context):
        # The nodelist is rendered by the template engine, so its output is escaped already.
        context[self.name] = mark_safe(self.nodelist.render(context).strip())
        return ""


@register.tag
def capture(parser, token):
    """`{% capture as name %}…{% endcapture %}`: renders once what is between, into `name`, so that a page's title
    and description blocks, overridden by each page, can fill <title> and the link-preview tags alike."""
    bits = token.split_contents()
    if len(bits) != 3 or bits[1] != "as":
        raise template.TemplateSyntaxError("usage: {% capture as name %}…{% endcapture %}")
    nodelist = parser.parse(("endcapture",))
    parser.delete_first_token()
    return CaptureNode(nodelist, bits[2])


# The progress chart's bars and its table of figures (includes/status_chart.html) are built here, in Python: a
# chart of ten years has a hundred and twenty bars of up to seven segments, and the template's nested loops cost
# more than the rest of the dashboard. The markup is the same as the loops wrote.
@register.simple_tag
def chart_bars(chart, chart_id):
    """The chart's bars (one <g> of coloured segments each), then each segment's pattern, if its status has one.
    The coordinates are SVG numbers, written as Python writes them (never localized)."""
    patterns = {status: pattern for status, _label, pattern in chart["legend"]}
    bars = "".join(
        "<g>"
        + "".join(
            f'<rect class="fill-{status}" x="{bar.x}" y="{y}" width="{bar.width}" height="{height}"></rect>'
            for status, y, height in bar.segments
        )
        + "</g>"
        for bar in chart["bars"]
    )
    chart_id = conditional_escape(chart_id)
    overlays = "".join(
        f'<rect fill="url(#{chart_id}-{patterns[status]})" x="{bar.x}" y="{y}" '
        f'width="{bar.width}" height="{height}"></rect>'
        for bar in chart["bars"]
        for status, y, height in bar.segments
        if patterns.get(status)
    )
    return mark_safe(f"{bars}\n      {overlays}")


@register.simple_tag
def chart_rows(chart):
    """The rows of the chart's table: a month, its count in each status, its total."""
    return mark_safe(
        "".join(
            f'<tr><th scope="row">{conditional_escape(formats.date_format(row["month"], "YEAR_MONTH_FORMAT"))}</th>'
            + "".join(f'<td class="num">{formats.localize(count)}</td>' for count in row["counts"])
            + f'<td class="num">{formats.localize(row["total"])}</td></tr>'
            for row in chart["rows"]
        )
    )


class FragmentNode(template.Node):
    def __init__(self, nodelist, name, parts):
        self.nodelist, self.name, self.parts = nodelist, name, parts

    def render(self, context):
        # A part the context lacks (no as-of day on today's record) counts as empty.
        parts = tuple(part.resolve(context, ignore_failures=True) for part in self.parts)
        # What a signed-in member of staff sees may hold links to edit, for them alone: kept per viewer.
        user = context.get("user")
        viewer = f"user-{user.pk}" if user is not None and getattr(user, "is_authenticated", False) else ""
        return cached_fragment(
            self.name, (viewer, *parts), lambda: self.nodelist.render(context), request=context.get("request")
        )


@register.tag
def fragment(parser, token):
    """`{% fragment "name" part… %}…{% endfragment %}`: what is between, kept under the data generation, the
    language, the day and the parts (aitracker/fragments.py), for every page that shows the same piece. The parts
    must name everything the piece shows besides the data: an object's key, an as-of day, a filter's value."""
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError('usage: {% fragment "name" part… %}…{% endfragment %}')
    name = bits[1].strip("\"'")
    parts = [parser.compile_filter(bit) for bit in bits[2:]]
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return FragmentNode(nodelist, name, parts)


@register.filter
def filter_panel_key(filterset):
    """What a filter panel shows besides the data and the language: whether its form is bound and the values it
    was given for its own fields (other parameters, a page number, change nothing in it), as a short digest, so
    that every page of the same filters and sort shares one kept panel and no visitor's text goes into a key."""
    form = filterset.form
    data = form.data
    values = [(name, data.getlist(name) if hasattr(data, "getlist") else data.get(name)) for name in form.fields]
    text = json.dumps([form.is_bound, values], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_JSON_LD_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


@register.simple_tag
def json_ld(data):
    """A schema.org description as a JSON-LD data block. It is data, not script (the CSP runs no inline script,
    and a data block is never run); <, > and & are escaped so no value can close the element."""
    if not data:
        return ""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, cls=DjangoJSONEncoder).translate(_JSON_LD_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))


@register.simple_tag
def person_name(user):
    """A staff member as people call them: full name, else username (one rule, in aitracker.history)."""
    from aitracker.history import person_name as name

    return name(user)


@register.simple_tag
def suggestions_waiting():
    """How many readers' suggestions wait for an analyst (the staff navigation shows it; staff pages only)."""
    from aitracker.models import Suggestion

    return Suggestion.objects.waiting().count()


@register.simple_tag
def tr(obj, field, format="text"):
    """A content field in the page's language: `{% tr commitment "title" %}`, `{% tr update "summary_html" "html" %}`.

    Formats: text (escaped, the default), linebreaks, urlize, urlize_linebreaksbr, html (stored, sanitised HTML).
    A field with no translation in the page's language shows its English text inside `lang="en"`, with a quiet
    "not yet translated" note (aitracker.i18n.fallback_html). Countries' names come from django-countries.
    """
    return translated_html(obj, field, format)


@register.filter
def tr_text(obj, field):
    """The same as plain text, without a marker: for a <title>, a meta description or an attribute."""
    return translated_text(obj, field)
