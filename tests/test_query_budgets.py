"""Every public page costs the same, small number of SQL queries whatever the amount of data.

The data comes from seed_synthetic (the benchmark's generator) at two sizes, the larger one three times the
smaller in every direction that a page could iterate over: instruments, commitments per instrument, updates per
commitment. The page cache and the kept counts are off (tests/conftest.py): these are the queries of a page
being rendered from nothing.
"""

import uuid
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from aitracker import cache as page_cache
from aitracker.models import Commitment, Instrument, Party, PartyStatus, ProgressUpdate, Theme
from aitracker.views import update_key

pytestmark = pytest.mark.django_db

# At most this many queries on any public page, the same at every size. An instrument page reads its
# parties, its map, its official texts, its counts, its commitments and its progress chart (three, aitracker/charts.py,
# cached under the data generation outside the tests): fourteen at most.
BUDGET = 14
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
SIZES = {"small": {"commitments": 12, "updates_per_commitment": 4, "instruments": 3},
         "large": {"commitments": 90, "updates_per_commitment": 12, "instruments": 9}}  # fmt: skip


def public_pages():
    """The public pages, each for the object with the most to show (and the table's last page)."""
    commitment = Commitment.objects.public().annotate(n=Count("updates")).order_by("-n", "pk").first()
    # The party named by the most updates, and bound by the most commitments.
    party = (
        Party.objects.annotate(n=Count("updates", distinct=True), m=Count("commitment_statuses", distinct=True))
        .order_by("-n", "-m", "pk")
        .first()
    )
    # The parties with the most relations, to compare.
    parties = list(Party.objects.annotate(n=Count("endorsements")).order_by("-n", "pk")[:3])
    instrument = Instrument.objects.annotate(n=Count("commitments")).order_by("-n", "pk").first()
    theme = Theme.objects.annotate(n=Count("commitments")).order_by("-n", "pk").first()
    table = reverse("commitment_list")
    last_page = (Commitment.objects.public().count() + 24) // 25
    # A day halfway through the record: some updates published by then, some not (aitracker/asof.py).
    first = Instrument.objects.order_by("adopted_on").values_list("adopted_on", flat=True)[0]
    as_of = f"as_of={first + (timezone.localdate() - first) / 2:%Y-%m-%d}"
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
        # The next page, continued from the newest update (a "?page=" number other than 1 is a 404).
        "updates, page 2": reverse("update_list")
        + "?older="
        + update_key(ProgressUpdate.objects.public().latest_first().first()),
        "methodology": reverse("methodology"),
        "suggestion form": reverse("suggest") + f"?commitment={commitment.slug}",
        "suggestion form, party": reverse("suggest") + f"?party={party.slug}",
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
        "search": reverse("search") + "?q=undertake",
        "search, a party": reverse("search") + "?" + urlencode({"q": party.name}),
        "search, one kind": reverse("search") + "?q=undertake&kind=update",
        "search, Chinese": reverse("search") + "?q=%E6%89%BF%E8%AF%BA",
        "search, symbols only": reverse("search") + "?q=%22*%22",
        "privacy": reverse("privacy"),
        "follow a commitment": reverse("follow") + f"?commitment={commitment.slug}",
        "follow a theme": reverse("follow") + f"?theme={theme.slug}",
        "table, as of a day": f"{table}?{as_of}&status=in_progress&sort=-current_status",
        "CSV export, as of a day": f"{table}?_export=csv&{as_of}",
        "commitment, as of a day": reverse("commitment_detail", kwargs={"slug": commitment.slug}) + f"?{as_of}",
        "instrument, as of a day": reverse("instrument_detail", kwargs={"slug": instrument.slug}) + f"?{as_of}",
        "party, as of a day": reverse("party_detail", kwargs={"slug": party.slug}) + f"?{as_of}",
        "updates, as of a day": reverse("update_list") + f"?{as_of}",
        "updates CSV, as of a day": reverse("update_list") + f"?_export=csv&{as_of}",
        # The read API, a full page of each list, and the downloads that are new with it.
        "API commitments": "/api/v1/commitments/?page_size=200",
        "API commitments, filtered": f"/api/v1/commitments/?status=in_progress&theme={theme.slug}&ordering=progress",
        "API commitments, by party": f"/api/v1/commitments/?party={party.slug}&ordering=status&page_size=200",
        "API commitment": f"/api/v1/commitments/{commitment.slug}/",
        "API updates": "/api/v1/updates/?page_size=200",
        "API updates, filtered": f"/api/v1/updates/?instrument={instrument.slug}&ordering=published_at&page_size=200",
        "API update": f"/api/v1/updates/{commitment.updates.filter(state='published').first().pk}/",
        "API parties": "/api/v1/parties/?page_size=200&kind=country",
        "API endorsements": f"/api/v1/endorsements/?page_size=200&instrument={instrument.slug}",
        "API instruments": "/api/v1/instruments/?page_size=200",
        "API themes": "/api/v1/themes/?page_size=200",
        "data page": reverse("data"),
        "data package": reverse("datapackage"),
        "endorsements CSV": reverse("data_download", kwargs={"name": "endorsements", "export": "csv"}),
        "instruments CSV": reverse("data_download", kwargs={"name": "instruments", "export": "csv"}),
        "themes JSON": reverse("data_download", kwargs={"name": "themes", "export": "json"}),
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
    cold = override_settings(
        AITRACKER_PAGE_CACHE_SECONDS=0, AITRACKER_SUMMARY_CACHE_SECONDS=0, AITRACKER_FRAGMENT_CACHE_SECONDS=0
    )
    # An earlier test may have left the cache "down" for this worker (tests of a failing Redis).
    page_cache.reset_cache_breaker()
    with django_db_blocker.unblock(), mock.patch("aitracker.views.EXPORT_CHUNK", 5):
        # Django asks SQLite once per connection whether it has JSON functions (the updates export uses them):
        # asked here, so that the one-off question is not counted against the first size.
        connection.features.supports_json_field  # noqa: B018
        for size, options in SIZES.items():
            with transaction.atomic():
                call_command("seed_synthetic", seed=3, stdout=StringIO(), **options)
                pages = public_pages()
                with cold:
                    counts[size] = count_queries(Client(), pages)
                # A page the page cache has not seen, with the kept counts and fragments as production has them
                # (filled by a first visit): the second visit's queries. A cache of its own for each size, since
                # the data generation, in the rolled-back database, repeats.
                warm = override_settings(
                    AITRACKER_PAGE_CACHE_SECONDS=0,
                    AITRACKER_SUMMARY_CACHE_SECONDS=600,
                    AITRACKER_FRAGMENT_CACHE_SECONDS=600,
                    CACHES={
                        "default": {
                            "BACKEND": LOCMEM,
                            "LOCATION": f"query-budgets-{size}-{uuid.uuid4()}",
                            # Every page's fragments at once: the default 300 entries would cull some.
                            "OPTIONS": {"MAX_ENTRIES": 100_000},
                        }
                    },
                )
                with warm:
                    count_queries(Client(), pages)
                    counts[f"{size}, warm"] = count_queries(Client(), pages)
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
    "suggestion form",
    "suggestion form, party",
    "compare",
    "compare CSV",
    "parties, filtered and sorted",
    "parties CSV",
    "updates, filtered",
    "updates CSV",
    "Atom feed",
    "commitment feed",
    "party feed",
    "search",
    "search, a party",
    "search, one kind",
    "search, Chinese",
    "search, symbols only",
    "privacy",
    "follow a commitment",
    "follow a theme",
    "table, as of a day",
    "CSV export, as of a day",
    "commitment, as of a day",
    "instrument, as of a day",
    "party, as of a day",
    "updates, as of a day",
    "updates CSV, as of a day",
    "API commitments",
    "API commitments, filtered",
    "API commitments, by party",
    "API commitment",
    "API updates",
    "API updates, filtered",
    "API update",
    "API parties",
    "API endorsements",
    "API instruments",
    "API themes",
    "data page",
    "data package",
    "endorsements CSV",
    "instruments CSV",
    "themes JSON",
]


@pytest.mark.parametrize("page", PAGES)
def test_the_same_small_number_of_queries_at_both_sizes(counts_at_both_sizes, page):
    small, large = counts_at_both_sizes["small"][page], counts_at_both_sizes["large"][page]
    assert small == large, f"{page}: {small} queries with the small data, {large} with the large"
    assert large <= BUDGET, f"{page}: {large} queries, over the budget of {BUDGET}"


# A page missed by the page cache but built from kept fragments and counts (aitracker/fragments.py) reads what
# the fragments cannot know: the generation, the object the address names, the keys of a page of rows.
WARM_BUDGETS = {
    "dashboard": 1,
    "table": 3,
    "table, filtered and sorted": 3,
    "table, last page": 3,
    "commitment": 4,
    "party": 5,
    "Atom feed": 2,
    "commitment feed": 3,
    "party feed": 3,
}


@pytest.mark.parametrize("page", PAGES)
def test_kept_fragments_cost_the_same_at_both_sizes_and_never_more(counts_at_both_sizes, page):
    small, large = counts_at_both_sizes["small, warm"][page], counts_at_both_sizes["large, warm"][page]
    assert small == large, f"{page}: {small} queries with the small data, {large} with the large (warm)"
    # At most one more: the data generation, which a page that reads no kept count otherwise never reads.
    assert large <= counts_at_both_sizes["large"][page] + 1, f"{page}: kept fragments cost more queries than none"
    if page in WARM_BUDGETS:
        assert large <= WARM_BUDGETS[page], f"{page}: {large} queries with the fragments kept"


def test_every_public_page_is_budgeted(counts_at_both_sizes):
    assert set(PAGES) == set(counts_at_both_sizes["small"]) == set(counts_at_both_sizes["large, warm"])


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


# --- Per-party pages at scale: a commitment bound by 200 parties, a party bound by 2,000 commitments ----------

PER_PARTY_SIZES = {"small": {"parties": 20, "commitments": 20}, "large": {"parties": 200, "commitments": 2000}}


def build_per_party_world(name, *, parties, commitments):
    """A UN resolution adopted without a vote with one commitment binding `parties` member states, the first
    its lead sponsor; and a statement only that first party signed, with `commitments` commitments. Updates
    name parties (several at once), checks too; PartyStatus rows are made by the services."""
    from datetime import date, timedelta

    from django.utils import timezone

    from aitracker import services
    from aitracker.models import Endorsement, ProgressUpdate, Source
    from tests import factories

    resolution = factories.make_instrument(slug=f"{name}-resolution", kind="un_resolution", adoption="without_vote")
    members = Party.objects.bulk_create(
        Party(slug=f"{name}-member-{i}", name=f"{name} member {i}", kind="regional_organisation", un_member=True)
        for i in range(parties)
    )
    lead = members[0]
    statement = factories.make_instrument(slug=f"{name}-statement")
    endorsed = {"source_url": "https://e.org", "confidence": "confirmed"}
    Endorsement.objects.bulk_create(
        [
            Endorsement(instrument=resolution, party=lead, relation="lead_sponsor", **endorsed),
            Endorsement(instrument=statement, party=lead, relation="signed", **endorsed),
        ]
    )
    wide = factories.make_commitment(instrument=resolution, slug=f"{name}-wide")
    many = Commitment.objects.bulk_create(
        Commitment(
            instrument=statement, reference=f"§{i}", slug=f"{name}-c-{i}", title=f"Pledge {i}", text="t",
            source_url="https://e.org",
        )
        for i in range(commitments)
    )  # fmt: skip
    now = timezone.now()
    rows = []
    for commitment in [wide, *many[:: max(1, commitments // 20)]]:
        for step in range(3):
            rows.append(
                ProgressUpdate(
                    commitment=commitment, reported_on=date(2025, 1, 1) + timedelta(days=step), status="in_progress",
                    summary=f"Step {step}.", state="published", published_at=now,
                )
            )  # fmt: skip
        rows.append(
            ProgressUpdate(
                commitment=commitment, kind="check", status="", reported_on=date(2025, 2, 1), summary="Nothing new.",
                state="published", published_at=now,
            )
        )  # fmt: skip
    updates = ProgressUpdate.objects.bulk_create(rows)
    Source.objects.bulk_create(Source(update=update, url="https://e.org/s", title="S") for update in updates)
    Link = ProgressUpdate.parties.through
    Link.objects.bulk_create(
        Link(progressupdate=update, party=party)
        for index, update in enumerate(updates)
        for party in (members[: max(1, parties // 4)] if index % 2 else [lead])
    )
    services.commitments_rebind(commitments=[wide, *many])
    assert PartyStatus.objects.filter(commitment=wide).count() >= parties
    assert PartyStatus.objects.filter(party=lead).count() == commitments + 1
    return {
        "commitment bound by many": reverse("commitment_detail", args=[wide.slug]),
        "commitment bound by many, filtered": reverse("commitment_detail", args=[wide.slug])
        + "?party_status=in_progress",
        "party bound by many": reverse("party_detail", args=[lead.slug]),
        "party bound as a member": reverse("party_detail", args=[members[-1].slug]),
        "party feed": reverse("feed_party", args=[lead.slug]),
        "commitment feed": reverse("feed_commitment", args=[wide.slug]),
        "table, by party": reverse("commitment_list") + f"?party={lead.slug}",
    }


def test_per_party_pages_cost_the_same_queries_at_both_sizes(client):
    counts = {
        size: count_queries(client, build_per_party_world(size, **options)) for size, options in PER_PARTY_SIZES.items()
    }
    assert counts["small"] == counts["large"], counts
    assert max(counts["large"].values()) <= BUDGET, counts
