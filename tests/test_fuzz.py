"""Random and hostile query strings on every public page (issue 6): the answer is a 200 (with a message where
the input made no sense) or a 400, never a 500. Query strings are built by hypothesis: every parameter the
pages read, and others, with random text, unicode, control characters, huge and negative numbers, broken
percent-escapes, and the same parameter repeated."""

import string
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TABLE_PARAMETERS = ["q", "instrument", "theme", "status", "party", "stale", "sort", "page", "per_page", "_export"]
# The parameters of /updates/, /parties/ and /compare/ (issue 11).
TABLE_PARAMETERS += ["published", "published_after", "published_before", "relation", "kind", "region", "parties"]
SORTS = ["instrument", "reference", "title", "themes", "current_status", "current_progress", "last_update_on"]

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["0", "-1", "1e309", "NaN", "inf", "0x10", "1.5", " 2 ", "٣", "²", "99999999999999999999"]),
)
known = st.sampled_from(
    [
        "",
        "csv",
        "json",
        "xml",
        "yes",
        "no",
        "in_progress",
        "not_assessed",
        "paris",
        "france",
        *SORTS,
        *(f"-{s}" for s in SORTS),
        "-",
        "--title",
        "title,-reference",
        "pk",
        "instrument__slug",
        "id); DROP TABLE aitracker_commitment;--",
        "' OR '1'='1",
        "<script>alert(1)</script>",
        "%00",
        "\x00",
        "../../etc/passwd",
        "france,france",
        "france,paris,nobody",
        "a,b,c,d,e",
        "2025-13-45",
        "9999-12-31",
        "0001-01-01",
        "this_month",
        "-published_at",
        "-achieved",
        "endorsing",
        "organisation",
        "europe",
    ]
)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
values = st.one_of(known, numbers, text, st.text(alphabet=string.printable, max_size=50))
names = st.one_of(st.sampled_from(TABLE_PARAMETERS), st.text(max_size=20))


def encode(value: str) -> str:
    return quote(value, safe="")


@st.composite
def query_strings(draw):
    """A query string as a browser or a bot could send it: encoded pairs, repeated names, and at times raw
    junk (broken %-escapes, bytes that are not UTF-8 once decoded, no '=' at all)."""
    pairs = draw(st.lists(st.tuples(names, values), max_size=8))
    parts = [f"{encode(name)}={encode(value)}" for name, value in pairs]
    parts += draw(
        st.lists(st.sampled_from(["%", "%ZZ", "%FF%FE", "page", "=", "&&", "q=%C3", "sort=%E2%80"]), max_size=3)
    )
    order = draw(st.permutations(parts)) if parts else parts
    return "&".join(order)


@pytest.fixture
def site():
    instrument = factories.make_instrument(slug="paris")
    party = factories.make_party(slug="france", name="France", kind="country", country="FR")
    factories.make_endorsement(instrument=instrument, party=party)
    theme = factories.make_theme()
    commitments = [factories.make_commitment(instrument=instrument, themes=[theme]) for _ in range(3)]
    for commitment in commitments:
        factories.make_update(commitment=commitment, state="published", parties=[party])
    return {"commitment": commitments[0], "instrument": instrument, "party": party, "theme": theme}


def get(client, path, query):
    response = client.get(path, QUERY_STRING=query)
    if response.streaming:
        b"".join(response.streaming_content)  # an export fails while streaming, not before
    return response


def assert_never_500(client, path, query):
    response = get(client, path, query)
    # 404: a page number past the end of a list.
    assert response.status_code in (200, 400, 404), (path, query, response.status_code)


# raise_request_exception=False: a 500 is a status to assert on, with the query string that caused it.
@FUZZ
@given(query=query_strings())
def test_the_commitments_table_never_fails(site, query):
    assert_never_500(Client(raise_request_exception=False), "/commitments/", query)


@FUZZ
@given(query=query_strings())
def test_the_updates_list_never_fails(site, query):
    assert_never_500(Client(raise_request_exception=False), "/updates/", query)


@FUZZ
@given(query=query_strings(), page=st.sampled_from(["/", "/instruments/", "/parties/", "/themes/", "/methodology/"]))
def test_the_other_list_pages_never_fail(site, query, page):
    assert_never_500(Client(raise_request_exception=False), page, query)


@FUZZ
@given(query=query_strings())
def test_the_comparison_never_fails(site, query):
    # The form's select boxes lead to the shareable address: a redirect, then an answer.
    # 404: a page number past the end of the commitments compared.
    response = get(Client(raise_request_exception=False), "/compare/", query)
    assert response.status_code in (200, 302, 400, 404), (query, response.status_code)


@FUZZ
@given(query=query_strings(), which=st.sampled_from(["commitment", "instrument", "party", "theme"]))
def test_the_detail_pages_never_fail(site, query, which):
    assert_never_500(Client(raise_request_exception=False), site[which].get_absolute_url(), query)


@FUZZ
@given(query=query_strings(), which=st.sampled_from(["updates", "commitment", "party"]))
def test_the_feeds_never_fail(site, query, which):
    path = {
        "updates": "/feeds/updates.atom",
        "commitment": f"/feeds/commitments/{site['commitment'].slug}.atom",
        "party": f"/feeds/parties/{site['party'].slug}.atom",
    }[which]
    assert_never_500(Client(raise_request_exception=False), path, query)


@pytest.mark.parametrize(
    "query",
    [
        "page=99999999999999999999999",
        "page=-1&page=abc&page=",
        "per_page=0",
        "per_page=-5",
        "per_page=100000000",
        "sort=nonexistent",
        "sort=" + "-" * 1000,
        "q=" + "a" * 100_000,
        "q=%00",
        "status=achieved&status=<b>",
        "&".join(f"q{i}=x" for i in range(2000)),
        "_export=csv&page=abc&sort=-title&q=%F0%9F%98%80",
        "_export=json&instrument=nope",
    ],
)
def test_known_hostile_query_strings_on_the_table(site, query):
    assert_never_500(Client(raise_request_exception=False), "/commitments/", query)
