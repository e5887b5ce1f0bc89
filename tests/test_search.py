"""The site's search (aitracker/search.py) and its page: what a visitor finds, how it is ranked, highlighted and
grouped, what hostile input gets, and that the index follows every write.

Run on both databases; the expected results below, taken from the real data, are the contract both backends
must meet (same objects per kind; the top hit where it is named):
    .venv/bin/pytest tests/test_search.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aitracker_search .venv/bin/pytest tests/test_search.py
"""

import re
import time
from types import SimpleNamespace

from django.core.management import call_command
from django.urls import reverse

from aitracker import search, services
from aitracker.models import Commitment, Instrument, Party, PartyStatus, ProgressUpdate, SearchEntry, Theme
from tests import factories

Kind = SearchEntry.Kind
MODELS = {Kind.PARTY: Party, Kind.THEME: Theme, Kind.INSTRUMENT: Instrument, Kind.COMMITMENT: Commitment}

SCIENTIFIC_PANEL = {
    Kind.INSTRUMENT: {"gdc-2024", "unga-79-325"},
    Kind.COMMITMENT: {
        "gdc-56a-scientific-panel",
        "unga-79-325-panel-annual-report",
        "unga-79-325-panel-briefs-assembly",
        "unga-79-325-scientific-panel",
    },
    Kind.UPDATE: {6, 8, 10, 31, 37, 38, 39, 40, 41, 49, 70, 71, 74, 75, 77},
}
# {query: {kind: the objects found (slugs; ids for updates)}}: every kind not named finds nothing.
EXPECTED = {
    "energy": {
        Kind.THEME: {"sustainability-energy"},
        Kind.COMMITMENT: {"paris-2025-5-sustainable-ai", "unga-78-265-2-trustworthy-ai-for-sdgs"},
        Kind.UPDATE: {20},
    },
    "India": {Kind.PARTY: {"india"}, Kind.INSTRUMENT: {"paris-2025"}, Kind.UPDATE: {9, 21, 28, 30, 34, 53, 59, 77, 78}},
    "Current AI": {Kind.UPDATE: {3, 11, 12, 35, 38}},
    "scientific panel": SCIENTIFIC_PANEL,
    "panel scientific": SCIENTIFIC_PANEL,
    "sustain": {
        Kind.THEME: {"sustainability-energy"},
        Kind.INSTRUMENT: {"paris-2025", "unga-78-265"},
        Kind.COMMITMENT: {
            "cn-fr-2024-8-public-interest-ai-digital-divide",
            "paris-2025-5-sustainable-ai",
            "unga-78-265-2-trustworthy-ai-for-sdgs",
        },
        Kind.UPDATE: {18, 19, 20, 31, 49, 52, 68},
    },
    "France": {
        Kind.PARTY: {"france"},
        Kind.INSTRUMENT: {"cn-fr-2024", "paris-2025"},
        Kind.COMMITMENT: {
            "cn-fr-2024-1-development-security-governance",
            "cn-fr-2024-3-flexible-governance-rights",
            "cn-fr-2024-6-summit-participation",
            "cn-fr-2024-7-global-south-cyber-capacity",
        },
        Kind.UPDATE: {1, 2, 3, 4, 9, 11, 12, 13, 16, 18, 19, 25, 27, 28, 30, 31, 32, 35, 36, 44, 45, 46, 47, 48, 50}
        | {51, 54, 58},
    },
    "cyber capacity": {
        Kind.THEME: {"global-south-cyber-capacity"},
        Kind.INSTRUMENT: {"cn-fr-2024"},
        Kind.COMMITMENT: {
            "cn-fr-2024-7-global-south-cyber-capacity",
            "cn-fr-2024-8-public-interest-ai-digital-divide",
            "gdc-63-financing-options-ai-capacity",
            "unga-78-265-1-bridge-ai-divides",
            "unga-78-265-4-assist-developing-countries",
            "unga-78-311-bridge-divides-capacity-building",
            "unga-78-311-international-support",
            "unga-78-311-national-development-plans",
            "unga-78-311-secretary-general-report",
            "unga-79-325-dialogue-capacity-building",
        },
        Kind.UPDATE: {46},
    },
}
# {query: {kind: the best hit}}, where the ranking is not a tie on either backend.
TOP_HITS = {
    "energy": {Kind.THEME: "sustainability-energy", Kind.UPDATE: 20},
    "sustain": {Kind.THEME: "sustainability-energy", Kind.COMMITMENT: "paris-2025-5-sustainable-ai"},
    "France": {
        Kind.PARTY: "france",
        Kind.INSTRUMENT: "cn-fr-2024",
        Kind.COMMITMENT: "cn-fr-2024-6-summit-participation",
    },
    "scientific panel": {Kind.INSTRUMENT: "unga-79-325"},
    "cyber capacity": {Kind.THEME: "global-south-cyber-capacity"},
}
HOSTILE = [
    "",
    " ",
    "a",
    "é",
    "x" * 10_000,
    "*",
    '"',
    "'",
    "OR",
    "NEAR(",
    "NEAR(a b, 2)",
    "'); DROP TABLE aitracker_searchentry; --",
    "title:energy",
    "^energy",
    "-",
    "AND OR NOT",
    "':* | !",
    "\x00",
    "energy\x00",
    "%_%",
    "( ( ( (",
    "🙂",
    "<script>alert(1)</script>",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 20,
]


def keys(kind, hits):
    """The hits' objects as the expectations name them: slugs, or ids for updates."""
    ids = [hit.object_id for hit in hits]
    if kind == Kind.UPDATE:
        return ids
    slugs = dict(MODELS[kind].objects.filter(pk__in=ids).values_list("pk", "slug"))
    return [slugs[pk] for pk in ids]


def found(query, **kwargs):
    results = search.search(query, language="en", limit=None, **kwargs)
    return {group.kind: keys(group.kind, group.hits) for group in results.groups}


def test_the_required_searches_find_the_same_objects_on_every_backend(real_data):
    for query, expected in EXPECTED.items():
        results = found(query)
        assert {kind: set(hits) for kind, hits in results.items()} == expected, query
        for kind, top in TOP_HITS.get(query, {}).items():
            assert results[kind][0] == top, (query, kind)
    # Word order does not matter, nor case.
    assert found("panel scientific") == found("Scientific PANEL")


def test_france_shows_how_many_commitments_bind_it_with_a_link_to_them(real_data, client):
    france = Party.objects.get(slug="france")
    bound = PartyStatus.objects.public().filter(party=france).count()
    assert bound > 4  # more than the commitments that name France in their text
    html = client.get(reverse("search"), {"q": "France"}).content.decode()
    table = f"{reverse('commitment_list')}?party=france"
    assert f'<a href="{table}">France: {bound} commitments</a>' in html
    rows = client.get(table + "&per_page=100").content.decode()
    assert len(set(re.findall(r'href="/commitments/([\w-]+)/"', rows))) == bound


def test_a_theme_named_for_the_word_ranks_above_an_update_mentioning_it_once(real_data, client):
    results = search.search("energy", language="en")
    theme, update = results.group(Kind.THEME).hits[0], results.group(Kind.UPDATE).hits[0]
    assert theme.rank > update.rank
    html = client.get(reverse("search"), {"q": "energy"}).content.decode()
    assert html.index("Sustainability and <mark>energy</mark>") < html.index('id="results-update"')


def test_results_are_grouped_by_kind_with_counts_and_highlighted_snippets(real_data, client):
    response = client.get(reverse("search"), {"q": "sustain"})
    assert response.status_code == 200
    html = response.content.decode()
    headings = re.findall(r'<h2 id="results-(\w+)">([^<]+) <span class="count">\((\d+)\)</span>', html)
    assert [(kind, int(count)) for kind, _label, count in headings] == [
        ("theme", 1),
        ("instrument", 2),
        ("commitment", 3),
        ("update", 7),
    ]
    assert "<mark>sustainable</mark>" in html
    assert '<meta name="robots" content="noindex, follow">' in html
    # The header's box keeps the text searched.
    assert 'id="header-search-q" name="q" value="sustain"' in html


def test_highlighting_escapes_the_text_and_marks_only_the_words(db):
    factories.make_commitment(
        title="Sustainable <script>alert(1)</script> & “quoted” AI", text="We sustain <b>bold</b> efforts."
    )
    hit = search.search("sustain script", language="en").group(Kind.COMMITMENT).hits[0]
    assert hit.heading == (
        "<mark>Sustainable</mark> &lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; &amp; “quoted” AI"
    )
    assert "<b>" not in hit.snippet and "&lt;b&gt;" in hit.snippet
    assert "<mark>sustain</mark>" in hit.snippet


def test_hostile_queries_answer_quickly_and_clearly(client, real_data):
    for query in HOSTILE:
        started = time.perf_counter()
        response = client.get(reverse("search"), {"q": query})
        table = client.get(reverse("commitment_list"), {"q": query[:200]})
        assert time.perf_counter() - started < 3, query
        assert response.status_code == 200 and table.status_code == 200, query
        html = response.content.decode()
        assert "<script>alert" not in html, query
        assert re.search(r'class="notice"|class="lead">\d+ results? for', html), f"no message, no results: {query!r}"


def test_a_long_query_is_cut_and_says_so(real_data, client):
    html = client.get(reverse("search"), {"q": "energy " + "x" * 10_000}).content.decode()
    assert f"only its first {search.MAX_QUERY_LENGTH} characters" in html
    results = search.search("energy " * 50, language="en")
    assert results.query.truncated and len(results.query.text) <= search.MAX_QUERY_LENGTH


def test_unsearchable_queries_say_why(db):
    assert search.search("", language="en").query.problem
    assert "symbols" in search.search('"*"', language="en").query.problem
    assert "two letters" in search.search("a the", language="en").query.problem


def test_drafts_and_submitted_updates_are_never_found(db):
    commitment = factories.make_commitment(title="Plain commitment")
    factories.make_update(commitment=commitment, state="draft", summary="Zebracorn draft.")
    factories.make_update(commitment=commitment, state="submitted", summary="Zebracorn under review.")
    factories.make_update(commitment=commitment, state="returned", summary="Zebracorn returned.")
    assert found("zebracorn") == {}
    published = factories.make_update(commitment=commitment, state="published", summary="Zebracorn published.")
    assert found("zebracorn") == {Kind.UPDATE: [published.pk]}


def _publish(*, commitment, editor, summary, source_title="A source"):
    update = services.progress_update_create(
        commitment=commitment,
        author=editor,
        reported_on=commitment.instrument.adopted_on,
        status="in_progress",
        progress=10,
        confidence="confirmed",
        summary=summary,
        sources=[{"url": "https://example.org/s", "title": source_title, "publisher": "Quokka Gazette"}],
    )
    services.progress_update_submit(update=update, user=editor)
    return services.progress_update_publish(update=update, editor=editor)


def test_the_index_follows_publish_correct_rename_and_delete(db, editor):
    theme = factories.make_theme(name="Marsupials", slug="marsupials")
    commitment = factories.make_commitment(title="Count the wombats", themes=[theme])
    assert found("wombat") == {Kind.COMMITMENT: [commitment.slug]}
    # Published: found by its summary, its source's title and its publisher.
    update = _publish(commitment=commitment, editor=editor, summary="The platypus census began.")
    assert found("platypus") == {Kind.UPDATE: [update.pk]}
    assert found("quokka gazette") == {Kind.UPDATE: [update.pk]}
    # Corrected: the new words, not the old ones.
    services.progress_update_correct(update=update, editor=editor, note="Wrong animal.", summary="Echidna census.")
    assert found("platypus") == {}
    assert found("echidna") == {Kind.UPDATE: [update.pk]}
    # A renamed theme: found by its new name, with its commitments.
    theme.name = "Monotremes"
    services.reference_save(obj=theme, editor=editor)
    assert found("marsupials") == {}
    assert found("monotremes") == {Kind.THEME: ["marsupials"], Kind.COMMITMENT: [commitment.slug]}
    # An edited commitment.
    commitment.title = "Count the koalas"
    services.commitment_save(commitment=commitment, editor=editor)
    assert found("wombat") == {}
    assert found("koala") == {Kind.COMMITMENT: [commitment.slug]}
    # A deleted update, then a deleted commitment (its updates go with it), then both back.
    services.progress_update_delete(update=update, editor=editor)
    assert found("echidna") == {}
    services.progress_update_undelete(update=update, editor=editor)
    assert found("echidna") == {Kind.UPDATE: [update.pk]}
    services.commitment_delete(commitment=commitment, editor=editor)
    assert found("koala") == {} and found("echidna") == {}
    services.commitment_undelete(commitment=commitment, editor=editor)
    assert found("koala") == {Kind.COMMITMENT: [commitment.slug]}
    assert found("echidna") == {Kind.UPDATE: [update.pk]}
    # Unpublished: gone.
    services.progress_update_unpublish(update=ProgressUpdate.objects.get(pk=update.pk), editor=editor, note="No.")
    assert found("echidna") == {}


def test_a_renamed_instrument_or_deleted_theme_leaves_no_stale_entry(db, editor):
    instrument = factories.make_instrument(title="Bilbao declaration", short_title="Bilbao")
    theme = factories.make_theme(name="Forestry")
    commitment = factories.make_commitment(instrument=instrument, title="Plant trees", themes=[theme])
    assert found("bilbao")[Kind.INSTRUMENT] == [instrument.slug]
    instrument.title, instrument.short_title = "Lisbon declaration", "Lisbon"
    services.reference_save(obj=instrument, editor=editor)
    assert found("bilbao") == {}
    hit = search.search("plant trees", language="en").group(Kind.COMMITMENT).hits[0]
    assert hit.context.startswith("Lisbon")
    assert found("forestry") == {Kind.THEME: [theme.slug], Kind.COMMITMENT: [commitment.slug]}
    services.reference_delete(obj=theme, user=factories.make_user(is_superuser=True))
    assert found("forestry") == {}


def test_chinese_text_is_found_without_spaces_on_every_backend(db):
    commitment = factories.make_commitment(title="推进人工智能能力建设承诺", text="各国承诺加强国际合作。")
    for language in ("zh-hans", "en"):
        for query in ("人工智能", "承诺", "智能", "国际合作", "人工智能 承诺"):
            results = search.search(query, language=language)
            assert results.ids(Kind.COMMITMENT) == [commitment.pk], (language, query)
    hit = search.search("人工智能 承诺", language="zh-hans").group(Kind.COMMITMENT).hits[0]
    assert hit.heading == "推进<mark>人工智能</mark>能力建设<mark>承诺</mark>"
    assert search.search("机器人", language="zh-hans").groups == []


def test_each_language_reads_its_translation_when_the_model_has_one():
    obj = SimpleNamespace(title="Energy", title_fr="Énergie", title_zh_hans="", summary="Plain")
    assert search._text(obj, "title", "fr") == "Énergie"
    assert search._text(obj, "title", "zh-hans") == "Energy"  # not translated yet: the field itself
    assert search._text(obj, "summary", "fr") == "Plain"


def test_every_language_has_its_entries(real_data):
    languages = set(SearchEntry.objects.values_list("language", flat=True))
    assert languages == {"en", "fr", "zh-hans"}
    assert search.search("energy", language="fr-ca").language == "fr"


def test_the_commitments_table_q_is_the_same_search(real_data, client):
    def table(query):
        html = client.get(reverse("commitment_list"), {"q": query, "per_page": 100}).content.decode()
        return set(re.findall(r'href="/commitments/([\w-]+)/"', html))

    assert table("panel scientific") == table("scientific panel") == SCIENTIFIC_PANEL[Kind.COMMITMENT]
    assert table("sustain") == EXPECTED["sustain"][Kind.COMMITMENT]


def test_rebuild_search_index_builds_it_from_nothing(real_data):
    SearchEntry.objects.all().delete()
    assert found("energy") == {}
    call_command("rebuild_search_index", verbosity=0)
    assert {kind: set(hits) for kind, hits in found("energy").items()} == EXPECTED["energy"]


def test_one_kind_shows_more_than_the_page_of_all_kinds(real_data, client):
    html = client.get(reverse("search"), {"q": "France"}).content.decode()
    assert f"{reverse('search')}?q=France&amp;kind=update" in html  # 28 updates, ten shown
    one_kind = client.get(reverse("search"), {"q": "France", "kind": "update"}).content.decode()
    assert one_kind.count('class="search-hit"') == 28
    assert 'id="results-party"' not in one_kind


def test_a_search_results_page_is_cached_like_other_public_pages(real_data, client, settings):
    from django.core.cache import caches

    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "s"}}
    caches["default"].clear()
    assert client.get(reverse("search"), {"q": "energy"})["X-Page-Cache"] == "miss"
    assert client.get(reverse("search"), {"q": "energy"})["X-Page-Cache"] == "hit"


def test_every_page_has_the_search_box_in_its_header(real_data, client):
    for url in (reverse("dashboard"), reverse("commitment_list"), reverse("methodology")):
        html = client.get(url).content.decode()
        assert f'<form class="header-search" method="get" action="{reverse("search")}" role="search">' in html
        assert '<label class="visually-hidden" for="header-search-q">' in html


SEARCH_QUERIES = {
    # One query for the matches of every kind, one for the page's entries; a party found also counts the
    # commitments that bind it. Nothing to search for: no query at all. The same in every language and database.
    "/search/?q=energy": 2,
    "/search/?q=India": 3,
    "/search/?q=energy&kind=commitment": 2,
    "/fr/search/?q=%C3%A9nergie": 2,
    "/zh-hans/search/?q=%E4%BA%BA%E5%B7%A5%E6%99%BA%E8%83%BD": 2,
    "/search/?q=x": 0,
    "/search/?q=%22*%22": 0,
    "/search/": 0,
}


def test_each_search_page_runs_a_pinned_number_of_queries(client, real_data, django_assert_num_queries):
    for url, expected in SEARCH_QUERIES.items():
        with django_assert_num_queries(expected):
            assert client.get(url).status_code == 200, url
