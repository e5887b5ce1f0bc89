"""How many commitments stood in each status, month by month: the data of the progress chart (dashboard and
instrument pages), and its geometry for a server-rendered SVG (templates/aitracker/includes/status_chart.html).

The status of a commitment at the end of a month is the record as of that day (aitracker/asof.py): the
services' status rule (`records_from_updates`) applied to the updates published and reported by then, each as
it then stood (an update corrected since is read from its kept versions). A commitment is counted from the
month its instrument was adopted. Three queries whatever the number of months or commitments, then one pass
in Python that recomputes a commitment's record only in the months it changes; kept under the data
generation (and the month) with `cached_summary`.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from itertools import chain

from django.db.models import CharField, DateTimeField, Exists, F, IntegerField, OuterRef, Value
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .asof import end_of_day
from .cache import cached_summary
from .models import Commitment, ProgressUpdate, Status
from .services import NOT_ASSESSED, UpdateFacts, records_from_updates, update_order

ASSESSMENT = ProgressUpdate.Kind.ASSESSMENT.value
LIVE, VERSION, COMMITMENT = 0, 1, 2


def _month_index(day: datetime.date) -> int:
    return day.year * 12 + day.month - 1


def _month_of(index: int) -> datetime.date:
    return datetime.date(index // 12, index % 12 + 1, 1)


def _last_day(index: int) -> datetime.date:
    return _month_of(index + 1) - datetime.timedelta(days=1)


def status_by_month(*, instrument=None) -> dict:
    """{"months": [first day of each month], "counts": {status: [count at the end of each month]}} from the
    first instrument's adoption (or the first publication) to this month; empty months when there is nothing."""
    commitments = Commitment.objects.public()
    updates = ProgressUpdate.objects.public().filter(kind=ASSESSMENT)
    if instrument is not None:
        commitments = commitments.filter(instrument=instrument)
        updates = updates.filter(commitment__instrument=instrument)
    # Updates naming parties are about those parties alone: they never move a commitment's overall record.
    named = ProgressUpdate.parties.through.objects.filter(progressupdate=OuterRef("pk"))
    updates = updates.filter(~Exists(named))
    # The updates, and the kept versions of those corrected since, in one statement (a UNION): a version is
    # a row whose first column is VERSION, its publication column the moment the version was saved.
    # The same columns, by the same names, in the three parts.
    columns = ("c_row", "c_commitment", "c_pk", "c_kind", "c_status", "c_progress", "c_day", "c_when", "c_corrected")
    live = (
        updates.order_by()
        .annotate(
            c_row=Value(LIVE),
            c_commitment=F("commitment_id"),
            c_pk=F("pk"),
            c_kind=F("kind"),
            c_status=F("status"),
            c_progress=F("progress"),
            c_day=F("reported_on"),
            c_when=F("published_at"),
            c_corrected=F("corrected_at"),
        )
        .values_list(*columns)
    )
    kept = (
        ProgressUpdate.history.model.objects.filter(id__in=updates.filter(corrected_at__isnull=False).values("pk"))
        .order_by()
        .annotate(
            c_row=Value(VERSION),
            c_commitment=Value(None, output_field=IntegerField()),
            c_pk=F("id"),
            c_kind=F("kind"),
            c_status=F("status"),
            c_progress=F("progress"),
            c_day=F("reported_on"),
            c_when=F("history_date"),
            c_corrected=Value(None, output_field=DateTimeField()),
        )
        .values_list(*columns)
    )
    # And the commitments, each with the day its instrument was adopted (in the date column).
    listed = (
        commitments.order_by()
        .annotate(
            c_row=Value(COMMITMENT),
            c_commitment=F("pk"),
            c_pk=Value(None, output_field=IntegerField()),
            c_kind=Value(None, output_field=CharField()),
            c_status=Value(None, output_field=CharField()),
            c_progress=Value(None, output_field=IntegerField()),
            c_day=F("instrument__adopted_on"),
            c_when=Value(None, output_field=DateTimeField()),
            c_corrected=Value(None, output_field=DateTimeField()),
        )
        .values_list(*columns)
    )
    rows, versions, adopted = [], defaultdict(list), {}
    # Three statements rather than one UNION: modeltranslation's querysets (the live updates and the
    # commitments) emit their columns in an order of their own, which a UNION would pair by position.
    for row_kind, commitment_id, pk, kind, status, progress, reported_on, when, corrected_at in chain(
        live, kept, listed
    ):
        if row_kind == COMMITMENT:
            adopted[commitment_id] = reported_on
        elif row_kind == VERSION:
            versions[pk].append((when, kind, status, progress, reported_on))
        else:
            rows.append((commitment_id, pk, status, progress, reported_on, when, corrected_at))
    for kept_versions in versions.values():
        kept_versions.sort(key=lambda version: version[0])
    if not adopted:
        return {"months": [], "counts": {}}

    today = timezone.localdate()
    last = _month_index(today)
    zone = timezone.get_current_timezone()
    plain = defaultdict(list)  # (commitment, month) -> facts of the updates (never corrected) it counts from
    corrected = defaultdict(list)  # commitment -> [(pk, published_at, versions)]
    changes = defaultdict(set)  # month -> commitments whose record may change at its end
    first = min(_month_index(day) for day in adopted.values())
    for commitment_id, pk, status, progress, reported_on, published_at, corrected_at in rows:
        if commitment_id not in adopted:
            continue
        if corrected_at is not None and versions.get(pk):
            corrected[commitment_id].append((pk, published_at, versions[pk]))
            start = _month_index(published_at.astimezone(zone).date())
            for month in range(max(start, first), last + 1):
                changes[month].add(commitment_id)
            continue
        # The first month at whose end it counts: published before the month ends, and reported by then.
        entry = max(_month_index(reported_on), _month_index(published_at.astimezone(zone).date()), first)
        plain[commitment_id, entry].append(UpdateFacts(pk, ASSESSMENT, status, progress, reported_on, published_at))
        changes[entry].add(commitment_id)
    for commitment_id, day in adopted.items():
        changes[max(_month_index(day), first)].add(commitment_id)

    months = list(range(first, last + 1))
    counts = {status: [0] * len(months) for status in Status.values}
    standing = {}  # commitment -> its status, once its instrument is adopted
    # commitment -> the latest of its never-corrected updates counted so far (what the rule picked among them)
    latest = {}
    tally = dict.fromkeys(Status.values, 0)
    for position, month in enumerate(months):
        day = _last_day(month)
        end = end_of_day(min(day, today))
        for commitment_id in changes.get(month, ()):
            if _month_index(adopted[commitment_id]) > month:
                continue
            # The overall status is that of the latest assessment naming no party (services.update_order):
            # among the never-corrected updates counted so far, the later of last month's latest and this
            # month's newcomers. The services' rule itself decides when a corrected update is in play.
            newcomers = plain.get((commitment_id, month), ())
            if newcomers:
                candidates = [*newcomers, latest[commitment_id]] if commitment_id in latest else newcomers
                latest[commitment_id] = max(candidates, key=update_order)
            facts = [latest[commitment_id]] if commitment_id in latest else []
            in_play = False
            for pk, published_at, kept in corrected.get(commitment_id, ()):
                if published_at >= end:
                    continue
                version = _version_at(kept, end)
                if version[1] == ASSESSMENT and version[4] <= day:
                    facts.append(UpdateFacts(pk, ASSESSMENT, version[2], version[3], version[4], published_at))
                    in_play = True
            if in_play:
                status = records_from_updates(facts).get(None, NOT_ASSESSED).status
            else:
                status = facts[0].status if facts else NOT_ASSESSED.status
            previous = standing.get(commitment_id)
            if previous is not None:
                tally[previous] -= 1
            tally[status] += 1
            standing[commitment_id] = status
        for status, count in tally.items():
            counts[status][position] = count
    return {"months": [_month_of(month) for month in months], "counts": counts}


def _version_at(kept, end):
    """The version in effect at `end`: the latest saved before it, else the earliest kept (asof.py's rule)."""
    before = [version for version in kept if version[0] < end]
    return before[-1] if before else kept[0]


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
