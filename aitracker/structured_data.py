"""schema.org descriptions of the site and its data, for search engines' rich results (JSON-LD in the page head).

Only what the page itself shows and can stand behind: the site and who publishes it on the dashboard, the
commitments table as a `Dataset` with its downloads. Every address is built from the configured site address.
"""

from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .links import absolute_url

LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


def _publisher():
    return {"@type": "Organization", "name": "aitracker", "url": absolute_url(reverse("dashboard"))}


def website():
    return {
        "@context": "https://schema.org",
        "@type": "WebSite",
        "name": "aitracker",
        "url": absolute_url(reverse("dashboard")),
        "description": _(
            "aitracker follows the commitments governments make about artificial intelligence, pledge by pledge, "
            "with dated and sourced progress updates."
        ),
        "inLanguage": get_language() or "en",
        "publisher": _publisher(),
    }


def commitments_dataset(*, modified=None):
    page = absolute_url(reverse("commitment_list"))
    dataset = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": _("AI commitments of governments and their status"),
        "description": _(
            "Every AI commitment aitracker tracks, with its instrument, themes, the parties it binds, its current "
            "status and progress, and the date of its latest published, sourced progress update."
        ),
        "url": page,
        "license": LICENCE_URL,
        "isAccessibleForFree": True,
        "inLanguage": get_language() or "en",
        "creator": _publisher(),
        "publisher": _publisher(),
        "keywords": [_("artificial intelligence"), _("AI governance"), _("government commitments")],
        "distribution": [
            {"@type": "DataDownload", "encodingFormat": "text/csv", "contentUrl": f"{page}?_export=csv"},
            {"@type": "DataDownload", "encodingFormat": "application/json", "contentUrl": f"{page}?_export=json"},
        ],
    }
    if modified:
        dataset["dateModified"] = modified.isoformat()
    return dataset
