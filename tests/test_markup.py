"""A progress update's article built in Python (aitracker/markup.py) is the markup of the template it was written
from (tests/plain_update.html): every kind of update rendered both ways, in every language, for a visitor and
for an editor, on every kind of list that shows updates."""

import difflib
from datetime import date, datetime
from pathlib import Path

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.contrib.auth.models import AnonymousUser
from django.template import engines
from django.utils import timezone, translation

from aitracker.markup import update_article_html
from aitracker.models import ProgressUpdate, Source
from aitracker.views import commitment_timeline
from tests import factories

pytestmark = pytest.mark.django_db

PLAIN = engines["django"].from_string((Path(__file__).parent / "plain_update.html").read_text())


@pytest.fixture
def updates(db):
    instrument = factories.make_instrument(short_title="Paris <statement> & co", short_title_fr="Déclaration")
    commitment = factories.make_commitment(
        instrument=instrument, reference="§ 3 & 4", title='Open "the" <archives>', title_fr="Ouvrir les archives"
    )
    # Named in every language: parties are listed by their name in the page's language, and two without one
    # would come in no defined order.
    acting = [
        factories.make_party(slug="zed", name="Zed & Partners", name_fr="Zed & associés", name_zh_hans="泽德"),
        factories.make_party(
            slug="fr",
            name="France",
            name_fr="France",
            name_zh_hans="法国",
            kind="country",
            country="FR",
            un_member=True,
        ),
    ]
    made = [
        factories.make_update(
            commitment=commitment, state="published", status="in_progress", reported_on=date(2024, 1, 1)
        ),
        # A change of the overall status, uncertain, no progress figure.
        factories.make_update(
            commitment=commitment,
            state="published",
            status="achieved",
            progress=None,
            confidence="uncertain",
            reported_on=date(2024, 3, 1),
            summary="It **worked** <script>x</script> & more.",
            summary_fr="Ça a **marché**.",
        ),
        # Acting parties (two, then one); the same status as before; progress 0.
        factories.make_update(
            commitment=commitment, state="published", status="achieved", progress=0, parties=acting, sources=0
        ),
        factories.make_update(
            commitment=commitment, state="published", status="stalled", parties=acting[:1], sources=3
        ),
        # A check for a party, and a check of the whole commitment.
        factories.make_update(
            commitment=commitment, state="published", kind=ProgressUpdate.Kind.CHECK, parties=acting[1:]
        ),
        factories.make_update(commitment=commitment, state="published", kind=ProgressUpdate.Kind.CHECK),
        # Corrected, with and without a note; a draft (no staff links, not published).
        factories.make_update(
            commitment=commitment,
            state="published",
            status="reversed",
            reported_on=date(2025, 1, 1),
            corrected_at=timezone.make_aware(datetime(2025, 2, 1, 9, 30)),
            correction_note="The date was <wrong>.",
            correction_note_fr="La date était fausse.",
        ),
        factories.make_update(
            commitment=commitment,
            state="published",
            status="partly_achieved",
            progress=100,
            corrected_at=timezone.make_aware(datetime(2025, 3, 1)),
        ),
        factories.make_update(commitment=commitment, state="draft", status="not_started"),
    ]
    # Sources with every optional part, and none.
    sources = Source.objects.filter(update=made[3]).order_by("pk")
    sources.filter(pk=sources[0].pk).update(
        publisher="Le <Monde> & co",
        published_on=date(2024, 5, 6),
        archived_url="https://web.archive.org/x?a=1&b=2",
        link_failures=2,
        title='A "quoted" <title>',
    )
    sources.filter(pk=sources[1].pk).update(url='https://example.org/?a=1&b="2"', link_failures=1, publisher="")
    return commitment, made


def contexts():
    editor = factories.make_editor()
    return {"visitor": AnonymousUser(), "editor": editor}


@pytest.mark.parametrize("language", ["en", "fr", "zh-hans"])
@pytest.mark.parametrize("show", [(False, True), (True, True), (True, False), (False, False)])
def test_an_update_is_the_same_built_in_python_as_through_its_template(updates, language, show):
    commitment, made = updates
    show_commitment, show_sources = show
    timeline = {update.pk: update for update in commitment_timeline(commitment)}
    listed = ProgressUpdate.objects.filter(pk__in=[u.pk for u in made]).with_related()
    for viewer, user in contexts().items():
        perms = PermWrapper(user)
        staff_links = "aitracker.publish_progressupdate" in perms
        assert staff_links is (viewer == "editor")
        # As a timeline reads them (parties and sources in lists), and as other lists do (prefetched).
        for update in [*timeline.values(), *listed]:
            with translation.override(language):
                plain = PLAIN.render(
                    {"update": update, "show_commitment": show_commitment, "show_sources": show_sources, "perms": perms}
                )
                lean = update_article_html(
                    update, show_commitment=show_commitment, show_sources=show_sources, staff_links=staff_links
                )
            assert lean == plain, (
                viewer,
                update.pk,
                [line for line in difflib.ndiff(plain.splitlines(), lean.splitlines()) if line[0] in "+-"],
            )


def test_the_variants_show_what_they_are_meant_to(updates):
    """The fixture holds every branch of the template: a guard against comparing two empty renders."""
    commitment, _made = updates
    html = "".join(
        update_article_html(update, show_commitment=True, show_sources=True, staff_links=True)
        for update in commitment_timeline(commitment)
    )
    for expected in [
        "is-uncertain",
        'class="status-change"',
        "Checked, nothing new",
        "Checked for:",
        "Acting parties:",
        "Acting party:",
        "Corrected on",
        "The date was &lt;wrong&gt;.",
        "This link may be broken.",
        "archived copy",
        "Le &lt;Monde&gt; &amp; co",
        'href="https://example.org/?a=1&amp;b=&quot;2&quot;"',
        "update-staff-actions",
        "Progress 0%",
        "Progress 100%",
    ]:
        assert expected in html, expected


PLAIN_ROWS = engines["django"].from_string((Path(__file__).parent / "plain_party_rows.html").read_text())


@pytest.mark.parametrize("language", ["en", "fr", "zh-hans"])
def test_a_commitments_party_rows_are_the_same_built_in_python_as_through_their_template(language):
    from aitracker.markup import party_rows_html
    from aitracker.models import PartyStatus

    instrument = factories.make_instrument()
    parties = [
        factories.make_party(slug="b-and-c", name="B & <C>"),
        factories.make_party(slug="fr", name="France", kind="country", country="FR", un_member=True),
        factories.make_party(slug="a", name="Alpha", name_fr="Alpha (fr)"),
    ]
    for party in parties:
        factories.make_endorsement(instrument=instrument, party=party)
    commitment = factories.make_commitment(instrument=instrument)
    factories.make_update(commitment=commitment, state="published", status="achieved", parties=parties[:1])
    rows = PartyStatus.objects.filter(commitment=commitment).select_related("party").order_by("party__slug")
    assert len(rows) == 3
    # Reviewed long ago (stale), reviewed today, never reviewed.
    rows.filter(party=parties[1]).update(last_reviewed_on=date(2020, 1, 1), progress=55)
    rows.filter(party=parties[2]).update(last_reviewed_on=timezone.localdate(), last_update_on=None)
    rows = list(rows.all())
    html = party_rows_html(rows, party_status="")
    for expected in ["badge-stale", "Never", "—", "#update-", "B &amp; &lt;C&gt;"]:
        assert expected in html, expected
    for chosen in [rows, rows[:1], []]:
        for party_status in ["", "achieved"]:
            with translation.override(language):
                plain = PLAIN_ROWS.render({"party_rows": chosen, "party_status": party_status})
                lean = party_rows_html(chosen, party_status=party_status)
            assert lean == plain, (len(chosen), party_status)
