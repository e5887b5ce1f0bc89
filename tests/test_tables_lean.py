"""The tables' header cells and page links built in Python (tables.LeanTable) are the markup django-tables2's own
template tags give: the same page rendered both ways, for every kind of header and page link."""

from pathlib import Path

import pytest
from django.template import engines
from django.test import RequestFactory
from django.utils import translation
from django_tables2 import RequestConfig

from aitracker.models import Commitment, Party
from aitracker.tables import CommitmentTable, PartyTable, with_endorsed_count
from tests import factories

pytestmark = pytest.mark.django_db

# includes/table.html's header and pagination as they were written with django-tables2's template tags (joined by
# "|"), with the line breaks the lean markup has.
PLAIN = (Path(__file__).parent / "plain_table_parts.html").read_text()


def both_ways(table_class, queryset, query):
    request = RequestFactory().get("/list/", query)
    table = RequestConfig(request).configure(table_class(queryset))
    plain = engines["django"].from_string(PLAIN).render({"table": table, "request": request})
    return f"{table.head_html()}|{table.pagination_html()}", plain


@pytest.fixture
def commitments(db):
    instrument = factories.make_instrument()
    for number in range(30):
        factories.make_commitment(instrument=instrument, title=f"Commitment “{number}” & co")
    return Commitment.objects.public()


QUERIES = {
    "the first page": {},
    "one page of all": {"per_page": 100},
    "sorted, descending": {"sort": "-title", "per_page": 2},
    "sorted, ascending": {"sort": "last_update_on", "per_page": 2},
    "a middle page": {"page": 7, "per_page": 2},
    "the last page": {"page": 15, "per_page": 2},
    "a query string to escape": {"q": 'a&b<"c">', "status": "in_progress", "per_page": 2, "page": 3},
    "a repeated parameter": {"theme": ["x", "y"], "per_page": 3, "page": 2},
}


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("language", ["en", "fr", "zh-hans"])
def test_the_commitments_tables_header_and_pages(commitments, query, language):
    with translation.override(language):
        lean, plain = both_ways(CommitmentTable, commitments, QUERIES[query])
    assert lean == plain
    if query in ("a middle page", "the last page"):
        assert "…" in lean and 'aria-current="page"' in lean


def test_the_parties_tables_header_and_pages(db):
    for _ in range(4):
        factories.make_party()
    lean, plain = both_ways(PartyTable, Party.objects.public(), {"sort": "-name", "per_page": 1, "page": 2})
    assert lean == plain
    assert 'aria-sort="descending"' in lean and 'rel="next"' in lean and 'rel="prev"' in lean


def generic_body(table) -> str:
    """The rows as django-tables2's own cell machinery renders them (BoundRow.items())."""
    from django.utils.html import format_html, format_html_join

    rows = [
        format_html(
            '<tr class="{}">{}</tr>',
            "odd" if number % 2 else "even",
            format_html_join("", "<td {}>{}</td>", ((c.attrs["td"].as_html(), value) for c, value in row.items())),
        )
        for number, row in enumerate(table.paginated_rows)
    ]
    return "\n".join(rows)


@pytest.mark.parametrize("language", ["en", "fr", "zh-hans"])
def test_the_parties_tables_rows_are_django_tables2s(real_data, language):
    """Every kind of party (countries named by django-countries in the page's language, organisations, a
    global body with no region), with its counts."""
    factories.make_party(name="A global body", region="")
    with translation.override(language):
        bodies = []
        last = -(-Party.objects.count() // 100)  # the global bodies, with no region, come last
        for query in ({}, {"sort": "-achieved", "page": 2}, {"sort": "-region", "per_page": 100, "page": last}):
            request = RequestFactory().get("/parties/", query)
            table = RequestConfig(request).configure(PartyTable(with_endorsed_count(Party.objects.public())))
            bodies.append(table.body_html())
            assert bodies[-1] == generic_body(table), query
        assert "<td >—</td>" in bodies[-1], "a party with no region"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_table_rows_list_each_commitments_themes_as_its_page_does(client, language):
    """The rows read their themes in one query of the links (querysets.in_key_order_with_themes), not by a
    prefetch: the same themes, in the same order, as the commitment's own themes."""
    themes = [
        factories.make_theme(slug=slug, name=name, name_fr=name_fr)
        # Not in the same order in French.
        for slug, name, name_fr in [
            ("w", "Work", "Accès au travail"),
            ("a", "Access", "Zones"),
            ("m", "Markets", "Marchés"),
        ]
    ]
    instrument = factories.make_instrument()
    several = factories.make_commitment(instrument=instrument, title="Several themes", themes=themes)
    factories.make_commitment(instrument=instrument, title="No theme")
    prefix = "" if language == "en" else f"/{language}"
    page = client.get(f"{prefix}/commitments/").content.decode()
    with translation.override(language):
        names = [theme.name_fr if language == "fr" else theme.name for theme in several.themes.all()]
    assert names == (["Accès au travail", "Marchés", "Zones"] if language == "fr" else ["Access", "Markets", "Work"])
    row = next(row for row in page.split("<tr") if "Several themes" in row)
    assert [row.index(f">{name}</a>") for name in names] == sorted(row.index(f">{name}</a>") for name in names)
    empty = next(row for row in page.split("<tr") if "No theme" in row)
    assert "—" in empty
