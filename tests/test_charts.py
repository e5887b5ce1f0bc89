"""The progress chart: commitments in each status at the end of each month, by the as-of rule."""

from datetime import date

import pytest
from django.urls import reverse

from aitracker import charts, services
from aitracker.models import Instrument
from tests import factories
from tests.test_as_of import moment
from tests.test_cache import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(editor):
    instrument = factories.make_instrument(slug="paris", adopted_on=date(2025, 2, 11))
    first = factories.make_commitment(instrument=instrument, slug="first")
    factories.make_commitment(instrument=instrument, slug="second")
    update = factories.make_update(
        commitment=first,
        state="published",
        reported_on=date(2025, 3, 1),
        published_at=moment(date(2025, 4, 2)),
        status="in_progress",
    )
    factories.make_update(
        commitment=first,
        state="published",
        reported_on=date(2025, 6, 1),
        published_at=moment(date(2025, 6, 3)),
        status="achieved",
    )
    return {"instrument": instrument, "first": first, "update": update}


def at(data, month):
    index = data["months"].index(month)
    return {status: counts[index] for status, counts in data["counts"].items() if counts[index]}


def test_each_month_counts_the_statuses_as_they_stood_at_its_end(history):
    data = charts.status_by_month()
    assert data["months"][0] == date(2025, 2, 1)
    assert data["months"][-1].year * 12 + data["months"][-1].month == date.today().year * 12 + date.today().month
    assert at(data, date(2025, 2, 1)) == {"not_assessed": 2}
    # Reported in March, published on 2 April: counted from April.
    assert at(data, date(2025, 3, 1)) == {"not_assessed": 2}
    assert at(data, date(2025, 4, 1)) == {"not_assessed": 1, "in_progress": 1}
    assert at(data, date(2025, 6, 1)) == {"not_assessed": 1, "achieved": 1}
    assert at(data, data["months"][-1]) == {"not_assessed": 1, "achieved": 1}


def test_a_correction_changes_the_months_after_it_only(history, editor):
    services.progress_update_correct(update=history["update"], editor=editor, note="It had stalled.", status="stalled")
    data = charts.status_by_month()
    # The version of April 2025 said "in progress"; the correction is of today.
    assert at(data, date(2025, 4, 1)) == {"not_assessed": 1, "in_progress": 1}


def test_commitments_count_from_their_instruments_adoption(history):
    factories.make_commitment(instrument=factories.make_instrument(adopted_on=date(2025, 9, 1)))
    data = charts.status_by_month()
    assert sum(at(data, date(2025, 8, 1)).values()) == 2
    assert sum(at(data, date(2025, 9, 1)).values()) == 3
    only = charts.status_by_month(instrument=history["instrument"])
    assert sum(at(only, date(2025, 9, 1)).values()) == 2


def test_the_dashboard_and_instrument_page_draw_it_with_a_table(client, history):
    for url in (reverse("dashboard"), reverse("instrument_detail", kwargs={"slug": "paris"})):
        html = client.get(url).content.decode()
        assert 'role="img"' in html and '<title id="progress-chart-title">' in html
        assert '<desc id="progress-chart-desc">' in html
        assert "The chart&#x27;s figures as a table" in html or "The chart's figures as a table" in html
        assert '<caption id="progress-chart-caption">' in html
        # Patterns as well as colours, and the legend names every status.
        assert 'fill="url(#progress-chart-diagonal)"' in html
        assert "Not yet assessed" in html and "Achieved" in html
        # No inline style (the CSP forbids it).
        assert "style=" not in html


def test_an_empty_site_says_so(client, db):
    assert charts.status_by_month() == {"months": [], "counts": {}}
    assert "Nothing to chart yet." in client.get(reverse("dashboard")).content.decode()


def test_this_months_bar_is_todays_record(real_data):
    from aitracker.models import Commitment

    data = charts.status_by_month()
    today = Commitment.objects.public().status_counts()
    assert {status: counts[-1] for status, counts in data["counts"].items()} == today


# --- The stored rows: the chart read in one query, equal to the replay after every kind of write -----------


def _moved(history, editor):
    commitment = history["first"]
    commitment.instrument = factories.make_instrument(slug="later", adopted_on=date(2025, 9, 1))
    services.commitment_save(commitment=commitment, editor=editor)


def _adopted_later(history, editor):
    instrument = history["instrument"]
    instrument.adopted_on = date(2025, 5, 20)
    services.reference_save(obj=instrument, editor=editor)


def _deleted_then_undone(history, editor):
    services.progress_update_delete(update=history["update"], editor=editor)
    services.progress_update_undelete(update=history["update"], editor=editor)


CHART_WRITES = {
    "a publication": lambda h, e: publish(h["first"], e, "It stalled after all.", "stalled"),
    "a publication naming a party": lambda h, e: publish(
        h["first"], e, "One party only.", "stalled", [factories.make_party()]
    ),
    "a correction": lambda h, e: services.progress_update_correct(
        update=h["update"], editor=e, note="It had stalled.", status="stalled"
    ),
    "an unpublished update": lambda h, e: services.progress_update_unpublish(
        update=h["update"], editor=e, note="Wrong source."
    ),
    "a deleted update": lambda h, e: services.progress_update_delete(update=h["update"], editor=e),
    "a deletion undone": _deleted_then_undone,
    "a deleted commitment": lambda h, e: services.commitment_delete(commitment=h["first"], editor=e),
    "a commitment moved to another instrument": _moved,
    "a new adoption day": _adopted_later,
}


@pytest.mark.parametrize("write", CHART_WRITES)
def test_the_stored_chart_is_the_replay_of_every_update_after(history, editor, write):
    before = charts.status_by_month()
    assert before == charts.replayed_status_by_month()
    CHART_WRITES[write](history, editor)
    after = charts.status_by_month()
    assert after == charts.replayed_status_by_month()
    for instrument in Instrument.objects.all():
        assert charts.status_by_month(instrument=instrument) == charts.replayed_status_by_month(instrument=instrument)
    if write in ("a publication", "an unpublished update", "a deleted update", "a deleted commitment"):
        assert after != before, "the chart shows the write"


def test_a_deleted_commitment_leaves_the_chart_and_an_undone_deletion_brings_it_back(history, editor):
    services.commitment_delete(commitment=history["first"], editor=editor)
    assert at(charts.status_by_month(), date(2025, 6, 1)) == {"not_assessed": 1}
    services.commitment_undelete(commitment=history["first"], editor=editor)
    assert at(charts.status_by_month(), date(2025, 6, 1)) == {"not_assessed": 1, "achieved": 1}


def test_a_later_adoption_day_moves_where_the_chart_starts(history, editor):
    _adopted_later(history, editor)
    data = charts.status_by_month()
    assert data["months"][0] == date(2025, 5, 1)
    # The April update had already been published: it counts from the adoption month.
    assert at(data, date(2025, 5, 1)) == {"not_assessed": 1, "in_progress": 1}


def test_the_chart_is_one_query_whatever_the_data(history, django_assert_num_queries):
    for _ in range(3):
        factories.make_update(commitment=history["first"], state="published", status="stalled")
    with django_assert_num_queries(1):
        charts.status_by_month()
    with django_assert_num_queries(1):
        charts.status_by_month(instrument=history["instrument"])


def test_a_deleted_party_leaves_its_updates_counting_for_the_whole_commitment(history, editor):
    """An update naming only a party speaks for the commitment as a whole once the party is gone (its links go
    with it): the commitment's record and the chart follow."""
    party = factories.make_party()
    factories.make_update(
        commitment=history["first"], state="published", status="reversed", reported_on=date(2025, 7, 1), parties=[party]
    )
    before = charts.status_by_month()
    assert at(before, before["months"][-1]) == {"not_assessed": 1, "achieved": 1}
    services.reference_delete(obj=party, user=factories.make_user(is_superuser=True))
    data = charts.status_by_month()
    assert data == charts.replayed_status_by_month()
    # Published today: this month's bar.
    assert at(data, data["months"][-1]) == {"not_assessed": 1, "reversed": 1}
    history["first"].refresh_from_db()
    assert history["first"].current_status == "reversed"
