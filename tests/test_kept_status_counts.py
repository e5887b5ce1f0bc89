"""The kept counts of public commitments by overall status, in all, by instrument and by theme
(models.StatusCount, InstrumentStatusCount, ThemeStatusCount): after every kind of write, they equal a count of
the commitments, and the pages that show them read them."""

import re
from datetime import date

import pytest
from django.db.models import Count
from django.urls import reverse

from aitracker import services
from aitracker.models import Commitment, InstrumentStatusCount, StatusCount, Theme, ThemeStatusCount
from tests import factories
from tests.test_cache import publish
from tests.test_charts import history as history  # the fixture
from tests.test_party_status_counts import WRITES as PARTY_WRITES
from tests.test_party_status_counts import bound as bound  # the fixture

pytestmark = pytest.mark.django_db


def recounted() -> dict:
    """{(kind, key, status): n} counted from the public commitments and their themes."""
    public = Commitment.objects.public().order_by()
    counts = {}
    for status, n in public.values_list("current_status").annotate(n=Count("pk")):
        counts["status", None, status] = n
    for instrument, status, n in public.values_list("instrument", "current_status").annotate(n=Count("pk")):
        counts["instrument", instrument, status] = n
    for theme, status, n in public.values_list("themes", "current_status").annotate(n=Count("pk")):
        if theme is not None:
            counts["theme", theme, status] = n
    return counts


def kept() -> dict:
    counts = {("status", None, row.status): row.count for row in StatusCount.objects.all() if row.count}
    counts |= {
        ("instrument", row.instrument_id, row.status): row.count
        for row in InstrumentStatusCount.objects.all()
        if row.count
    }
    return counts | {
        ("theme", row.theme_id, row.status): row.count for row in ThemeStatusCount.objects.all() if row.count
    }


@pytest.fixture
def themed(bound):
    """The history's two commitments under two themes, the first under both."""
    themes = [factories.make_theme(), factories.make_theme()]
    editor = factories.make_editor()
    services.commitment_save(commitment=bound["first"], editor=editor, themes=themes)
    second = Commitment.objects.get(slug="second")
    services.commitment_save(commitment=second, editor=editor, themes=themes[1:])
    return bound | {"themes": themes, "second": second}


def _themes_changed(h, e):
    services.commitment_save(commitment=h["first"], editor=e, themes=[factories.make_theme()])


def _commitment_added(h, e):
    commitment = Commitment(
        instrument=h["instrument"],
        reference="§9",
        slug="added",
        title="Added",
        text="A new pledge.",
        source_url="https://example.org/text",
    )
    services.commitment_save(commitment=commitment, editor=e, themes=h["themes"])


def _restored_with_other_themes_and_instrument(h, e):
    commitment = h["first"]
    version = commitment.history.order_by("-history_id").first()
    publish(commitment, e, "Stalled.", "stalled")
    commitment.refresh_from_db()
    commitment.instrument = factories.make_instrument()
    services.commitment_save(commitment=commitment, editor=e, themes=[factories.make_theme()])
    services.commitment_restore(commitment=commitment, history_id=version.history_id, editor=e)


def _theme_deleted(h, e):
    services.reference_delete(obj=Theme.objects.get(pk=h["themes"][0].pk), user=factories.make_user(is_superuser=True))


WRITES = PARTY_WRITES | {
    "a commitment's themes changed": _themes_changed,
    "a commitment added, with themes": _commitment_added,
    "a commitment restored to a version with other themes and instrument": _restored_with_other_themes_and_instrument,
    "a theme deleted": _theme_deleted,
}


@pytest.mark.parametrize("write", WRITES)
def test_the_kept_counts_are_the_count_of_the_commitments_after(themed, editor, write):
    before = kept()
    assert before == recounted() and before, "two commitments, two themes"
    WRITES[write](themed, editor)
    after = kept()
    assert after == recounted()
    if write in (
        "a publication",
        "a deleted commitment",
        "a commitment moved to another instrument",
        "a commitment's themes changed",
        "a commitment added, with themes",
        "a theme deleted",
    ):
        assert after != before, "the counts show the write"


def test_a_rebuild_counts_again_from_the_commitments(themed):
    StatusCount.objects.update(count=99)
    InstrumentStatusCount.objects.all().delete()
    ThemeStatusCount.objects.update(count=7)
    services.kept_counts_rebuild()
    assert kept() == recounted()


def test_the_real_data_is_counted(real_data):
    assert kept() == recounted() and kept()


def test_a_publication_moves_its_commitment_from_one_status_to_another(themed, editor):
    instrument, (one, two) = themed["instrument"].pk, (theme.pk for theme in themed["themes"])
    publish(themed["first"], editor, "Stalled after all.", "stalled")
    assert kept() == {
        ("status", None, "stalled"): 1,
        ("status", None, "not_assessed"): 1,
        ("instrument", instrument, "stalled"): 1,
        ("instrument", instrument, "not_assessed"): 1,
        ("theme", one, "stalled"): 1,
        ("theme", two, "stalled"): 1,
        ("theme", two, "not_assessed"): 1,
    }


@pytest.mark.parametrize("named", [False, True], ids=["overall", "naming its parties"])
def test_a_publication_writes_the_counts_in_a_few_queries(themed, editor, named, django_assert_max_num_queries):
    """However many parties and themes: the tallies are grouped queries, the kept rows written in bulk."""
    update = factories.make_update(
        commitment=themed["first"],
        state="submitted",
        status="stalled",
        reported_on=date(2025, 7, 1),
        parties=themed["parties"] if named else (),
    )
    with django_assert_max_num_queries(75):
        services.progress_update_publish(update=update, editor=editor)
    assert kept() == recounted()


def legend(html: str, after: str) -> list[str]:
    """The numbers of the first status bar after `after` on the page, as its legend reads them."""
    start = html.index('<ul class="bar-legend"', html.index(after))
    items = html[start : html.index("</ul>", start)].split("<li>")[1:]
    return [re.sub(r"<[^>]+>", "", item).strip() for item in items]


def test_the_pages_show_the_kept_counts(client, themed, editor):
    """The dashboard's and the instruments and themes pages' bars, a theme's and an instrument's page, and the
    commitments table's count filtered by an instrument or a theme."""
    publish(themed["first"], editor, "Stalled after all.", "stalled")
    one, two = themed["themes"]
    instrument = themed["instrument"]
    both, only_one = ["1 not yet assessed", "1 stalled"], ["1 stalled"]
    themes_page = client.get(reverse("theme_list")).content.decode()
    assert legend(themes_page, f'href="{one.get_absolute_url()}"') == only_one
    assert legend(themes_page, f'href="{two.get_absolute_url()}"') == both
    assert legend(client.get(two.get_absolute_url()).content.decode(), "<h1") == both
    assert legend(client.get(instrument.get_absolute_url()).content.decode(), "<h1") == both
    instruments_page = client.get(reverse("instrument_list")).content.decode()
    assert legend(instruments_page, f'href="{instrument.get_absolute_url()}"') == both
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert legend(dashboard, f'href="{instrument.get_absolute_url()}"') == both
    assert legend(dashboard, f'href="{one.get_absolute_url()}"') == only_one
    # The table's count of its matches, from the kept counts when it is filtered by one instrument or theme.
    for query, n in [({"theme": one.slug}, 1), ({"theme": two.slug}, 2), ({"instrument": instrument.slug}, 2)]:
        table = client.get(reverse("commitment_list"), query).content.decode()
        assert len(re.findall(r"<tr[^>]*>\s*<td", table)) == n
        assert re.search(rf"\b{n} (commitment|match)", table), query
