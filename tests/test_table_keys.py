"""The commitments table's page keys read from blocks kept under the data generation (tables.PageByKeysData):
every page, in every order, is the page read from the database, and a write that moves rows moves them on the
kept pages at once."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from aitracker import tables
from tests.test_fragments import fragments_on as fragments_on  # the fixture
from tests.test_fragments import lean_and_plain

pytestmark = pytest.mark.django_db

ORDERS = ["", "-last_update_on", "title", "-current_status", "instrument"]


def row_links(html: bytes) -> list[str]:
    """The commitments of the table's rows, in order."""
    body = html.decode().split("<tbody>")[1].split("</tbody>")[0]
    return list(dict.fromkeys(re.findall(r'<a href="(/commitments/[^"/]+/)"', body)))


@pytest.fixture
def seeded(fragments_on, monkeypatch):
    # Blocks of 7 keys, pages of 5: pages that fall in one block, across two, the first and the last.
    monkeypatch.setattr(tables, "KEY_BLOCK", 7)
    call_command("seed_synthetic", commitments=33, updates_per_commitment=3, instruments=3, seed=5, stdout=StringIO())
    return fragments_on


@pytest.mark.parametrize("order", ORDERS)
def test_every_page_from_kept_blocks_is_the_page_read_from_the_database(client, seeded, order):
    shown = []
    for page in range(1, 8):
        url = f"/commitments/?per_page=5&page={page}" + (f"&sort={order}" if order else "")
        lean, plain = lean_and_plain(client, seeded, url)
        assert lean == plain, url
        shown += row_links(lean)
    # Every commitment once, over the seven pages.
    assert len(shown) == len(set(shown)) == 33


def test_a_write_moves_the_rows_of_the_kept_pages(client, seeded, editor):
    from aitracker import services
    from aitracker.models import Commitment

    url = "/commitments/?per_page=5&page=1&sort=title"
    before = row_links(client.get(url).content)
    last = Commitment.objects.public().order_by("-title", "-pk").first()
    assert last.get_absolute_url() not in before
    last.title = "A title that sorts first"
    services.commitment_save(commitment=last, editor=editor)
    after = client.get(url).content
    assert row_links(after)[0] == last.get_absolute_url()
    assert row_links(after)[1:] == before[:4]
    assert after == lean_and_plain(client, seeded, url)[1]


@pytest.mark.parametrize(
    "url",
    [
        "/commitments/?q=nothing-has-this-word",
        "/commitments/?q=nothing-has-this-word&sort=themes",
        "/commitments/?party=nowhere",
        "/fr/commitments/?q=nothing-has-this-word&sort=themes",
        "/fr/commitments/?q=nothing-has-this-word&sort=-themes",
    ],
)
def test_a_filter_that_matches_nothing_shows_an_empty_table(client, seeded, url):
    # A search with no match filters by an empty list of keys, which Django cannot even write as SQL.
    response = client.get(url)
    assert response.status_code == 200
    assert re.search(r">0 (commitments|engagement)", response.content.decode())


@pytest.mark.parametrize("language", ["fr", "zh-hans"])
def test_sorting_by_themes_in_another_language_follows_the_names_shown(client, seeded, language):
    from aitracker.models import Commitment, Theme

    theme = Theme.objects.order_by("-slug").first()
    # The last theme in English, first in this language (a digit sorts before any letter or character).
    Theme.objects.filter(pk=theme.pk).update(**{{"fr": "name_fr", "zh-hans": "name_zh_hans"}[language]: "0 first"})
    page = client.get(f"/{language}/commitments/?sort=themes&per_page=5").content.decode()
    first_link = re.search(rf'<tbody>.*?<a href="/{language}/commitments/([^"/]+)/"', page, re.S)
    first = Commitment.objects.get(slug=first_link[1])
    assert theme in first.themes.all()
    assert client.get(f"/{language}/commitments/?sort=-themes").status_code == 200


def test_every_partys_counts_as_of_a_day_read_the_updates_in_blocks(client, seeded, monkeypatch):
    from datetime import date, timedelta

    from aitracker import asof

    url = f"/parties/?as_of={date.today() - timedelta(days=1)}"
    whole = client.get(url)
    monkeypatch.setattr(asof, "KEYS_PER_QUERY", 4)
    seeded.AITRACKER_SUMMARY_CACHE_SECONDS = 0
    assert whole.status_code == 200 and client.get(url).content == whole.content
