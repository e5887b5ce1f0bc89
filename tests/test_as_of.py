"""The tracker as of a date (`?as_of=YYYY-MM-DD`): pages, downloads and the functions the API uses."""

import json
from datetime import date, datetime

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from aitracker import asof, services
from aitracker.models import Commitment, PartyStatus, ProgressUpdate
from tests import factories

pytestmark = pytest.mark.django_db


def moment(day, hour=12):
    return timezone.make_aware(datetime.combine(day, datetime.min.time()).replace(hour=hour))


@pytest.fixture
def story(editor):
    """A commitment assessed "in progress" (event 1 March 2025, published 10 March), then "achieved" (event 1
    June, published 20 June 2025); the first update later corrected (its text and its progress)."""
    party = factories.make_party(name="Freedonia", slug="freedonia")
    instrument = factories.make_instrument(slug="paris", short_title="Paris", adopted_on=date(2025, 2, 11))
    factories.make_endorsement(instrument=instrument, party=party, date=date(2025, 2, 11))
    commitment = factories.make_commitment(instrument=instrument, slug="inclusive-ai", title="Inclusive AI")
    first = factories.make_update(
        commitment=commitment,
        state="published",
        reported_on=date(2025, 3, 1),
        published_at=moment(date(2025, 3, 10)),
        status="in_progress",
        progress=30,
        summary="Work began on the observatory.",
    )
    second = factories.make_update(
        commitment=commitment,
        state="published",
        reported_on=date(2025, 6, 1),
        published_at=moment(date(2025, 6, 20)),
        status="achieved",
        progress=100,
        summary="The observatory opened.",
    )
    # Freedonia's own record: stalled, from an update naming it (event 1 May, published 2 May 2025).
    factories.make_update(
        commitment=commitment,
        state="published",
        parties=[party],
        reported_on=date(2025, 5, 1),
        published_at=moment(date(2025, 5, 2)),
        status="stalled",
        progress=None,
        summary="Freedonia paused its part.",
    )
    services.progress_update_correct(
        update=first, editor=editor, note="The progress was overstated.", progress=20, summary="Work began slowly."
    )
    commitment.refresh_from_db()
    return {"commitment": commitment, "first": first, "second": second, "party": party, "instrument": instrument}


def test_the_record_before_a_publication_has_the_earlier_status(story):
    commitment = story["commitment"]
    assert commitment.current_status == "achieved"
    records = asof.records_as_of([commitment.pk], date(2025, 4, 1))
    assert asof.overall_as_of(records, commitment.pk).status == "in_progress"
    # Published on 20 June: not yet public on the 19th, though the event was on 1 June.
    assert asof.overall_as_of(asof.records_as_of([commitment.pk], date(2025, 6, 19)), commitment.pk).status == (
        "in_progress"
    )
    assert asof.overall_as_of(asof.records_as_of([commitment.pk], date(2025, 6, 20)), commitment.pk).status == (
        "achieved"
    )
    # Before the first publication: not yet assessed.
    assert asof.records_as_of([commitment.pk], date(2025, 3, 5))[commitment.pk] == {}


def test_a_correction_after_the_date_shows_the_earlier_text(story):
    updates = asof.as_they_stood(
        asof.updates_as_of(ProgressUpdate.objects.public().filter(pk=story["first"].pk), date(2025, 4, 1))
    )
    assert updates[0].summary == "Work began on the observatory."
    assert updates[0].progress == 30
    assert updates[0].corrected_at is None
    assert "observatory" in updates[0].summary_html
    # Today it is the corrected one.
    assert ProgressUpdate.objects.get(pk=story["first"].pk).progress == 20


def test_the_sql_record_agrees_with_the_services_rule(story):
    for day in (date(2025, 3, 5), date(2025, 4, 1), date(2025, 6, 19), date(2025, 7, 1)):
        row = asof.commitments_as_of(Commitment.objects.public(), day).get(pk=story["commitment"].pk)
        record = asof.overall_as_of(asof.records_as_of([row.pk], day), row.pk)
        assert (row.as_of_status, row.as_of_progress, row.as_of_update_on) == record[:3], day


def test_party_statuses_as_of_use_the_same_rule(story):
    rows = PartyStatus.objects.filter(commitment=story["commitment"])
    assert [row.status for row in rows] == ["stalled"]
    assert [row.status for row in asof.party_statuses_as_of(rows, date(2025, 4, 1))] == ["not_assessed"]
    assert [row.status for row in asof.party_statuses_as_of(rows, date(2025, 5, 2))] == ["stalled"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "YYYY-MM-DD"),
        ("2025-02-30", "exists"),
        ("1999-01-01", "starts on"),
        ("2999-01-01", "to come"),
        ("9" * 10_000, "YYYY-MM-DD"),
    ],
)
def test_bad_dates_are_refused_with_a_message(story, value, message):
    request = RequestFactory().get("/", {"as_of": value})
    with pytest.raises(asof.AsOfError) as error:
        asof.parse_as_of(request)
    assert message in error.value.messages[0]


def test_no_date_or_today_is_todays_record(story):
    assert asof.parse_as_of(RequestFactory().get("/")) is None
    assert asof.parse_as_of(RequestFactory().get("/", {"as_of": timezone.localdate().isoformat()})) is None
    assert asof.parse_as_of(RequestFactory().get("/", {"as_of": "2025-04-01"})) == date(2025, 4, 1)
