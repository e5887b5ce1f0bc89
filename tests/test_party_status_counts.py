"""The kept counts per party and status (models.PartyStatusCount): after every kind of write, they equal a count
of the PartyStatus rows of public commitments, and the pages that show them read them."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse

from aitracker import services
from aitracker.models import Endorsement, Instrument, Party, PartyStatus, PartyStatusCount
from tests import factories
from tests.test_cache import publish
from tests.test_charts import CHART_WRITES
from tests.test_charts import history as history  # the fixture

pytestmark = pytest.mark.django_db


def recounted() -> dict:
    """{(party pk, status): n} counted from the PartyStatus rows of public commitments."""
    rows = PartyStatus.objects.public().order_by().values_list("party", "status").annotate(n=Count("pk"))
    return {(party, status): n for party, status, n in rows}


def kept() -> dict:
    return {(row.party_id, row.status): row.count for row in PartyStatusCount.objects.all() if row.count}


@pytest.fixture
def bound(history):
    """The history's instrument signed by three parties, one of them a UN member state."""
    parties = [factories.make_party(un_member=number == 0) for number in range(3)]
    for party in parties:
        factories.make_endorsement(instrument=history["instrument"], party=party)
    return history | {"parties": parties}


def _endorsement_removed(h, e):
    endorsement = Endorsement.objects.filter(instrument=h["instrument"], party=h["parties"][1]).get()
    services.reference_delete(obj=endorsement, user=factories.make_user(is_superuser=True))


def _endorsement_moved(h, e):
    endorsement = Endorsement.objects.filter(instrument=h["instrument"], party=h["parties"][2]).get()
    endorsement.instrument = factories.make_instrument()
    services.reference_save(obj=endorsement, editor=e)


def _party_named(h, e):
    commitment = h["first"]
    services.commitment_save(commitment=commitment, editor=e, parties=[h["parties"][0]])


def _adopted_without_a_vote(h, e):
    instrument = h["instrument"]
    instrument.adoption = Instrument.Adoption.WITHOUT_VOTE
    services.reference_save(obj=instrument, editor=e)
    factories.make_party(un_member=True)  # a member state that signed nothing: bound only after the next change
    party = Party.objects.get(pk=h["parties"][1].pk)
    party.un_member = True
    services.reference_save(obj=party, editor=e)


def _party_deleted(h, e):
    """A party the commitment names (its endorsements would protect it from deletion), with an update naming it."""
    party = factories.make_party()
    services.commitment_save(commitment=h["first"], editor=e, parties=[party])
    publish(h["first"], e, "That party alone.", "reversed", [party])
    services.reference_delete(obj=party, user=factories.make_user(is_superuser=True))


def _commitment_restored(h, e):
    commitment = h["first"]
    first_version = commitment.history.order_by("history_id").first()
    services.commitment_save(commitment=commitment, editor=e, parties=[h["parties"][2]])
    services.commitment_restore(commitment=commitment, history_id=first_version.history_id, editor=e)


def _deleted_commitment_undone(h, e):
    services.commitment_delete(commitment=h["first"], editor=e)
    services.commitment_undelete(commitment=h["first"], editor=e)


WRITES = CHART_WRITES | {
    "an endorsement removed": _endorsement_removed,
    "an endorsement moved to another instrument": _endorsement_moved,
    "a party named by the commitment": _party_named,
    "an adoption without a vote and a new UN member": _adopted_without_a_vote,
    "a deleted party": _party_deleted,
    "a commitment restored to an earlier version": _commitment_restored,
    "a deleted commitment restored": _deleted_commitment_undone,
    "every record refreshed": lambda h, e: services.commitments_refresh_all(),
}


@pytest.mark.parametrize("write", WRITES)
def test_the_kept_counts_are_the_count_of_the_rows_after(bound, editor, write):
    before = kept()
    assert before == recounted() and before, "three parties, two commitments"
    WRITES[write](bound, editor)
    after = kept()
    assert after == recounted()
    if write in (
        "a deleted commitment",
        "an endorsement removed",
        "a party named by the commitment",
    ):
        assert after != before, "the counts show the write"


def test_a_publication_naming_a_party_moves_it_from_one_status_to_another(bound, editor):
    """A party's own record comes from the updates naming it (services.records_from_updates)."""
    one, two, three = (party.pk for party in bound["parties"])
    assert kept() == {(one, "not_assessed"): 2, (two, "not_assessed"): 2, (three, "not_assessed"): 2}
    publish(bound["first"], editor, "Stalled for the second party.", "stalled", [bound["parties"][1]])
    assert kept() == {
        (one, "not_assessed"): 2,
        (two, "not_assessed"): 1,
        (two, "stalled"): 1,
        (three, "not_assessed"): 2,
    }


def test_a_deleted_commitment_leaves_its_parties_counts(bound, editor):
    one = bound["parties"][0].pk
    services.commitment_delete(commitment=bound["first"], editor=editor)
    assert kept()[one, "not_assessed"] == 1


def test_a_rebuild_counts_again_from_the_rows(bound):
    PartyStatusCount.objects.update(count=99)
    services.kept_counts_rebuild()
    assert kept() == recounted()


def test_a_counting_block_inside_another_counts_nothing_more(bound, editor):
    """A write counting a commitment inside one that counts it already (a commitment saved, then rebound) adds
    its difference once; one counting other commitments inside would count twice, and is refused."""
    first = bound["first"]
    with services._counting([first.pk]):
        services.commitment_delete(commitment=first, editor=editor)
    assert kept() == recounted()
    with services._counting([first.pk]), pytest.raises(RuntimeError):  # noqa: SIM117 (the inner one raises)
        with services._counting([first.pk + 1]):
            pass


def test_a_failed_write_leaves_the_counts_as_they_were(bound, editor):
    """The block's writes and their counts commit together or not at all."""
    before = kept()
    with pytest.raises(ZeroDivisionError), services.kept_counts():
        services.commitment_delete(commitment=bound["first"], editor=editor)
        raise ZeroDivisionError
    assert kept() == before
    publish(bound["first"], editor, "Stalled.", "stalled", bound["parties"][:1])
    assert kept() == recounted()


def test_the_parties_table_a_party_page_and_the_search_show_them(client, bound, editor):
    party = bound["parties"][0]
    publish(bound["first"], editor, "Stalled.", "stalled", [party])
    table = client.get(reverse("party_list"), {"sort": "-stalled"}).content.decode()
    row = table[table.index(f'href="{party.get_absolute_url()}"') :].split("</tr>")[0]
    # It endorsed one instrument, whose two commitments bind it: one stalled, one not yet assessed.
    assert '<td class="num">2</td>' in row and row.count('<td class="num">1</td>') == 3
    page = client.get(party.get_absolute_url()).content.decode()
    assert "Stalled" in page
    found = client.get(reverse("search"), {"q": party.name}).content.decode()
    assert party.name in found


def test_the_parties_table_sorts_by_a_kept_count(client, bound, editor):
    publish(bound["first"], editor, "Stalled for one party.", "stalled", [bound["parties"][2]])
    table = client.get(reverse("party_list"), {"sort": "-stalled"}).content.decode()
    names = [party.name for party in bound["parties"]]
    positions = [table.index(name) for name in names]
    assert positions[2] < positions[0] and positions[2] < positions[1]


def test_the_real_data_is_counted(real_data):
    assert kept() == recounted() and kept()


def test_a_publication_writes_the_counts_in_a_few_queries(bound, editor, django_assert_max_num_queries):
    update = factories.make_update(
        commitment=bound["first"], state="submitted", reported_on=date(2025, 7, 1), parties=bound["parties"]
    )
    before = kept()
    # Also the commitments' counts by status, instrument and theme (test_kept_status_counts).
    with django_assert_max_num_queries(75):
        services.progress_update_publish(update=update, editor=editor)
    assert kept() != before and kept() == recounted()


# --- Whom a commitment binds, after a change to an endorsement's party or a named party's deletion ------------


def _stored_and_implied(commitment):
    from aitracker.models import Commitment

    commitment = Commitment.objects.get(pk=commitment.pk)
    stored = set(PartyStatus.objects.filter(commitment=commitment).values_list("party", flat=True))
    return stored, services.commitment_bound_party_ids(commitment=commitment)


def test_an_endorsement_given_to_another_party_rebinds_the_instruments_commitments(bound, editor):
    endorsement = Endorsement.objects.get(instrument=bound["instrument"], party=bound["parties"][2])
    endorsement.party = factories.make_party()
    services.reference_save(obj=endorsement, editor=editor)
    stored, implied = _stored_and_implied(bound["first"])
    assert stored == implied and endorsement.party_id in stored
    assert kept() == recounted()


def test_a_deleted_party_a_commitment_named_leaves_it_bound_by_the_instruments_endorsers(bound, editor):
    party = factories.make_party()
    services.commitment_save(commitment=bound["first"], editor=editor, parties=[party])
    services.reference_delete(obj=party, user=factories.make_user(is_superuser=True))
    stored, implied = _stored_and_implied(bound["first"])
    assert stored == implied == {p.pk for p in bound["parties"]}
    assert kept() == recounted()


def test_a_count_that_drifted_shows_wrong_until_rebuilt_but_never_blocks_a_write(bound, editor):
    """A kept count lower than the truth (an old worker's write during a deployment) must not make the next
    write fail: the write goes through, and the rebuild puts the count right."""
    party = bound["parties"][0]
    PartyStatusCount.objects.filter(party=party, status="not_assessed").update(count=0)
    publish(bound["first"], editor, "Stalled.", "stalled", [party])
    assert kept() != recounted()
    call_command("rebuild_kept_counts", stdout=StringIO())
    assert kept() == recounted()
