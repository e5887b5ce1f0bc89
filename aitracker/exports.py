"""Downloads: the rows of every public table as plain values (commitments, updates with their sources,
parties), streamed as CSV or JSON so that memory stays flat however many there are. A CSV cell a spreadsheet would
run as a formula is quoted."""

import csv
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import OuterRef, StringAgg, Subquery, TextField, Value
from django.db.models.functions import Cast, JSONObject
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .i18n import current_language, hreflang, translated_text, translated_value
from .links import slug_url
from .models import (
    STATUS_VALUES,
    Commitment,
    Confidence,
    Endorsement,
    Instrument,
    ProgressUpdate,
    Source,
    Status,
    Theme,
)
from .tables import attach_status_counts

# Downloads of the table: the same rows, every page, with stable machine-readable keys.
EXPORT_FIELDS = [
    "instrument",
    "instrument_title",
    "reference",
    "slug",
    "title",
    "text",
    "themes",
    "status",
    "status_label",
    "progress",
    "last_update_on",
    "url",
    # Added with the translations: the download's language, and the codes of its other enumerations.
    "confidence",
    "confidence_label",
    "language",
    # Added with the translated references: `reference` stays the English identifier, this is the page's label.
    "reference_label",
]


_EXPORT_COLUMNS = [
    "instrument__slug",
    "export_instrument_title",
    "reference_en",
    "slug",
    "export_title",
    "export_text",
    "current_status",
    "current_progress",
    "last_update_on",
]


# Joins a commitment's theme names in the export query; a control character no name contains.
_THEME_SEPARATOR = "\x1f"


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# The same columns of a table as of a day (aitracker/asof.py): each row's record of that day.
_AS_OF_COLUMNS = [*_EXPORT_COLUMNS[:-3], "as_of_status", "as_of_progress", "as_of_update_on"]


def commitment_export_rows(commitments, *, site_root, chunk_size=1000, as_of=None):
    """One dict per commitment, in the queryset's order, in one query whatever the number of rows, read from
    the database chunk by chunk so that memory stays flat. Plain values, not model instances: no per-row
    objects or reference cycles pile up between two garbage collections.

    `site_root` is the site's address without a trailing slash ("https://example.org").
    """
    labels = {value: str(label) for value, label in Status.choices}
    confidences = {value: str(label) for value, label in Confidence.choices}
    language = hreflang(current_language())
    theme_names = _joined(
        Commitment.themes.through.objects.filter(commitment_id=OuterRef("pk")),
        "commitment_id",
        translated_value(Theme, "name", "theme__"),
    )
    # Texts in the download's language (the page's), each one's English where it has no translation yet.
    rows = (
        commitments.prefetch_related(None)
        .annotate(
            export_themes=Subquery(theme_names),
            export_instrument_title=translated_value(Instrument, "short_title", "instrument__"),
            export_title=translated_value(Commitment, "title"),
            export_text=translated_value(Commitment, "text"),
            export_reference=translated_value(Commitment, "reference"),
        )
        .values_list(*(_AS_OF_COLUMNS if as_of else _EXPORT_COLUMNS), "export_themes", "confidence", "export_reference")
        .iterator(chunk_size=chunk_size)
    )
    for (instrument, instrument_title, reference, slug, title, text, status, progress, last_update, themes,
         confidence, reference_label) in rows:  # fmt: skip
        yield {
            "instrument": instrument,
            "instrument_title": instrument_title,
            "reference": reference,
            "slug": slug,
            "title": title,
            "text": text,
            "themes": sorted(themes.split(_THEME_SEPARATOR)) if themes else [],
            "status": status,
            "status_label": labels[status],
            "progress": progress,
            "last_update_on": last_update.isoformat() if last_update else None,
            "url": site_root + reverse("commitment_detail", kwargs={"slug": slug}),
            "confidence": confidence,
            "confidence_label": confidences.get(confidence, ""),
            "language": language,
            "reference_label": reference_label,
        }


def _joined(rows, key, value, delimiter=_THEME_SEPARATOR):
    """A subquery of the `value` of `rows` (correlated to the outer row through OuterRef), grouped by `key` and
    joined into one text: a row's many-to-many names, or its sources, in the export's one query."""
    return rows.order_by().values(key).annotate(joined=StringAgg(value, delimiter=Value(delimiter))).values("joined")


def csv_cell(value):
    """A cell as text; one that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, list):
        # A source is written "title <address>"; other lists are names or slugs.
        value = "; ".join(f"{item['title']} <{item['url']}>" if isinstance(item, dict) else item for item in value)
    value = str(value)
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


# Downloads of the updates list ("what changed?"): every matching update with its sources.
UPDATE_EXPORT_FIELDS = [
    "id",
    "instrument",
    "commitment",
    "commitment_title",
    "kind",
    "reported_on",
    "published_at",
    "status",
    "status_label",
    "progress",
    "confidence",
    "parties",
    "summary",
    "corrected_at",
    "correction_note",
    "sources",
    "url",
    # Added with the translations: the labels beside the codes, and the download's language.
    "kind_label",
    "confidence_label",
    "language",
]


def update_export_rows(updates, *, site_root, chunk_size=1000, as_of=None):
    """One dict per update, in the queryset's order, with its sources and parties, in one query whatever the
    number of rows (each update's sources come as one JSON text, its parties as one string), read chunk by
    chunk so that memory stays flat."""
    labels = {value: str(label) for value, label in Status.choices}
    kinds = {value: str(label) for value, label in ProgressUpdate.Kind.choices}
    confidences = {value: str(label) for value, label in Confidence.choices}
    language = hreflang(current_language())
    # Ordered in Python by their key: not every SQLite orders inside an aggregate.
    source = JSONObject(
        id="pk",
        url="url",
        title="title",
        publisher="publisher",
        published_on="published_on",
        archived_url="archived_url",
    )
    sources = _joined(Source.objects.filter(update=OuterRef("pk")), "update", Cast(source, TextField()), ",")
    parties = _joined(
        ProgressUpdate.parties.through.objects.filter(progressupdate_id=OuterRef("pk")),
        "progressupdate_id",
        "party__slug",
    )
    rows = (
        updates.prefetch_related(None)
        .annotate(
            export_sources=Subquery(sources),
            export_parties=Subquery(parties),
            export_title=translated_value(Commitment, "title", "commitment__"),
            export_summary=translated_value(ProgressUpdate, "summary"),
            export_correction_note=translated_value(ProgressUpdate, "correction_note"),
        )
        .values_list(*(_AS_OF_UPDATE_COLUMNS if as_of else _UPDATE_COLUMNS), "export_sources", "export_parties")
        .iterator(chunk_size=chunk_size)
    )
    for (pk, instrument, commitment, title, kind, reported_on, published_at, status, progress, confidence, summary,
         corrected_at, correction_note, sources_json, party_slugs) in rows:  # fmt: skip
        yield {
            "id": pk,
            "instrument": instrument,
            "commitment": commitment,
            "commitment_title": title,
            # An assessment says a status; a check ("searched, nothing new") has none and keeps every status.
            "kind": kind,
            "reported_on": reported_on.isoformat(),
            "published_at": published_at.isoformat() if published_at else None,
            "status": status,
            "status_label": labels.get(status, ""),
            "progress": progress,
            "confidence": confidence,
            # The parties whose action it records; none: it is about the commitment as a whole.
            "parties": sorted(party_slugs.split(_THEME_SEPARATOR)) if party_slugs else [],
            "summary": summary,
            "corrected_at": corrected_at.isoformat() if corrected_at else None,
            "correction_note": correction_note,
            "sources": _sources(sources_json),
            "url": f"{site_root}{slug_url('commitment_detail', commitment)}#update-{pk}",
            "kind_label": kinds.get(kind, ""),
            "confidence_label": confidences.get(confidence, ""),
            "language": language,
        }


def _sources(sources_json):
    """An update's sources, in the order they were added, from the JSON objects its row carries."""
    sources = sorted(json.loads(f"[{sources_json}]") if sources_json else [], key=lambda source: source["id"])
    return [{key: value for key, value in source.items() if key != "id"} for source in sources]


_UPDATE_COLUMNS = [
    "pk",
    "commitment__instrument__slug",
    "commitment__slug",
    "export_title",
    "kind",
    "reported_on",
    "published_at",
    "status",
    "progress",
    "confidence",
    "export_summary",
    "corrected_at",
    "export_correction_note",
]

# As of a day (aitracker/asof.py): the versioned fields as they then stood (the texts as then recorded, in
# English: the kept history holds the record of origin, not its translations).
_AS_OF_UPDATE_RENAMES = {"export_summary": "as_of_summary", "export_correction_note": "as_of_correction_note"}
_AS_OF_UPDATE_COLUMNS = [
    _AS_OF_UPDATE_RENAMES.get(column)
    or (f"as_of_{column}" if column in {"kind", "reported_on", "status", "progress", "confidence", "corrected_at"}
        else column)
    for column in _UPDATE_COLUMNS
]  # fmt: skip


PARTY_EXPORT_FIELDS = [
    "slug",
    "name",
    "kind",
    "country",
    "region",
    "un_member",
    "instruments_endorsed",
    "commitments_binding",
    *STATUS_VALUES,
    "url",
    # Added with the translations: the labels beside the codes, and the download's language.
    "kind_label",
    "region_label",
    "language",
]


def party_export_rows(parties, *, site_root, as_of=None):
    """One dict per party, in the queryset's order, with its counts per status (as of a day, those of that
    day): two queries in all. Parties number in the hundreds (every state and a few organisations), so they
    are read at once."""
    yield from _party_rows(list(parties), site_root, as_of)


def _party_rows(parties, site_root, as_of=None):
    attach_status_counts(parties, as_of=as_of)
    language = hreflang(current_language())
    for party in parties:
        yield {
            "slug": party.slug,
            "name": translated_text(party, "name"),
            "kind": party.kind,
            "country": party.country.code or "",
            "region": party.region,
            "un_member": party.un_member,
            "instruments_endorsed": party.endorsed_count,
            "commitments_binding": party.bound_count,
            **party.status_counts,
            "url": site_root + party.get_absolute_url(),
            "kind_label": str(party.get_kind_display()),
            "region_label": str(party.get_region_display()) if party.region else "",
            "language": language,
        }


# Downloads of the endorsements: each party's relation to each instrument, with its source.
ENDORSEMENT_EXPORT_FIELDS = [
    "id",
    "instrument",
    "instrument_title",
    "party",
    "party_name",
    "relation",
    "relation_label",
    "date",
    "confidence",
    "confidence_label",
    "source_url",
    "note",
    "url",
]


def endorsement_export_rows(endorsements, *, site_root, chunk_size=1000):
    """One dict per endorsement, in the queryset's order, in one query, chunk by chunk."""
    relations = {value: str(label) for value, label in Endorsement.Relation.choices}
    confidences = {value: str(label) for value, label in Confidence.choices}
    rows = endorsements.values_list(
        "pk",
        "instrument__slug",
        "instrument__short_title",
        "party__slug",
        "party__name",
        "relation",
        "date",
        "confidence",
        "source_url",
        "note",
    ).iterator(chunk_size=chunk_size)
    for pk, instrument, instrument_title, party, party_name, relation, day, confidence, source_url, note in rows:
        yield {
            "id": pk,
            "instrument": instrument,
            "instrument_title": instrument_title,
            "party": party,
            "party_name": party_name,
            "relation": relation,
            "relation_label": relations.get(relation, ""),
            "date": day.isoformat() if day else None,
            "confidence": confidence,
            "confidence_label": confidences.get(confidence, ""),
            "source_url": source_url,
            "note": note,
            "url": site_root + slug_url("instrument_detail", instrument),
        }


INSTRUMENT_EXPORT_FIELDS = [
    "slug",
    "title",
    "short_title",
    "kind",
    "kind_label",
    "adopted_on",
    "adopted_on_confidence",
    "place",
    "adoption",
    "adoption_label",
    "source_url",
    "url",
]


def instrument_export_rows(instruments, *, site_root):
    kinds = {value: str(label) for value, label in Instrument.Kind.choices}
    adoptions = {value: str(label) for value, label in Instrument.Adoption.choices}
    fields = ["slug", "title", "short_title", "kind", "adopted_on", "adopted_on_confidence", "place", "adoption"]
    for row in instruments.values(*fields, "source_url"):
        yield {
            **row,
            "kind_label": kinds.get(row["kind"], ""),
            "adopted_on": row["adopted_on"].isoformat(),
            "adoption_label": adoptions.get(row["adoption"], ""),
            "url": site_root + slug_url("instrument_detail", row["slug"]),
        }


THEME_EXPORT_FIELDS = ["slug", "name", "description", "url"]


def theme_export_rows(themes, *, site_root):
    for row in themes.values("slug", "name", "description"):
        yield {**row, "url": site_root + slug_url("theme_detail", row["slug"])}


def _csv_stream(rows, fields=EXPORT_FIELDS):
    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    # The byte-order mark lets spreadsheets read "§" and accented names as UTF-8.
    yield "\ufeff" + writer.writerow(fields)
    for row in rows:
        yield writer.writerow([csv_cell(row[field]) for field in fields])


def _json_stream(rows, fields=None):
    yield "["
    for index, row in enumerate(rows):
        yield ("\n" if index == 0 else ",\n") + json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False)
    yield "\n]\n"


EXPORTS = {
    "csv": (_csv_stream, "text/csv; charset=utf-8"),
    "json": (_json_stream, "application/json; charset=utf-8"),
}


def download(rows, *, export, name, fields=EXPORT_FIELDS):
    """A streamed CSV or JSON download of `rows` (dicts), named for what it holds and today's date."""
    stream, content_type = EXPORTS[export]
    response = StreamingHttpResponse(stream(rows, fields), content_type=content_type)
    filename = f"aitracker-{name}-{timezone.localdate():%Y-%m-%d}.{export}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def bad_export(export, filterset):
    """The answer to a download that cannot be made (unknown format, filters not valid), or None."""
    if export not in EXPORTS:
        return HttpResponseBadRequest(_("Unknown download format: use csv or json."), content_type="text/plain")
    if filterset is not None and filterset.is_bound and not filterset.is_valid():
        return HttpResponseBadRequest(
            _("Some filters are not valid: %(fields)s.") % {"fields": ", ".join(filterset.errors)},
            content_type="text/plain",
        )
    return None
