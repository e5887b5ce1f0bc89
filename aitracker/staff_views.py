"""Analysts' and editors' pages: log, edit and submit updates; review, publish, return and correct them;
history, restore, soft delete and undo. Every write goes through `services`, which checks permissions
again: the checks here only decide who sees a page (anonymous visitors go to the login page, the wrong
role gets a 403)."""

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from . import history, services
from .forms import (
    CorrectionForm,
    ProgressUpdateForm,
    ReviewNoteForm,
    SourceFormSet,
    SuggestionDismissForm,
    SuggestionDraftForm,
)
from .models import SUMMARY_MAX_LENGTH, Commitment, LinkStatus, ProgressUpdate, Source, Status, Suggestion

State = ProgressUpdate.State


def error_text(error) -> str:
    return " ".join(getattr(error, "messages", [str(error)]))


@method_decorator(never_cache, name="dispatch")
class AnalystRequiredMixin(PermissionRequiredMixin):
    """Django's permission check: anonymous visitors are sent to log in, logged-in users without the role get
    a 403. The permissions are the ones `services.user_is_analyst` and `user_is_editor` test."""

    permission_required = "aitracker.add_progressupdate"


class EditorRequiredMixin(AnalystRequiredMixin):
    permission_required = "aitracker.publish_progressupdate"


# --- Logging, editing and correcting an update -----------------------------------------------------------


class UpdateFormView(AnalystRequiredMixin, View):
    """The update form with its sources. Three buttons: "preview" re-shows the form with the rendered summary,
    "save" keeps a draft, "submit" saves and sends it for review. What was typed is kept on every refusal."""

    form_class = ProgressUpdateForm
    template_name = None
    actions = ("preview", "save", "submit")
    is_correction = False

    def get_update(self):
        return None

    def get_commitment(self):
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if self.has_permission():
            self.update = self.get_update()
            self.commitment = self.get_commitment()
        return super().dispatch(request, *args, **kwargs)

    def get_forms(self, data=None):
        instance = self.update or ProgressUpdate(commitment=self.commitment)
        return self.form_class(data, instance=instance), SourceFormSet(data, instance=instance, prefix="sources")

    def render(self, form, formset, *, preview=None, conflict=None, status=200):
        context = {
            "form": form,
            "formset": formset,
            "commitment": self.commitment,
            "update": self.update,
            "preview": preview,
            "conflict": conflict,
            "actions": self.actions,
            "is_correction": self.is_correction,
        }
        return TemplateResponse(self.request, self.template_name, context, status=status)

    def get(self, request, *args, **kwargs):
        return self.render(*self.get_forms())

    def post(self, request, *args, **kwargs):
        form, formset = self.get_forms(request.POST)
        action = next((action for action in self.actions if action in request.POST), "save")
        valid = form.is_valid() & formset.is_valid()
        if action == "preview":
            # A summary over the limit is not rendered: the form says it is too long instead.
            summary = request.POST.get("summary", "")
            return self.render(form, formset, preview=summary if len(summary) <= SUMMARY_MAX_LENGTH else None)
        if not valid:
            messages.error(request, _("Nothing was saved: please correct the errors shown next to the fields."))
            return self.render(form, formset, status=400)
        try:
            return self.perform(action, form, formset)
        except history.EditConflict as conflict:
            form.refresh_version(conflict)
            messages.error(request, _("Nothing was saved: someone else changed this update in the meantime."))
            return self.render(form, formset, conflict=conflict, status=409)
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error)
            messages.error(request, _("Nothing was saved: please correct the errors shown."))
            return self.render(form, formset, status=400)


class UpdateCreateView(UpdateFormView):
    template_name = "aitracker/staff/update_create.html"

    def get_commitment(self):
        return get_object_or_404(Commitment.objects.public().select_related("instrument"), slug=self.kwargs["slug"])

    def perform(self, action, form, formset):
        update = services.progress_update_create(
            commitment=self.commitment, author=self.request.user, sources=formset.source_dicts(), **form.update_fields()
        )
        return after_save(self.request, update, action)


def after_save(request, update, action):
    if action == "submit":
        try:
            services.progress_update_submit(update=update, user=request.user)
        except ValidationError as error:
            messages.error(request, _("The draft was saved but not submitted: %(why)s") % {"why": error_text(error)})
            return HttpResponseRedirect(reverse("update_edit", args=[update.pk]))
        messages.success(request, _("Your update was submitted for review."))
        return HttpResponseRedirect(reverse("my_updates"))
    messages.success(request, _("Draft saved. You can keep editing it, and submit it when it is ready."))
    return HttpResponseRedirect(reverse("update_edit", args=[update.pk]))


class UpdateEditView(UpdateFormView):
    """An analyst's own draft or returned update; an editor may change any unpublished one."""

    template_name = "aitracker/staff/update_edit.html"

    def get_update(self):
        update = get_object_or_404(
            ProgressUpdate.objects.live().select_related("commitment__instrument"), pk=self.kwargs["pk"]
        )
        is_editor = services.user_is_editor(self.request.user)
        if not is_editor and update.author_id != self.request.user.pk:
            raise PermissionDenied
        return update

    def get_commitment(self):
        return self.update.commitment

    @property
    def actions(self):
        if self.update.state == State.SUBMITTED:
            return ("preview", "save")
        return UpdateFormView.actions

    def get(self, request, *args, **kwargs):
        redirect = self.redirect_if_not_editable()
        return redirect or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        redirect = self.redirect_if_not_editable()
        return redirect or super().post(request, *args, **kwargs)

    def redirect_if_not_editable(self):
        update, user = self.update, self.request.user
        if update.state == State.PUBLISHED:
            if services.user_is_editor(user):
                return HttpResponseRedirect(reverse("update_correct", args=[update.pk]))
            raise PermissionDenied
        if not services.user_is_editor(user) and update.state == State.SUBMITTED:
            messages.info(self.request, _("This update is waiting for review; it cannot be changed now."))
            return HttpResponseRedirect(reverse("my_updates"))
        return None

    def perform(self, action, form, formset):
        update = services.progress_update_edit(
            update=self.update,
            user=self.request.user,
            expected_version=form.cleaned_data["version"],
            sources=formset.source_dicts(),
            **form.update_fields(),
        )
        if action == "save" and update.state == State.SUBMITTED:
            messages.success(self.request, _("Changes saved; the update is still waiting for review."))
            return HttpResponseRedirect(reverse("review_queue"))
        return after_save(self.request, update, action)


class UpdateCorrectView(UpdateFormView):
    """An editor corrects a published update; the public page then says it was corrected, when and why."""

    permission_required = EditorRequiredMixin.permission_required
    form_class = CorrectionForm
    template_name = "aitracker/staff/update_correct.html"
    actions = ("preview", "save")
    is_correction = True

    def get_update(self):
        return get_object_or_404(
            ProgressUpdate.objects.live().filter(state=State.PUBLISHED).select_related("commitment__instrument"),
            pk=self.kwargs["pk"],
        )

    def get_commitment(self):
        return self.update.commitment

    def perform(self, action, form, formset):
        update = services.progress_update_correct(
            update=self.update,
            editor=self.request.user,
            note=form.cleaned_data["correction_note"],
            expected_version=form.cleaned_data["version"],
            sources=formset.source_dicts(),
            **form.update_fields(),
        )
        messages.success(self.request, _("The correction is published."))
        return HttpResponseRedirect(update.get_absolute_url())


# --- Lists -----------------------------------------------------------------------------------------------


class StaffHomeView(LoginRequiredMixin, View):
    """Where a staff login lands: an editor on the review queue (their work waits there), an analyst on their
    own updates, anyone else on the admin's index."""

    def get(self, request):
        if services.user_is_editor(request.user):
            return redirect("review_queue")
        if services.user_is_analyst(request.user):
            return redirect("my_updates")
        return redirect("admin:index")


class MyUpdatesView(AnalystRequiredMixin, TemplateView):
    template_name = "aitracker/staff/my_updates.html"

    def get_context_data(self, **kwargs):
        mine = ProgressUpdate.objects.by_author(self.request.user).with_staff_related().order_by("-updated_at")
        return super().get_context_data(
            returned=mine.filter(state=State.RETURNED),
            drafts=mine.filter(state=State.DRAFT),
            submitted=mine.filter(state=State.SUBMITTED),
            published=mine.filter(state=State.PUBLISHED)[:10],
            **kwargs,
        )


class ReviewQueueView(EditorRequiredMixin, TemplateView):
    template_name = "aitracker/staff/review_queue.html"

    def get_context_data(self, **kwargs):
        updates = ProgressUpdate.objects.awaiting_review().with_staff_related().order_by("updated_at", "pk")
        return super().get_context_data(
            rows=[{"update": update, "effect": update.publication_effect()} for update in updates],
            **kwargs,
        )


class DeletedItemsView(EditorRequiredMixin, TemplateView):
    template_name = "aitracker/staff/deleted_items.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            commitments=Commitment.objects.deleted().select_related("instrument").order_by("-deleted_at"),
            updates=ProgressUpdate.objects.deleted()
            .select_related("commitment__instrument", "author")
            .order_by("-deleted_at"),
            **kwargs,
        )


# --- History ---------------------------------------------------------------------------------------------


def history_entries(records, *, kind=""):
    """Each historical record with who, when, why and its changes against the record before it."""
    records = list(records)
    entries = []
    for index, record in enumerate(records):
        previous = records[index + 1] if index + 1 < len(records) else None
        entries.append(
            {
                "record": record,
                "kind": kind,
                "changes": history.history_changes(record=record, previous=previous) if previous else [],
                "created": previous is None,
            }
        )
    return entries


class UpdateHistoryView(EditorRequiredMixin, TemplateView):
    template_name = "aitracker/staff/update_history.html"

    def get_context_data(self, **kwargs):
        update = get_object_or_404(
            ProgressUpdate.objects.select_related("commitment__instrument"), pk=self.kwargs["pk"]
        )
        records = update.history.select_related("history_user").order_by("-history_date", "-history_id")
        by_source = {}
        for record in (
            Source.history.filter(update_id=update.pk)
            .select_related("history_user")
            .order_by("-history_date", "-history_id")
        ):
            by_source.setdefault(record.id, []).append(record)
        sources = [
            entry for source_versions in by_source.values() for entry in history_entries(source_versions, kind="source")
        ]
        sources.sort(key=lambda entry: entry["record"].history_date, reverse=True)
        return super().get_context_data(
            update=update,
            entries=history_entries(records),
            source_entries=sources,
            version=history.version_token(update),
            **kwargs,
        )


class CommitmentHistoryView(EditorRequiredMixin, TemplateView):
    template_name = "aitracker/staff/commitment_history.html"

    def get_context_data(self, **kwargs):
        commitment = get_object_or_404(Commitment.objects.select_related("instrument"), slug=self.kwargs["slug"])
        records = commitment.history.select_related("history_user").order_by("-history_date", "-history_id")
        return super().get_context_data(
            commitment=commitment,
            entries=history_entries(records),
            updates=commitment.updates.select_related("author").order_by("-reported_on", "-pk"),
            version=history.version_token(commitment),
            **kwargs,
        )


# --- One-click actions (POST, CSRF-protected) ------------------------------------------------------------


class ActionView(AnalystRequiredMixin, View):
    """Run one service on one object, then go back where the button was (or to `default_next`)."""

    http_method_names = ["post"]

    def get_object(self):
        return get_object_or_404(ProgressUpdate.objects.live(), pk=self.kwargs["pk"])

    def get_default_next(self, obj):
        return reverse("my_updates")

    def post(self, request, *args, **kwargs):
        obj = self.get_object()
        try:
            done = self.perform(obj)
        except ValidationError as error:
            messages.error(request, error_text(error))
        else:
            messages.success(request, done)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = self.get_default_next(obj)
        return HttpResponseRedirect(target)


class UpdateSubmitView(ActionView):
    def get_object(self):
        update = super().get_object()
        if not services.user_is_editor(self.request.user) and update.author_id != self.request.user.pk:
            raise PermissionDenied
        return update

    def perform(self, update):
        services.progress_update_submit(update=update, user=self.request.user)
        return _("Your update was submitted for review.")


class EditorActionView(EditorRequiredMixin, ActionView):
    def get_default_next(self, obj):
        return reverse("review_queue")


class UpdatePublishView(EditorActionView):
    def perform(self, update):
        services.progress_update_publish(update=update, editor=self.request.user)
        return _("Published: it is now on the commitment's public page.")


class UpdateReturnView(EditorActionView):
    def perform(self, update):
        form = ReviewNoteForm(self.request.POST)
        if not form.is_valid():
            if self.request.POST.get("note", "").strip():
                raise ValidationError(form.errors["note"])  # too long: say so
            raise ValidationError(_("Say what the analyst should change before returning the update."))
        services.progress_update_return(update=update, editor=self.request.user, note=form.cleaned_data["note"])
        return _("Returned to the analyst with your note.")


class UpdateDeleteView(EditorActionView):
    def perform(self, update):
        services.progress_update_delete(update=update, editor=self.request.user)
        return _("Deleted. You can undo this from “Deleted items”.")


class UpdateUndeleteView(EditorActionView):
    def get_object(self):
        return get_object_or_404(ProgressUpdate.objects.deleted(), pk=self.kwargs["pk"])

    def get_default_next(self, obj):
        return reverse("deleted_items")

    def perform(self, update):
        services.progress_update_undelete(update=update, editor=self.request.user)
        return _("The deletion was undone.")


class UpdateRestoreView(EditorActionView):
    def get_default_next(self, obj):
        return reverse("update_history", args=[obj.pk])

    def perform(self, update):
        services.progress_update_restore(
            update=update,
            history_id=self.kwargs["history_id"],
            editor=self.request.user,
            expected_version=self.request.POST.get("version", ""),
        )
        return _("The earlier version was restored; the restore is in the history too.")


class CommitmentActionView(EditorActionView):
    def get_object(self):
        return get_object_or_404(Commitment.objects.all(), slug=self.kwargs["slug"])

    def get_default_next(self, obj):
        return reverse("commitment_history", args=[obj.slug])


class CommitmentDeleteView(CommitmentActionView):
    def get_default_next(self, obj):
        return reverse("deleted_items")

    def perform(self, commitment):
        services.commitment_delete(commitment=commitment, editor=self.request.user)
        return _("Deleted. You can undo this from “Deleted items”.")


class CommitmentUndeleteView(CommitmentActionView):
    def get_default_next(self, obj):
        return reverse("deleted_items")

    def perform(self, commitment):
        services.commitment_undelete(commitment=commitment, editor=self.request.user)
        return _("The deletion was undone.")


class CommitmentRestoreView(CommitmentActionView):
    def perform(self, commitment):
        services.commitment_restore(
            commitment=commitment,
            history_id=self.kwargs["history_id"],
            editor=self.request.user,
            expected_version=self.request.POST.get("version", ""),
        )
        return _("The earlier version was restored; the restore is in the history too.")


# --- Readers' suggestions and broken links ---------------------------------------------------------------


class SuggestionQueueView(AnalystRequiredMixin, TemplateView):
    """Analysts' queue: the suggestions waiting, oldest first, then the latest handled ones."""

    template_name = "aitracker/staff/suggestion_queue.html"
    HANDLED_SHOWN = 20

    def get_context_data(self, **kwargs):
        suggestions = Suggestion.objects.select_related("commitment__instrument", "party", "handled_by", "draft")
        return super().get_context_data(
            waiting=suggestions.waiting().order_by("created_at", "pk"),
            handled=suggestions.exclude(state=Suggestion.State.NEW).order_by("-handled_at", "-pk")[
                : self.HANDLED_SHOWN
            ],
            **kwargs,
        )


class SuggestionDetailView(AnalystRequiredMixin, View):
    """One suggestion, with the two ways to handle it: a draft update (its fields filled in), or dismissal."""

    template_name = "aitracker/staff/suggestion_detail.html"

    def get_suggestion(self):
        return get_object_or_404(
            Suggestion.objects.select_related("commitment__instrument", "party", "handled_by", "draft"),
            pk=self.kwargs["pk"],
        )

    def render(self, suggestion, *, draft_form=None, dismiss_form=None, status=200):
        if draft_form is None:
            commitment = (
                suggestion.commitment if suggestion.commitment and suggestion.commitment.deleted_at is None else None
            )
            current = commitment.current_status if commitment else Status.NOT_ASSESSED
            draft_form = SuggestionDraftForm(
                initial={
                    "commitment": commitment,
                    "status": current if current != Status.NOT_ASSESSED else Status.IN_PROGRESS,
                }
            )
        context = {
            "suggestion": suggestion,
            "draft_form": draft_form,
            "dismiss_form": dismiss_form or SuggestionDismissForm(),
        }
        return TemplateResponse(self.request, self.template_name, context, status=status)

    def get(self, request, *args, **kwargs):
        return self.render(self.get_suggestion())

    def post(self, request, *args, **kwargs):
        suggestion = self.get_suggestion()
        if "dismiss" in request.POST:
            form = SuggestionDismissForm(request.POST)
            if not form.is_valid():
                return self.render(suggestion, dismiss_form=form, status=400)
            try:
                services.suggestion_dismiss(
                    suggestion=suggestion, analyst=request.user, reason=form.cleaned_data["reason"]
                )
            except ValidationError as error:
                messages.error(request, error_text(error))
                return HttpResponseRedirect(suggestion.get_absolute_url())
            messages.success(request, _("The suggestion was dismissed."))
            return HttpResponseRedirect(reverse("suggestion_queue"))
        form = SuggestionDraftForm(request.POST)
        if not form.is_valid():
            return self.render(suggestion, draft_form=form, status=400)
        try:
            update = services.suggestion_to_draft(
                suggestion=suggestion,
                analyst=request.user,
                commitment=form.cleaned_data["commitment"],
                status=form.cleaned_data["status"],
            )
        except ValidationError as error:
            messages.error(request, error_text(error))
            return HttpResponseRedirect(suggestion.get_absolute_url())
        messages.success(
            request, _("A draft update was made from the suggestion: check its sources and text, then submit it.")
        )
        return HttpResponseRedirect(reverse("update_edit", args=[update.pk]))


class LinkProblemsView(EditorRequiredMixin, TemplateView):
    """Editors' queue of published sources whose link is broken, or that robots.txt keeps us from checking."""

    template_name = "aitracker/staff/link_problems.html"
    SHOWN = 500

    def get_context_data(self, **kwargs):
        sources = Source.objects.link_problems().select_related("update__commitment__instrument")
        return super().get_context_data(
            sources=sources[: self.SHOWN],
            total=Source.objects.link_problems().count(),
            unchecked=Source.objects.public().filter(link_status=LinkStatus.UNCHECKED).count(),
            **kwargs,
        )


# --- Background jobs -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")


def mask_emails(text: str) -> str:
    """An SMTP error can name the recipient: staff see a@… only (subscribers' addresses are shown to nobody)."""
    return _EMAIL.sub(r"\1…@…", text)


class JobsView(EditorRequiredMixin, TemplateView):
    """The background jobs that failed, newest first, with their error: what editors need to see that alerts are
    not going out (a failed job is retried later by itself; see aitracker/tasks.py)."""

    template_name = "aitracker/staff/jobs.html"
    LIMIT = 100

    def get_context_data(self, **kwargs):
        from django_tasks_db.models import DBTaskResult

        counts = dict.fromkeys(("READY", "RUNNING", "SUCCESSFUL", "FAILED"), 0)
        counts.update(DBTaskResult.objects.values_list("status").annotate(n=Count("pk")).order_by())
        failed = DBTaskResult.objects.failed().order_by("-finished_at")[: self.LIMIT]
        jobs = [
            {
                "name": job.task_path.rsplit(".", 1)[-1],
                "attempt": (job.args_kwargs.get("kwargs") or {}).get("attempt", 1),
                "enqueued_at": job.enqueued_at,
                "finished_at": job.finished_at,
                "error": mask_emails(job.exception_class_path),
                "detail": mask_emails((job.traceback.strip().splitlines() or [""])[-1])[:500],
            }
            for job in failed
        ]
        return super().get_context_data(
            jobs=jobs,
            counts=counts,
            max_attempts=settings.AITRACKER_JOB_MAX_ATTEMPTS,
            **kwargs,
        )
