"""How many commitments stood in each status, month by month: the data of the progress chart (dashboard and
instrument pages), and its geometry for a server-rendered SVG (templates/aitracker/includes/status_chart.html).

The status of a commitment at the end of a month is the record as of that day (aitracker/asof.py): the
services' status rule (`records_from_updates`) applied to the updates published and reported by then, each as
it then stood (an update corrected since is read from its kept versions). A commitment is counted from the
month its instrument was adopted.

Replaying every published update on each read took about 68 s at 100,000 commitments x 30 updates, so the
replay runs at write time, one commitment at a time: `status_changes_store` (called by the services whenever
they refresh a commitment's records) keeps the months at whose end the commitment's status changed, as
StatusChange rows: a public commitment's entry as "not yet assessed" at its instrument's adoption, then each
change (one before the adoption counts at the adoption month; an instrument's new adoption day, a deletion
and its undoing rewrite the rows). `status_by_month` then reads one grouped query: by month, the commitments
into and out of each status.
`replayed_status_by_month` is the replay itself, kept as the reference the tests compare with.
"""

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .asof import end_of_day
from .cache import cached_summary
from .models import Commitment, ProgressUpdate, Status, StatusChange, StatusChangeCount
from .services import NOT_ASSESSED, UpdateFacts, records_from_updates, update_order

ASSESSMENT = ProgressUpdate.Kind.ASSESSMENT.value
NOT_ASSESSED_STATUS = NOT_ASSESSED.status
STORE_CHUNK = 2000


def _month_index(day: datetime.date) -> int:
    return day.year * 12 + day.month - 1


def _month_of(index: int) -> datetime.date:
    return datetime.date(index // 12, index % 12 + 1, 1)


def _last_day(index: int) -> datetime.date:
    return _month_of(index + 1) - datetime.timedelta(days=1)


def _overall_assessments(commitment_ids):
    """The commitments' published assessments naming no party (only they move a commitment's overall record)."""
    updates = ProgressUpdate.objects.public().filter(kind=ASSESSMENT, commitment__in=commitment_ids)
    named = ProgressUpdate.parties.through.objects.filter(progressupdate=OuterRef("pk"))
    return updates.filter(~Exists(named))


def _replay_inputs(updates):
    """The updates' facts and, for those corrected since publication, their kept versions (two queries):
    ({commitment: [(pk, status, progress, reported_on, published_at, corrected_at)]}, {pk: [versions]})."""
    rows = defaultdict(list)
    # Named columns, not the model's: modeltranslation's querysets order their columns their own way.
    live = (
        updates.order_by()
        .annotate(
            c_commitment=F("commitment_id"),
            c_pk=F("pk"),
            c_status=F("status"),
            c_progress=F("progress"),
            c_day=F("reported_on"),
            c_when=F("published_at"),
            c_corrected=F("corrected_at"),
        )
        .values_list("c_commitment", "c_pk", "c_status", "c_progress", "c_day", "c_when", "c_corrected")
    )
    for commitment_id, *row in live:
        rows[commitment_id].append(tuple(row))
    versions = defaultdict(list)
    kept = (
        ProgressUpdate.history.model.objects.filter(id__in=updates.filter(corrected_at__isnull=False).values("pk"))
        .order_by()
        .annotate(
            c_pk=F("id"),
            c_when=F("history_date"),
            c_kind=F("kind"),
            c_status=F("status"),
            c_progress=F("progress"),
            c_day=F("reported_on"),
        )
        .values_list("c_pk", "c_when", "c_kind", "c_status", "c_progress", "c_day")
    )
    for pk, *version in kept:
        versions[pk].append(tuple(version))
    for kept_versions in versions.values():
        kept_versions.sort(key=lambda version: version[0])
    return rows, versions


def _series(rows, versions, *, today, zone) -> list[tuple[int, str, str]]:
    """One commitment's changes, [(month, status, previous)], from its updates' facts (month by month, only
    in the months its record may change: an update's first month, and every month from a corrected one's
    publication on, as its version in effect moves)."""
    last = _month_index(today)
    plain = defaultdict(list)  # month -> facts of the never-corrected updates it counts from
    corrected = []  # (pk, published_at, versions)
    months = set()
    for pk, status, progress, reported_on, published_at, corrected_at in rows:
        published_month = _month_index(published_at.astimezone(zone).date())
        if corrected_at is not None and versions.get(pk):
            corrected.append((pk, published_at, versions[pk]))
            months.update(range(published_month, last + 1))
            continue
        # The first month at whose end it counts: published before the month ends, and reported by then.
        entry = max(_month_index(reported_on), published_month)
        plain[entry].append(UpdateFacts(pk, ASSESSMENT, status, progress, reported_on, published_at))
        months.add(entry)
    changes = []
    current = NOT_ASSESSED_STATUS
    latest = None  # the latest of the never-corrected updates counted so far (what the rule picks among them)
    for month in sorted(months):
        day = _last_day(month)
        end = end_of_day(min(day, today))
        newcomers = plain.get(month, ())
        if newcomers:
            latest = max([*newcomers, latest] if latest else newcomers, key=update_order)
        facts = [latest] if latest else []
        in_play = False
        for pk, published_at, kept in corrected:
            if published_at >= end:
                continue
            version = _version_at(kept, end)
            if version[1] == ASSESSMENT and version[4] <= day:
                facts.append(UpdateFacts(pk, ASSESSMENT, version[2], version[3], version[4], published_at))
                in_play = True
        if in_play:
            status = records_from_updates(facts).get(None, NOT_ASSESSED).status
        else:
            status = facts[0].status if facts else NOT_ASSESSED_STATUS
        if status != current:
            changes.append((month, status, current))
            current = status
    return changes


def _version_at(kept, end):
    """The version in effect at `end`: the latest saved before it, else the earliest kept (asof.py's rule)."""
    before = [version for version in kept if version[0] < end]
    return before[-1] if before else kept[0]


def _from_adoption(changes, adopted: int) -> list[tuple[int, str, str]]:
    """The rows the chart counts: the commitment's entry at its instrument's adoption, in the status it then
    had (no previous status), then its later changes."""
    entry = NOT_ASSESSED_STATUS
    for month, status, _previous in changes:
        if month <= adopted:
            entry = status
    return [(adopted, entry, ""), *(change for change in changes if change[0] > adopted)]


def commitment_changes(commitment_ids) -> dict[int, list[tuple[int, str, str]]]:
    """{commitment: its rows [(month, status, previous)]} for these commitments, replayed from their
    published updates as they stand today and counted from their instrument's adoption (three queries);
    none for a commitment that is not public (deleted, or gone)."""
    ids = list(commitment_ids)
    adopted = {
        pk: _month_index(day)
        for pk, day in Commitment.objects.public()
        .filter(pk__in=ids)
        .order_by()
        .annotate(c_day=F("instrument__adopted_on"))
        .values_list("pk", "c_day")
    }
    rows, versions = _replay_inputs(_overall_assessments(list(adopted)))
    today, zone = timezone.localdate(), timezone.get_current_timezone()
    return {
        pk: _from_adoption(_series(rows.get(pk, ()), versions, today=today, zone=zone), adopted[pk])
        if pk in adopted
        else []
        for pk in ids
    }


def status_changes_store(*, commitment_ids) -> Counter:
    """Make the commitments' StatusChange rows those of their replay (services call it in the transaction
    of any write that refreshes their records, under their row locks); returns the difference to the kept
    counts of status_change_tally(), {(month, status, previous): n} (services keep them)."""
    ids = sorted(set(commitment_ids))
    difference = Counter()
    for start in range(0, len(ids), STORE_CHUNK):
        chunk = ids[start : start + STORE_CHUNK]
        wanted = commitment_changes(chunk)
        stored = defaultdict(list)
        for commitment_id, month, status, previous in (
            StatusChange.objects.filter(commitment__in=chunk)
            .order_by("commitment", "month")
            .values_list("commitment", "month", "status", "previous")
        ):
            stored[commitment_id].append((month, status, previous))
        stale = [pk for pk in chunk if stored.get(pk, []) != wanted[pk]]
        if not stale:
            continue
        for pk in stale:
            difference.update(wanted[pk])
            difference.subtract(stored.get(pk, ()))
        StatusChange.objects.filter(commitment__in=stale).delete()
        StatusChange.objects.bulk_create(
            [
                StatusChange(commitment_id=pk, month=month, status=status, previous=previous)
                for pk in stale
                for month, status, previous in wanted[pk]
            ],
            batch_size=1000,
        )
    return difference


def status_change_tally(*, instrument=None):
    """Rows (month, status, previous, how many) over the stored StatusChange rows (only public commitments have
    any), of one instrument's commitments or of all: one grouped query."""
    rows = StatusChange.objects.order_by()
    if instrument is not None:
        rows = rows.filter(commitment__instrument=instrument)
    return (
        rows.values("month", "status", "previous")
        .annotate(n=Count("pk"))
        .order_by("month", "status", "previous")
        .values_list("month", "status", "previous", "n")
    )


def status_by_month(*, instrument=None) -> dict:
    """{"months": [first day of each month], "counts": {status: [count at the end of each month]}} from the
    first instrument's adoption to this month; empty months when there is nothing. Site-wide, from the kept
    counts (models.StatusChangeCount, a few thousand rows at most); for an instrument, one grouped query over
    its commitments' rows. Whatever the number of updates."""
    if instrument is not None:
        return _counts_from(status_change_tally(instrument=instrument))
    return _counts_from(
        StatusChangeCount.objects.filter(count__gt=0).order_by().values_list("month", "status", "previous", "count")
    )


def _counts_from(grouped) -> dict:
    """The counts at the end of each month from the first row's to this one, from rows (month, status,
    previous, how many): that many commitments into the status and out of the previous one that month (a
    change in a later month than this one is not counted yet)."""
    by_month = defaultdict(list)
    for month, status, previous, n in grouped:
        by_month[month].append((status, n))
        if previous:
            by_month[month].append((previous, -n))
    if not by_month:
        return {"months": [], "counts": {}}
    months = list(range(min(by_month), _month_index(timezone.localdate()) + 1))
    counts = {status: [0] * len(months) for status in Status.values}
    tally = dict.fromkeys(Status.values, 0)
    for position, month in enumerate(months):
        for status, n in by_month.get(month, ()):
            tally[status] += n
        for status, count in tally.items():
            counts[status][position] = count
    return {"months": [_month_of(month) for month in months], "counts": counts}


def replayed_status_by_month(*, instrument=None) -> dict:
    """status_by_month by replaying every published update now (what the stored rows must agree with; the
    tests compare the two after every kind of write)."""
    commitments = Commitment.objects.public()
    if instrument is not None:
        commitments = commitments.filter(instrument=instrument)
    changes = commitment_changes(commitments.values_list("pk", flat=True))
    # Each row once: one commitment into its status (and out of its previous one) that month.
    return _counts_from((*row, 1) for rows in changes.values() for row in rows)


# --- The SVG ---------------------------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 28
# Drawn bottom to top: the statuses in Status order. Each has a pattern too, so the chart does not rely on
# colour alone (the legend shows the same swatches).
PATTERNS = {
    "not_assessed": "",
    "not_started": "dots",
    "in_progress": "diagonal",
    "partly_achieved": "cross",
    "achieved": "",
    "stalled": "horizontal",
    "reversed": "vertical",
}


@dataclass
class Bar:
    x: float
    width: float
    segments: list  # (status, y, height)


def status_chart(*, instrument=None) -> dict:
    """The chart's context, kept until the next write (and the month's end)."""
    name = f"status-chart:{instrument.pk if instrument else 'all'}:{timezone.localdate():%Y-%m}"
    data = cached_summary(name, lambda: status_by_month(instrument=instrument))
    return chart_context(data)


def chart_context(data) -> dict:
    months, counts = data["months"], data["counts"]
    if not months:
        return {"empty": True}
    totals = [sum(counts[status][i] for status in Status.values) for i in range(len(months))]
    top = max(max(totals), 1)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / len(months)
    bars = []
    for i in range(len(months)):
        y = TOP + plot_height
        segments = []
        for status in Status.values:
            height = counts[status][i] / top * plot_height
            if height:
                y -= height
                segments.append((status, round(y, 2), round(height, 2)))
        bars.append(Bar(round(LEFT + i * step, 2), round(max(step * 0.85, 0.5), 2), segments))
    # Year ticks (each January, and the first month); at most about a dozen labels.
    years = [i for i, month in enumerate(months) if month.month == 1 or i == 0]
    stride = max(1, -(-len(years) // 10))
    ticks = [(round(LEFT + i * step, 2), months[i].year) for i in years[::stride]]
    labels = dict(Status.choices)
    rows = [
        {"month": month, "counts": [counts[status][i] for status in Status.values], "total": totals[i]}
        for i, month in enumerate(months)
    ]
    first, last = months[0], months[-1]
    return {
        "empty": False,
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "ticks": ticks,
        "axis_y": TOP + plot_height,
        "axis_left": LEFT,
        "axis_right": WIDTH - RIGHT,
        "top": top,
        "top_y": TOP,
        "legend": [(status, labels[status], PATTERNS[status]) for status in Status.values],
        "patterns": sorted({pattern for pattern in PATTERNS.values() if pattern}),
        "rows": rows,
        "statuses": [(status, labels[status]) for status in Status.values],
        "latest": rows[-1],
        "description": _(
            "Stacked bars, one a month from %(first)s to %(last)s: how many commitments stood in each status at "
            "the end of the month. At the end of %(last)s: %(latest)s."
        )
        % {
            "first": date_format(first, "YEAR_MONTH_FORMAT"),
            "last": date_format(last, "YEAR_MONTH_FORMAT"),
            "latest": ", ".join(
                f"{labels[status]} {counts[status][-1]}" for status in Status.values if counts[status][-1]
            )
            or _("none"),
        },
    }
