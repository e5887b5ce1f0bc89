"""Data for the public-site tests: a small world of instruments, parties, themes, commitments and updates
that can be grown in place, so that a page's query count can be compared at one size and at twice it."""

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

from aitracker.models import Endorsement
from tests import factories

_days = itertools.count(1)


@dataclass
class World:
    instruments: list = field(default_factory=list)
    themes: list = field(default_factory=list)
    parties: list = field(default_factory=list)
    commitments: list = field(default_factory=list)


def _next_day():
    return date(2024, 1, 1) + timedelta(days=next(_days))


def grow(world: World, n: int = 2) -> World:
    """Roughly double what the world holds, for the objects it already has as much as for new ones: n more
    instruments, themes and parties; n more commitments in every instrument; n more published updates (two
    sources each) and one draft on every commitment; every party endorses every instrument."""
    world.themes += [factories.make_theme() for _ in range(n)]
    new_parties = [factories.make_party() for _ in range(n)]
    new_instruments = [factories.make_instrument() for _ in range(n)]
    for instrument in world.instruments:
        for party in new_parties:
            factories.make_endorsement(instrument=instrument, party=party)
    for instrument in new_instruments:
        for index, party in enumerate(world.parties + new_parties):
            relation = Endorsement.Relation.DID_NOT_SIGN if index % 3 == 2 else Endorsement.Relation.SIGNED
            factories.make_endorsement(instrument=instrument, party=party, relation=relation, confidence="uncertain")
    world.parties += new_parties
    world.instruments += new_instruments
    for instrument in world.instruments:
        for index in range(n):
            named = [world.parties[0]] if index % 2 else []
            world.commitments.append(
                factories.make_commitment(
                    instrument=instrument, themes=world.themes[:2] + world.themes[-1:], parties=named
                )
            )
    statuses = ["in_progress", "partly_achieved", "achieved", "stalled"]
    for commitment in world.commitments:
        for index in range(n):
            factories.make_update(
                commitment=commitment,
                state="published",
                sources=2,
                reported_on=_next_day(),
                status=statuses[index % len(statuses)],
                parties=[world.parties[index % len(world.parties)]],
                confidence="uncertain" if index % 2 else "confirmed",
            )
        factories.make_update(commitment=commitment, state="draft", summary="A draft nobody may see.")
    return world
