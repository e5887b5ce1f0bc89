"""Two editors writing on the same commitment at once, in two real transactions on two database connections:
the commitment's stored status is always the one its published updates imply.

Each round holds both transactions at the point where they have recomputed the status and not yet committed,
until each of them has either got there (it read the published updates without the other's) or is waiting
for a lock the other holds; then both go on. Without the locks both get there, and the one that commits last
overwrites the other's status with one computed from a view without it.
"""

import threading
import time
from datetime import date

import pytest
from django.db import connection

from aitracker import charts, services
from aitracker.models import Commitment, Status
from tests.factories import (
    make_commitment,
    make_editor,
    make_endorsement,
    make_instrument,
    make_party,
    make_theme,
    make_update,
)

# serialized_rollback: a plain flush after the test would let the next serialized test meet duplicate content types.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROUNDS = 30
WAIT = 10  # seconds: far more than a round takes, only there so that a broken round fails instead of hanging


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL=postgres://…): on SQLite every transaction takes the database's write "
            "lock when it begins (transaction_mode IMMEDIATE), so two writes never interleave"
        )


def _waiting_for_a_lock(pid) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid])
        return cursor.fetchone()[0]


class Interleaving:
    """Runs two writes in two threads (so two connections), each held after its status refresh until both
    have refreshed or are blocked by the other."""

    def __init__(self, monkeypatch):
        self.local = threading.local()
        refresh = services.commitment_refresh_status

        def held_refresh(*, commitment):
            result = refresh(commitment=commitment)
            index = getattr(self.local, "index", None)
            if index is not None:
                self.arrived[index].set()
                assert self.release.wait(WAIT), "never released"
            return result

        monkeypatch.setattr(services, "commitment_refresh_status", held_refresh)

    def run(self, *writes):
        self.arrived = [threading.Event(), threading.Event()]
        self.release = threading.Event()
        pids = [None, None]
        ready = threading.Barrier(3, timeout=WAIT)
        errors = []

        def worker(index, write):
            self.local.index = index
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pids[index] = cursor.fetchone()[0]
                ready.wait()
                write()
            except BaseException as error:  # reported by the test's thread
                errors.append(error)
                self.release.set()
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(i, write)) for i, write in enumerate(writes)]
        for thread in threads:
            thread.start()
        ready.wait()
        deadline = time.monotonic() + WAIT
        while not all(self.arrived[i].is_set() or _waiting_for_a_lock(pids[i]) for i in range(2)):
            assert time.monotonic() < deadline and not errors, errors
            time.sleep(0.002)
        self.both_read = all(event.is_set() for event in self.arrived)
        self.release.set()
        for thread in threads:
            thread.join(WAIT)
        if errors:
            raise errors[0]


def stored_and_implied(*commitments):
    rows = Commitment.objects.filter(pk__in=[c.pk for c in commitments]).with_computed_status().order_by("pk")
    return [
        (
            (row.current_status, row.current_progress, row.last_update_on),
            (row.computed_status or Status.NOT_ASSESSED, row.computed_progress, row.computed_update_on),
        )
        for row in rows
    ]


def submitted(commitment, day, status, progress):
    return make_update(
        commitment=commitment, state="submitted", reported_on=date(2025, 3, day), status=status, progress=progress
    )


@pytest.fixture
def interleaving(monkeypatch):
    return Interleaving(monkeypatch)


def two_publications(editor, round_number):
    commitment = make_commitment()
    earlier = submitted(commitment, 1, "in_progress", 30)
    later = submitted(commitment, 2, "achieved", 100)
    return (
        [
            lambda: services.progress_update_publish(update=later, editor=editor),
            lambda: services.progress_update_publish(update=earlier, editor=editor),
        ],
        [commitment],
    )


def a_publication_and_a_deletion(editor, round_number):
    commitment = make_commitment()
    published = make_update(commitment=commitment, state="published", reported_on=date(2025, 3, 3), status="stalled")
    waiting = submitted(commitment, 1, "in_progress", 30)
    return (
        [
            lambda: services.progress_update_delete(update=published, editor=editor),
            lambda: services.progress_update_publish(update=waiting, editor=editor),
        ],
        [commitment],
    )


def a_move_and_a_publication_on_each_side(editor, round_number):
    """A correction moves an update from one commitment to the other while a publication lands on each
    (three transactions would not fit in two threads: the move against a publication on the commitment it
    leaves, and against one on the commitment it reaches, in alternate rounds)."""
    first, second = make_commitment(), make_commitment()
    moved = make_update(commitment=first, state="published", reported_on=date(2025, 3, 3), status="achieved")
    target = first if round_number % 2 else second
    waiting = submitted(target, 1, "in_progress", 30)
    return (
        [
            lambda: services.progress_update_correct(
                update=moved, editor=editor, note="Belongs to the other commitment.", commitment=second
            ),
            lambda: services.progress_update_publish(update=waiting, editor=editor),
        ],
        [first, second],
    )


SCENARIOS = {
    "two publications": two_publications,
    "a publication and a deletion": a_publication_and_a_deletion,
    "a move and a publication": a_move_and_a_publication_on_each_side,
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_concurrent_writes_never_lose_a_status(interleaving, scenario):
    editor = make_editor()
    for round_number in range(ROUNDS if scenario == "two publications" else ROUNDS // 3):
        writes, commitments = SCENARIOS[scenario](editor, round_number)
        interleaving.run(*writes)
        for stored, implied in stored_and_implied(*commitments):
            assert stored == implied, f"round {round_number}: stored {stored}, the published updates say {implied}"
        # The progress chart's stored rows too (aitracker/charts.py), written under the same locks, and the
        # parties' kept counts.
        assert charts.status_by_month() == charts.replayed_status_by_month(), f"round {round_number}: the chart"
        kept, counted = _kept_and_counted()
        assert kept == counted, f"round {round_number}: the parties' counts"
        kept, counted = _commitments_kept_and_counted()
        assert kept == counted, f"round {round_number}: the commitments' counts"


def test_the_commitment_lock_alone_keeps_the_status(monkeypatch, interleaving):
    """The data generation's row lock (aitracker/cache.py) already puts public writes in one order; without it,
    the commitment's own row lock must be enough, as it is for any write that refreshes a status."""
    monkeypatch.setattr(services, "public_pages_changed", lambda **kwargs: None)
    editor = make_editor()
    for round_number in range(ROUNDS):
        writes, commitments = two_publications(editor, round_number)
        interleaving.run(*writes)
        [(stored, implied)] = stored_and_implied(*commitments)
        assert stored == implied, f"round {round_number}: stored {stored}, the published updates say {implied}"
        assert charts.status_by_month() == charts.replayed_status_by_month(), f"round {round_number}: the chart"
        assert not interleaving.both_read, "the second transaction read the updates before the first committed"


def _kept_and_counted():
    from tests.test_party_status_counts import kept, recounted

    return kept(), recounted()


def _commitments_kept_and_counted():
    from tests.test_kept_status_counts import kept, recounted

    return kept(), recounted()


def test_publications_on_two_commitments_keep_their_shared_parties_counts(monkeypatch, interleaving):
    """Two commitments binding the same parties, a publication naming them on each, in parallel: without the
    generation's lock the two transactions hold different commitments and meet at the parties' kept counts
    (models.PartyStatusCount), whose rows they lock in key order. Neither count is lost and neither transaction
    deadlocks, whether the counts' rows exist already (odd rounds: a third commitment has that status) or are
    new to both (even rounds: the first statuses of their kind)."""
    monkeypatch.setattr(services, "public_pages_changed", lambda **kwargs: None)
    editor = make_editor()
    for round_number in range(ROUNDS // 3):
        instrument = make_instrument()
        parties = [make_party() for _ in range(3)]
        for party in parties:
            make_endorsement(instrument=instrument, party=party)
        commitments = [make_commitment(instrument=instrument) for _ in range(3)]
        status = ["stalled", "reversed", "achieved"][round_number % 3]
        existing = round_number % 2
        if existing:
            make_update(commitment=commitments[2], state="published", parties=parties, status=status)
        waiting = [
            make_update(
                commitment=commitment, state="submitted", reported_on=date(2025, 3, 1), parties=parties, status=status
            )
            for commitment in commitments[:2]
        ]
        interleaving.run(
            *(
                lambda update=update: services.progress_update_publish(update=update, editor=editor)
                for update in waiting
            )
        )
        assert interleaving.both_read, "the two transactions did not meet"
        kept, counted = _kept_and_counted()
        assert kept == counted, f"round {round_number}"
        assert all(kept[party.pk, status] == 2 + existing for party in parties), f"round {round_number}"
        assert all(kept.get((party.pk, "not_assessed"), 0) == 1 - existing for party in parties), (
            f"round {round_number}"
        )


def test_other_connections_see_the_new_generation_exactly_when_the_write_commits():
    from django.db import transaction

    from aitracker import cache as page_cache

    seen = []

    def other_worker():
        try:
            page_cache.read_generation()  # opens the connection; the read that counts is on the kept one
            seen.append(page_cache.read_generation())
        finally:
            connection.close()

    def look():
        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(WAIT)

    before = page_cache.read_generation()
    with transaction.atomic():
        page_cache.public_pages_changed()
        look()
    look()
    assert seen == [before, before + 1]


def test_publications_on_two_commitments_keep_their_instruments_and_themes_counts(monkeypatch, interleaving):
    """Two commitments of one instrument under one theme, a publication of each (naming no party: their
    overall status moves), in parallel, without the generation's lock: they meet at the kept counts by status,
    instrument and theme (models.StatusCount, InstrumentStatusCount, ThemeStatusCount), locked in key order.
    Neither count is lost and neither transaction deadlocks, whether the rows exist already (odd rounds) or are
    new to both (even rounds)."""
    monkeypatch.setattr(services, "public_pages_changed", lambda **kwargs: None)
    editor = make_editor()
    for round_number in range(ROUNDS // 3):
        instrument, theme = make_instrument(), make_theme()
        commitments = [make_commitment(instrument=instrument, themes=[theme]) for _ in range(3)]
        status = ["stalled", "reversed", "achieved"][round_number % 3]
        existing = round_number % 2
        if existing:
            make_update(commitment=commitments[2], state="published", status=status)
        waiting = [
            make_update(commitment=commitment, state="submitted", reported_on=date(2025, 3, 1), status=status)
            for commitment in commitments[:2]
        ]
        interleaving.run(
            *(
                lambda update=update: services.progress_update_publish(update=update, editor=editor)
                for update in waiting
            )
        )
        assert interleaving.both_read, "the two transactions did not meet"
        kept, counted = _commitments_kept_and_counted()
        assert kept == counted, f"round {round_number}"
        assert kept["instrument", instrument.pk, status] == kept["theme", theme.pk, status] == 2 + existing
