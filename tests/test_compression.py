"""Pages made of kept fragments are compressed without compressing the fragments again (aitracker/compression.py):
what a visitor's browser decodes is the page, byte for byte, whichever cache built it."""

import gzip
import random
from io import StringIO

import pytest
from django.core.management import call_command

from aitracker import compression
from tests.test_cache import render_without_any_cache
from tests.test_fragments import NOT_FROM_FRAGMENTS
from tests.test_query_budgets import public_pages

GZIP = {"accept-encoding": "gzip"}


def spliced(content: bytes, slices) -> bytes:
    return compression.gzip_page(
        content, {content[start:end]: compression.deflate_piece(content[start:end]) for start, end in slices}
    )


@pytest.mark.parametrize(
    "slices",
    [
        [],
        [(0, 5000)],  # at the start
        [(15000, 20000)],  # at the end
        [(100, 6000), (6000, 9000)],  # side by side
        [(100, 6000), (3000, 9000)],  # overlapping: the second is compressed with the page
        [(0, 20000)],  # the whole page
    ],
)
def test_a_page_with_kept_pieces_decodes_to_the_page(slices):
    rng = random.Random(1)
    words = ["<li>", "</li>", "Kenya", "Pays-Bas", "进行中", "status", "\n", "&amp;"]
    content = "".join(rng.choice(words) for _ in range(6000)).encode()[:20000]
    assert gzip.decompress(spliced(content, slices)) == content


def test_random_pages_and_pieces_decode_to_the_page():
    rng = random.Random(2)
    for _ in range(200):
        content = bytes(rng.choice(b"abc<>/ \n\xc3\xa9") for _ in range(rng.randrange(0, 3000)))
        cuts = sorted(rng.sample(range(len(content) + 1), min(len(content) + 1, rng.randrange(0, 6))))
        slices = list(zip(cuts[::2], cuts[1::2], strict=False))
        pieces = {content[a:b]: compression.deflate_piece(content[a:b]) for a, b in slices}
        pieces[b"not in the page"] = compression.deflate_piece(b"not in the page")
        assert gzip.decompress(compression.gzip_page(content, pieces)) == content


def test_the_answer_is_padded_by_a_random_length_as_django_pads_it():
    """A mitigation for BREACH, as GZipMiddleware's: the header's file name has a random length."""
    lengths = {len(compression.gzip_page(b"x" * 1000)) for _ in range(50)}
    assert len(lengths) > 5
    assert max(lengths) - min(lengths) < compression.MAX_RANDOM_BYTES


@pytest.fixture
def fragments_on(cache_on):
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    return cache_on


@pytest.mark.parametrize("page_cache", [False, True], ids=["page cache off", "page cache on"])
def test_every_public_page_compressed_from_kept_fragments_is_the_plain_page(
    client, fragments_on, db, monkeypatch, page_cache
):
    call_command("seed_synthetic", commitments=40, updates_per_commitment=6, instruments=4, seed=7, stdout=StringIO())
    compressed = []
    real = compression._deflated

    def counted(data, mode):
        compressed.append(len(data))
        return real(data, mode)

    monkeypatch.setattr(compression, "_deflated", counted)
    spliced_pages = set()
    for name, url in public_pages().items():
        if name.startswith(NOT_FROM_FRAGMENTS):
            continue
        # The first visit keeps the fragments; the second (a new address, for the page cache) is built from them.
        fragments_on.AITRACKER_PAGE_CACHE_SECONDS = 0
        client.get(url, headers=GZIP)
        # The page cache has not seen it: the copy it keeps is compressed where the page cache stores it.
        fragments_on.AITRACKER_PAGE_CACHE_SECONDS = 600 if page_cache else 0
        compressed.clear()
        lean = client.get(url, headers=GZIP)
        if page_cache:
            assert lean.get("X-Page-Cache", "not kept") in ("miss", "not kept"), name
        plain = render_without_any_cache(client, fragments_on, url)
        assert lean.status_code == plain.status_code == 200, name
        if lean.streaming:
            continue
        assert lean["Content-Encoding"] == "gzip", name
        assert gzip.decompress(lean.content) == plain.content, name
        if sum(compressed) < len(plain.content) - compression.MIN_PIECE_BYTES:
            spliced_pages.add(name)
    # The pages whose big parts are kept fragments: their parties and map, the dashboard's panels.
    assert {"dashboard", "commitment", "instrument"} <= spliced_pages, spliced_pages
