"""Every write that changes what the public sees goes through here.

Each function is keyword-only, runs in a transaction, validates, and leaves the commitment's denormalised
current status (status, progress, date of the latest published update) right. Views, admin actions and
commands call these; nothing else writes those fields.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Commitment, ProgressUpdate, Source, Status

State = ProgressUpdate.State


def user_is_editor(user) -> bool:
    return bool(user and user.is_active and user.has_perm("aitracker.publish_progressupdate"))


def user_is_analyst(user) -> bool:
    return bool(user and user.is_active and user.has_perm("aitracker.add_progressupdate"))


def commitment_refresh_status(*, commitment: Commitment) -> Commitment:
    """Copy the latest published update's status onto the commitment (or 'not yet assessed')."""
    latest = (
        ProgressUpdate.objects.public()
        .filter(commitment=commitment)
        .latest_first()
        .values("status", "progress", "reported_on")
        .first()
    )
    if latest is None:
        values = {"current_status": Status.NOT_ASSESSED, "current_progress": None, "last_update_on": None}
    else:
        values = {
            "current_status": latest["status"],
            "current_progress": latest["progress"],
            "last_update_on": latest["reported_on"],
        }
    changed = [field for field, value in values.items() if getattr(commitment, field) != value]
    if changed:
        for field in changed:
            setattr(commitment, field, values[field])
        # .update() keeps the denormalised refresh out of the commitment's editorial history.
        Commitment.objects.filter(pk=commitment.pk).update(**values)
    return commitment


def commitments_refresh_all() -> int:
    """Recompute every commitment's current status; returns how many changed."""
    changed = 0
    for commitment in Commitment.objects.all().iterator():
        before = (commitment.current_status, commitment.current_progress, commitment.last_update_on)
        commitment_refresh_status(commitment=commitment)
        changed += before != (commitment.current_status, commitment.current_progress, commitment.last_update_on)
    return changed


def _require_editor(user):
    if not user_is_editor(user):
        raise PermissionDenied(_("Only editors may do this."))


def _require_author_or_editor(update, user):
    if not (user_is_editor(user) or (user_is_analyst(user) and update.author_id == user.pk)):
        raise PermissionDenied(_("You may only change your own updates."))


def _check_future(reported_on):
    if reported_on and reported_on > timezone.localdate():
        raise ValidationError({"reported_on": _("The date of the event cannot be in the future.")})


@transaction.atomic
def progress_update_create(*, commitment, author, sources=(), **fields) -> ProgressUpdate:
    """Create a draft update with its sources (a list of dicts of Source fields)."""
    if not user_is_analyst(author):
        raise PermissionDenied(_("Only analysts and editors may log progress updates."))
    update = ProgressUpdate(commitment=commitment, author=author, state=State.DRAFT, **fields)
    _check_future(update.reported_on)
    update.full_clean()
    update.save()
    for source_fields in sources:
        source = Source(update=update, **source_fields)
        source.full_clean()
        source.save()
    return update


@transaction.atomic
def progress_update_submit(*, update: ProgressUpdate, user) -> ProgressUpdate:
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    _require_author_or_editor(update, user)
    if update.state not in (State.DRAFT, State.RETURNED):
        raise ValidationError(_("Only a draft or a returned update can be submitted."))
    if not update.sources.exists():
        raise ValidationError(_("Add at least one source before submitting."))
    _check_future(update.reported_on)
    update.state = State.SUBMITTED
    update.save(update_fields=["state", "updated_at"])
    return update


@transaction.atomic
def progress_update_return(*, update: ProgressUpdate, editor, note: str) -> ProgressUpdate:
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.SUBMITTED:
        raise ValidationError(_("Only a submitted update can be returned."))
    if not note.strip():
        raise ValidationError({"review_note": _("Say what the analyst should change.")})
    update.state = State.RETURNED
    update.reviewer = editor
    update.review_note = note.strip()
    update.save(update_fields=["state", "reviewer", "review_note", "updated_at"])
    return update


@transaction.atomic
def progress_update_publish(*, update: ProgressUpdate, editor, now=None) -> ProgressUpdate:
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.SUBMITTED:
        raise ValidationError(_("Only a submitted update can be published."))
    if update.deleted_at is not None:
        raise ValidationError(_("A deleted update cannot be published."))
    if not update.sources.exists():
        raise ValidationError(_("A published update needs at least one source."))
    _check_future(update.reported_on)
    update.state = State.PUBLISHED
    update.reviewer = editor
    update.published_at = now or timezone.now()
    update.full_clean()
    update.save(update_fields=["state", "reviewer", "published_at", "updated_at"])
    commitment_refresh_status(commitment=update.commitment)
    return update


@transaction.atomic
def progress_update_unpublish(*, update: ProgressUpdate, editor, note: str) -> ProgressUpdate:
    """Take a published update off the public site; it goes back to its author with the editor's note."""
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.PUBLISHED:
        raise ValidationError(_("Only a published update can be unpublished."))
    if not note.strip():
        raise ValidationError({"review_note": _("Say why the update is taken down.")})
    update.state = State.RETURNED
    update.published_at = None
    update.reviewer = editor
    update.review_note = note.strip()
    update.save(update_fields=["state", "published_at", "reviewer", "review_note", "updated_at"])
    commitment_refresh_status(commitment=update.commitment)
    return update


@transaction.atomic
def progress_update_record_edit(*, update: ProgressUpdate, editor, previous_commitment_id=None, note: str = ""):
    """After staff edited an update (and its sources) in place: mark a published one as corrected and keep
    the current status of the commitments involved right."""
    if update.state == State.PUBLISHED:
        _require_editor(editor)
        update.corrected_at = timezone.now()
        if note:
            update.correction_note = note
        update.save(update_fields=["corrected_at", "correction_note", "updated_at"])
    commitment_refresh_status(commitment=update.commitment)
    if previous_commitment_id and previous_commitment_id != update.commitment_id:
        commitment_refresh_status(commitment=Commitment.objects.get(pk=previous_commitment_id))
    return update
