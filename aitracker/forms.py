"""Staff forms: a progress update with its sources, review notes, and the version token that stops one editor
silently overwriting another's work (checked by `history.check_version`)."""

import time

from django import forms
from django.core import signing
from django.core.validators import URLValidator
from django.db import transaction
from django.forms import inlineformset_factory
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import history, services
from .i18n import SOURCE_LANGUAGE, localized_name, other_languages, source_language, translated_fields
from .models import (
    NOTE_MAX_LENGTH,
    SUGGESTION_TEXT_MAX_LENGTH,
    Commitment,
    Party,
    ProgressUpdate,
    Source,
    Status,
    Subscription,
    Suggestion,
)


def english_text_initial(form) -> None:
    """A staff form edits the English text of a translated field (the record; the services write it), even on
    a French or Chinese page, where the field would otherwise show that language's translation."""
    instance = form.instance
    if instance is None or instance.pk is None:
        return
    for field in translated_fields(type(instance)):
        if field in form.fields and field not in form.data:
            # The original column holds the English (the services keep it so, and the history records it: an
            # earlier version shown for a revert carries its own there).
            english = instance.__dict__.get(field)
            if english is None:
                english = getattr(instance, localized_name(field, SOURCE_LANGUAGE))
            form.initial[field] = english or ""


def translation_form_fields(model) -> list[str]:
    """The admin's fields for the other languages' texts of a model's translated fields ("title_fr", …)."""
    return [
        localized_name(field, language)
        for field in translated_fields(model)
        if field != "summary_html"
        for language in other_languages()
    ]


class TranslatedContentFormMixin:
    """A model form whose translated fields' usual names (`title`) edit the English text, whatever the language
    of the page, while `title_fr`, `title_zh_hans` (when the form has them) edit the translations."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        english_text_initial(self)

    def _post_clean(self):
        with source_language():  # construct_instance() assigns `title`: the English column
            super()._post_clean()


class TranslatedContentForm(TranslatedContentFormMixin, forms.ModelForm):
    pass


class HttpURLField(forms.URLField):
    """Only web addresses: a source must be something a reader can open."""

    default_validators = [URLValidator(schemes=["http", "https"])]
    # The field's message replaces the validator's, so the clear one goes here.
    default_error_messages = {"invalid": _("Enter a web address starting with http:// or https://.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)


def _not_in_future(value, message):
    if value and value > timezone.localdate():
        raise forms.ValidationError(message, code="future")
    return value


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class VersionedFormMixin:
    """A hidden `version` field holding the row's `updated_at` as it was when the form was shown.

    The token is read from the database rather than from `instance`, so that the admin's "revert" form (whose
    instance is an old version) carries the current row's version too.
    """

    def set_version_initial(self):
        instance = getattr(self, "instance", None)
        if instance is not None and instance.pk:
            current = type(instance)._default_manager.filter(pk=instance.pk).only("updated_at").first()
            self.fields["version"].initial = history.version_token(current) if current else ""

    def refresh_version(self, conflict):
        """After a conflict, carry the new version so that a deliberate second save can go through."""
        data = self.data.copy()
        data[self.add_prefix("version")] = conflict.current_version
        self.data = data


def version_field():
    return forms.CharField(widget=forms.HiddenInput, required=False)


class ProgressUpdateForm(TranslatedContentFormMixin, VersionedFormMixin, forms.ModelForm):
    version = version_field()
    progress = forms.IntegerField(
        label=_("Progress (%)"),
        required=False,
        min_value=0,
        max_value=100,
        help_text=_("Optional, from 0 to 100."),
        error_messages={
            "min_value": _("Progress must be between 0 and 100."),
            "max_value": _("Progress must be between 0 and 100."),
        },
    )

    class Meta:
        model = ProgressUpdate
        fields = ["kind", "reported_on", "status", "progress", "parties", "confidence", "summary"]
        widgets = {
            "kind": forms.RadioSelect,
            "reported_on": DateInput(),
            "parties": forms.SelectMultiple(attrs={"size": 8}),
            # Staff write the English record (translations are edited in the admin): the text is English.
            "summary": forms.Textarea(attrs={"rows": 10, "lang": "en"}),
        }
        help_texts = {
            "reported_on": _("When the event happened, not when you read about it. For a check, the day you searched."),
            "summary": _("Markdown. What happened, in plain words. Use “Preview” to see it as the public will."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parties"].queryset = Party.objects.order_by("name")
        self.fields["parties"].help_text = _(
            "Optional: whose action it records (or, for a check, whose record you looked at). None: the "
            "commitment as a whole. Hold Ctrl (⌘ on a Mac) to choose several."
        )
        self.fields["status"].help_text = _("Required for an assessment; leave empty for a check.")
        # How sure the sources make us is a judgement, not a default: a new update starts with none chosen.
        confidence = self.fields["confidence"]
        confidence.choices = [("", _("Choose…")), *ProgressUpdate._meta.get_field("confidence").choices]
        confidence.required = True
        confidence.error_messages["required"] = _("Choose how sure the sources make you.")
        if self.instance.pk is None and not self.is_bound:
            self.initial["confidence"] = ""
        self.set_version_initial()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == ProgressUpdate.Kind.CHECK:
            # A check keeps every status: whatever the status fields hold is not part of it.
            cleaned["status"] = ""
            cleaned["progress"] = None
        elif cleaned.get("kind") == ProgressUpdate.Kind.ASSESSMENT and not cleaned.get("status"):
            self.add_error("status", _("An assessment must say the status it finds."))
        return cleaned

    def clean_reported_on(self):
        return _not_in_future(self.cleaned_data.get("reported_on"), _("The date of the event cannot be in the future."))

    def update_fields(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.Meta.fields}


class CorrectionForm(ProgressUpdateForm):
    correction_note = forms.CharField(
        label=_("Correction note"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "lang": "en"}),  # the English record, as the summary
        help_text=_("Shown to the public next to the update: what was corrected and why."),
    )


class SourceForm(forms.ModelForm):
    url = HttpURLField(label=_("Address"), max_length=500)
    archived_url = HttpURLField(label=_("Archived copy"), max_length=500, required=False)

    class Meta:
        model = Source
        fields = ["url", "title", "publisher", "published_on", "archived_url"]
        widgets = {"published_on": DateInput()}

    def clean_published_on(self):
        return _not_in_future(self.cleaned_data.get("published_on"), _("A source cannot be published in the future."))


class BaseSourceFormSet(forms.BaseInlineFormSet):
    default_error_messages = {
        "too_few_forms": _("Add at least one source: an update without a source cannot be published."),
    }

    def source_dicts(self) -> list[dict]:
        """The sources as the services take them: every kept, non-blank form, with the id of existing ones."""
        sources = []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            if not form.instance.pk and not form.has_changed():
                continue
            data = {field: form.cleaned_data.get(field) for field in SourceForm.Meta.fields}
            data["id"] = form.instance.pk
            sources.append(data)
        return sources


SourceFormSet = inlineformset_factory(
    ProgressUpdate,
    Source,
    form=SourceForm,
    formset=BaseSourceFormSet,
    extra=2,
    min_num=1,
    validate_min=True,
    can_delete=True,
)


class ReviewNoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note to the analyst"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What should change before publication."),
    )


class VersionedAdminForm(VersionedFormMixin, forms.ModelForm):
    """The admin's change forms for updates and commitments: refuse a save over someone else's newer one."""

    version = version_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_version_initial()

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            rows = type(self.instance)._default_manager.filter(pk=self.instance.pk)
            if transaction.get_connection().in_atomic_block:
                rows = rows.select_for_update()  # held until the admin's save commits
            current = rows.first()
            expected = cleaned.get("version") or None
            if current is not None:
                try:
                    history.check_version(obj=current, expected_version=expected)
                except history.EditConflict as conflict:
                    self.refresh_version(conflict)
                    raise
        return cleaned


class CommitmentAdminForm(TranslatedContentFormMixin, VersionedAdminForm):
    class Meta:
        model = Commitment
        fields = [*services.COMMITMENT_FIELDS, "themes", "parties"]


CORRECTION_NOTE_HELP = _("Shown to the public next to the update: what was corrected and why.")


def correction_note_field(help_text=CORRECTION_NOTE_HELP):
    """Not required by the form: the correction service requires it, and only when there is a correction."""
    return forms.CharField(
        label=_("Correction note"), required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=help_text
    )


class ProgressUpdateAdminForm(TranslatedContentFormMixin, VersionedAdminForm):
    """The admin's change form of an update. Saved by the services (see ProgressUpdateAdmin.save_related); a
    published update's change is a correction, whose note the correction service requires."""

    correction_note = correction_note_field()

    class Meta:
        model = ProgressUpdate
        fields = [*services.UPDATE_FIELDS, *services.UPDATE_M2M_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["correction_note"] = ""  # each correction says what it corrected
        # The summary and the correction note in the other languages (editors; the English is the record).
        for language in other_languages():
            for field in self.TRANSLATED:
                name = localized_name(field, language)
                self.fields[name] = forms.CharField(
                    label=f"{ProgressUpdate._meta.get_field(field).verbose_name} [{language}]",
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 4 if field == "summary" else 2}),
                    max_length=ProgressUpdate._meta.get_field(field).max_length,
                )
                self.initial[name] = getattr(self.instance, name, None) or ""

    TRANSLATED = ("summary", "correction_note")

    @classmethod
    def translation_fields(cls) -> list[str]:
        return [localized_name(field, language) for language in other_languages() for field in cls.TRANSLATED]

    def changed_translations(self) -> dict:
        """{language: {"summary": text, "correction_note": text}} for the languages whose texts were changed."""
        changed = {}
        for language in other_languages():
            names = {field: localized_name(field, language) for field in self.TRANSLATED}
            if any(name in self.changed_data for name in names.values()):
                changed[language] = {field: self.cleaned_data.get(name, "") for field, name in names.items()}
        return changed


class SourceAdminForm(SourceForm):
    correction_note = correction_note_field(
        _(
            "Needed when the update is published: the change is then a correction, and this note is shown to "
            "the public next to it."
        )
    )

    class Meta(SourceForm.Meta):
        fields = ["update", *SourceForm.Meta.fields]
        help_texts = {"update": _("One of the updates whose sources you may change.")}


# --- Readers' suggestions --------------------------------------------------------------------------------

SUGGEST_SIGNING_SALT = "aitracker.suggest.started"
SUGGEST_FORM_MAX_AGE = 24 * 60 * 60


def suggest_started_token() -> str:
    """When the form was shown, signed: the form cannot be sent back sooner than AITRACKER_SUGGEST_MIN_SECONDS."""
    return signing.dumps(time.time(), salt=SUGGEST_SIGNING_SALT)


class SuggestionForm(forms.Form):
    """The public form. Two traps for robots: `website`, a field people never see (hidden by a style sheet
    class, skipped by screen readers and the keyboard), and `started`, when the form was shown, signed."""

    kind = forms.ChoiceField(
        label=_("What are you telling us about?"),
        choices=Suggestion.Kind.choices,
        initial=Suggestion.Kind.NEW_DEVELOPMENT,
        widget=forms.RadioSelect,
    )
    text = forms.CharField(
        label=_("What happened"),
        max_length=SUGGESTION_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("In your own words: what was done, by whom, or what is wrong in our record."),
    )
    happened_on = forms.DateField(
        label=_("When"), widget=DateInput(), help_text=_("The day it happened (or was announced).")
    )
    source_1 = HttpURLField(
        label=_("Source address"), max_length=500, help_text=_("Where we can read it: a web address.")
    )
    source_2 = HttpURLField(label=_("Second source (optional)"), max_length=500, required=False)
    source_3 = HttpURLField(label=_("Third source (optional)"), max_length=500, required=False)
    source_4 = HttpURLField(label=_("Fourth source (optional)"), max_length=500, required=False)
    source_5 = HttpURLField(label=_("Fifth source (optional)"), max_length=500, required=False)
    name = forms.CharField(label=_("Your name (optional)"), max_length=120, required=False)
    email = forms.EmailField(
        label=_("Your e-mail address (optional)"),
        max_length=254,
        required=False,
        help_text=_("Only to tell you what became of your suggestion; then deleted. Never shown."),
    )
    # The honeypot: people leave it empty.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    started = forms.CharField(widget=forms.HiddenInput, max_length=200)

    SOURCE_FIELDS = ("source_1", "source_2", "source_3", "source_4", "source_5")

    def clean_happened_on(self):
        return _not_in_future(self.cleaned_data.get("happened_on"), _("The date cannot be in the future."))

    def is_trapped(self) -> bool:
        """Filled the honeypot: a robot. It is told its suggestion was received, and nothing is kept."""
        return bool(self.data.get("website", "").strip())

    def seconds_taken(self) -> float | None:
        """How long the form was open, or None if its timestamp is missing, forged or a day old."""
        try:
            started = signing.loads(
                self.data.get("started", ""), salt=SUGGEST_SIGNING_SALT, max_age=SUGGEST_FORM_MAX_AGE
            )
        except (signing.BadSignature, TypeError, ValueError):
            return None
        seconds = time.time() - float(started)
        return seconds if 0 <= seconds <= SUGGEST_FORM_MAX_AGE else None

    def source_urls(self) -> list[str]:
        return [self.cleaned_data[name] for name in self.SOURCE_FIELDS if self.cleaned_data.get(name)]


class SuggestionDraftForm(forms.Form):
    """What an analyst decides when turning a suggestion into a draft: which commitment, and the status."""

    commitment = forms.ModelChoiceField(
        label=_("Commitment"), queryset=Commitment.objects.none(), help_text=_("The commitment the update is about.")
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[c for c in Status.choices if c[0] != Status.NOT_ASSESSED],
        help_text=_("What the update asserts; you can change it, and everything else, in the draft."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commitment"].queryset = (
            Commitment.objects.public().select_related("instrument").order_by("instrument__short_title", "reference")
        )


class SuggestionDismissForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is it dismissed?"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The sender is told this reason if they left an e-mail address."),
    )


class FollowForm(forms.Form):
    """Follow one commitment, party, instrument or theme by e-mail (the page says which)."""

    email = forms.EmailField(label=_("Your e-mail address"), max_length=254)
    frequency = forms.ChoiceField(
        label=_("How often"),
        choices=Subscription.Frequency.choices,
        initial=Subscription.Frequency.IMMEDIATE,
        widget=forms.RadioSelect,
    )
