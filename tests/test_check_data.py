"""`manage.py check_data`: each rule names the record that breaks it, and the shipped fixtures pass."""

import contextlib
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from aitracker.data_checks import check_data, same_address
from aitracker.models import Endorsement, Instrument, OfficialText, Source
from aitracker.sources import is_http_url, is_primary_source

from .factories import make_commitment, make_endorsement, make_instrument, make_update

pytestmark = pytest.mark.django_db

# The data check requires every shipped text in French and Chinese: fixtures/translations/<lang>.json, written
# on the fr and zh branches (issue 13), merged with them.
SHIPPED_TRANSLATIONS = pytest.mark.skipif(
    not all((settings.BASE_DIR / "fixtures" / "translations" / f"{lang}.json").exists() for lang in ("fr", "zh-hans")),
    reason="fixtures/translations/fr.json and zh-hans.json are not here yet (the fr and zh branches bring them)",
)

PRIMARY = "https://press.un.org/en/2025/ga12699.doc.htm"
SECONDARY = "https://www.example-news.com/story"


def problems_for(obj):
    name = f"{obj._meta.verbose_name} {obj.pk} "
    return [problem.message for problem in check_data() if problem.record.startswith(name)]


def sound_instrument(**fields):
    """An instrument that breaks no rule by itself: a primary source and one commitment."""
    instrument = make_instrument(source_url=PRIMARY, **fields)
    make_commitment(instrument=instrument, source_url=PRIMARY)
    return instrument


@contextlib.contextmanager
def check_constraint_lifted(model, name):
    """Let a row the database's own CHECK constraint refuses be written, to show the data check catches it
    too (rows loaded before a constraint existed, or written around the ORM). Undone with the test's transaction."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")
    else:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{model._meta.db_table}" DROP CONSTRAINT "{name}"')
        yield


@SHIPPED_TRANSLATIONS
def test_the_shipped_fixtures_pass(real_data):
    out = StringIO()
    call_command("check_data", stdout=out)
    assert "passes all" in out.getvalue()


def test_a_problem_fails_the_command_and_names_the_record():
    instrument = make_instrument(source_url=PRIMARY)  # no commitment
    err = StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("check_data", stderr=err)
    assert f"instrument {instrument.pk} ({instrument.short_title}): has no commitment" in err.getvalue()


def test_a_published_update_without_a_source():
    update = make_update(commitment=make_commitment(instrument=sound_instrument()), state="published", sources=0)
    assert "published without a source" in problems_for(update)
    draft = make_update(commitment=update.commitment, state="draft", sources=0)
    assert problems_for(draft) == []


def test_an_endorsement_or_instrument_without_a_source():
    with check_constraint_lifted(Endorsement, "endorsement_source_url_http"):
        endorsement = make_endorsement(instrument=sound_instrument(), source_url="", confidence="reported")
    assert "has no source address" in problems_for(endorsement)
    with check_constraint_lifted(Instrument, "instrument_source_url_http"):
        instrument = make_instrument(source_url="", adopted_on_confidence="uncertain")
    make_commitment(instrument=instrument, source_url=PRIMARY)
    assert "has no source address" in problems_for(instrument)


def test_the_same_address_counted_twice_for_one_update():
    update = make_update(commitment=make_commitment(instrument=sound_instrument()), state="published", sources=0)
    Source.objects.create(update=update, url="https://press.un.org/en/2025/sgsm22776.doc.htm", title="One")
    Source.objects.create(update=update, url="http://PRESS.un.org/en/2025/sgsm22776.doc.htm/#top", title="Again")
    (message,) = problems_for(update)
    assert "cites http://PRESS.un.org/en/2025/sgsm22776.doc.htm/#top twice" in message
    other = make_update(commitment=update.commitment, state="published", sources=0)
    Source.objects.create(update=other, url="https://press.un.org/en/2025/sgsm22776.doc.htm", title="Elsewhere")
    assert problems_for(other) == []


def test_an_instrument_without_commitments():
    instrument = make_instrument(source_url=PRIMARY)
    assert problems_for(instrument) == ["has no commitment"]
    commitment = make_commitment(instrument=instrument, source_url=PRIMARY)
    assert problems_for(instrument) == []
    commitment.deleted_at = timezone.now()
    commitment.save()
    assert problems_for(instrument) == ["has no commitment"]


def test_a_confirmed_fact_resting_only_on_a_secondary_source():
    instrument = make_instrument(source_url=SECONDARY, adopted_on_confidence="confirmed")
    make_commitment(instrument=instrument, source_url=PRIMARY)
    assert problems_for(instrument) == [f"date is confirmed but its source is secondary: {SECONDARY}"]

    endorsement = make_endorsement(instrument=sound_instrument(), source_url=SECONDARY, confidence="confirmed")
    assert problems_for(endorsement) == [f"confirmed but its source is secondary: {SECONDARY}"]
    reported = make_endorsement(instrument=endorsement.instrument, source_url=SECONDARY, confidence="reported")
    assert problems_for(reported) == []

    commitment = make_commitment(instrument=sound_instrument(), source_url=SECONDARY, confidence="confirmed")
    assert problems_for(commitment) == [f"confirmed but its source is secondary: {SECONDARY}"]

    update = make_update(commitment=commitment, state="published", confidence="confirmed", sources=0)
    Source.objects.create(update=update, url=SECONDARY, title="A report")
    assert problems_for(update) == ["confirmed but every source is secondary"]
    Source.objects.create(update=update, url=PRIMARY, title="The UN")
    assert problems_for(update) == []


def test_an_update_dated_in_the_future():
    tomorrow = timezone.localdate() + timedelta(days=1)
    commitment = make_commitment(instrument=sound_instrument())
    update = make_update(commitment=commitment, state="published", reported_on=tomorrow, confidence="reported")
    assert problems_for(update) == [f"dated {tomorrow}, after today ({timezone.localdate()})"]
    today = make_update(
        commitment=commitment, state="published", reported_on=timezone.localdate(), confidence="reported"
    )
    assert problems_for(today) == []


def test_an_address_that_is_not_http():
    instrument = sound_instrument()
    update = make_update(commitment=make_commitment(instrument=instrument), state="published", sources=0)
    with check_constraint_lifted(Source, "source_url_http"):
        source = Source.objects.create(update=update, url="ftp://files.example.org/report.pdf", title="FTP")
    assert problems_for(source) == ["url is not an http(s) address: 'ftp://files.example.org/report.pdf'"]
    with check_constraint_lifted(OfficialText, "official_text_url_http"):
        text = OfficialText.objects.create(instrument=instrument, language="en", url="javascript:alert(1)")
    assert problems_for(text) == ["url is not an http(s) address: 'javascript:alert(1)'"]
    # The database accepts "http://" with no host at all; the check does not.
    endorsement = make_endorsement(instrument=instrument, source_url="http://", confidence="reported")
    assert problems_for(endorsement) == ["source_url is not an http(s) address: 'http://'"]


@pytest.mark.parametrize(
    ("url", "primary"),
    [
        ("https://docs.un.org/en/A/RES/78/265", True),
        ("https://press.un.org/fr/2024/ag12612.doc.htm", True),
        ("https://www.elysee.fr/en/emmanuel-macron/2025/02/11/statement", True),
        ("https://www.fmprc.gov.cn/eng/", True),
        ("https://industry.gov.au/news/australia-signs", True),
        ("https://www.gov.uk/government/news/x", True),
        ("https://www.whitehouse.gov/briefing-room/", True),
        ("https://www.mofa.go.jp/ecm/ec/page.html", True),
        ("https://pm.gc.ca/en/news", True),
        ("https://www.vatican.va/roman_curia/", True),
        ("https://dig.watch/resource/statement", False),
        ("https://www.brusselstimes.com/1439589/", False),
        ("https://un.org.example.com/fake", False),
        ("https://notun.org/page", False),
        ("https://go.example.com/page", False),
        ("not a url", False),
    ],
)
def test_what_counts_as_a_primary_source(url, primary):
    assert is_primary_source(url) is primary


def test_addresses_compared_as_a_reader_would():
    assert same_address("https://press.un.org/en/x.htm") == same_address("http://PRESS.un.org/en/x.htm/#part")
    assert same_address("https://press.un.org/en/x.htm?a=1") != same_address("https://press.un.org/en/x.htm?a=2")
    assert is_http_url("https://example.org/") and not is_http_url("https://") and not is_http_url("mailto:a@b.c")
