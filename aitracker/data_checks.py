"""The data check behind `manage.py check_data`: what a journalist citing the site must be able to rely on.

Each rule returns the records that break it, each named so that an editor can find and fix it. The shipped
fixtures must pass every rule (tests/test_check_data.py).
"""

from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import get_language_info

from .i18n import SOURCE_LANGUAGE, localized_name, other_languages, translated_fields, translated_models
from .models import Commitment, Confidence, Endorsement, Instrument, OfficialText, Party, ProgressUpdate, Source
from .sources import is_http_url, is_primary_source


class Problem(NamedTuple):
    record: str
    message: str

    def __str__(self):
        return f"{self.record}: {self.message}"


def _name(obj) -> str:
    return f"{obj._meta.verbose_name} {obj.pk} ({obj})"


def same_address(url: str) -> str:
    """The address as two citations of one page would share it: no fragment, no trailing slash, host in
    lower case, http and https alike."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit(("https", parts.netloc.lower(), path, parts.query, ""))


def published_updates_without_source():
    missing = ProgressUpdate.objects.public().annotate(n=Count("sources")).filter(n=0)
    for update in missing.select_related("commitment__instrument"):
        yield Problem(_name(update), "published without a source")


def records_without_source():
    for queryset in (Instrument.objects.all(), Endorsement.objects.select_related("party", "instrument")):
        for obj in queryset.filter(source_url=""):
            yield Problem(_name(obj), "has no source address")


def addresses_counted_twice():
    sources = Source.objects.filter(update__in=ProgressUpdate.objects.live()).order_by("update_id", "pk")
    seen = {}
    for source in sources.select_related("update__commitment__instrument"):
        key = (source.update_id, same_address(source.url))
        if key in seen:
            yield Problem(_name(source.update), f"cites {source.url} twice (sources {seen[key]} and {source.pk})")
        else:
            seen[key] = source.pk


def instruments_without_commitments():
    public = Commitment.objects.public().values("instrument")
    for instrument in Instrument.objects.public().exclude(pk__in=public):
        yield Problem(_name(instrument), "has no commitment")


def confirmed_on_secondary_sources():
    confirmed = Confidence.CONFIRMED
    for instrument in Instrument.objects.filter(adopted_on_confidence=confirmed):
        if not is_primary_source(instrument.source_url):
            yield Problem(_name(instrument), f"date is confirmed but its source is secondary: {instrument.source_url}")
    for endorsement in Endorsement.objects.filter(confidence=confirmed).select_related("party", "instrument"):
        if not is_primary_source(endorsement.source_url):
            yield Problem(_name(endorsement), f"confirmed but its source is secondary: {endorsement.source_url}")
    for commitment in Commitment.objects.public().filter(confidence=confirmed).select_related("instrument"):
        if not is_primary_source(commitment.source_url):
            yield Problem(_name(commitment), f"confirmed but its source is secondary: {commitment.source_url}")
    updates = ProgressUpdate.objects.public().filter(confidence=confirmed).prefetch_related("sources")
    for update in updates.select_related("commitment__instrument"):
        urls = [source.url for source in update.sources.all()]
        if urls and not any(is_primary_source(url) for url in urls):
            yield Problem(_name(update), "confirmed but every source is secondary")


def updates_dated_in_the_future():
    today = timezone.localdate()
    for update in ProgressUpdate.objects.live().filter(reported_on__gt=today).select_related("commitment__instrument"):
        yield Problem(_name(update), f"dated {update.reported_on}, after today ({today})")


def addresses_not_http():
    checked = (
        (Instrument.objects.all(), ("source_url",)),
        (Endorsement.objects.select_related("party", "instrument"), ("source_url",)),
        (Commitment.objects.public().select_related("instrument"), ("source_url",)),
        (OfficialText.objects.select_related("instrument"), ("url",)),
        (Source.objects.filter(update__in=ProgressUpdate.objects.live()), ("url", "archived_url")),
    )
    for queryset, fields in checked:
        for obj in queryset:
            for field in fields:
                value = getattr(obj, field)
                if value and not is_http_url(value):
                    yield Problem(_name(obj), f"{field} is not an http(s) address: {value!r}")


def _translatable(model):
    """The rows whose content a visitor reads, so needs every language: published, live, organisations' names."""
    if model is ProgressUpdate:
        return ProgressUpdate.objects.public()
    if model is Commitment:
        return Commitment.objects.public()
    if model is Party:
        return Party.objects.filter(country="")  # countries' names come from django-countries
    return model._base_manager.all()


def translation_counts() -> dict:
    """{language: (fields translated, fields to translate)} over every translatable non-empty English field."""
    counts = {}
    for language in other_languages():
        done = total = 0
        for model, field in _translatable_fields():
            english = localized_name(field, SOURCE_LANGUAGE)
            rows = _translatable(model).exclude(**{f"{english}__isnull": True}).exclude(**{english: ""})
            total += rows.count()
            column = localized_name(field, language)
            done += rows.exclude(**{f"{column}__isnull": True}).exclude(**{column: ""}).count()
        counts[language] = (done, total)
    return counts


def _translatable_fields():
    for model in translated_models():
        for field in translated_fields(model):
            if field != "summary_html":  # rendered from the summary
                yield model, field


def untranslated_content():
    """Every translatable English text has its French and its Chinese (fixtures/translations/, or the admin)."""
    for language in other_languages():
        name = get_language_info(language)["name"]
        for model, field in _translatable_fields():
            english = localized_name(field, SOURCE_LANGUAGE)
            column = localized_name(field, language)
            rows = _translatable(model).exclude(**{f"{english}__isnull": True}).exclude(**{english: ""})
            missing = rows.filter(Q(**{f"{column}__isnull": True}) | Q(**{column: ""}))
            pks = sorted(missing.values_list("pk", flat=True))
            if pks:
                shown = ", ".join(str(pk) for pk in pks[:20]) + (", …" if len(pks) > 20 else "")
                yield Problem(
                    f"{name} translation",
                    f"{len(pks)} {model._meta.model_name}.{field} text(s) have no {name} text (pk {shown})",
                )


RULES = (
    published_updates_without_source,
    records_without_source,
    addresses_counted_twice,
    instruments_without_commitments,
    confirmed_on_secondary_sources,
    updates_dated_in_the_future,
    addresses_not_http,
    untranslated_content,
)


def check_data() -> list[Problem]:
    return [problem for rule in RULES for problem in rule()]
