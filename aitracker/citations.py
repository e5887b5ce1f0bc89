"""The "cite this" block of a commitment or party page: plain text, BibTeX and CSL-JSON, each with the
permalink (from AITRACKER_SITE_URL, never the request's Host) and the day the record is as of, or the day it
was retrieved. With ?as_of= the permalink carries the date, so the citation leads back to what was cited."""

import datetime
import json
import re

from django.utils import timezone
from django.utils.translation import gettext as _

from .links import absolute_url
from .templatetags.aitracker_tags import display_date

PUBLISHER = "aitracker"


def _bibtex_escape(text: str) -> str:
    # BibTeX's special characters, escaped so that a title reads the same once typeset.
    return re.sub(r"([\\{}%&$#_^~])", r"\\\1", text)


def citation(*, title: str, path: str, key: str, as_of: datetime.date | None = None) -> dict:
    """The three forms of the citation of the page at `path` titled `title` (`key`: a BibTeX key's stem)."""
    retrieved = timezone.localdate()
    day = as_of or retrieved
    url = absolute_url(path) + (f"?as_of={as_of.isoformat()}" if as_of else "")
    when = display_date(day)
    if as_of:
        text = _("%(publisher)s. “%(title)s”, the record as it stood on %(date)s. %(url)s") % {
            "publisher": PUBLISHER,
            "title": title,
            "date": when,
            "url": url,
        }
    else:
        text = _("%(publisher)s. “%(title)s”. %(url)s (retrieved %(date)s).") % {
            "publisher": PUBLISHER,
            "title": title,
            "date": when,
            "url": url,
        }
    note = (_("Record as of %(date)s") if as_of else _("Retrieved %(date)s")) % {"date": day.isoformat()}
    bibtex_key = re.sub(r"[^A-Za-z0-9-]", "", f"aitracker-{key}-{day:%Y%m%d}")
    bibtex = "\n".join(
        [
            f"@misc{{{bibtex_key},",
            f"  author = {{{{{PUBLISHER}}}}},",
            f"  title = {{{_bibtex_escape(title)}}},",
            f"  howpublished = {{\\url{{{url}}}}},",
            f"  year = {{{day.year}}},",
            f"  urldate = {{{retrieved.isoformat()}}},",
            f"  note = {{{_bibtex_escape(note)}}}",
            "}",
        ]
    )
    csl = {
        "id": bibtex_key,
        "type": "webpage",
        "title": title,
        "author": [{"literal": PUBLISHER}],
        "publisher": PUBLISHER,
        "container-title": PUBLISHER,
        "URL": url,
        "accessed": {"date-parts": [[retrieved.year, retrieved.month, retrieved.day]]},
        "note": note,
    }
    if as_of:
        csl["issued"] = {"date-parts": [[day.year, day.month, day.day]]}
    return {
        "text": text,
        "bibtex": bibtex,
        "csl_json": json.dumps(csl, ensure_ascii=False, indent=2),
        "url": url,
        "as_of": as_of,
    }
