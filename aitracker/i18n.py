"""The site's languages and its translated content: helpers shared by the services, the template tag that shows
a field in the page's language (or its English fallback, marked), the loader's checks and the data check.

Content fields are registered in aitracker/translation.py (django-modeltranslation): `title` reads the active
language's `title_<lang>` column, falling back to English. Writes made by the staff workflow (services) always
go to English, the source text of record; translations are entered per language in the admin or loaded from
fixtures/translations/<lang>.json.
"""

import contextlib

from django.conf import settings
from django.utils import translation
from modeltranslation.translator import NotRegistered, translator
from modeltranslation.utils import build_localized_fieldname

SOURCE_LANGUAGE = "en"


def language_codes() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def other_languages() -> list[str]:
    return [code for code in language_codes() if code != SOURCE_LANGUAGE]


def localized_name(field: str, language: str) -> str:
    """title, "zh-hans" -> title_zh_hans (the column of that language)."""
    return build_localized_fieldname(field, language)


def translated_fields(model) -> tuple[str, ...]:
    """The content fields of a model kept in every language (empty if the model has none)."""
    try:
        return tuple(translator.get_options_for_model(model).get_field_names())
    except NotRegistered:
        return ()


def translated_models() -> list:
    return list(translator.get_registered_models(abstract=False))


def all_localized_names(model, fields) -> list[str]:
    """Every column behind the given fields: a translated field stands for one column per language."""
    registered = set(translated_fields(model))
    names = []
    for field in fields:
        if field in registered:
            names += [localized_name(field, language) for language in language_codes()]
        else:
            names.append(field)
    return names


@contextlib.contextmanager
def source_language():
    """Assignments to a translated field (`obj.title = …`) inside this block write the English text."""
    with translation.override(SOURCE_LANGUAGE):
        yield


def sync_original_columns(obj) -> None:
    """Keep a translated field's original column (the one the history records) equal to its English text."""
    for field in translated_fields(type(obj)):
        obj.__dict__[field] = getattr(obj, localized_name(field, SOURCE_LANGUAGE))


def list_of(items) -> str:
    """Names run together as the page's language lists them ("A, B" in English and French, "A、B" in Chinese)."""
    from django.utils.translation import pgettext

    return pgettext("list separator", ", ").join(str(item) for item in items)


def current_language() -> str:
    """The active language as one of LANGUAGES' codes (English when none is active)."""
    language = translation.get_language() or SOURCE_LANGUAGE
    return language if language in language_codes() else translation.get_supported_language_variant(language)


def translation_of(obj, field: str, language: str | None = None):
    """(text, language it is in): the field in the given (default: active) language, else its English text."""
    language = language or current_language()
    value = getattr(obj, localized_name(field, language), None)
    if value not in (None, "") or language == SOURCE_LANGUAGE:
        return value or "", language
    return getattr(obj, localized_name(field, SOURCE_LANGUAGE), None) or "", SOURCE_LANGUAGE


# The BCP 47 tag of each language, as hreflang and xml:lang write it (Django's codes are lower case).
HREFLANG = {"en": "en", "fr": "fr", "zh-hans": "zh-Hans"}


def hreflang(language: str) -> str:
    return HREFLANG.get(language, language)


def language_prefix(language: str) -> str:
    """The path prefix of a language's pages: "" for English (at the root), "/fr" for French."""
    return "" if language == SOURCE_LANGUAGE else f"/{language}"


def strip_language_prefix(path: str) -> str:
    """/fr/commitments/ -> /commitments/; /fr -> /; an English path is returned unchanged."""
    for language in other_languages():
        prefix = f"/{language}"
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def path_in_language(path: str, language: str) -> str:
    """The same page in another language: /fr/parties/x/ -> /zh-hans/parties/x/ (or /parties/x/)."""
    return language_prefix(language) + strip_language_prefix(path)


# --- Showing a field in the page's language ------------------------------------------------------------------

BLOCK_FORMATS = {"linebreaks", "html", "urlize_linebreaksbr"}


def _formatted(text: str, format: str):
    from django.utils.html import escape, linebreaks, urlize
    from django.utils.safestring import mark_safe

    if format == "html":
        return mark_safe(text)  # stored HTML, sanitised by the services when it was rendered
    if format == "linebreaks":
        return mark_safe(linebreaks(text, autoescape=True))
    if format == "urlize_linebreaksbr":
        return mark_safe(urlize(text, autoescape=True).replace("\n", "<br>"))
    if format == "urlize":
        return mark_safe(urlize(text, autoescape=True))
    return escape(text)


def fallback_html(content, *, block: bool = False):
    """English text shown on a French or Chinese page: marked `lang="en"`, with a quiet, translated note that
    says so (so that no page claims a language a fragment is not in, and a screen reader switches voice)."""
    from django.utils.html import format_html
    from django.utils.translation import gettext

    note = gettext("not yet translated")
    if block:
        return format_html(
            '<div class="fallback"><div lang="en">{}</div><p class="untranslated">{}</p></div>', content, note
        )
    return format_html(
        '<span class="fallback"><span lang="en">{}</span> <small class="untranslated">{}</small></span>', content, note
    )


def translated_html(obj, field: str, format: str = "text"):
    """The field in the page's language, formatted; its English text, marked, when it has no translation."""
    if obj is None:
        return ""
    if field == "name" and getattr(obj, "country", None):
        return _formatted(party_display_name(obj), format)
    text, language = translation_of(obj, field)
    content = _formatted(text, format)
    if language == current_language() or not text:
        return content
    return fallback_html(content, block=format in BLOCK_FORMATS)


def translated_text(obj, field: str) -> str:
    """The field in the page's language or else in English, as plain text (a meta description, a title)."""
    if obj is None:
        return ""
    if field == "name" and getattr(obj, "country", None):
        return party_display_name(obj)
    return translation_of(obj, field)[0]


def party_display_name(party) -> str:
    """A country's name in the page's language comes from django-countries' translations (English: the name we
    record); an organisation's from its translated name."""
    if party.country and current_language() != SOURCE_LANGUAGE:
        return str(party.country.name)
    return translation_of(party, "name")[0]


def translated_value(model, field: str, prefix: str = ""):
    """An expression of a translated field as pages show it: its text in the page's language, else its English
    (an untranslated row sorts among the others, by its English). `prefix` reaches it through a relation
    ("instrument__"). Texts compare as the database compares them (SQLite: by code point; PostgreSQL: by the
    database's collation); Chinese text sorts by code point, not by pinyin."""
    from django.db.models import F, TextField, Value
    from django.db.models.functions import Coalesce, NullIf

    language = current_language()
    english = F(prefix + localized_name(field, SOURCE_LANGUAGE))
    if language == SOURCE_LANGUAGE:
        return english
    # An empty translation is no translation (the admin saves "" for a field left blank), as translation_of reads it.
    translated = NullIf(F(prefix + localized_name(field, language)), Value(""))
    return Coalesce(translated, english, output_field=TextField())


def translated_order(model, field: str):
    """What to sort by for a column: a translated field by translated_value(), any other field as it is; a
    party's name by the name the page shows (a country's from django-countries, accents folded in French)."""
    from django.db.models import F

    if field == "name" and model._meta.model_name == "party" and current_language() != SOURCE_LANGUAGE:
        return party_name_order()
    return translated_value(model, field) if field in translated_fields(model) else F(field)


def sort_key(text: str) -> str:
    """Text as it sorts in a list: case and accents folded ("Égypte" among the E)."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def by_party_name(rows, party=lambda row: row.party):
    """Rows about parties (endorsements, statuses) in the order of the parties' names as the page shows them."""
    return sorted(rows, key=lambda row: (sort_key(party_display_name(party(row))), party(row).pk))


def party_name_order():
    """The parties' displayed names as a sort key, in one expression: countries by their translated name
    (django-countries, in the page's language), organisations by their translated name, else their English.
    Chinese names sort by code point (no pinyin collation is available without a further library)."""
    from django.db.models import Case, TextField, Value, When
    from django.db.models.functions import Lower
    from django_countries import countries

    whens = [When(country=code, then=Value(sort_key(str(name)))) for code, name in countries]
    return Case(*whens, default=Lower(translated_value(None, "name")), output_field=TextField())


def text_search_q(model, fields, value: str):
    """A case-insensitive substring match on the given fields in the page's language and in English."""
    from django.db.models import Q

    languages = dict.fromkeys([current_language(), SOURCE_LANGUAGE])
    query = Q()
    for field in fields:
        for language in languages:
            query |= Q(**{f"{localized_name(field, language)}__icontains": value})
    return query
