from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .models import Commitment, Endorsement, Instrument, Party, ProgressUpdate, Source, Theme

admin.site.site_header = _("aitracker administration")
admin.site.site_title = _("aitracker admin")
admin.site.index_title = _("Data entry")


class EndorsementInline(admin.TabularInline):
    model = Endorsement
    extra = 0
    autocomplete_fields = ["party"]
    fields = ["party", "relation", "date", "confidence", "source_url", "note"]
    show_change_link = True


@admin.register(Instrument)
class InstrumentAdmin(SimpleHistoryAdmin):
    list_display = ["short_title", "kind", "adopted_on", "adopted_on_confidence", "place"]
    list_filter = ["kind", "adopted_on_confidence"]
    search_fields = ["title", "short_title", "slug", "summary"]
    prepopulated_fields = {"slug": ["short_title"]}
    date_hierarchy = "adopted_on"
    inlines = [EndorsementInline]


@admin.register(Party)
class PartyAdmin(SimpleHistoryAdmin):
    list_display = ["name", "kind", "country"]
    list_filter = ["kind"]
    search_fields = ["name", "slug", "country"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Endorsement)
class EndorsementAdmin(SimpleHistoryAdmin):
    list_display = ["party", "instrument", "relation", "confidence", "date"]
    list_filter = ["instrument", "relation", "confidence"]
    search_fields = ["party__name", "instrument__short_title", "note"]
    autocomplete_fields = ["instrument", "party"]
    list_select_related = ["party", "instrument"]


@admin.register(Theme)
class ThemeAdmin(SimpleHistoryAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Commitment)
class CommitmentAdmin(SimpleHistoryAdmin):
    list_display = ["title", "instrument", "reference", "current_status", "current_progress", "last_update_on"]
    list_filter = ["instrument", "current_status", "themes", "confidence"]
    search_fields = ["title", "text", "reference", "slug", "instrument__short_title"]
    autocomplete_fields = ["instrument", "themes", "parties"]
    readonly_fields = ["current_status", "current_progress", "last_update_on", "created_at", "updated_at"]
    prepopulated_fields = {"slug": ["title"]}
    list_select_related = ["instrument"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["instrument", "reference", "title", "slug", "text", "source_url", "confidence"]}),
        (_("Scope"), {"fields": ["themes", "parties", "target_date"]}),
        (
            _("Current status (from the latest published update)"),
            {"fields": ["current_status", "current_progress", "last_update_on", "created_at", "updated_at"]},
        ),
    ]


class SourceInline(admin.TabularInline):
    model = Source
    extra = 1
    min_num = 1
    fields = ["url", "title", "publisher", "published_on", "archived_url"]


@admin.register(ProgressUpdate)
class ProgressUpdateAdmin(SimpleHistoryAdmin):
    list_display = ["commitment", "reported_on", "status", "progress", "state", "confidence", "author", "published_at"]
    list_filter = ["state", "status", "confidence", "commitment__instrument"]
    search_fields = ["summary", "commitment__title", "commitment__reference", "party__name"]
    autocomplete_fields = ["commitment", "party"]
    date_hierarchy = "reported_on"
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
        (None, {"fields": ["commitment", "reported_on", "status", "progress", "party", "confidence", "summary"]}),
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


@admin.register(Source)
class SourceAdmin(SimpleHistoryAdmin):
    list_display = ["title", "publisher", "published_on", "update"]
    search_fields = ["title", "publisher", "url"]
    autocomplete_fields = ["update"]
    list_select_related = ["update__commitment__instrument"]
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if services.user_is_editor(request.user):
            return queryset
        return queryset.filter(update__author=request.user)
