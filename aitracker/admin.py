from contextlib import contextmanager

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .forms import (
    BaseSourceFormSet,
    CommitmentAdminForm,
    ProgressUpdateAdminForm,
    SourceAdminForm,
    SourceForm,
    TranslatedContentForm,
    translation_form_fields,
)
from .imports import BoundedImportForm, ImportFileStorage, discard
from .models import Commitment, Endorsement, Instrument, OfficialText, Party, ProgressUpdate, Source, Theme
from .resources import IMPORT_HELP, EndorsementResource, ProgressUpdateResource

admin.site.site_header = _("aitracker administration")
admin.site.site_title = _("aitracker admin")
admin.site.index_title = _("Data entry")
# No navigation sidebar: at 1280 px it and the filters left the update list 631 px for its 933 px of columns. The
# breadcrumbs and the index lead everywhere it did.
admin.site.enable_nav_sidebar = False

State = ProgressUpdate.State


def _error_text(error):
    return " ".join(getattr(error, "messages", [str(error)]))


class ServiceRefused(Exception):
    """A service refused a save that the admin's form had accepted (a rule only the service knows)."""

    def __init__(self, error: ValidationError):
        super().__init__(error)
        self.error = error


@contextmanager
def refusal_shown_on_form():
    try:
        yield
    except ValidationError as error:
        raise ServiceRefused(error) from error


def _form_showing(form_class, error):
    """The admin's form class, made invalid with the service's messages (next to their fields where it has
    them), so the page is shown again with what was typed."""

    class Refused(form_class):
        def clean(self):
            cleaned = super().clean()
            errors = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
            for field, field_errors in errors.items():
                self.add_error(field if field in self.fields else None, field_errors)
            return cleaned

    Refused.__name__ = form_class.__name__
    return Refused


class ServiceAdminMixin:
    """The admin as a client of the services, like any view.

    Saves, inlines and deletes call a service (see each admin); a service's refusal rolls the save back and
    shows the form again with its message. django-simple-history's pages show only objects the user may
    change, and its "Revert" calls `restore_service` (editors only), or is switched off where there is none.
    """

    restore_service = None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            # The first attempt was rolled back with the admin's transaction; the second one stops at the form.
            request.aitracker_refusal = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "aitracker_refusal", None)
        return form if refusal is None else _form_showing(form, refusal)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as refused:
            messages.error(request, _error_text(refused.error))
            return HttpResponseRedirect(request.path)

    def _object_the_user_may_change(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def history_view(self, request, object_id, extra_context=None):
        self._object_the_user_may_change(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def revert_disabled(self, request, obj=None):
        return self.restore_service is None or not services.user_is_editor(request.user)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        obj = self._object_the_user_may_change(request, object_id)
        if not version_id.isdigit():
            raise Http404
        if request.method != "POST":
            return super().history_form_view(request, object_id, version_id, extra_context)
        if self.revert_disabled(request, obj):
            raise PermissionDenied
        try:
            self.restore_service(obj, int(version_id), request.user, request.POST.get("version") or None)
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return HttpResponseRedirect(request.path)
        messages.success(request, gettext("The earlier version was restored; the restore is in the history too."))
        opts = self.opts
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))


class ReferenceAdminMixin(ServiceAdminMixin):
    """Instruments, parties, endorsements and themes: written by editors through `services.reference_*`; deleted
    only by a superuser (they are corrected, and the history keeps what was deleted)."""

    def save_model(self, request, obj, form, change):
        with refusal_shown_on_form():
            services.reference_save(obj=obj, editor=request.user, reason=_admin_reason(change))

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        with refusal_shown_on_form():
            for obj in formset.deleted_objects:
                services.reference_delete(obj=obj, user=request.user)
            for obj in instances:
                services.reference_save(obj=obj, editor=request.user, reason=_admin_reason(obj.pk is not None))
        formset.save_m2m()

    def delete_model(self, request, obj):
        services.reference_delete(obj=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.reference_delete(obj=obj, user=request.user)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    @staticmethod
    def restore_service(obj, history_id, user, version):
        services.reference_restore(obj=obj, history_id=history_id, editor=user)


def _admin_reason(change):
    return gettext("Changed in the admin") if change else gettext("Added in the admin")


class SoftDeleteAdminMixin:
    """The admin's delete (one object or the bulk action) is the service's soft delete, which editors can undo
    from the site's "Deleted items" page. Related rows are untouched, so nothing is listed as deleted with it."""

    soft_delete_service = None
    delete_confirmation_template = "admin/aitracker/soft_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/aitracker/soft_delete_selected_confirmation.html"

    def has_delete_permission(self, request, obj=None):
        return services.user_is_editor(request.user) and super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        objs = list(objs)
        perms_needed = set() if self.has_delete_permission(request) else {self.opts.verbose_name}
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, perms_needed, []

    def delete_model(self, request, obj):
        with refusal_shown_on_form():
            self.soft_delete_service(obj, request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.soft_delete_service(obj, request.user)
            except ValidationError as error:
                messages.error(request, f"{obj}: {_error_text(error)}")


class AllOrNothingImportMixin(ImportExportMixin):
    """Editors only; a preview first; and no partial import: one invalid row and nothing is imported. The
    file is bounded in size and rows (aitracker/imports.py), and the copy kept between the preview and the
    confirmation is removed whatever the outcome: refused, failed, confirmed, or an error on the way."""

    import_template_name = "admin/aitracker/import.html"
    import_formats = [base_formats.CSV]
    export_formats = [base_formats.CSV]
    import_form_class = BoundedImportForm
    tmp_storage_class = ImportFileStorage

    def import_action(self, request, **kwargs):
        keep = False
        try:
            response = super().import_action(request, **kwargs)
            # Only a preview that can be confirmed needs its file for the next step.
            keep = "confirm_form" in (getattr(response, "context_data", None) or {})
            return response
        finally:
            if not keep:
                # import-export names its stored copy on the upload (`tmp_storage_name`, read back for its
                # confirmation form): the one attribute of its own relied on here, pinned by tests/test_limits.py.
                upload = request.FILES.get("import_file")
                discard(getattr(upload, "tmp_storage_name", None))

    def process_import(self, request, **kwargs):
        try:
            return super().process_import(request, **kwargs)
        finally:
            discard(request.POST.get("import_file_name"))

    def has_import_permission(self, request):
        return services.user_is_editor(request.user)

    def has_export_permission(self, request):
        return services.user_is_editor(request.user)

    def get_import_context_data(self, **kwargs):
        limits = gettext("A file holds at most %(rows)d rows and %(size)s.") % {
            "rows": settings.AITRACKER_IMPORT_MAX_ROWS,
            "size": filesizeformat(settings.AITRACKER_IMPORT_MAX_BYTES),
        }
        help_text = f"{IMPORT_HELP[self.opts.model_name]} {limits}"
        return super().get_import_context_data(**kwargs) | {"import_help": help_text}

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            messages.error(
                request, gettext("Nothing was imported: some rows are not valid. Import the file again to see why.")
            )
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import"))
        return super().process_result(result, request)


class TranslatedFieldsAdminMixin:
    """The content's translated fields (aitracker/translation.py): the usual field edits the English text (the
    record, in every language of the admin), and a "Translations" section holds each other language's text
    ("title [fr]"). Saved by the services like every other field; an empty translation shows the English,
    marked, on the public pages."""

    form = TranslatedContentForm

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        names = translation_form_fields(self.model)
        if names:
            fieldsets.append((_("Translations"), {"fields": names, "classes": ["collapse"]}))
        return fieldsets


class EndorsementInline(admin.TabularInline):
    form = TranslatedContentForm
    model = Endorsement
    extra = 0
    autocomplete_fields = ["party"]
    fields = ["party", "relation", "date", "confidence", "source_url", "note"]
    show_change_link = True

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Instrument)
class InstrumentAdmin(ReferenceAdminMixin, TranslatedFieldsAdminMixin, SimpleHistoryAdmin):
    list_display = ["short_title", "kind", "adopted_on", "adopted_on_confidence", "place"]
    list_filter = ["kind", "adopted_on_confidence"]
    search_fields = ["title", "short_title", "slug", "summary"]
    prepopulated_fields = {"slug": ["short_title"]}
    date_hierarchy = "adopted_on"
    inlines = [EndorsementInline]


@admin.register(Party)
class PartyAdmin(ReferenceAdminMixin, TranslatedFieldsAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "kind", "country", "region", "un_member"]
    list_filter = ["kind", "region", "un_member"]
    search_fields = ["name", "slug", "country"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Endorsement)
class EndorsementAdmin(ReferenceAdminMixin, AllOrNothingImportMixin, TranslatedFieldsAdminMixin, SimpleHistoryAdmin):
    resource_classes = [EndorsementResource]
    list_display = ["party", "instrument", "relation", "confidence", "date"]
    list_filter = ["instrument", "relation", "confidence"]
    search_fields = ["party__name", "instrument__short_title", "note"]
    autocomplete_fields = ["instrument", "party"]
    list_select_related = ["party", "instrument"]


@admin.register(Theme)
class ThemeAdmin(ReferenceAdminMixin, TranslatedFieldsAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Commitment)
class CommitmentAdmin(ServiceAdminMixin, SoftDeleteAdminMixin, TranslatedFieldsAdminMixin, SimpleHistoryAdmin):
    form = CommitmentAdminForm
    list_display = ["title", "instrument", "reference", "current_status", "current_progress", "last_update_on"]
    list_filter = ["instrument", "current_status", "themes", "confidence"]
    search_fields = ["title", "text", "reference", "slug", "instrument__short_title"]
    autocomplete_fields = ["instrument", "themes", "parties"]
    readonly_fields = ["current_status", "current_progress", "last_update_on", "created_at", "updated_at"]
    prepopulated_fields = {"slug": ["title"]}
    list_select_related = ["instrument"]
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {"fields": ["instrument", "reference", "title", "slug", "text", "source_url", "confidence", "version"]},
        ),
        (_("Scope"), {"fields": ["themes", "parties", "target_date"]}),
        (
            _("Current status (from the latest published update)"),
            {"fields": ["current_status", "current_progress", "last_update_on", "created_at", "updated_at"]},
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).public()

    def save_model(self, request, obj, form, change):
        with refusal_shown_on_form():
            saved = services.commitment_save(
                commitment=obj,
                editor=request.user,
                themes=form.cleaned_data["themes"],
                parties=form.cleaned_data["parties"],
                reason=_admin_reason(change),
            )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """Nothing left to save: the service set the themes and parties with the commitment (and rebound it)."""

    @staticmethod
    def soft_delete_service(commitment, user):
        services.commitment_delete(commitment=commitment, editor=user)

    @staticmethod
    def restore_service(commitment, history_id, user, version):
        services.commitment_restore(commitment=commitment, history_id=history_id, editor=user, expected_version=version)


class SourceInline(admin.TabularInline):
    """An update's sources, saved with the update by its service (never on their own)."""

    model = Source
    form = SourceForm
    formset = BaseSourceFormSet
    extra = 1
    min_num = 1
    fields = ["url", "title", "publisher", "published_on", "archived_url"]


@admin.register(ProgressUpdate)
class ProgressUpdateAdmin(
    ServiceAdminMixin,
    SoftDeleteAdminMixin,
    AllOrNothingImportMixin,
    SimpleHistoryAdmin,
):
    form = ProgressUpdateAdminForm
    resource_classes = [ProgressUpdateResource]
    # What an editor sorts the work by, readable at 1280 px: the commitment cut to its reference and the start of
    # its title (its full name runs to 200 characters), the parties, state and status, the two dates.
    list_display = [
        "commitment_short",
        "state",
        "kind",
        "status",
        "party_names",
        "confidence",
        "reported_on",
        "published_at",
        "author",
    ]
    list_display_links = ["commitment_short"]
    # A date filter rather than date_hierarchy: the hierarchy reads the distinct years, months and days of
    # every update on each page view (seconds at 300,000 updates); this filter runs no query.
    list_filter = [
        "state",
        "kind",
        "status",
        "confidence",
        ("reported_on", admin.DateFieldListFilter),
        "commitment__instrument",
    ]
    search_fields = ["summary", "commitment__title", "commitment__reference", "parties__name"]
    autocomplete_fields = ["commitment", "parties"]
    # Newest first by the primary key's index; the model's order (by date of the event) sorts them all.
    ordering = ["-pk"]
    list_select_related = ["commitment__instrument", "author"]
    show_full_result_count = False
    inlines = [SourceInline]

    @admin.display(description=_("commitment"), ordering="commitment__title")
    def commitment_short(self, update):
        commitment = update.commitment
        return f"{commitment.instrument.short_title} {commitment.reference}: {Truncator(commitment.title).chars(48)}"

    @admin.display(description=_("parties"))
    def party_names(self, update):
        names = [party.name for party in update.parties.all()]
        return ", ".join(names[:3]) + (" …" if len(names) > 3 else "") if names else _("all it binds")

    # The review note is written by returning or unpublishing (the review queue); a correction note by each
    # correction, in the form's own field.
    readonly_fields = [
        "state",
        "author",
        "reviewer",
        "review_note",
        "published_at",
        "corrected_at",
        "created_at",
        "updated_at",
    ]
    actions = ["submit_selected", "publish_selected"]

    def get_fieldsets(self, request, obj=None):
        review = ["state", "author", "reviewer", "review_note", "published_at", "corrected_at"]
        if obj is not None and obj.state == State.PUBLISHED:
            review.append("correction_note")
        return [
            (None, {"fields": [*services.UPDATE_FIELDS, *services.UPDATE_M2M_FIELDS, "version"]}),
            (_("Translations"), {"fields": ProgressUpdateAdminForm.translation_fields()}),
            (_("Review"), {"fields": [*review, "created_at", "updated_at"]}),
        ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).live().prefetch_related("parties")
        if services.user_is_editor(request.user):
            return queryset
        return queryset.filter(author=request.user)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The source form's "update" choices (the admin's autocomplete names the field asking).
        if request.GET.get("model_name") == "source" and request.GET.get("field_name") == "update":
            queryset = queryset & services.updates_editable_by(request.user)
        return queryset, may_have_duplicates

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or services.user_may_edit_update(request.user, obj)

    def save_model(self, request, obj, form, change):
        """Nothing yet: the service saves the update with its sources, which only `save_related` has."""

    def save_related(self, request, form, formsets, change):
        (sources,) = (formset for formset in formsets if formset.model is Source)
        fields = {field: form.cleaned_data[field] for field in (*services.UPDATE_FIELDS, *services.UPDATE_M2M_FIELDS)}
        update = form.instance
        with refusal_shown_on_form():
            if not change:
                saved = services.progress_update_create(author=request.user, sources=sources.source_dicts(), **fields)
                update.pk = saved.pk
                update.refresh_from_db()
            elif ProgressUpdate.objects.filter(pk=update.pk, state=State.PUBLISHED).exists():
                services.progress_update_correct(
                    update=update,
                    editor=request.user,
                    note=form.cleaned_data.get("correction_note", ""),
                    expected_version=form.cleaned_data.get("version") or None,
                    sources=sources.source_dicts(),
                    **fields,
                )
            else:
                services.progress_update_edit(
                    update=update,
                    user=request.user,
                    expected_version=form.cleaned_data.get("version") or None,
                    sources=sources.source_dicts(),
                    **fields,
                )
            for language, texts in form.changed_translations().items():
                services.progress_update_translate(update=update, editor=request.user, language=language, **texts)

    def construct_change_message(self, request, form, formsets, add=False):
        # The sources were saved by the service, not by the formsets the message would read.
        return super().construct_change_message(request, form, [], add)

    def _run(self, request, queryset, service, done_message, **kwargs):
        done = 0
        for update in queryset:
            try:
                service(update=update, **kwargs)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                messages.error(request, f"{update}: {' '.join(getattr(error, 'messages', [str(error)]))}")
        if done:
            messages.success(request, done_message(done))

    @admin.action(description=_("Submit the selected updates for review"), permissions=["change"])
    def submit_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            services.progress_update_submit,
            lambda n: ngettext("%(n)d update submitted.", "%(n)d updates submitted.", n) % {"n": n},
            user=request.user,
        )

    @admin.action(description=_("Publish the selected updates"), permissions=["publish"])
    def publish_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            services.progress_update_publish,
            lambda n: ngettext("%(n)d update published.", "%(n)d updates published.", n) % {"n": n},
            editor=request.user,
        )

    def has_publish_permission(self, request):
        return services.user_is_editor(request.user)

    @staticmethod
    def soft_delete_service(update, user):
        services.progress_update_delete(update=update, editor=user)

    @staticmethod
    def restore_service(update, history_id, user, version):
        services.progress_update_restore(update=update, history_id=history_id, editor=user, expected_version=version)


@admin.register(Source)
class SourceAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    """A source on its own, for those who may change its update: saved and deleted as a change to the update
    (an edit, or an editor's public correction). Its history is read here; it is restored with its update."""

    form = SourceAdminForm
    fields = ["update", "url", "title", "publisher", "published_on", "archived_url", "correction_note"]
    list_display = ["title", "publisher", "published_on", "update", "link_status", "link_failures"]
    # What the link checker found is read here, never written (services.source_link_check_record writes it).
    list_filter = ["link_status"]
    search_fields = ["title", "publisher", "url"]
    autocomplete_fields = ["update"]
    list_select_related = ["update__commitment__instrument"]
    show_full_result_count = False
    # Newest first, by the primary key's index: the model's order (by update) sorts every source on each page.
    ordering = ["-pk"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if services.user_is_editor(request.user):
            return queryset
        return queryset.filter(update__author=request.user)

    def get_readonly_fields(self, request, obj=None):
        return ["update"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "update":
            kwargs["queryset"] = services.updates_editable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or services.user_may_edit_update(request.user, obj.update)

    def has_delete_permission(self, request, obj=None):
        # Staff remove a source in its update's form (the update's service, with the history keeping it); a
        # published update's by correcting it, where the public note is written.
        if not (request.user.is_superuser and super().has_delete_permission(request, obj)):
            return False
        return obj is None or (
            obj.update.state != State.PUBLISHED and services.user_may_edit_update(request.user, obj.update)
        )

    def save_model(self, request, obj, form, change):
        with refusal_shown_on_form():
            services.source_save(source=obj, user=request.user, note=form.cleaned_data.get("correction_note", ""))

    def save_related(self, request, form, formsets, change):
        """Nothing left to save: a source has no related rows."""

    def delete_model(self, request, obj):
        with refusal_shown_on_form():
            services.source_delete(source=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                services.source_delete(source=obj, user=request.user)
            except ValidationError as error:
                messages.error(request, f"{obj}: {_error_text(error)}")


@admin.register(OfficialText)
class OfficialTextAdmin(ReferenceAdminMixin, TranslatedFieldsAdminMixin, SimpleHistoryAdmin):
    list_display = ["instrument", "language", "url"]
    list_filter = ["language", "instrument"]
    search_fields = ["url", "instrument__short_title"]
    autocomplete_fields = ["instrument"]
