"""The progress chart: commitments in each status at the end of each month, by the as-of rule."""

from datetime import date

import pytest
from django.urls import reverse

from aitracker import charts, services
from tests import factories
from tests.test_as_of import moment

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
