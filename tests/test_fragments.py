"""Fragments shared across pages (aitracker/fragments.py): a page built from kept fragments is the page rendered
from the database, byte for byte, and every write the public can see makes every fragment it changes unreachable.

The page cache is off here: these are the pages a new address, a crawler or a member of staff gets."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aitracker import services
from aitracker.models import ProgressUpdate
from tests import factories
from tests.test_cache import make_world, publish, render_without_any_cache, without_clock
from tests.test_query_budgets import public_pages


@pytest.fixture
def fragments_on(cache_on):
    """The caches as production has them for a page the page cache has not seen: kept counts and fragments."""
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    return cache_on


@pytest.fixture
def world(db):
    return make_world()


def lean_and_plain(client, settings, url):
    """The page built from kept fragments (a second visit, the first one having kept them), and the page rendered
    without any cache."""
    client.get(url)
    lean = client.get(url)
    plain = render_without_any_cache(client, settings, url)
    assert lean.status_code == plain.status_code == 200, (url, lean.status_code, plain.status_code)
    return b"".join(lean.streaming_content) if lean.streaming else lean.content, (
        b"".join(plain.streaming_content) if plain.streaming else plain.content
    )


# The read API and the downloads are built without fragments (an API page's cursor is signed with the time), and
# the forms carry a token of their own to each visitor (CSRF, the suggestion's signed start time).
NOT_FROM_FRAGMENTS = ("API ", "CSV", "JSON", "data package", "suggestion form", "follow")


@pytest.mark.django_db
def test_every_page_built_from_kept_fragments_is_the_page_rendered_from_the_database(client, fragments_on):
    call_command("seed_synthetic", commitments=40, updates_per_commitment=6, instruments=4, seed=7, stdout=StringIO())
    pages = {name: url for name, url in public_pages().items() if not name.startswith(NOT_FROM_FRAGMENTS)}
    pages |= {f"{name}, French": f"/fr{url}" for name, url in pages.items() if name in ("table", "commitment")}
    assert len(pages) > 40
    for name, url in pages.items():
        lean, plain = lean_and_plain(client, fragments_on, url)
        assert lean == plain, f"{name}: {url}"


def pages_of(world):
    commitment, party, instrument, theme = world["commitment"], world["party"], world["instrument"], world["theme"]
    return [
        reverse("dashboard"),
        reverse("commitment_list"),
        reverse("commitment_list") + f"?theme={theme.slug}&sort=-last_update_on",
        reverse("commitment_detail", kwargs={"slug": commitment.slug}),
        reverse("party_detail", kwargs={"slug": party.slug}),
        reverse("instrument_detail", kwargs={"slug": instrument.slug}),
        reverse("update_list"),
        reverse("feed_updates"),
        reverse("feed_commitment", kwargs={"slug": commitment.slug}),
        reverse("feed_party", kwargs={"slug": party.slug}),
        "/fr" + reverse("commitment_list"),
    ]


def _rename(obj, field, value, editor):
    setattr(obj, field, value)
    services.reference_save(obj=obj, editor=editor)


def _renamed_commitment(world, editor):
    commitment = world["commitment"]
    commitment.title = "Open the archives, renamed"
    services.commitment_save(commitment=commitment, editor=editor)


def _update(world):
    return world["commitment"].updates.get()


def _publish_for_the_party(world, editor):
    """An update naming the party: its page and feed list it."""
    publish(world["commitment"], editor, "Freedonia opened its own archives.", "in_progress", [world["party"]])


# Each write, and a text that the pages it changes show afterwards (None: only that they match a fresh render).
WRITES = {
    "a publication": (
        lambda w, e: publish(w["commitment"], e, "Fresh evidence: the archives opened."),
        "Fresh evidence",
    ),
    "a publication naming a party": (_publish_for_the_party, "Freedonia opened its own archives."),
    "a correction": (
        lambda w, e: services.progress_update_correct(
            update=_update(w), editor=e, note="Typo.", summary="Corrected news about the archives."
        ),
        "Corrected news about the archives.",
    ),
    "a renamed theme": (lambda w, e: _rename(w["theme"], "name", "Renamed theme of tests", e), "Renamed theme"),
    "a renamed instrument": (
        lambda w, e: _rename(w["instrument"], "short_title", "Renamed statement", e),
        "Renamed statement",
    ),
    "a renamed party": (lambda w, e: _rename(w["party"], "name", "Freedonia Republic", e), "Freedonia Republic"),
    "a renamed commitment": (_renamed_commitment, "Open the archives, renamed"),
    "a deleted update": (lambda w, e: services.progress_update_delete(update=_update(w), editor=e), None),
    "an unpublished update": (
        lambda w, e: services.progress_update_unpublish(update=_update(w), editor=e, note="Wrong source."),
        None,
    ),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_write_clears_every_fragment_it_changes(
    client, fragments_on, world, editor, write, django_capture_on_commit_callbacks
):
    pages = pages_of(world)
    for url in pages:
        lean, plain = lean_and_plain(client, fragments_on, url)
        assert without_clock(lean) == without_clock(plain), url
    action, shown = WRITES[write]
    with django_capture_on_commit_callbacks(execute=True):
        action(world, editor)
    for url in pages:
        after = client.get(url)
        fresh = render_without_any_cache(client, fragments_on, url)
        assert without_clock(after.content) == without_clock(fresh.content), f"{write}: {url} kept a stale fragment"
    if shown:
        assert any(shown in client.get(url).content.decode() for url in pages), shown
    if write == "a deleted update":
        assert not ProgressUpdate.objects.public().filter(pk=_update(world).pk).exists()
        assert "Old news about the archives." not in client.get(pages[3]).content.decode()


def test_a_fragment_computed_while_a_write_commits_is_not_kept(client, fragments_on, world, monkeypatch):
    """A fragment rendered from data a write changed meanwhile is shown once, never kept under the generation read
    before the write (which would show it to every later visitor of that generation)."""
    from aitracker import fragments

    url = reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})
    real = fragments.read_generation
    monkeypatch.setattr(fragments, "read_generation", lambda: real() + 1)  # a write committed meanwhile
    client.get(url)
    monkeypatch.setattr(fragments, "read_generation", real)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    # Nothing was kept: the timeline is read from the database again.
    assert any("aitracker_progressupdate" in query["sql"] for query in queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    assert not any("aitracker_progressupdate" in query["sql"] for query in queries.captured_queries)


@pytest.mark.django_db
def test_the_apis_lists_built_from_kept_rows_are_the_lists_read_from_the_database(client, fragments_on):
    """Each row of an API list is kept as a fragment; the rows are those of the database, in the page's order (the
    page's links carry a cursor signed with the time, so only the rows are compared)."""
    call_command("seed_synthetic", commitments=40, updates_per_commitment=6, instruments=4, seed=7, stdout=StringIO())
    lists = {name: url for name, url in public_pages().items() if name.startswith("API ") and "?" in url}
    assert len(lists) >= 6
    for name, url in lists.items():
        client.get(url)
        lean = client.get(url).json()["results"]
        plain = render_without_any_cache(client, fragments_on, url).json()["results"]
        assert lean == plain, f"{name}: {url}"
        assert lean, f"{name}: nothing listed"


def test_a_detail_page_reads_its_object_once_per_generation(client, fragments_on, world, editor):
    """The commitment's, instrument's, party's and theme's pages, on a second visit the page cache has not seen:
    the object comes from its kept copy (views.KeptObjectMixin), not from a query; a write shows at once."""
    for key in ("commitment", "instrument", "party", "theme"):
        obj = world[key]
        url = obj.get_absolute_url()
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        table = connection.ops.quote_name(obj._meta.db_table)
        column = f"{table}.{connection.ops.quote_name('slug')} ="
        assert not [q["sql"] for q in queries if column in q["sql"]], key
    assert client.get("/commitments/no-such-commitment/").status_code == 404
    _renamed_commitment(world, editor)
    assert "Open the archives, renamed" in client.get(world["commitment"].get_absolute_url()).content.decode()


def test_the_filter_panel_is_kept_for_every_page_of_the_same_filters_and_sort(client, fragments_on, world, monkeypatch):
    """The filter panel of the table and of the updates list is rendered once for every page of the same filters
    and sort (a crawler's deep pages, a reader paging on), and shows each address its own choices and errors."""
    from aitracker.filters import PlainSelect

    other = factories.make_theme(name="Another theme of tests")
    renders = []
    plain_render = PlainSelect.render
    monkeypatch.setattr(PlainSelect, "render", lambda self, *a, **k: renders.append(1) or plain_render(self, *a, **k))
    theme = world["theme"].slug
    table = reverse("commitment_list")
    assert client.get(f"{table}?theme={theme}&sort=title").status_code == 200
    assert renders
    renders.clear()
    for extra in ("&page=1", "&page=1&utm_source=feed"):
        lean, plain = lean_and_plain(client, fragments_on, f"{table}?theme={theme}&sort=title{extra}")
        assert lean == plain
    renders.clear()
    assert client.get(f"{table}?theme={theme}&sort=title&page=1").status_code == 200
    assert not renders, "the panel of the same filters and sort was rendered again"
    # Other filters, another sort, another language, an error: each its own panel, as a plain render shows it.
    for url in (
        f"{table}?theme={other.slug}&sort=title",
        f"{table}?theme={theme}&sort=-title",
        f"/fr{table}?theme={theme}&sort=title",
        f"{table}?theme=no-such-theme&sort=title",
        f"{table}?page=1",
        reverse("update_list") + "?published=last_30_days",
    ):
        lean, plain = lean_and_plain(client, fragments_on, url)
        assert lean == plain, url
    page = client.get(f"{table}?theme={other.slug}&sort=title").content.decode()
    assert f'<option value="{other.slug}" selected>' in page
    assert f'<option value="{theme}" selected>' not in page
    assert 'name="sort" value="title"' in page
    assert "field-error" in client.get(f"{table}?theme=no-such-theme").content.decode()
