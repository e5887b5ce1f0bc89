"""Every public page costs the same, small number of SQL queries whatever the amount of data.

The data comes from seed_synthetic (the benchmark's generator) at two sizes, the larger one three times the
smaller in every direction that a page could iterate over: instruments, commitments per instrument, updates per
commitment. The page cache and the kept counts are off (tests/conftest.py): these are the queries of a page
being rendered from nothing.
"""

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aitracker.models import Commitment, Instrument, Party, Theme

pytestmark = pytest.mark.django_db

BUDGET = 10
SIZES = {"small": {"commitments": 12, "updates_per_commitment": 4, "instruments": 3},
         "large": {"commitments": 90, "updates_per_commitment": 12, "instruments": 9}}  # fmt: skip


def public_pages():
    """The public pages, each for the object with the most to show (and the table's last page)."""
    commitment = Commitment.objects.public().annotate(n=Count("updates")).order_by("-n", "pk").first()
    parties = list(Party.objects.annotate(n=Count("endorsements")).order_by("-n", "pk")[:3])
    party = parties[0]
    instrument = Instrument.objects.annotate(n=Count("commitments")).order_by("-n", "pk").first()
    theme = Theme.objects.annotate(n=Count("commitments")).order_by("-n", "pk").first()
    table = reverse("commitment_list")
    last_page = (Commitment.objects.public().count() + 24) // 25
    return {
        "dashboard": reverse("dashboard"),
        "table": table,
        "table, filtered and sorted": f"{table}?status=in_progress&theme={theme.slug}&sort=-last_update_on",
        "table, by party": f"{table}?party={party.slug}&sort=current_status",
        "table, searched": f"{table}?q=undertake&sort=themes",
        "table, stale only": f"{table}?stale=yes&sort=-current_progress",
        "table, last page": f"{table}?page={last_page}",
        "CSV export": f"{table}?_export=csv",
        "JSON export": f"{table}?_export=json&instrument={instrument.slug}",
        "commitment": reverse("commitment_detail", kwargs={"slug": commitment.slug}),
        "instruments": reverse("instrument_list"),
        "instrument": reverse("instrument_detail", kwargs={"slug": instrument.slug}),
        "parties": reverse("party_list"),
        "party": reverse("party_detail", kwargs={"slug": party.slug}),
        "themes": reverse("theme_list"),
        "theme": reverse("theme_detail", kwargs={"slug": theme.slug}),
        "updates": reverse("update_list"),
        "updates, page 2": reverse("update_list") + "?page=2",
        "methodology": reverse("methodology"),
        "compare": reverse("compare") + "?parties=" + ",".join(p.slug for p in parties),
        "compare CSV": reverse("compare") + "?_export=csv&parties=" + ",".join(p.slug for p in parties[:2]),
        "parties, filtered and sorted": reverse("party_list") + "?kind=country&sort=-achieved",
        "parties CSV": reverse("party_list") + "?_export=csv&sort=-bound_count",
        "updates, filtered": reverse("update_list")
        + f"?instrument={instrument.slug}&published=last_12_months&sort=-published_at",
        "updates CSV": reverse("update_list") + "?_export=csv&sort=published_at",
        "Atom feed": reverse("feed_updates"),
        "commitment feed": reverse("feed_commitment", kwargs={"slug": commitment.slug}),
        "party feed": reverse("feed_party", kwargs={"slug": party.slug}),
    }


def count_queries(client, pages):
    counts = {}
    for name, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code == 200, (name, url, response.status_code)
        counts[name] = len(queries)
    return counts


@pytest.fixture(scope="module")
def counts_at_both_sizes(django_db_setup, django_db_blocker):
    """Seed each size in turn (inside a transaction that is rolled back) and count every page's queries."""
    from django.db import transaction
    from django.test import Client

    counts = {}
    # Module-scoped, so set up before tests/conftest.py turns the page cache off for each test.
    # Exports stream in chunks: small chunks here, so that a query per chunk would show as growth.
    with (
        django_db_blocker.unblock(),
        override_settings(AITRACKER_PAGE_CACHE_SECONDS=0, AITRACKER_SUMMARY_CACHE_SECONDS=0),
        mock.patch("aitracker.views.EXPORT_CHUNK", 5),
    ):
        # Django asks SQLite once per connection whether it has JSON functions (the updates export uses them):
        # asked here, so that the one-off question is not counted against the first size.
        connection.features.supports_json_field  # noqa: B018
        for size, options in SIZES.items():
            with transaction.atomic():
                call_command("seed_synthetic", seed=3, stdout=StringIO(), **options)
                counts[size] = count_queries(Client(), public_pages())
                transaction.set_rollback(True)
    return counts


PAGES = [
    "dashboard",
    "table",
    "table, filtered and sorted",
    "table, by party",
    "table, searched",
    "table, stale only",
    "table, last page",
    "CSV export",
    "JSON export",
    "commitment",
    "instruments",
    "instrument",
    "parties",
    "party",
    "themes",
    "theme",
    "updates",
    "updates, page 2",
    "methodology",
    "compare",
    "compare CSV",
    "parties, filtered and sorted",
    "parties CSV",
    "updates, filtered",
    "updates CSV",
    "Atom feed",
    "commitment feed",
    "party feed",
]


@pytest.mark.parametrize("page", PAGES)
def test_the_same_small_number_of_queries_at_both_sizes(counts_at_both_sizes, page):
    small, large = counts_at_both_sizes["small"][page], counts_at_both_sizes["large"][page]
    assert small == large, f"{page}: {small} queries with the small data, {large} with the large"
    assert large <= BUDGET, f"{page}: {large} queries, over the budget of {BUDGET}"


def test_every_public_page_is_budgeted(counts_at_both_sizes):
    assert set(PAGES) == set(counts_at_both_sizes["small"])


def test_the_export_streams_row_by_row(client):
    """The download is a stream of one line per commitment, produced as it is read, not a document built
    in memory first."""
    call_command("seed_synthetic", commitments=30, updates_per_commitment=2, instruments=3, seed=5, stdout=StringIO())
    for export, header in [("csv", "\ufeffinstrument,"), ("json", "[")]:
        response = client.get(reverse("commitment_list") + f"?_export={export}")
        assert response.streaming
        chunks = iter(response.streaming_content)
        assert next(chunks).decode().startswith(header)
        first_row = next(chunks).decode()
        assert first_row.count("\n") == 1 and "synthetic-" in first_row
        rest = list(chunks)
        rows = [chunk for chunk in rest if b"synthetic-" in chunk]
        assert len(rows) == Commitment.objects.public().count() - 1
