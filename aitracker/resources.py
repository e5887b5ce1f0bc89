"""CSV import and export of progress updates and endorsements (django-import-export, in the admin).

Rows name things by slug (commitment, party, instrument), not by database id, so a spreadsheet is readable
and survives a fresh install. An import is all or nothing: one invalid row and no row is imported.

Progress updates come in as drafts or submitted for review, through the same services as the site's form;
publication always goes through the review queue (`services.progress_update_publish`). An exported file
re-imports unchanged: every row is recognised as unchanged and skipped.
"""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import fields, resources, widgets

from . import services
from .exports import CSV_FORMULA_START
from .models import Commitment, Endorsement, Instrument, Party, ProgressUpdate, Source

IMPORT_HELP = {
    "progressupdate": gettext_lazy(
        "Progress updates: one row per update. Columns: id (empty for a new update), commitment (its slug), "
        "kind (assessment or check; empty means assessment), reported_on (YYYY-MM-DD, not in the future), status "
        "(empty for a check), progress (0 to 100, or empty), parties (the slugs of the parties it names, "
        "separated by commas, or empty for the commitment as a whole), confidence, summary (Markdown), state "
        "(draft or submitted; empty means submitted) and sources "
        '(a JSON list such as [{"url": "https://…", "title": "…", "publisher": "…", "published_on": '
        '"2025-01-31", "archived_url": ""}], at least one). New updates are yours, as drafts or submitted for '
        "review: nothing is published by an import, publish them from the review queue. A row with an id "
        "changes that unpublished update; published updates are corrected on the site, not by import. "
        "Unchanged rows are skipped, so an exported file can be imported back as it is. If any row is invalid, "
        "nothing is imported and the preview lists each error with its row number."
    ),
    "endorsement": gettext_lazy(
        "Endorsements: one row per party and instrument. Columns: instrument (its slug), party (its slug), "
        "relation, date (YYYY-MM-DD or empty), source_url (http or https), confidence and note. A row for a "
        "party and instrument that already have an endorsement changes it; unchanged rows are skipped. If any "
        "row is invalid, nothing is imported and the preview lists each error with its row number."
    ),
}


class SlugWidget(widgets.ForeignKeyWidget):
    """A foreign key by slug, with a readable error for an unknown one."""

    def __init__(self, model, **kwargs):
        super().__init__(model, field="slug", **kwargs)

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row=row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                _("No %(model)s has the slug “%(slug)s”.") % {"model": self.model._meta.verbose_name, "slug": value}
            ) from None


def escape_formula(text: str) -> str:
    """As the public CSV does (exports.csv_cell): a cell a spreadsheet would run as a formula gets a leading
    apostrophe. A cell already starting with apostrophes before such a character gets one more, so that the
    import, which takes exactly one off, gives back what was exported."""
    return "'" + text if text.lstrip("'").startswith(CSV_FORMULA_START) else text


def unescape_formula(text: str) -> str:
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(CSV_FORMULA_START) else text


class SlugsWidget(widgets.ManyToManyWidget):
    """Many-to-many by slugs separated by commas, with a readable error for an unknown one."""

    def __init__(self, model, **kwargs):
        super().__init__(model, field="slug", separator=",", **kwargs)

    def clean(self, value, row=None, **kwargs):
        found = super().clean(value, row=row, **kwargs)
        slugs = {slug.strip() for slug in str(value or "").split(self.separator) if slug.strip()}
        missing = slugs - set(found.values_list("slug", flat=True))
        if missing:
            raise ValueError(
                _("No %(model)s has the slug “%(slug)s”.")
                % {"model": self.model._meta.verbose_name, "slug": ", ".join(sorted(missing))}
            )
        return found


class AllOrNothingResource(resources.ModelResource):
    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        return escape_formula(value) if isinstance(value, str) else value

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        for column, value in row.items():
            if isinstance(value, str):
                row[column] = unescape_formula(value)

    def import_data(self, dataset, *args, rollback_on_validation_errors=True, **kwargs):
        # An invalid row must roll back the valid ones too, whoever calls (the admin's confirm step included).
        return super().import_data(
            dataset, *args, rollback_on_validation_errors=rollback_on_validation_errors, **kwargs
        )


class ProgressUpdateResource(AllOrNothingResource):
    commitment = fields.Field(attribute="commitment", column_name="commitment", widget=SlugWidget(Commitment))
    reported_on = fields.Field(
        attribute="reported_on", column_name="reported_on", widget=widgets.DateWidget(format="%Y-%m-%d")
    )
    kind = fields.Field(attribute="kind", column_name="kind")
    parties = fields.Field(attribute="parties", column_name="parties", widget=SlugsWidget(Party))
    state = fields.Field(attribute="state", column_name="state")
    sources = fields.Field(column_name="sources")

    class Meta:
        model = ProgressUpdate
        fields = (
            "id",
            "commitment",
            "kind",
            "reported_on",
            "status",
            "progress",
            "parties",
            "confidence",
            "summary",
            "state",
            "sources",
        )
        export_order = fields
        import_id_fields = ("id",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True
        use_transactions = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.user = kwargs.get("user")

    def get_queryset(self):
        return ProgressUpdate.objects.select_related("commitment").prefetch_related("sources", "parties")

    def filter_export(self, queryset, **kwargs):
        return queryset.live().order_by("pk")

    def dehydrate_sources(self, update):
        return json.dumps(
            [
                {
                    "url": source.url,
                    "title": source.title,
                    "publisher": source.publisher,
                    "published_on": source.published_on.isoformat() if source.published_on else "",
                    "archived_url": source.archived_url,
                }
                for source in update.sources.all()
            ],
            ensure_ascii=False,
        )

    @staticmethod
    def parse_sources(text) -> list[dict]:
        try:
            items = json.loads(text or "[]")
        except ValueError:
            raise ValidationError({"sources": _("The sources column is not valid JSON.")}) from None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ValidationError({"sources": _("The sources column must be a JSON list of objects.")})
        if not items:
            raise ValidationError({"sources": _("Every update needs at least one source.")})
        date_widget = widgets.DateWidget(format="%Y-%m-%d")
        sources = []
        for number, item in enumerate(items, 1):
            values = {field: item.get(field) or "" for field in services.SOURCE_FIELDS}
            try:
                values["published_on"] = date_widget.clean(values["published_on"]) if values["published_on"] else None
            except ValueError:
                raise ValidationError(
                    {"sources": _("Source %(n)d: the date must be written YYYY-MM-DD.") % {"n": number}}
                ) from None
            source = Source(**values)
            try:
                source.full_clean(exclude=["update"])
            except ValidationError as error:
                raise ValidationError(
                    {"sources": _("Source %(n)d: %(errors)s") % {"n": number, "errors": " ".join(error.messages)}}
                ) from None
            sources.append(values)
        return sources

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        original_state = instance.state if instance.pk else None
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if not row.get("state"):
            instance.state = original_state or ProgressUpdate.State.SUBMITTED
        if not row.get("kind"):
            instance.kind = ProgressUpdate.Kind.ASSESSMENT
        try:
            instance._imported_parties = list(self.fields["parties"].clean(row)) if "parties" in row else []
        except ValueError as error:
            errors.setdefault("parties", []).append(str(error))
        if instance.pk is None:
            if instance.state not in (ProgressUpdate.State.DRAFT, ProgressUpdate.State.SUBMITTED):
                errors.setdefault("state", []).append(
                    _("A new update comes in as draft or submitted; publish it from the review queue.")
                )
        elif instance.state != original_state:
            errors.setdefault("state", []).append(
                _("The state cannot be changed by import (it is “%(state)s”); use the review queue.")
                % {"state": original_state}
            )
        if instance.reported_on and not errors.get("reported_on"):
            try:
                services._check_future(instance.reported_on)
            except ValidationError as error:
                errors = error.update_error_dict(errors)
        try:
            instance._imported_sources = self.parse_sources(row.get("sources"))
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if not super().skip_row(instance, original, row, import_validation_errors):
            return False
        current = [
            {field: getattr(source, field) for field in services.SOURCE_FIELDS} for source in original.sources.all()
        ]
        return current == getattr(instance, "_imported_sources", None)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if instance.pk:
            stored = ProgressUpdate.objects.filter(pk=instance.pk).values("state", "deleted_at").first()
            if stored and stored["deleted_at"] is not None:
                errors.setdefault("id", []).append(_("This update has been deleted; restore it before changing it."))
            elif stored and stored["state"] == ProgressUpdate.State.PUBLISHED:
                errors.setdefault("id", []).append(
                    _("This update is published: correct it on the site, where the correction is shown publicly.")
                )
        super().validate_instance(instance, errors, validate_unique)

    def save_instance(self, instance, is_create, row, **kwargs):
        # The same services as the site's form: they check permissions, dates and sources, and keep history.
        user = kwargs.get("user") or self.user
        values = {field: getattr(instance, field) for field in services.UPDATE_FIELDS}
        values["parties"] = instance._imported_parties
        sources = instance._imported_sources
        try:
            if is_create:
                saved = services.progress_update_create(author=user, sources=sources, **values)
                if instance.state == ProgressUpdate.State.SUBMITTED:
                    saved = services.progress_update_submit(update=saved, user=user)
                instance.pk = saved.pk
            else:
                existing = ProgressUpdate.objects.get(pk=instance.pk)
                current = {
                    source.pk: {field: getattr(source, field) for field in services.SOURCE_FIELDS}
                    for source in existing.sources.all()
                }
                services.progress_update_edit(
                    update=existing, user=user, sources=self._match_sources(current, sources), **values
                )
        except PermissionDenied as error:
            raise ValidationError(str(error)) from None

    def save_m2m(self, instance, row, **kwargs):
        """The parties went through the services with the rest of the update."""

    @staticmethod
    def _match_sources(current, sources):
        """Keep the ids of sources that are in the file unchanged, so that only real changes reach history."""
        unused = dict(current)
        matched = []
        for values in sources:
            pk = next((pk for pk, existing in unused.items() if existing == values), None)
            if pk is not None:
                del unused[pk]
            matched.append({"id": pk, **values})
        return matched


class EndorsementResource(AllOrNothingResource):
    instrument = fields.Field(attribute="instrument", column_name="instrument", widget=SlugWidget(Instrument))
    party = fields.Field(attribute="party", column_name="party", widget=SlugWidget(Party))
    date = fields.Field(attribute="date", column_name="date", widget=widgets.DateWidget(format="%Y-%m-%d"))

    class Meta:
        model = Endorsement
        fields = ("instrument", "party", "relation", "date", "source_url", "confidence", "note")
        export_order = fields
        import_id_fields = ("instrument", "party")
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True
        use_transactions = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.user = kwargs.get("user")

    def get_queryset(self):
        return Endorsement.objects.select_related("instrument", "party")

    def save_instance(self, instance, is_create, row, **kwargs):
        try:
            services.reference_save(
                obj=instance, editor=kwargs.get("user") or self.user, reason=_("Imported from a CSV file")
            )
        except PermissionDenied as error:
            raise ValidationError(str(error)) from None

    def filter_export(self, queryset, **kwargs):
        return queryset.order_by("instrument__slug", "party__slug")
