"""The downloads, described once: each dataset's columns (name, type, meaning, allowed codes, keys), from which
the downloads page lists them and /data/datapackage.json (a Frictionless Data Package, tabular) describes them.

The CSV files are the package's resources, at paths relative to the descriptor (/data/<name>.csv), so the same
descriptor is valid served by the site and saved in a folder beside the files. Each dataset has a JSON twin
(/data/<name>.json: the same rows as objects, lists as arrays), listed in the package too."""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .cache import cached_summary
from .links import absolute_url
from .models import STATUS_VALUES, Commitment, Confidence, Endorsement, Instrument, Party, ProgressUpdate, Theme

LICENCE = {
    "name": "CC-BY-4.0",
    "title": "Creative Commons Attribution 4.0 International",
    "path": "https://creativecommons.org/licenses/by/4.0/",
}
LICENCE_SCOPE = _(
    "Our data: the commitments' summaries, the instruments' and updates' summaries, the statuses and progress we "
    "assess, the relations of parties to instruments and all the structured data (codes, dates, links). It does "
    "not cover the texts of the third-party sources we link to, nor the official texts of the instruments, which "
    "belong to their authors."
)
PACKAGE_VERSION = "1.0.0"


@dataclass
class Column:
    name: str
    type: str
    description: str
    enum: list | None = None
    required: bool = False
    format: str | None = None

    def table_schema(self) -> dict:
        described = {"name": self.name, "type": self.type, "description": str(self.description)}
        if self.format:
            described["format"] = self.format
        constraints = {}
        if self.required:
            constraints["required"] = True
        if self.enum is not None:
            constraints["enum"] = list(self.enum)
        if constraints:
            described["constraints"] = constraints
        return described


@dataclass
class Dataset:
    name: str
    title: str
    description: str
    columns: list
    primary_key: list
    foreign_keys: list = field(default_factory=list)
    count: object = None  # () -> the number of public rows

    @property
    def fields(self):
        return [column.name for column in self.columns]


def _url(description):
    return Column("url", "string", description, format="uri", required=True)


STATUS_COLUMN = Column(
    "status", "string", _("Status code: not_assessed, not_started, in_progress, …"), list(STATUS_VALUES), True
)
ENDORSEMENT_RELATIONS = [value for value, _label in Endorsement.Relation.choices]
CONFIDENCES = [value for value, _label in Confidence.choices]

DATASETS = [
    Dataset(
        "instruments",
        _("Instruments"),
        _("The declarations, statements and resolutions that contain commitments."),
        [
            Column("slug", "string", _("Stable identifier."), required=True),
            Column("title", "string", _("Full title."), required=True),
            Column("short_title", "string", _("Short title."), required=True),
            Column("kind", "string", _("Kind code."), [v for v, _label in Instrument.Kind.choices], True),
            Column("kind_label", "string", _("Kind, in words.")),
            Column("adopted_on", "date", _("Date of adoption."), required=True),
            Column("adopted_on_confidence", "string", _("Confidence in that date."), CONFIDENCES),
            Column("place", "string", _("Where it was adopted.")),
            Column("adoption", "string", _("How it was adopted (whom it binds)."), list(Instrument.Adoption.values)),
            Column("adoption_label", "string", _("How it was adopted, in words.")),
            Column("source_url", "string", _("Where its text is published."), format="uri"),
            _url(_("Its page on aitracker.")),
        ],
        ["slug"],
        count=lambda: Instrument.objects.public().count(),
    ),
    Dataset(
        "themes",
        _("Themes"),
        _("The policy areas commitments are grouped in."),
        [
            Column("slug", "string", _("Stable identifier."), required=True),
            Column("name", "string", _("Name."), required=True),
            Column("description", "string", _("What it covers.")),
            _url(_("Its page on aitracker.")),
        ],
        ["slug"],
        count=lambda: Theme.objects.public().count(),
    ),
    Dataset(
        "parties",
        _("Parties"),
        _("Countries and organisations, with how many commitments bind each and their own status on them."),
        [
            Column("slug", "string", _("Stable identifier."), required=True),
            Column("name", "string", _("Name."), required=True),
            Column("kind", "string", _("Kind code."), [v for v, _label in Party.Kind.choices], True),
            Column("country", "string", _("ISO 3166-1 alpha-2 code; empty for organisations.")),
            Column("region", "string", _("Region code; empty for global bodies."), list(Party.Region.values)),
            Column("un_member", "boolean", _("A UN member state."), required=True),
            Column("instruments_endorsed", "integer", _("Instruments it signed, joined, sponsored or voted for.")),
            Column("commitments_binding", "integer", _("Commitments that bind it.")),
            *(
                Column(status, "integer", _("Commitments binding it in this status, by its own record."))
                for status in STATUS_VALUES
            ),
            _url(_("Its page on aitracker.")),
            Column("kind_label", "string", _("Kind, in words.")),
            Column("region_label", "string", _("Region, in words.")),
            Column(
                "language",
                "string",
                _("The language of the texts and labels of this download (en, fr, zh-Hans)."),
                required=True,
            ),
        ],
        ["slug"],
        count=lambda: Party.objects.public().count(),
    ),
    Dataset(
        "endorsements",
        _("Endorsements"),
        _("Each party's relation to each instrument (signed, joined later, did not sign, voted…), with its source."),
        [
            Column("id", "integer", _("Stable identifier."), required=True),
            Column("instrument", "string", _("The instrument's slug."), required=True),
            Column("instrument_title", "string", _("The instrument's short title.")),
            Column("party", "string", _("The party's slug."), required=True),
            Column("party_name", "string", _("The party's name.")),
            Column("relation", "string", _("Relation code."), ENDORSEMENT_RELATIONS, True),
            Column("relation_label", "string", _("Relation, in words.")),
            Column("date", "date", _("When, where known.")),
            Column("confidence", "string", _("Confidence code."), CONFIDENCES, True),
            Column("confidence_label", "string", _("Confidence, in words.")),
            Column("source_url", "string", _("Where the relation is documented."), format="uri"),
            Column("note", "string", _("Caveats.")),
            _url(_("The instrument's page on aitracker.")),
        ],
        ["id"],
        [
            {"fields": "instrument", "reference": {"resource": "instruments", "fields": "slug"}},
            {"fields": "party", "reference": {"resource": "parties", "fields": "slug"}},
        ],
        count=lambda: Endorsement.objects.public().count(),
    ),
    Dataset(
        "commitments",
        _("Commitments"),
        _("Each pledge inside an instrument, with its current overall status (from its latest published update)."),
        [
            Column("instrument", "string", _("The instrument's slug."), required=True),
            Column("instrument_title", "string", _("The instrument's short title.")),
            Column(
                "reference", "string", _("The point or paragraph (e.g. §4), in English: an identifier."), required=True
            ),
            Column("slug", "string", _("Stable identifier."), required=True),
            Column("title", "string", _("Title."), required=True),
            Column("text", "string", _("What was pledged, in our words.")),
            Column("themes", "string", _("Its themes' names, separated by '; '.")),
            STATUS_COLUMN,
            Column("status_label", "string", _("Status, in words.")),
            Column("progress", "integer", _("Progress, 0 to 100, where assessed.")),
            Column("last_update_on", "date", _("Date of the event of its latest published assessment.")),
            _url(_("Its page on aitracker.")),
            Column("confidence", "string", _("Confidence code of the latest assessment."), CONFIDENCES),
            Column("confidence_label", "string", _("Confidence, in words.")),
            Column(
                "language",
                "string",
                _("The language of the texts and labels of this download (en, fr, zh-Hans)."),
                required=True,
            ),
            Column("reference_label", "string", _("The point or paragraph, in the language of this download.")),
        ],
        ["slug"],
        [{"fields": "instrument", "reference": {"resource": "instruments", "fields": "slug"}}],
        count=lambda: Commitment.objects.public().count(),
    ),
    Dataset(
        "updates",
        _("Progress updates"),
        _("Every published, dated assessment (or check) of a commitment, with its sources."),
        [
            Column("id", "integer", _("Stable identifier."), required=True),
            Column("instrument", "string", _("The instrument's slug."), required=True),
            Column("commitment", "string", _("The commitment's slug."), required=True),
            Column("commitment_title", "string", _("The commitment's title.")),
            Column("kind", "string", _("assessment or check."), list(ProgressUpdate.Kind.values), True),
            Column("reported_on", "date", _("Date of the event (for a check, of the search)."), required=True),
            Column("published_at", "datetime", _("When we published it."), required=True),
            Column("status", "string", _("Status code it asserts (empty for a check)."), list(STATUS_VALUES)),
            Column("status_label", "string", _("Status, in words.")),
            Column("progress", "integer", _("Progress, 0 to 100, where given.")),
            Column("confidence", "string", _("Confidence code."), CONFIDENCES, True),
            Column("parties", "string", _("Slugs of the parties whose action it records, separated by '; '.")),
            Column("summary", "string", _("What happened (Markdown)."), required=True),
            Column("corrected_at", "datetime", _("When it was corrected, if it was.")),
            Column("correction_note", "string", _("What the correction changed.")),
            Column("sources", "string", _("Its sources, each 'title <address>', separated by '; '.")),
            _url(_("The update on its commitment's page.")),
            Column("kind_label", "string", _("Kind, in words.")),
            Column("confidence_label", "string", _("Confidence, in words.")),
            Column(
                "language",
                "string",
                _("The language of the texts and labels of this download (en, fr, zh-Hans)."),
                required=True,
            ),
        ],
        ["id"],
        [
            {"fields": "commitment", "reference": {"resource": "commitments", "fields": "slug"}},
            {"fields": "instrument", "reference": {"resource": "instruments", "fields": "slug"}},
        ],
        count=lambda: Commitment.objects.public().published_update_count(),
    ),
]
DATASETS_BY_NAME = {dataset.name: dataset for dataset in DATASETS}


def last_published():
    """When the data last changed in a way a reader would date a copy by: the latest publication or correction.

    Each read from its index, latest first (a few rows), not a maximum over every published update."""
    updates = ProgressUpdate.objects.public()
    moments = [
        updates.order_by("-published_at").values_list("published_at", flat=True).first(),
        updates.filter(corrected_at__isnull=False)
        .order_by("-corrected_at")
        .values_list("corrected_at", flat=True)
        .first(),
    ]
    moments = [moment for moment in moments if moment]
    return max(moments) if moments else None


def data_package() -> dict:
    """The Frictionless (tabular) Data Package describing every download."""
    updated = cached_summary("data-last-published", last_published)
    resources = []
    for dataset in DATASETS:
        schema = {"fields": [column.table_schema() for column in dataset.columns], "primaryKey": dataset.primary_key}
        if dataset.foreign_keys:
            schema["foreignKeys"] = dataset.foreign_keys
        resources.append(
            {
                "name": dataset.name,
                "title": str(dataset.title),
                "description": str(dataset.description),
                "path": f"{dataset.name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8-sig",
                "licenses": [LICENCE],
                "schema": schema,
            }
        )
    return {
        "profile": "tabular-data-package",
        "name": "aitracker",
        "title": "aitracker: government AI commitments and their progress",
        "description": (
            "Commitments governments and organisations make about artificial intelligence, pledge by pledge, "
            "with dated and sourced progress updates, the parties bound and their own status. "
            f"Licence: CC BY 4.0. {LICENCE_SCOPE!s} Each dataset is also published as JSON (the same address "
            "ending in .json) and through the API."
        ),
        "homepage": absolute_url(reverse("data")),
        "version": PACKAGE_VERSION,
        "created": (updated or timezone.now()).isoformat(),
        "keywords": ["artificial intelligence", "AI governance", "commitments", "accountability"],
        "licenses": [LICENCE],
        "sources": [
            {
                "title": "aitracker: each update's sources are listed with it (updates.sources)",
                "path": absolute_url(reverse("methodology")),
            }
        ],
        "contributors": [{"title": "aitracker editors and analysts", "role": "author", "path": absolute_url("/")}],
        "resources": resources,
    }
