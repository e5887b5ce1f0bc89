"""The content fields kept in every language (django-modeltranslation): each gets `_en`, `_fr` and `_zh_hans`
columns, English being the default and the fallback. The shared contract with the translators lists exactly these
fields (README, "Translating aitracker"); fixtures/translations/<lang>.json fills them (aitracker.translations).

A commitment's reference ("§3, priority 6", "OP, SG report") is our label and is translated too; its English
text stays the identity (the unique (instrument, reference) constraint is on the original column, kept equal to
the English by the services); the API and the downloads keep it as `reference`, the downloads adding a
`reference_label` in their language.

Not translated: sources' titles and publishers (the sources' own words), slugs, addresses. Country names come
from django-countries' own translations; only organisations' names are translated here.
"""

from modeltranslation.translator import TranslationOptions, register

from .models import Commitment, Endorsement, Instrument, OfficialText, Party, ProgressUpdate, Theme


@register(Instrument)
class InstrumentTranslation(TranslationOptions):
    fields = ("title", "short_title", "summary", "note", "place")


@register(Commitment)
class CommitmentTranslation(TranslationOptions):
    fields = ("reference", "title", "text")


@register(Theme)
class ThemeTranslation(TranslationOptions):
    fields = ("name", "description")


@register(Party)
class PartyTranslation(TranslationOptions):
    fields = ("name",)


@register(Endorsement)
class EndorsementTranslation(TranslationOptions):
    fields = ("note",)


@register(ProgressUpdate)
class ProgressUpdateTranslation(TranslationOptions):
    # summary_html is the summary rendered by the services, one rendering per language.
    fields = ("summary", "summary_html", "correction_note")


@register(OfficialText)
class OfficialTextTranslation(TranslationOptions):
    fields = ("note",)
