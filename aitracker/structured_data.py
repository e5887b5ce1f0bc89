"""schema.org descriptions of the site and its data, for search engines' rich results (JSON-LD in the page head).

Only what the page itself shows and can stand behind: the site and who publishes it on the dashboard, the
downloads page as a `Dataset` with every download, its data package and its licence. Every address is built
from the configured site address.
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


def downloads_dataset(datasets, *, modified=None):
    """The downloads page (/data/) as a schema.org `Dataset`: every public table as a CSV and a JSON download,
    the data package that describes them, and our licence. `datasets` are aitracker.datapackage's DATASETS."""
    page = absolute_url(reverse("data"))
    distribution = []
    for dataset in datasets:
        for export, media_type in (("csv", "text/csv"), ("json", "application/json")):
            distribution.append(
                {
                    "@type": "DataDownload",
                    "name": f"{dataset.title} ({export.upper()})",
                    "description": dataset.description,
                    "encodingFormat": media_type,
                    "contentUrl": absolute_url(
                        reverse("data_download", kwargs={"name": dataset.name, "export": export})
                    ),
                    "license": LICENCE_URL,
                }
            )
    distribution.append(
        {
            "@type": "DataDownload",
            "name": "datapackage.json",
            "encodingFormat": "application/json",
            "contentUrl": absolute_url(reverse("datapackage")),
            "license": LICENCE_URL,
        }
    )
    dataset = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": _("Government AI commitments and their progress"),
        "description": _(
            "Every dataset aitracker publishes, as CSV and JSON, with its columns, a Frictionless Data Package "
            "and an API, under CC BY 4.0."
        ),
        "url": page,
        "license": LICENCE_URL,
        "isAccessibleForFree": True,
        "inLanguage": get_language() or "en",
        "creator": _publisher(),
        "publisher": _publisher(),
        "keywords": [_("artificial intelligence"), _("AI governance"), _("government commitments")],
        "distribution": distribution,
    }
    if modified:
        dataset["dateModified"] = modified.isoformat()
    return dataset
