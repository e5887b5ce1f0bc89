"""Every write that changes what the public sees goes through here.

Each function is keyword-only, runs in a transaction, validates, and leaves the commitment's denormalised
current status (status, progress, date of the latest published update) right. Views, admin actions and
commands call these; nothing else writes those fields. Those that change a public page call
`public_pages_changed()`, which clears the public page cache once the transaction commits (aitracker/cache.py).
"""

import datetime
from typing import NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext as _

from .cache import public_pages_changed
from .models import Commitment, ProgressUpdate, Source, Status
from .rendering import render_markdown

State = ProgressUpdate.State

# What staff may change on an update (the rest is workflow: state, reviewer, publication, correction).
UPDATE_FIELDS = ("commitment", "reported_on", "status", "progress", "party", "confidence", "summary")
SOURCE_FIELDS = ("url", "title", "publisher", "published_on", "archived_url")
COMMITMENT_FIELDS = ("instrument", "reference", "slug", "title", "text", "target_date", "source_url", "confidence")
# Bookkeeping that would only add noise to a field-by-field history (the current status is derived data).
HISTORY_IGNORED_FIELDS = {"created_at", "updated_at", "current_status", "current_progress", "last_update_on"}


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
    public_pages_changed()
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


def _check_commitment_live(commitment_id):
    if Commitment.objects.filter(pk=commitment_id, deleted_at__isnull=False).exists():
        raise ValidationError({"commitment": _("This commitment has been deleted; restore it first.")})


def _save_with_history(obj, *, user, reason="", **kwargs):
    """Save and record who did it and why, also outside a request (commands, imports, tests)."""
    obj._history_user = user
    obj._change_reason = reason
    obj.save(**kwargs)


def _render_summary(update) -> None:
    """Render the summary once, here, so that no page view ever runs the Markdown parser on stored text."""
    update.summary_html = render_markdown(update.summary)


def progress_updates_rerender(*, batch_size: int = 500) -> int:
    """Render every stored summary again (after the sanitiser's rules change, or rows loaded from fixtures,
    which carry no HTML); returns how many changed. The HTML is derived data: no history entry is written."""
    changed = 0
    with transaction.atomic():
        rows = ProgressUpdate.objects.order_by("pk").values_list("pk", "summary", "summary_html")
        pending = []
        for pk, summary, stored in rows.iterator(chunk_size=batch_size):
            html = render_markdown(summary)
            if html != stored:
                pending.append(ProgressUpdate(pk=pk, summary_html=html))
            if len(pending) >= batch_size:
                ProgressUpdate.objects.bulk_update(pending, ["summary_html"])
                changed += len(pending)
                pending = []
        if pending:
            ProgressUpdate.objects.bulk_update(pending, ["summary_html"])
            changed += len(pending)
        if changed:
            public_pages_changed()
    return changed


def _lock(update) -> ProgressUpdate:
    return ProgressUpdate.objects.select_for_update().get(pk=update.pk)


@transaction.atomic
def progress_update_create(*, commitment, author, sources=(), **fields) -> ProgressUpdate:
    """Create a draft update with its sources (a list of dicts of Source fields)."""
    if not user_is_analyst(author):
        raise PermissionDenied(_("Only analysts and editors may log progress updates."))
    update = ProgressUpdate(commitment=commitment, author=author, state=State.DRAFT, **fields)
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.full_clean()
    _render_summary(update)
    _save_with_history(update, user=author, reason=_("Logged as a draft"))
    _sync_sources(update=update, sources=sources, user=author)
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
    _check_commitment_live(update.commitment_id)
    update.state = State.SUBMITTED
    _save_with_history(update, user=user, reason=_("Submitted for review"), update_fields=["state", "updated_at"])
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
    update.full_clean()
    _save_with_history(
        update,
        user=editor,
        reason=_("Returned to the analyst"),
        update_fields=["state", "reviewer", "review_note", "updated_at"],
    )
    return update


@transaction.atomic
def progress_update_publish(*, update: ProgressUpdate, editor, now=None) -> ProgressUpdate:
    public_pages_changed()
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.SUBMITTED:
        raise ValidationError(_("Only a submitted update can be published."))
    if update.deleted_at is not None:
        raise ValidationError(_("A deleted update cannot be published."))
    if not update.sources.exists():
        raise ValidationError(_("A published update needs at least one source."))
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.state = State.PUBLISHED
    update.reviewer = editor
    update.published_at = now or timezone.now()
    update.full_clean()
    _save_with_history(
        update, user=editor, reason=_("Published"), update_fields=["state", "reviewer", "published_at", "updated_at"]
    )
    commitment_refresh_status(commitment=update.commitment)
    return update


@transaction.atomic
def progress_update_unpublish(*, update: ProgressUpdate, editor, note: str) -> ProgressUpdate:
    """Take a published update off the public site; it goes back to its author with the editor's note."""
    public_pages_changed()
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
    update.full_clean()
    _save_with_history(
        update,
        user=editor,
        reason=_("Unpublished"),
        update_fields=["state", "published_at", "reviewer", "review_note", "updated_at"],
    )
    commitment_refresh_status(commitment=update.commitment)
    return update


@transaction.atomic
def progress_update_record_edit(*, update: ProgressUpdate, editor, previous_commitment_id=None, note: str = ""):
    """After staff edited an update (and its sources) in place: mark a published one as corrected and keep
    the current status of the commitments involved right."""
    public_pages_changed()
    _render_summary(update)
    # Derived data, kept out of the history like the current status.
    ProgressUpdate.objects.filter(pk=update.pk).update(summary_html=update.summary_html)
    if update.state == State.PUBLISHED:
        _require_editor(editor)
        update.corrected_at = timezone.now()
        if note:
            update.correction_note = note
        update.full_clean()
        _save_with_history(
            update, user=editor, reason=_("Corrected"), update_fields=["corrected_at", "correction_note", "updated_at"]
        )
    commitment_refresh_status(commitment=update.commitment)
    if previous_commitment_id and previous_commitment_id != update.commitment_id:
        commitment_refresh_status(commitment=Commitment.objects.get(pk=previous_commitment_id))
    return update


# --- Sources ---------------------------------------------------------------------------------------------


def _sync_sources(*, update: ProgressUpdate, sources, user) -> None:
    """Make the update's sources exactly `sources`: dicts of Source fields, with "id" for an existing one.

    Existing sources left out are removed; their history keeps them, and restoring an earlier version of the
    update brings them back.
    """
    existing = {source.pk: source for source in update.sources.all()}
    kept = set()
    for data in sources:
        pk = data.get("id")
        values = {field: data.get(field) for field in SOURCE_FIELDS if field in data}
        for field in ("publisher", "archived_url"):
            if values.get(field) is None and field in values:
                values[field] = ""
        if values.get("published_on") and values["published_on"] > timezone.localdate():
            raise ValidationError({"sources": _("A source cannot be published in the future.")})
        if pk is not None and pk in existing:
            source = existing[pk]
            kept.add(pk)
            if all(getattr(source, field) == value for field, value in values.items()):
                continue
            for field, value in values.items():
                setattr(source, field, value)
        elif pk is not None and Source.objects.filter(pk=pk).exists():
            raise ValidationError({"sources": _("One of the sources belongs to another update.")})
        else:
            source = Source(update=update, **values)
        source.full_clean()
        _save_with_history(source, user=user)
    for pk, source in existing.items():
        if pk not in kept:
            source._history_user = user
            source.delete()


# --- Editing, with optimistic locking --------------------------------------------------------------------


def version_token(obj) -> str:
    """The version a form was loaded at: the row's `updated_at`, which every save moves on."""
    return obj.updated_at.isoformat() if obj.updated_at else ""


class FieldChange(NamedTuple):
    field: str
    label: str
    old: str
    new: str


class EditConflict(ValidationError):
    """Someone saved the row after the form was loaded. Carries what they changed, and the new version."""

    def __init__(self, *, obj, changes, changed_by, changed_at):
        self.obj = obj
        self.changes = changes
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current_version = version_token(obj)
        params = {
            "what": obj._meta.verbose_name,
            "who": changed_by or _("someone else"),
            "when": formats.date_format(timezone.localtime(changed_at), "DATETIME_FORMAT") if changed_at else "?",
        }
        message = (
            _(
                "This %(what)s was changed by %(who)s on %(when)s, after you opened it. Your changes were not "
                "saved, so that theirs are not lost; what you typed is still in the form."
            )
            % params
        )
        if changes:
            message += " " + _("What changed: %(changes)s.") % {
                "changes": "; ".join(
                    f"{change.label}: {Truncator(change.old).chars(80)} → {Truncator(change.new).chars(80)}"
                    for change in changes
                )
            }
        message += " " + _("Check their changes, then save again if yours should still apply.")
        super().__init__(message, code="conflict")


def _display_value(field, value) -> str:
    if field.many_to_many:
        key = field.m2m_reverse_field_name()
        names = sorted(str(row[key]) for row in value or [])
        return ", ".join(names) if names else "—"
    if value is None or value == "":
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime.datetime):
        return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def history_changes(*, record, previous) -> list[FieldChange]:
    """What changed from one historical record of an object to a later one, field by field, for people."""
    model = record.instance_type
    fields = [field for field in previous.tracked_fields if field.name not in HISTORY_IGNORED_FIELDS]
    # diff_against only compares editable fields; the others (deleted_at) are compared here.
    editable = [field.name for field in fields if field.editable]
    m2m = [field.name for field in previous._history_m2m_fields]
    delta = record.diff_against(previous, included_fields=editable + m2m, foreign_keys_are_objs=True)
    raw = [(change.field, change.old, change.new) for change in delta.changes]
    raw += [
        (field.name, getattr(previous, field.attname), getattr(record, field.attname))
        for field in fields
        if not field.editable and getattr(previous, field.attname) != getattr(record, field.attname)
    ]
    changes = []
    for name, old, new in raw:
        field = model._meta.get_field(name)
        changes.append(
            FieldChange(name, capfirst(field.verbose_name), _display_value(field, old), _display_value(field, new))
        )
    return changes


def check_version(*, obj, expected_version) -> None:
    """Refuse to overwrite a row that changed since the form showing `expected_version` was loaded.

    `obj` must be the current row (locked by the caller where the database can). `expected_version` None
    means the caller does not track versions (a script); an empty string means the form lost its token.
    """
    if expected_version is None or version_token(obj) == expected_version:
        return
    history = obj.history.order_by("-history_date", "-history_id")
    latest = history.first()
    loaded = None
    try:
        loaded_at = datetime.datetime.fromisoformat(expected_version)
    except ValueError:
        loaded_at = None
    if loaded_at is not None:
        loaded = history.filter(updated_at=loaded_at).first()
    changes = history_changes(record=latest, previous=loaded) if latest and loaded else []
    raise EditConflict(
        obj=obj,
        changes=changes,
        changed_by=getattr(latest, "history_user", None),
        changed_at=getattr(latest, "history_date", None),
    )


def _apply_update_fields(update, fields) -> None:
    unknown = set(fields) - set(UPDATE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    for field, value in fields.items():
        setattr(update, field, value)
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.full_clean()
    _render_summary(update)


def _refresh_commitments(update, previous_commitment_id) -> None:
    commitment_refresh_status(commitment=Commitment.objects.get(pk=update.commitment_id))
    if previous_commitment_id != update.commitment_id:
        commitment_refresh_status(commitment=Commitment.objects.get(pk=previous_commitment_id))


@transaction.atomic
def progress_update_edit(*, update: ProgressUpdate, user, expected_version=None, sources=None, **fields):
    """Change an unpublished update (and its sources, if given). Its author may change a draft or a returned
    update; an editor may change any unpublished one. A published update is corrected instead."""
    current = _lock(update)
    _require_author_or_editor(current, user)
    if current.deleted_at is not None:
        raise ValidationError(_("This update has been deleted."))
    if current.state == State.PUBLISHED:
        raise ValidationError(_("A published update is corrected by an editor, not edited."))
    if not user_is_editor(user) and current.state not in (State.DRAFT, State.RETURNED):
        raise PermissionDenied(_("This update is waiting for review; it cannot be changed now."))
    check_version(obj=current, expected_version=expected_version)
    _apply_update_fields(current, fields)
    _save_with_history(current, user=user, reason=_("Edited"))
    if sources is not None:
        _sync_sources(update=current, sources=sources, user=user)
    if current.state == State.SUBMITTED and not current.sources.exists():
        raise ValidationError(_("An update under review needs at least one source."))
    return current


@transaction.atomic
def progress_update_correct(
    *, update: ProgressUpdate, editor, note: str, expected_version=None, sources=None, **fields
) -> ProgressUpdate:
    """Correct a published update in place: the public page says it was corrected, when and why, and the
    earlier version stays in the history."""
    public_pages_changed()
    _require_editor(editor)
    current = _lock(update)
    if current.state != State.PUBLISHED or current.deleted_at is not None:
        raise ValidationError(_("Only a published update can be corrected."))
    if not (note or "").strip():
        raise ValidationError({"correction_note": _("Say what was corrected; the note is shown to the public.")})
    check_version(obj=current, expected_version=expected_version)
    previous_commitment_id = current.commitment_id
    current.corrected_at = timezone.now()
    current.correction_note = note.strip()
    _apply_update_fields(current, fields)  # validates the note's length too
    _save_with_history(current, user=editor, reason=_("Corrected"))
    if sources is not None:
        _sync_sources(update=current, sources=sources, user=editor)
    if not current.sources.exists():
        raise ValidationError(_("A published update needs at least one source."))
    _refresh_commitments(current, previous_commitment_id)
    return current


# --- History and restore ---------------------------------------------------------------------------------


def _sources_of_version(update, record) -> list[dict]:
    """The update's sources as they stood while `record` was its current version.

    Sources are saved just after their update, so the version's sources are those of the moment the next
    version of the update was saved (or of now, for the latest).
    """
    following = update.history.filter(history_date__gt=record.history_date).order_by("history_date").first()
    rows = Source.history.filter(update_id=update.pk).order_by("history_date", "history_id")
    if following is not None:
        rows = rows.filter(history_date__lt=following.history_date)
    latest = {}
    for row in rows:
        latest[row.id] = row
    live_ids = set(update.sources.values_list("pk", flat=True))
    return [
        {"id": row.id if row.id in live_ids else None, **{field: getattr(row, field) for field in SOURCE_FIELDS}}
        for row in latest.values()
        if row.history_type != "-"
    ]


@transaction.atomic
def progress_update_restore(*, update: ProgressUpdate, history_id: int, editor, expected_version=None):
    """Bring back an earlier version of an update's content and sources. The workflow (state, review,
    publication) stays as it is; restoring a published update is a correction, shown as such."""
    public_pages_changed()
    _require_editor(editor)
    current = _lock(update)
    check_version(obj=current, expected_version=expected_version)
    record = current.history.filter(history_id=history_id).first()
    if record is None or record.history_type == "-":
        raise ValidationError(_("There is no such version of this update."))
    previous_commitment_id = current.commitment_id
    sources = _sources_of_version(current, record)
    for field in UPDATE_FIELDS:
        attname = current._meta.get_field(field).attname
        setattr(current, attname, getattr(record, attname))
    _check_commitment_live(current.commitment_id)
    current.full_clean()
    _render_summary(current)
    when = formats.date_format(timezone.localtime(record.history_date), "DATETIME_FORMAT")
    reason = _("Restored the version of %(when)s") % {"when": when}
    if current.state == State.PUBLISHED:
        current.corrected_at = timezone.now()
        current.correction_note = _("An earlier version was restored.")
    _save_with_history(current, user=editor, reason=reason)
    _sync_sources(update=current, sources=sources, user=editor)
    if current.state in (State.SUBMITTED, State.PUBLISHED) and not current.sources.exists():
        raise ValidationError(_("That version had no source; an update under review or published needs one."))
    _refresh_commitments(current, previous_commitment_id)
    return current


@transaction.atomic
def commitment_restore(*, commitment: Commitment, history_id: int, editor, expected_version=None) -> Commitment:
    """Bring back an earlier version of a commitment (its text, scope, themes and parties)."""
    public_pages_changed()
    _require_editor(editor)
    current = Commitment.objects.select_for_update().get(pk=commitment.pk)
    check_version(obj=current, expected_version=expected_version)
    record = current.history.filter(history_id=history_id).first()
    if record is None or record.history_type == "-":
        raise ValidationError(_("There is no such version of this commitment."))
    for field in COMMITMENT_FIELDS:
        attname = current._meta.get_field(field).attname
        setattr(current, attname, getattr(record, attname))
    current.full_clean()
    when = formats.date_format(timezone.localtime(record.history_date), "DATETIME_FORMAT")
    _save_with_history(current, user=editor, reason=_("Restored the version of %(when)s") % {"when": when})
    current.themes.set([row.theme_id for row in record.themes.all()])
    current.parties.set([row.party_id for row in record.parties.all()])
    return commitment_refresh_status(commitment=current)


# --- Soft delete and undo --------------------------------------------------------------------------------


@transaction.atomic
def progress_update_delete(*, update: ProgressUpdate, editor) -> ProgressUpdate:
    """Soft delete: the update leaves every page and the review queue, and an editor can undo it."""
    public_pages_changed()
    _require_editor(editor)
    update = _lock(update)
    if update.deleted_at is not None:
        raise ValidationError(_("This update is already deleted."))
    update.deleted_at = timezone.now()
    _save_with_history(update, user=editor, reason=_("Deleted"), update_fields=["deleted_at", "updated_at"])
    commitment_refresh_status(commitment=update.commitment)
    return update


@transaction.atomic
def progress_update_undelete(*, update: ProgressUpdate, editor) -> ProgressUpdate:
    public_pages_changed()
    _require_editor(editor)
    update = _lock(update)
    if update.deleted_at is None:
        raise ValidationError(_("This update is not deleted."))
    update.deleted_at = None
    _save_with_history(update, user=editor, reason=_("Deletion undone"), update_fields=["deleted_at", "updated_at"])
    commitment_refresh_status(commitment=update.commitment)
    return update


@transaction.atomic
def commitment_delete(*, commitment: Commitment, editor) -> Commitment:
    """Soft delete: the commitment and its updates leave the public site; an editor can undo it."""
    public_pages_changed()
    _require_editor(editor)
    commitment = Commitment.objects.select_for_update().get(pk=commitment.pk)
    if commitment.deleted_at is not None:
        raise ValidationError(_("This commitment is already deleted."))
    commitment.deleted_at = timezone.now()
    _save_with_history(commitment, user=editor, reason=_("Deleted"), update_fields=["deleted_at", "updated_at"])
    return commitment


@transaction.atomic
def commitment_undelete(*, commitment: Commitment, editor) -> Commitment:
    public_pages_changed()
    _require_editor(editor)
    commitment = Commitment.objects.select_for_update().get(pk=commitment.pk)
    if commitment.deleted_at is None:
        raise ValidationError(_("This commitment is not deleted."))
    commitment.deleted_at = None
    _save_with_history(commitment, user=editor, reason=_("Deletion undone"), update_fields=["deleted_at", "updated_at"])
    return commitment_refresh_status(commitment=commitment)
