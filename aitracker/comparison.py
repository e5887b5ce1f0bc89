"""Two to four parties side by side (/compare/?parties=france,china,india): each instrument with each party's
relation to it, each commitment with each party's own status and last update.

Everything is read from the kept rows (Endorsement, PartyStatus), never recomputed from the updates, in a
fixed number of queries whatever the number of instruments and commitments; the commitments come a page
at a time (the CSV has them all).
"""

import re
from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import Commitment, Endorsement, Instrument, Party, PartyStatus, Status
from .paging import page_or_404

MIN_PARTIES = 2
MAX_PARTIES = 4
COMMITMENTS_PER_PAGE = 50
# Longer than any list of four slugs: the rest of a longer value is not even read.
MAX_INPUT = 4 * 80 + 3
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")


class ComparisonError(ValueError):
    """Input the page cannot compare; the message says why, for the visitor."""


def split_slugs(values: list[str]) -> list[str]:
    """What was asked for, in order and without repeats, from ?parties=a,b,c or ?parties=a&parties=b (the
    form's select boxes); unchecked."""
    slugs = []
    # The form's empty boxes send empty values: they count for nothing.
    for value in [value for value in values if value.strip()][: MAX_PARTIES + 1]:
        for part in value[:MAX_INPUT].split(","):
            part = part.strip()
            if part and part not in slugs:
                slugs.append(part)
    return slugs


def parse_slugs(values: list[str]) -> list[str]:
    """The slugs asked for (split_slugs); ComparisonError for more than MAX_PARTIES or one that is no slug."""
    slugs = split_slugs(values)
    if len(slugs) > MAX_PARTIES:
        raise ComparisonError(
            _("You can compare at most %(max)d parties at a time; you chose %(count)d.")
            % {"max": MAX_PARTIES, "count": len(slugs)}
        )
    bad = [slug for slug in slugs if not _SLUG.match(slug)]
    if bad:
        raise ComparisonError(_("“%(slug)s” is not the name of a party in an address.") % {"slug": bad[0][:80]})
    return slugs


def find_parties(slugs: list[str]) -> list[Party]:
    """The parties of these slugs, in their order; ComparisonError naming any that does not exist."""
    found = {party.slug: party for party in Party.objects.public().filter(slug__in=slugs)}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise ComparisonError(
            ngettext(
                "There is no party called “%(slugs)s”. Choose the parties from the lists below.",
                "There are no parties called “%(slugs)s”. Choose the parties from the lists below.",
                len(missing),
            )
            % {"slugs": "”, “".join(missing)}
        )
    return [found[slug] for slug in slugs]


@dataclass
class Cell:
    """One party's entry in a row: a relation to an instrument, or a status on a commitment."""

    key: str = ""
    label: str = ""
    date: object = None
    url: str = ""


@dataclass
class Row:
    subject: object
    cells: list[Cell] = field(default_factory=list)


def instrument_rows(parties: list[Party]) -> list[Row]:
    """Every instrument any of the parties has a relation to (or is bound by as a UN member), latest first,
    with each party's relation. Two queries."""
    ids = [party.pk for party in parties]
    endorsements = {
        (endorsement.instrument_id, endorsement.party_id): endorsement
        for endorsement in Endorsement.objects.public().filter(party__in=ids)
    }
    related = Q(pk__in={instrument for instrument, _party in endorsements})
    if any(party.un_member for party in parties):
        related |= Q(adoption=Instrument.Adoption.WITHOUT_VOTE)
    instruments = Instrument.objects.public().filter(related)
    rows = []
    for instrument in instruments.order_by("-adopted_on", "short_title"):
        row = Row(instrument)
        for party in parties:
            endorsement = endorsements.get((instrument.pk, party.pk))
            if endorsement is not None:
                row.cells.append(
                    Cell(endorsement.relation, endorsement.get_relation_display(), endorsement.date or None)
                )
            elif instrument.adoption == Instrument.Adoption.WITHOUT_VOTE and party.un_member:
                row.cells.append(Cell("bound_un_member", _("Bound as a UN member state"), instrument.adopted_on))
            else:
                row.cells.append(Cell())
        rows.append(row)
    return rows


def compared_commitments(parties: list[Party]):
    """The commitments that bind at least one of the parties, by instrument (oldest first), then reference."""
    return (
        Commitment.objects.public()
        .filter(pk__in=PartyStatus.objects.filter(party__in=[party.pk for party in parties]).values("commitment"))
        .select_related("instrument")
        # By the English reference, the identity: the same order in every language, the page's as the download's.
        .order_by("instrument__adopted_on", "instrument__slug", "reference_en", "pk")
    )


def commitment_rows(parties: list[Party], commitments) -> list[Row]:
    """The rows of these commitments (already read), each party's status on each, from its PartyStatus row:
    one query. A commitment that does not bind a party has an empty cell for it."""
    labels = dict(Status.choices)
    statuses = {
        (row.commitment_id, row.party_id): row
        for row in PartyStatus.objects.filter(
            commitment__in=[commitment.pk for commitment in commitments], party__in=[party.pk for party in parties]
        )
    }
    rows = []
    for commitment in commitments:
        row = Row(commitment)
        for party in parties:
            status = statuses.get((commitment.pk, party.pk))
            if status is None:
                row.cells.append(Cell())
                continue
            url = f"{commitment.get_absolute_url()}#update-{status.latest_update_id}" if status.latest_update_id else ""
            row.cells.append(Cell(status.status, labels[status.status], status.last_update_on, url))
        rows.append(row)
    return rows


def comparison(parties: list[Party], page_number) -> dict:
    """The page's context: the instruments table, and one page of the commitments table."""
    page = page_or_404(Paginator(compared_commitments(parties), COMMITMENTS_PER_PAGE), page_number)
    return {
        "instrument_rows": instrument_rows(parties),
        "commitment_rows": commitment_rows(parties, list(page.object_list)),
        "commitment_page": page,
    }


def export_rows(parties: list[Party], *, chunk_size=1000):
    """The same two tables as flat rows for the CSV: every instrument, then every commitment binding one of
    the parties. The commitments come from one query of their PartyStatus rows in the table's order, read a
    chunk at a time: a commitment's rows arrive together, one per party it binds."""
    for row in instrument_rows(parties):
        yield _flat("instrument", row.subject, "", row.subject.short_title, row.cells)
    index = {party.pk: position for position, party in enumerate(parties)}
    statuses = (
        PartyStatus.objects.public()
        .filter(party__in=list(index))
        .select_related("commitment__instrument")
        .order_by(
            "commitment__instrument__adopted_on",
            "commitment__instrument__slug",
            "commitment__reference_en",
            "commitment",
        )
    )
    current, cells = None, []
    for status in statuses.iterator(chunk_size=chunk_size):
        if current is None or status.commitment_id != current.pk:
            if current is not None:
                yield _flat("commitment", current.instrument, current.reference_en, current.title, cells)
            current, cells = status.commitment, [Cell() for _party in parties]
        cells[index[status.party_id]] = Cell(status.status, "", status.last_update_on)
    if current is not None:
        yield _flat("commitment", current.instrument, current.reference_en, current.title, cells)


def _flat(kind, instrument, reference, title, cells):
    values = [kind, instrument.slug, reference, title]
    for cell in cells:
        values += [cell.key, cell.date.isoformat() if cell.date else ""]
    return values


def export_header(parties: list[Party]) -> list[str]:
    header = ["row", "instrument", "reference", "title"]
    for party in parties:
        header += [f"{party.slug}: relation or status", f"{party.slug}: date"]
    return header
