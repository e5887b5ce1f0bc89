from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .cache import public_pages_changed
from .forms import CommitmentAdminForm, ProgressUpdateAdminForm
from .imports import BoundedImportForm, ImportFileStorage, discard
from .models import Commitment, Endorsement, Instrument, Party, ProgressUpdate, Source, Theme
from .resources import IMPORT_HELP, EndorsementResource, ProgressUpdateResource

admin.site.site_header = _("aitracker administration")
admin.site.site_title = _("aitracker admin")
admin.site.index_title = _("Data entry")


def _error_text(error):
    return " ".join(getattr(error, "messages", [str(error)]))


class ClearsPublicPagesMixin:
    """Every write to a public model through the admin (a save, its inlines and many-to-many fields, a
    delete, a revert from the history, an import) clears the public page cache once it commits."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        public_pages_changed()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        public_pages_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        public_pages_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        public_pages_changed()

    def process_import(self, request, **kwargs):
        response = super().process_import(request, **kwargs)
        public_pages_changed()
        return response


class NoHardDeleteMixin:
    """Reference data is corrected, never deleted, by analysts and editors (only a superuser may delete, and
    the history keeps what was deleted)."""

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


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
        self.soft_delete_service(obj, request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.soft_delete_service(obj, request.user)
            except ValidationError as error:
                messages.error(request, f"{obj}: {_error_text(error)}")


class RestoreThroughServiceMixin:
    """The history's "Revert" saves through the service, so that the commitment's current status stays right
    and the restore itself is recorded in the history."""

    restore_service = None

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "POST":
            return super().history_form_view(request, object_id, version_id, extra_context)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        opts = self.opts
        try:
            self.restore_service(obj, int(version_id), request.user, request.POST.get("version") or None)
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return HttpResponseRedirect(request.path)
        messages.success(request, gettext("The earlier version was restored; the restore is in the history too."))
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))


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


class EndorsementInline(NoHardDeleteMixin, admin.TabularInline):
    model = Endorsement
    extra = 0
    autocomplete_fields = ["party"]
    fields = ["party", "relation", "date", "confidence", "source_url", "note"]
    show_change_link = True


@admin.register(Instrument)
class InstrumentAdmin(ClearsPublicPagesMixin, NoHardDeleteMixin, SimpleHistoryAdmin):
    list_display = ["short_title", "kind", "adopted_on", "adopted_on_confidence", "place"]
    list_filter = ["kind", "adopted_on_confidence"]
    search_fields = ["title", "short_title", "slug", "summary"]
    prepopulated_fields = {"slug": ["short_title"]}
    date_hierarchy = "adopted_on"
    inlines = [EndorsementInline]


@admin.register(Party)
class PartyAdmin(ClearsPublicPagesMixin, NoHardDeleteMixin, SimpleHistoryAdmin):
    list_display = ["name", "kind", "country"]
    list_filter = ["kind"]
    search_fields = ["name", "slug", "country"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Endorsement)
class EndorsementAdmin(ClearsPublicPagesMixin, NoHardDeleteMixin, AllOrNothingImportMixin, SimpleHistoryAdmin):
    resource_classes = [EndorsementResource]
    list_display = ["party", "instrument", "relation", "confidence", "date"]
    list_filter = ["instrument", "relation", "confidence"]
    search_fields = ["party__name", "instrument__short_title", "note"]
    autocomplete_fields = ["instrument", "party"]
    list_select_related = ["party", "instrument"]


@admin.register(Theme)
class ThemeAdmin(ClearsPublicPagesMixin, NoHardDeleteMixin, SimpleHistoryAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Commitment)
class CommitmentAdmin(ClearsPublicPagesMixin, SoftDeleteAdminMixin, RestoreThroughServiceMixin, SimpleHistoryAdmin):
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

    @staticmethod
    def soft_delete_service(commitment, user):
        services.commitment_delete(commitment=commitment, editor=user)

    @staticmethod
    def restore_service(commitment, history_id, user, version):
        services.commitment_restore(commitment=commitment, history_id=history_id, editor=user, expected_version=version)


class SourceInline(admin.TabularInline):
    model = Source
    extra = 1
    min_num = 1
    fields = ["url", "title", "publisher", "published_on", "archived_url"]


@admin.register(ProgressUpdate)
class ProgressUpdateAdmin(
    ClearsPublicPagesMixin,
    SoftDeleteAdminMixin,
    RestoreThroughServiceMixin,
    AllOrNothingImportMixin,
    SimpleHistoryAdmin,
):
    form = ProgressUpdateAdminForm
    resource_classes = [ProgressUpdateResource]
    list_display = ["commitment", "reported_on", "status", "progress", "state", "confidence", "author", "published_at"]
    # A date filter rather than date_hierarchy: the hierarchy reads the distinct years, months and days of
    # every update on each page view (seconds at 300,000 updates); this filter runs no query.
    list_filter = [
        "state",
        "status",
        "confidence",
        ("reported_on", admin.DateFieldListFilter),
        "commitment__instrument",
    ]
    search_fields = ["summary", "commitment__title", "commitment__reference", "party__name"]
    autocomplete_fields = ["commitment", "party"]
    # Newest first by the primary key's index; the model's order (by date of the event) sorts them all.
    ordering = ["-pk"]
    list_select_related = ["commitment__instrument", "author"]
    show_full_result_count = False
    inlines = [SourceInline]
    readonly_fields = [
        "state",
        "author",
        "reviewer",
        "published_at",
        "corrected_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "commitment",
                    "reported_on",
                    "status",
                    "progress",
                    "party",
                    "confidence",
                    "summary",
                    "version",
                ]
            },
        ),
        (
            _("Review"),
            {
                "fields": [
                    "state",
                    "author",
                    "reviewer",
                    "review_note",
                    "published_at",
                    "corrected_at",
                    "correction_note",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    actions = ["submit_selected", "publish_selected"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).live()
        if services.user_is_editor(request.user):
            return queryset
        return queryset.filter(author=request.user)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None or services.user_is_editor(request.user):
            return True
        return obj.author_id == request.user.pk and obj.state in (
            ProgressUpdate.State.DRAFT,
            ProgressUpdate.State.RETURNED,
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        self._previous_commitment_id = form.initial.get("commitment") if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.progress_update_record_edit(
            update=form.instance,
            editor=request.user,
            previous_commitment_id=getattr(self, "_previous_commitment_id", None),
        )

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
class SourceAdmin(ClearsPublicPagesMixin, NoHardDeleteMixin, SimpleHistoryAdmin):
    list_display = ["title", "publisher", "published_on", "update"]
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
