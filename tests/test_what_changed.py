"""'What changed?': the updates list filtered by instrument, party, theme, status and publication date, in the
order of the event or of publication, downloadable with its sources; the dashboard's last 30 days."""

import csv
import html
import io
import json
import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from aitracker.models import ProgressUpdate
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("update_list")


def published(*, commitment, days_ago, reported_on, title="Update", status="in_progress", **fields):
    update = factories.make_update(
        commitment=commitment, state="published", reported_on=reported_on, status=status, summary=title, **fields
    )
    ProgressUpdate.objects.filter(pk=update.pk).update(published_at=timezone.now() - timedelta(days=days_ago))
    return update


@pytest.fixture
def world():
    theme = factories.make_theme(slug="inclusion", name="Inclusion")
    paris, seoul = factories.make_instrument(slug="paris"), factories.make_instrument(slug="seoul")
    inclusive = factories.make_commitment(instrument=paris, themes=[theme], title="Inclusive AI")
    safety = factories.make_commitment(instrument=seoul, title="Safety institutes")
    return {
        "old_event_new_post": published(
            commitment=inclusive, days_ago=1, reported_on=date(2024, 3, 1), title="Old event, posted yesterday"
        ),
        "new_event_old_post": published(
            commitment=safety,
            days_ago=200,
            reported_on=date(2025, 9, 1),
            title="Recent event, posted long ago",
            status="achieved",
        ),
        "middle": published(
            commitment=safety, days_ago=40, reported_on=date(2025, 1, 1), title="Forty days ago", status="stalled"
        ),
        "draft": factories.make_update(commitment=inclusive, state="draft", summary="A draft nobody may see"),
    }


def summaries(response):
    return [update.summary for update in response.context["updates"]]


def test_the_list_runs_by_the_date_of_the_event_newest_first_by_default(client, world):
    assert summaries(client.get(URL)) == [
        "Recent event, posted long ago",
        "Forty days ago",
        "Old event, posted yesterday",
    ]


def test_it_sorts_by_the_date_of_publication(client, world):
    assert summaries(client.get(URL, {"sort": "-published_at"})) == [
        "Old event, posted yesterday",
        "Forty days ago",
        "Recent event, posted long ago",
    ]
    assert summaries(client.get(URL, {"sort": "published_at"}))[0] == "Recent event, posted long ago"


def test_it_answers_what_was_published_in_the_last_30_days(client, world):
    assert summaries(client.get(URL, {"published": "last_30_days"})) == ["Old event, posted yesterday"]


def test_published_this_month_starts_on_the_first_of_the_month(client, world):
    today = timezone.localdate()
    response = client.get(URL, {"published": "this_month"})
    expected = ["Old event, posted yesterday"] if today.day > 1 else []
    assert summaries(response) == expected


def test_it_filters_by_a_range_of_publication_dates(client, world):
    today = timezone.localdate()
    response = client.get(
        URL,
        {"published_after": (today - timedelta(days=60)).isoformat(), "published_before": (today - timedelta(days=2))},
    )
    assert summaries(response) == ["Forty days ago"]


def test_it_filters_by_instrument_theme_and_status(client, world):
    assert summaries(client.get(URL, {"instrument": "seoul"})) == ["Recent event, posted long ago", "Forty days ago"]
    assert summaries(client.get(URL, {"theme": "inclusion"})) == ["Old event, posted yesterday"]
    assert summaries(client.get(URL, {"status": "stalled", "instrument": "seoul"})) == ["Forty days ago"]


@pytest.mark.parametrize(
    "query",
    [
        {"instrument": "nowhere"},
        {"status": "not_assessed"},
        {"published": "yesterday"},
        {"published_after": "31/02/2025"},
        {"published_after": "0001-01-01"},
        {"published_before": "9999-12-31"},
        {"sort": "summary"},
        {"page": "abc", "theme": "x" * 5000},
    ],
)
def test_bad_filters_get_a_clear_answer_not_an_error(client, world, query):
    response = client.get(URL, query)
    assert response.status_code == 200
    assert "Some filter values were not understood" in response.text
    assert summaries(response) == []


@pytest.mark.parametrize("query", [{"_export": "xml"}, {"_export": "csv", "published_after": "soon"}])
def test_a_download_that_cannot_be_made_says_why(client, world, query):
    response = client.get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_the_csv_holds_the_filtered_updates_with_their_sources_and_escapes_formulas(client, world):
    update = world["old_event_new_post"]
    update.sources.update(title="=HYPERLINK(evil)")
    response = client.get(URL, {"_export": "csv", "published": "last_30_days"})
    assert response["Content-Disposition"].startswith('attachment; filename="aitracker-updates-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [row["summary"] for row in rows] == ["Old event, posted yesterday"]
    assert rows[0]["reported_on"] == "2024-03-01"
    assert rows[0]["sources"].startswith("'=HYPERLINK(evil) <https://example.org/source/0>")
    assert rows[0]["url"].endswith(f"#update-{update.pk}")


def test_the_json_holds_every_public_update_in_the_chosen_order_and_no_draft(client, world):
    response = client.get(URL, {"_export": "json", "sort": "-published_at"})
    rows = json.loads(b"".join(response.streaming_content))
    assert [row["summary"] for row in rows] == [
        "Old event, posted yesterday",
        "Forty days ago",
        "Recent event, posted long ago",
    ]
    assert rows[0]["sources"][0] == {
        "url": "https://example.org/source/0",
        "title": "Source 0",
        "publisher": "",
        "published_on": None,
        "archived_url": "",
    }


def test_pages_keep_the_filters_and_say_previous_and_next_when_oldest_first(client, world):
    commitment = world["middle"].commitment
    for day in range(25):
        published(commitment=commitment, days_ago=3, reported_on=date(2023, 1, 1) + timedelta(days=day))
    response = client.get(URL, {"instrument": "seoul", "sort": "reported_on"})
    link = re.search(r'<a href="(\?[^"]*)" rel="next">Next page</a>', response.text)
    assert link and "instrument=seoul" in link.group(1) and "sort=reported_on" in link.group(1)
    assert "Older" not in response.text
    first = [update.reported_on for update in response.context["updates"]]
    # The next page continues from the last update shown, in the same order (no page number to skip with).
    following = client.get(URL + html.unescape(link.group(1)))
    second = [update.reported_on for update in following.context["updates"]]
    assert first == sorted(first) and second == sorted(second) and second and max(first) < min(second)
    assert 'rel="prev">Previous page</a>' in following.text


def test_the_dashboard_shows_what_changed_in_the_last_30_days(client, world):
    response = client.get(reverse("dashboard"))
    assert response.context["recent_count"] == 1
    update = world["old_event_new_post"]
    assert [row["pk"] for row in response.context["recent_updates"]] == [update.pk]
    assert f'href="{update.get_absolute_url()}"' in response.text
    assert "1 update published in the last 30 days." in response.text
    assert "?published=last_30_days&amp;sort=-published_at" in response.text


@pytest.mark.parametrize("sort", ["-reported_on", "reported_on", "-published_at", "published_at"])
def test_walking_the_pages_forwards_and_back_shows_every_update_once_in_any_order(client, world, sort):
    commitment = world["middle"].commitment
    for day in range(45):
        # Ties on both dates, so that the order's last key (the id) decides between them.
        published(commitment=commitment, days_ago=day % 4, reported_on=date(2023, 1, 1) + timedelta(days=day % 7))
    download = client.get(URL, {"sort": sort, "_export": "json"})
    expected = [int(row["url"].rsplit("-", 1)[1]) for row in json.loads(b"".join(download.streaming_content))]
    seen, pages, response = [], [], client.get(URL, {"sort": sort})
    while True:
        pages.append([update.pk for update in response.context["updates"]])
        seen += pages[-1]
        link = re.search(r'<a href="(\?[^"]*)" rel="next">', response.text)
        if not link:
            break
        response = client.get(URL + html.unescape(link.group(1)))
    assert seen == expected and len(pages) == 3
    # And back: each "previous" link shows the page before, exactly.
    for page in reversed(pages[:-1]):
        link = re.search(r'<a href="(\?[^"]*)" rel="prev">', response.text)
        response = client.get(URL + html.unescape(link.group(1)))
        assert [update.pk for update in response.context["updates"]] == page
