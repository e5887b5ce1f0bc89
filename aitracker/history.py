"""History: the version token a form was loaded at, what changed between two versions of a row (for people),
and the check that refuses to overwrite a row someone else saved meanwhile. The restores themselves are writes,
in aitracker/services.py."""

import datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext as _
from simple_history.models import DeletedObject

from .templatetags.aitracker_tags import display_datetime

# Bookkeeping that would only add noise to a field-by-field history (the current status is derived data).
HISTORY_IGNORED_FIELDS = {
    "created_at",
    "updated_at",
    "current_status",
    "current_progress",
    "last_update_on",
    "last_reviewed_on",
}


def version_token(obj) -> str:
    """The version a form was loaded at: the row's `updated_at`, which every save moves on."""
    return obj.updated_at.isoformat() if obj.updated_at else ""


class FieldChange(NamedTuple):
    field: str
    label: str
    old: str
    new: str
    language: str = ""  # the language of a text's words ("en" for a record's own), "" for a value that has none


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
            "when": display_datetime(changed_at) if changed_at else "?",
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


def person_name(user) -> str:
    """How the history and the staff pages name a person: their full name, else their username."""
    return user.get_full_name() or user.get_username()


def _display_value(field, value) -> str:
    if isinstance(value, DeletedObject):
        # A foreign key that was empty (pk None) is simply empty; one whose row is gone says so, in words.
        if value.pk is None:
            return "—"
        return _("a deleted %(kind)s") % {"kind": value.model._meta.verbose_name}
    if isinstance(value, AbstractBaseUser):
        return person_name(value)
    if field.many_to_many:
        key = field.m2m_reverse_field_name()
        names = sorted(str(row[key]) for row in value or [])
        return ", ".join(names) if names else "—"
    if value is None or value == "":
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime.datetime):
        return display_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _text_language(model, field) -> str:
    """The language a field's text is written in: a translation column's own (modeltranslation's `summary_fr`),
    English for a translated field's own column (the record staff write), none for any other field."""
    if getattr(field, "language", None):
        return field.language
    from modeltranslation.translator import NotRegistered, translator

    try:
        translated = translator.get_options_for_model(model).all_fields
    except NotRegistered:
        return ""
    return settings.LANGUAGE_CODE if field.name in translated else ""


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
            FieldChange(
                name,
                capfirst(field.verbose_name),
                _display_value(field, old),
                _display_value(field, new),
                _text_language(model, field),
            )
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


def restored_reason(record) -> str:
    when = display_datetime(record.history_date)
    return _("Restored the version of %(when)s") % {"when": when}


def history_record(obj, history_id):
    record = obj.history.filter(history_id=history_id).first()
    if record is None or record.history_type == "-":
        raise ValidationError(_("There is no such version of this %(what)s.") % {"what": obj._meta.verbose_name})
    return record
