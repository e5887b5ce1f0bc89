"""The public site, as a visitor sees it: every page answers with the data it should, filters, sorting and
downloads work, nothing unpublished leaks out, and every page keeps a small, constant number of queries."""

import csv
import io
import json
import re
import tracemalloc
from datetime import date, timedelta
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from aitracker import views
from aitracker.models import Commitment, ProgressUpdate
from aitracker.templatetags.aitracker_tags import http_url
from tests import factories
from tests.public_factories import World, grow

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    """Query counts and freshness are about the pages themselves, not about a cache in front of them."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


def body(response):
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


def get_ok(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return body(response)


def table_titles(html):
    """The commitment titles of the table's rows, in order."""
    table = html.split('id="commitments-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="col-title stack-main"><a href="[^"]+">([^<]+)</a>', table)


def csv_rows(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(body(response))))


# ---------------------------------------------------------------------------------------------------------------
# Every page with the real data


REAL_PAGES = [
    ("dashboard", {}, ["Where the commitments stand", "By instrument", "By theme", "Global South cyber-capacity"]),
    ("commitment_list", {}, ["39 commitments", "Act on AI risks and strengthen global AI governance"]),
    (
        "commitment_detail",
        {"slug": "cn-fr-2024-2-address-ai-risks"},
        [
            "Act on AI risks and strengthen global AI governance",
            # China's own status: the only update names it, so the commitment as a whole is not assessed.
            "In progress",
            "Concrete steps have been taken",
            "https://www.wam.ae/en/article/bkvlyto-china-proposes-creation-global-cooperation",
            "WAM (Emirates News Agency",
            "26 Jul 2025",
            "China",
            "France",
        ],
    ),
    (
        "commitment_detail",
        {"slug": "cn-fr-2024-7-global-south-cyber-capacity"},
        ["Not yet assessed", "Global South cyber-capacity support"],
    ),
    ("instrument_list", {}, ["Paris AI Action Summit statement (2025)", "Global Digital Compact"]),
    (
        "instrument_detail",
        {"slug": "paris-2025"},
        ["Paris AI Action Summit statement (2025)", "11 Feb 2025", "Signed", "Did not sign", "United States", "India"],
    ),
    (
        "instrument_detail",
        {"slug": "unga-78-265"},
        ["Official texts", 'hreflang="ar"', "https://docs.un.org/zh/A/RES/78/265", "Bridge the AI and other digital"],
    ),
    ("party_list", {}, ["Afghanistan", "African Union Commission", "Parties"]),
    (
        "party_detail",
        {"slug": "china"},
        ["China", "China\u2013France joint statement on AI (2024)", "Act on AI risks", "Scorecard"],
    ),
    ("theme_list", {}, ["Global South cyber-capacity support", "Inclusive AI", "UN alignment"]),
    (
        "theme_detail",
        {"slug": "global-south-cyber-capacity"},
        ["Global South cyber-capacity support", "Help developing countries strengthen their cyber capabilities"],
    ),
    ("update_list", {}, ["Latest updates", "press.un.org"]),
    ("methodology", {}, ["What each status means", "Uncertain", "Corrections", "Stale commitments", "CSV"]),
]


@pytest.mark.parametrize(("name", "kwargs", "expected"), REAL_PAGES, ids=[p[0] + str(p[1]) for p in REAL_PAGES])
def test_page_answers_with_its_data(client, real_data, name, kwargs, expected, django_assert_max_num_queries):
    from tests.test_query_budgets import BUDGET

    with django_assert_max_num_queries(BUDGET):
        html = get_ok(client, reverse(name, kwargs=kwargs))
    for text in expected:
        assert text in html, text


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("feed_updates", {}),
        ("feed_commitment", {"slug": "unga-79-325-global-dialogue"}),
        ("feed_party", {"slug": "india"}),
    ],
)
def test_feeds_are_atom_with_published_updates(client, real_data, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    xml = body(response)
    assert "<entry>" in xml
    assert '<summary type="html">' in xml


def test_every_page_has_the_frame_a_visitor_and_a_screen_reader_need(client, real_data):
    urls = [reverse(name, kwargs=kwargs) for name, kwargs, _ in REAL_PAGES] + ["/no-such-page/"]
    for url in urls:
        response = client.get(url)
        html = body(response)
        assert re.search(r'<html lang="en', html), url
        assert html.count("<h1") == 1, url
        for landmark in ("<header", "<nav", "<main", "<footer"):
            assert landmark in html, (url, landmark)
        assert 'class="skip-link" href="#main"' in html, url
        assert re.search(r"<title>[^<]{5,}</title>", html), url
        assert re.search(r'<meta name="description" content="[^"]{20,}">', html), url
        # Strict CSP: nothing inline, nothing from elsewhere; a JSON-LD data block is data, never run.
        assert not re.search(r'<script(?! type="application/ld\+json">)', html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        # Assets come from the site itself (the canonical link names the page, on the configured address).
        for asset in re.findall(
            r'<(?:link(?! rel="canonical")(?! rel="alternate" hreflang)|img|script)[^>]+(?:href|src)="([^"]+)"', html
        ):
            assert asset.startswith("/"), (url, asset)


def test_navigation_marks_the_current_section(client, real_data):
    html = get_ok(client, reverse("commitment_list"))
    assert re.search(r'href="/commitments/" aria-current="page"', html)
    html = get_ok(client, reverse("commitment_detail", kwargs={"slug": "paris-2025-1-ai-accessibility"}))
    assert re.search(r'href="/commitments/" aria-current="true"', html)
    assert 'aria-label="Breadcrumb"' in html


def test_feeds_are_announced_on_the_pages_that_have_them(client, real_data):
    html = get_ok(client, reverse("commitment_detail", kwargs={"slug": "paris-2025-1-ai-accessibility"}))
    assert 'type="application/atom+xml"' in html
    assert reverse("feed_commitment", kwargs={"slug": "paris-2025-1-ai-accessibility"}) in html
    html = get_ok(client, reverse("party_detail", kwargs={"slug": "kenya"}))
    assert reverse("feed_party", kwargs={"slug": "kenya"}) in html
    assert reverse("feed_updates") in get_ok(client, reverse("dashboard"))


def test_instrument_groups_parties_by_relation_with_confidence_and_source(client, real_data):
    html = get_ok(client, reverse("instrument_detail", kwargs={"slug": "paris-2025"}))
    signed, did_not_sign = html.split('id="relation-signed"')[1].split('id="relation-did_not_sign"')
    assert "India" in signed and "United States" not in signed
    assert "United States" in did_not_sign
    assert "Confirmed" in signed or "Reported" in signed
    assert "Source" in did_not_sign


# ---------------------------------------------------------------------------------------------------------------
# The commitment page


def test_commitment_page_shows_timeline_newest_first_with_changes_sources_and_corrections(client):
    commitment = factories.make_commitment(title="Fund a regional AI centre")
    factories.make_update(
        commitment=commitment, state="published", reported_on=date(2025, 1, 5), status="not_started", summary="First."
    )
    corrected = factories.make_update(
        commitment=commitment,
        state="published",
        reported_on=date(2025, 9, 1),
        status="in_progress",
        progress=30,
        summary="Second, **funded**.",
        confidence="uncertain",
        corrected_at=timezone.make_aware(timezone.datetime(2025, 10, 3, 12)),
        correction_note="The amount was in euros, not dollars.",
    )
    corrected.sources.all().delete()
    corrected.sources.create(
        url="https://example.org/budget",
        title="Budget law",
        publisher="Official Journal",
        published_on=date(2025, 9, 2),
    )

    html = get_ok(client, commitment.get_absolute_url())

    assert html.index("Second, <strong>funded</strong>.") < html.index("First.")
    assert "Not started" in html and "changed to" in html
    assert "Progress 30%" in html and "Progress: 30%" in html
    assert "Corrected on 3 Oct 2025." in html and "The amount was in euros, not dollars." in html
    assert '<a href="https://example.org/budget" rel="nofollow noopener">Budget law</a>' in html
    assert "Official Journal" in html and "2 Sep 2025" in html
    article = html.split(f'id="update-{corrected.pk}"')[1].split("</article>")[0]
    assert "Uncertain" in article
    assert 'class="staff-actions"' in html


def test_commitment_without_published_update_is_not_yet_assessed(client):
    commitment = factories.make_commitment()
    factories.make_update(commitment=commitment, state="submitted", summary="Waiting for review.")
    html = get_ok(client, commitment.get_absolute_url())
    assert "Not yet assessed" in html
    assert "No published, sourced update exists yet" in html
    assert "Waiting for review." not in html


def test_commitment_binding_every_signatory_lists_them(client):
    instrument = factories.make_instrument()
    signer = factories.make_party(name="Signatoria")
    refuser = factories.make_party(name="Refusenia")
    factories.make_endorsement(instrument=instrument, party=signer)
    factories.make_endorsement(instrument=instrument, party=refuser, relation="did_not_sign")
    commitment = factories.make_commitment(instrument=instrument)
    html = get_ok(client, commitment.get_absolute_url())
    assert "Every signatory of the instrument" in html and "1 party" in html
    assert "Signatoria" in html and "Refusenia" not in html


@pytest.mark.parametrize("name", ["commitment_detail", "instrument_detail", "party_detail", "theme_detail"])
def test_unknown_slug_is_a_friendly_404(client, name):
    response = client.get(reverse(name, kwargs={"slug": "no-such-thing"}))
    assert response.status_code == 404
    html = body(response)
    assert "Page not found" in html
    assert reverse("commitment_list") in html


def test_server_error_page_needs_no_context_nor_database(django_assert_num_queries):
    request = RequestFactory().get("/")
    with django_assert_num_queries(0):
        response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


# ---------------------------------------------------------------------------------------------------------------
# The commitments table: filters, sorting, pagination, downloads


@pytest.fixture
def table_data():
    paris = factories.make_instrument(slug="paris", short_title="Paris statement")
    bilateral = factories.make_instrument(slug="bilateral", short_title="Bilateral statement")
    cyber = factories.make_theme(slug="cyber", name="Cyber capacity")
    access = factories.make_theme(slug="access", name="Access to AI")
    china = factories.make_party(slug="china-test", name="Chinaland")
    other = factories.make_party(slug="other", name="Otherland")
    factories.make_endorsement(instrument=paris, party=china)
    factories.make_endorsement(instrument=bilateral, party=other)
    c = {
        # Binds every signatory of Paris, so Chinaland.
        "a": factories.make_commitment(instrument=paris, reference="§1", title="Alpha open access", themes=[access]),
        "b": factories.make_commitment(instrument=paris, reference="§2", title="Bravo cyber help", themes=[cyber]),
        # Names Otherland only.
        "c": factories.make_commitment(
            instrument=bilateral, reference="§3", title="Charlie", text="Mentions quantum.", parties=[other]
        ),
        # Names Chinaland in an instrument it did not sign.
        "d": factories.make_commitment(
            instrument=bilateral, reference="§10", title="Delta", themes=[access, cyber], parties=[china]
        ),
    }
    factories.make_update(
        commitment=c["a"], state="published", status="achieved", progress=100, reported_on=date.today()
    )
    # Reviewed long ago: stale, whatever the date of the event.
    long_ago = timezone.now() - timedelta(days=400)
    factories.make_update(commitment=c["b"], state="published", status="stalled", progress=None, published_at=long_ago)
    factories.make_update(
        commitment=c["c"], state="published", status="in_progress", progress=20, published_at=long_ago
    )
    return c


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"Alpha open access", "Bravo cyber help", "Charlie", "Delta"}),
        ("instrument=paris", {"Alpha open access", "Bravo cyber help"}),
        ("theme=cyber", {"Bravo cyber help", "Delta"}),
        ("status=not_assessed", {"Delta"}),
        ("status=stalled", {"Bravo cyber help"}),
        ("party=china-test", {"Alpha open access", "Bravo cyber help", "Delta"}),
        ("party=other", {"Charlie"}),
        ("q=quantum", {"Charlie"}),
        ("q=%C2%A710", {"Delta"}),
        ("q=BRAVO", {"Bravo cyber help"}),
        ("stale=yes", {"Bravo cyber help", "Charlie", "Delta"}),
        ("stale=no", {"Alpha open access"}),
        ("theme=access&status=achieved", {"Alpha open access"}),
    ],
)
def test_table_filters(client, table_data, query, expected):
    html = get_ok(client, f"{reverse('commitment_list')}?{query}")
    assert set(table_titles(html)) == expected
    rows = csv_rows(client, f"{reverse('commitment_list')}?{query}&_export=csv")
    assert {row["title"] for row in rows} == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["Alpha open access", "Bravo cyber help", "Charlie", "Delta"]),
        ("-title", ["Delta", "Charlie", "Bravo cyber help", "Alpha open access"]),
        # Then by reference, as text: "§10" before "§3".
        ("instrument", ["Delta", "Charlie", "Alpha open access", "Bravo cyber help"]),
        ("reference", ["Alpha open access", "Delta", "Bravo cyber help", "Charlie"]),
        # By the first theme's name; no theme last either way.
        ("themes", ["Alpha open access", "Delta", "Bravo cyber help", "Charlie"]),
        ("-themes", ["Bravo cyber help", "Delta", "Alpha open access", "Charlie"]),
        # By meaning: not yet assessed, ..., in progress, ..., achieved, stalled.
        ("current_status", ["Delta", "Charlie", "Alpha open access", "Bravo cyber help"]),
        ("-current_status", ["Bravo cyber help", "Alpha open access", "Charlie", "Delta"]),
        # Missing progress last either way.
        ("current_progress", ["Charlie", "Alpha open access", "Bravo cyber help", "Delta"]),
        ("-current_progress", ["Alpha open access", "Charlie", "Delta", "Bravo cyber help"]),
        ("last_update_on", ["Bravo cyber help", "Charlie", "Alpha open access", "Delta"]),
        ("-last_update_on", ["Alpha open access", "Charlie", "Bravo cyber help", "Delta"]),
    ],
)
def test_table_sorts_by_every_column_and_downloads_in_that_order(client, table_data, sort, expected):
    html = get_ok(client, f"{reverse('commitment_list')}?sort={sort}")
    assert table_titles(html) == expected
    assert 'aria-sort="' in html
    rows = csv_rows(client, f"{reverse('commitment_list')}?sort={sort}&_export=csv")
    assert [row["title"] for row in rows] == expected


def test_every_column_header_is_a_sort_link_that_keeps_the_filters(client, table_data):
    html = get_ok(client, f"{reverse('commitment_list')}?theme=cyber")
    thead = html.split("<thead>")[1].split("</thead>")[0]
    links = re.findall(r'<a href="\?([^"]+)">', thead)
    assert len(links) == 7
    assert all("theme=cyber" in link for link in links)


@pytest.mark.parametrize(
    "query",
    [
        "sort=bogus",
        "sort=",
        "sort=-",
        "sort=title&sort=-bogus",
        "page=abc",
        "per_page=abc",
        "per_page=0",
        "per_page=-5",
        "q=" + "x" * 500,
        "q=%00",
    ],
)
def test_odd_table_parameters_never_break_the_page(client, table_data, query):
    html = get_ok(client, f"{reverse('commitment_list')}?{query}")
    assert "commitments-table" in html


@pytest.mark.parametrize(
    "query", ["status=bogus", "instrument=nowhere", "theme=nothing", "party=nobody", "stale=maybe"]
)
def test_invalid_filter_value_says_so_with_a_200(client, table_data, query):
    response = client.get(f"{reverse('commitment_list')}?{query}")
    assert response.status_code == 200
    html = body(response)
    assert "Some filter values were not understood" in html
    assert table_titles(html) == []
    export = client.get(f"{reverse('commitment_list')}?{query}&_export=csv")
    assert export.status_code == 400


def test_unknown_export_format_is_a_400(client, table_data):
    response = client.get(f"{reverse('commitment_list')}?_export=xlsx")
    assert response.status_code == 400
    assert "csv or json" in response.content.decode()


def test_pages_of_the_table_keep_the_filters_and_sort(client):
    instrument = factories.make_instrument(slug="big")
    for i in range(30):
        factories.make_commitment(instrument=instrument, title=f"Pledge {i:02d}")
    html = get_ok(client, f"{reverse('commitment_list')}?instrument=big&sort=-title")
    assert "30 commitments" in html
    assert table_titles(html)[0] == "Pledge 29"
    assert len(table_titles(html)) == 25
    page_links = re.findall(r'href="\?([^"]*page=2[^"]*)"', html)
    assert page_links
    assert all("instrument=big" in link and "sort=-title" in link for link in page_links)
    html = get_ok(client, f"{reverse('commitment_list')}?instrument=big&sort=-title&page=2")
    assert table_titles(html) == [f"Pledge {i:02d}" for i in range(4, -1, -1)]


def test_a_visitor_cannot_ask_for_an_endless_page(client, monkeypatch):
    monkeypatch.setattr("aitracker.tables.MAX_PER_PAGE", 10)
    for i in range(12):
        factories.make_commitment(title=f"Pledge {i:02d}")
    html = get_ok(client, f"{reverse('commitment_list')}?per_page=100000")
    assert len(table_titles(html)) == 10


def test_downloads_hold_every_filtered_row_on_every_page_streamed(client):
    instrument = factories.make_instrument(slug="big", short_title="Big")
    theme = factories.make_theme(slug="t")
    for i in range(30):
        factories.make_commitment(instrument=instrument, title=f"Pledge {i:02d}", themes=[theme] if i % 2 else [])
    factories.make_commitment(title="Elsewhere")
    url = f"{reverse('commitment_list')}?instrument=big&sort=title&page=2"

    response = client.get(url + "&_export=csv")
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="aitracker-commitments-\d{4}-\d\d-\d\d\.csv"', response["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [row["title"] for row in rows] == [f"Pledge {i:02d}" for i in range(30)]
    assert rows[1]["themes"] == theme.name and rows[1]["instrument"] == "big" and rows[1]["status"] == "not_assessed"
    assert rows[1]["url"].endswith(
        reverse("commitment_detail", kwargs={"slug": Commitment.objects.get(title="Pledge 01").slug})
    )

    response = client.get(url + "&_export=json")
    assert response.streaming
    assert response["Content-Type"].startswith("application/json")
    assert 'filename="aitracker-commitments-' in response["Content-Disposition"]
    data = json.loads(body(response))
    assert [row["title"] for row in data] == [f"Pledge {i:02d}" for i in range(30)]
    assert data[1]["themes"] == [theme.name]
    assert data[0]["progress"] is None and data[0]["last_update_on"] is None


def test_download_neutralises_spreadsheet_formulas(client):
    factories.make_commitment(title='=HYPERLINK("http://evil.example")')
    rows = csv_rows(client, f"{reverse('commitment_list')}?_export=csv")
    assert rows[0]["title"].startswith("'=")
    data = json.loads(body(client.get(f"{reverse('commitment_list')}?_export=json")))
    assert data[0]["title"].startswith("=")


def test_the_filter_form_is_labelled_and_keeps_the_sort(client, table_data):
    html = get_ok(client, f"{reverse('commitment_list')}?sort=-title&theme=cyber")
    for name in ("q", "instrument", "theme", "status", "party", "stale"):
        assert f'<label for="id_{name}">' in html
    assert '<input type="hidden" name="sort" value="-title">' in html
    assert '<option value="cyber" selected>' in html
    download = re.search(r'href="(\?[^"]*_export=csv[^"]*)"', html).group(1)
    assert "theme=cyber" in download and "sort=-title" in download and "page=" not in download


# ---------------------------------------------------------------------------------------------------------------
# Nothing unpublished reaches the public


def test_no_draft_submitted_returned_or_deleted_update_is_public_anywhere(client):
    party = factories.make_party(slug="actor")
    theme = factories.make_theme(slug="leaky")
    instrument = factories.make_instrument(slug="inst")
    factories.make_endorsement(instrument=instrument, party=party)
    commitment = factories.make_commitment(instrument=instrument, slug="watched", themes=[theme])
    factories.make_update(commitment=commitment, state="published", summary="PUBLIC-TEXT", status="in_progress")
    secrets = {
        "draft": "SECRET-DRAFT",
        "submitted": "SECRET-SUBMITTED",
        "returned": "SECRET-RETURNED",
    }
    for state, summary in secrets.items():
        factories.make_update(commitment=commitment, state=state, summary=summary, parties=[party], status="reversed")
    factories.make_update(
        commitment=commitment,
        state="published",
        summary="SECRET-DELETED",
        status="reversed",
        parties=[party],
        deleted_at=timezone.now(),
        reported_on=date.today(),
    )
    # A published update on a soft-deleted commitment, and the commitment itself.
    gone = factories.make_commitment(instrument=instrument, slug="gone", title="SECRET-COMMITMENT", themes=[theme])
    factories.make_update(commitment=gone, state="published", summary="SECRET-ON-DELETED", parties=[party])
    Commitment.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    urls = [
        reverse("dashboard"),
        reverse("commitment_list"),
        reverse("commitment_list") + "?_export=csv",
        reverse("commitment_list") + "?_export=json",
        reverse("commitment_detail", kwargs={"slug": "watched"}),
        reverse("instrument_list"),
        reverse("instrument_detail", kwargs={"slug": "inst"}),
        reverse("party_list"),
        reverse("party_detail", kwargs={"slug": "actor"}),
        reverse("theme_list"),
        reverse("theme_detail", kwargs={"slug": "leaky"}),
        reverse("update_list"),
        reverse("feed_updates"),
        reverse("feed_commitment", kwargs={"slug": "watched"}),
        reverse("feed_party", kwargs={"slug": "actor"}),
    ]
    seen_public = False
    for url in urls:
        text = get_ok(client, url)
        assert "SECRET" not in text, url
        seen_public |= "PUBLIC-TEXT" in text
    assert seen_public
    # Nor did they leave their status on the commitment: it is the published update's.
    html = get_ok(client, reverse("commitment_detail", kwargs={"slug": "watched"}))
    assert '<p class="status-line"><span class="badge status-in_progress">' in html
    assert "status-reversed" not in html
    assert client.get(reverse("commitment_detail", kwargs={"slug": "gone"})).status_code == 404
    assert client.get(reverse("feed_commitment", kwargs={"slug": "gone"})).status_code == 404
    assert ProgressUpdate.objects.filter(summary__startswith="SECRET").count() == 5


def test_hostile_markdown_never_reaches_the_page_or_the_feed(client):
    commitment = factories.make_commitment(slug="attacked")
    factories.make_update(
        commitment=commitment,
        state="published",
        summary=(
            "Hello <script>alert('x')</script> **there**\n\n"
            '<img src=x onerror="alert(1)">\n\n'
            "[click](javascript:alert(2)) [data](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.org/ok)\n\n"
            '<a href="javascript:alert(3)" onclick="alert(4)">raw</a> <div><p>unclosed <b>bold'
        ),
    )
    for url in (commitment.get_absolute_url(), reverse("update_list"), reverse("dashboard")):
        html = get_ok(client, url)
        assert not re.search(r'<script(?! type="application/ld\+json">)', html), url
        assert "alert(" not in html, url
        assert "onerror" not in html and "onclick" not in html, url
        assert "javascript:" not in html and "data:text/html" not in html, url
        assert not re.search(r"<img(?![^>]*favicon)", html), url
    html = get_ok(client, commitment.get_absolute_url())
    assert "<strong>there</strong>" in html
    assert '<a href="https://example.org/ok" rel="nofollow noopener">ok</a>' in html
    feed = get_ok(client, reverse("feed_updates"))
    assert "&lt;script" not in feed and "alert(" not in feed and "javascript:" not in feed


def test_html_in_plain_fields_is_escaped(client):
    commitment = factories.make_commitment(title="<b>Bold</b> & <script>x</script>", slug="escaped")
    html = get_ok(client, commitment.get_absolute_url())
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;" in html
    assert "<script>x" not in html


# ---------------------------------------------------------------------------------------------------------------
# Query budgets: at most 10 per page, and the same whatever the data size


def _budget_urls(world):
    commitment, instrument, party, theme = world.commitments[0], world.instruments[0], world.parties[0], world.themes[0]
    return [
        reverse("dashboard"),
        reverse("commitment_list"),
        reverse("commitment_list")
        + f"?instrument={instrument.slug}&theme={theme.slug}&party={party.slug}&status=stalled&q=C",
        reverse("commitment_list") + "?sort=themes&page=2&per_page=2",
        reverse("commitment_list") + "?sort=-current_status",
        reverse("commitment_detail", kwargs={"slug": commitment.slug}),
        reverse("commitment_detail", kwargs={"slug": world.commitments[1].slug}),
        reverse("instrument_list"),
        reverse("instrument_detail", kwargs={"slug": instrument.slug}),
        reverse("party_list"),
        reverse("party_detail", kwargs={"slug": party.slug}),
        reverse("theme_list"),
        reverse("theme_detail", kwargs={"slug": theme.slug}),
        reverse("update_list"),
        reverse("methodology"),
        reverse("feed_updates"),
        reverse("feed_commitment", kwargs={"slug": commitment.slug}),
        reverse("feed_party", kwargs={"slug": party.slug}),
    ]


def _older_page(client):
    html = get_ok(client, reverse("update_list"))
    return reverse("update_list") + unescape(re.search(r'href="(\?older=[^"]+)"', html).group(1))


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        text = get_ok(client, url)
    return len(queries), text


def test_every_page_keeps_a_small_constant_query_count(client, monkeypatch):
    # Short pages of updates, so that page 2 exists at both sizes (an empty page runs one query fewer).
    monkeypatch.setattr(views.UpdateListView, "paginate_by", 2)
    world = grow(World(), 2)
    small = {url: _count_queries(client, url)[0] for url in _budget_urls(world)}
    # The second page of updates continues from the last one shown ("?older=…", no page numbers).
    small["older"] = _count_queries(client, _older_page(client))[0]
    grow(world, 3)
    large = {}
    large["older"] = _count_queries(client, _older_page(client))[0]
    for url in _budget_urls(world):
        large[url] = _count_queries(client, url)[0]
    assert Commitment.objects.count() > 2 * 4
    # The progress charts of the dashboard and of an instrument's page are three queries more (aitracker/charts.py:
    # kept under the data generation outside the tests).
    limits = {reverse("dashboard"): 13, reverse("instrument_detail", kwargs={"slug": world.instruments[0].slug}): 12}
    for url in small:
        assert small[url] <= limits.get(url, 10), (url, small[url])
        assert large[url] == small[url], (url, small[url], large[url])


def test_downloads_query_in_chunks_not_per_row(client):
    grow(World(), 3)
    count, text = _count_queries(client, reverse("commitment_list") + "?_export=json")
    assert len(json.loads(text)) == Commitment.objects.count()
    assert count <= 6


# ---------------------------------------------------------------------------------------------------------------
# Health checks


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"ok\n"


def test_readyz_answers_when_the_database_does(client):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_readyz_is_503_in_plain_text_when_the_database_is_down(client, monkeypatch):
    def refuse():
        raise OperationalError("connection refused to secret-host:5432")

    monkeypatch.setattr(views.connection, "ensure_connection", refuse)
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert b"secret-host" not in response.content
    assert b"Traceback" not in response.content


def test_stale_commitments_are_counted_on_the_dashboard(client):
    fresh = factories.make_commitment()
    factories.make_update(commitment=fresh, state="published", reported_on=date.today() - timedelta(days=400))
    old = factories.make_commitment()
    factories.make_update(
        commitment=old,
        state="published",
        reported_on=date.today() - timedelta(days=400),
        published_at=timezone.now() - timedelta(days=400),
    )
    factories.make_commitment()
    html = get_ok(client, reverse("dashboard"))
    assert re.search(r'\?stale=yes"><span class="figure">2</span>', html)
    html = get_ok(client, old.get_absolute_url())
    assert "Stale" in html


def test_control_characters_pasted_into_texts_do_not_break_the_feeds(client):
    commitment = factories.make_commitment(slug="pasted", title="Pasted\x0btitle", text="Form\x0cfeed")
    factories.make_update(commitment=commitment, state="published", summary="Escape \x1b and backspace \x08 here.")
    for url in (reverse("feed_updates"), reverse("feed_commitment", kwargs={"slug": "pasted"})):
        xml = get_ok(client, url)
        assert "Pastedtitle" in xml
        assert "Escape  and backspace  here." in xml
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", xml)


@pytest.mark.parametrize(
    ("address", "linked"),
    [
        ("https://example.org/a", "https://example.org/a"),
        (" http://example.org/b ", "http://example.org/b"),
        ("javascript:alert(document.cookie)", ""),
        ("JaVaScRiPt:alert(1)", ""),
        ("data:text/html,<script>alert(1)</script>", ""),
        ("//evil.example/", ""),
        (None, ""),
    ],
)
def test_an_outbound_address_that_is_not_http_is_never_linked(address, linked):
    """The database refuses such addresses (tests/test_security.py); the pages do not rely on it alone."""
    assert http_url(address) == linked


def _bulk_commitments(instrument, theme, count, start=0):
    commitments = Commitment.objects.bulk_create(
        Commitment(
            instrument=instrument,
            reference=f"§{start + i}",
            slug=f"bulk-{start + i}",
            title=f"Bulk pledge {start + i:05d}",
            text="A pledge made in bulk. " * 10,
            source_url="https://example.org/",
        )
        for i in range(count)
    )
    Commitment.themes.through.objects.bulk_create(
        Commitment.themes.through(commitment_id=c.pk, theme_id=theme.pk) for c in commitments
    )


def _export_peak(client, url):
    tracemalloc.start()
    try:
        response = client.get(url)
        rows = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_downloads_stream_in_chunks_with_flat_memory(client, monkeypatch):
    monkeypatch.setattr(views, "EXPORT_CHUNK", 100)
    instrument, theme = factories.make_instrument(), factories.make_theme(name="Bulk theme")
    _bulk_commitments(instrument, theme, 400)
    url = reverse("commitment_list") + "?_export=csv&sort=-title"
    _export_peak(client, url)  # the first request imports and caches what later ones reuse
    small_rows, small_peak = _export_peak(client, url)
    _bulk_commitments(instrument, theme, 1600, start=400)
    with CaptureQueriesContext(connection) as queries:
        large_rows, large_peak = _export_peak(client, url)
    assert (small_rows, large_rows) == (401, 2001)
    # Three filter choice lists, then the rows with their themes in one query, however many chunks.
    assert len(queries) == 3 + 1
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    rows = csv_rows(client, url)
    assert rows[0]["title"] == "Bulk pledge 01999" and rows[-1]["title"] == "Bulk pledge 00000"
    assert all(row["themes"] == "Bulk theme" for row in rows)


@pytest.mark.parametrize("name", ["instrument_detail", "party_detail", "theme_detail"])
def test_long_lists_of_commitments_point_to_the_table(client, monkeypatch, name):
    monkeypatch.setattr(views, "COMMITMENTS_SHOWN", 2)
    instrument = factories.make_instrument(slug="long")
    party = factories.make_party(slug="long")
    theme = factories.make_theme(slug="long")
    factories.make_endorsement(instrument=instrument, party=party)
    for i in range(3):
        factories.make_commitment(instrument=instrument, themes=[theme], title=f"Long pledge {i}")
    html = get_ok(client, reverse(name, kwargs={"slug": "long"}))
    assert html.count("Long pledge") == 2
    assert "Showing the first 2 of 3 commitments." in html
    filter_name = name.removesuffix("_detail")
    assert f'href="/commitments/?{filter_name}=long"' in html


@pytest.mark.parametrize(
    ("page", "status"), [("461168601842738792", 404), ("99999999999999999999", 404), ("-3", 404), ("abc", 200)]
)
def test_the_updates_list_survives_any_page_number(client, real_data, page, status):
    """Found by the fuzz test: a huge page number overflowed the database's OFFSET and gave a 500. The list has
    no numbered pages: a number other than 1 is a 404 (never the first page again), anything else the first."""
    response = client.get(reverse("update_list"), {"page": page})
    assert response.status_code == status


SORTS = ["", "instrument", "-instrument", "reference", "-reference", "title", "-title", "themes", "-themes",
         "current_status", "-current_status", "current_progress", "-current_progress",
         "last_update_on", "-last_update_on"]  # fmt: skip


@pytest.mark.parametrize("sort", SORTS)
def test_every_page_of_the_table_holds_the_next_rows_in_order_whichever_end_it_is_read_from(client, sort):
    """Pages in the second half are read backwards from the end (so the last page costs what the first does):
    the pages, one after the other, are exactly the download's rows, none twice, none missing, also with ties
    in the sorted column, empty values and a filter."""
    call_command("seed_synthetic", commitments=70, updates_per_commitment=1, instruments=4, seed=11, stdout=StringIO())
    for filters in ["", "&status=not_assessed", "&stale=no"]:
        query = f"{reverse('commitment_list')}?sort={sort}{filters}"
        expected = [row["title"] for row in csv_rows(client, query + "&_export=csv")]
        seen, page = [], 1
        while len(seen) < len(expected):
            seen += table_titles(get_ok(client, f"{query}&page={page}&per_page=10"))
            page += 1
        assert seen == expected, (sort, filters)
        # Past the last page there is no page: a 404, not the last page again under another address.
        assert client.get(f"{query}&page={page + 5}&per_page=10").status_code == 404


def test_a_party_page_lists_its_instruments_a_page_at_a_time(client):
    party = factories.make_party(slug="busy", name="Busyland")
    for day in range(1, 26):
        instrument = factories.make_instrument(short_title=f"Statement {day:02d}", adopted_on=date(2025, 1, day))
        factories.make_endorsement(instrument=instrument, party=party)
    url = reverse("party_detail", kwargs={"slug": "busy"})
    html = get_ok(client, url)
    assert "Statement 25" in html and "Statement 06" in html and "Statement 05" not in html
    assert "1\u201320 of 25" in html  # an en dash
    assert 'href="?page=2"' in html
    html = get_ok(client, url + "?page=2")
    assert "Statement 05" in html and "Statement 01" in html and "Statement 06" not in html
    assert "21\u201325 of 25" in html
    # A page number that is not one shows the first page; one past the end is not a page of the list.
    assert "Statement 25" in get_ok(client, url + "?page=first")
    assert client.get(url + "?page=99").status_code == 404


def test_a_theme_or_party_called_null_filters_like_any_other(client):
    """django-filter reads "null" as "is empty" unless told otherwise."""
    null_theme = factories.make_theme(slug="null", name="Null")
    factories.make_commitment(title="Themed null", themes=[null_theme])
    factories.make_commitment(title="No theme at all")
    html = get_ok(client, f"{reverse('commitment_list')}?theme=null")
    assert table_titles(html) == ["Themed null"]
    assert "1 commitment" in html


def test_the_filters_choices_are_the_requests_own_after_the_api_schema_is_built(client, settings):
    """drf-spectacular builds the filter classes' form fields to list their choices; every FilterSet copies those
    fields: the table's choices and labels must still be this request's (a new party, the staleness setting)."""
    assert client.get("/api/v1/schema/").status_code == 200
    settings.AITRACKER_STALE_AFTER_DAYS = 30
    party = factories.make_party(name="Freshly Added Party", slug="freshly-added")
    table = get_ok(client, reverse("commitment_list"))
    assert "Stale only (not reviewed in the last 30 days)" in table
    assert '<option value="freshly-added">Freshly Added Party</option>' in table
    assert party.slug in get_ok(client, reverse("update_list"))
    assert get_ok(client, reverse("commitment_list") + f"?party={party.slug}")
