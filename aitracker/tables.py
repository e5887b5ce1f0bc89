"""The public tables (commitments, parties): what each column shows and how it sorts; their downloads."""

import hashlib
from collections.abc import Sequence

import django_tables2 as tables
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.query import QuerySet
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_tables2.data import TableQuerysetData
from django_tables2.templatetags.django_tables2 import table_page_range

from . import asof
from .cache import cached_summary, generation_expression, read_generation
from .fragments import cached_fragments
from .i18n import translated_html, translated_order
from .links import slug_url
from .models import STATUS_VALUES, Commitment, Endorsement, Party, PartyStatus, PartyStatusCount, Status
from .templatetags.aitracker_tags import progress_bar_html, status_badge_html, time_tag

MAX_PER_PAGE = 100


def _ordered(queryset, is_descending, *fields):
    """Order by fields with empty values last either way, then by pk so that pages never overlap."""
    # A translated field sorts by what the page shows: its text in the page's language, else its English.
    expressions = [translated_order(queryset.model, field) for field in fields]
    expressions = [
        expression.desc(nulls_last=True) if is_descending else expression.asc(nulls_last=True)
        for expression in expressions
    ]
    return queryset.order_by(*expressions, "pk"), True


KEY_BLOCK = 1000


class PageByKeysData(TableQuerysetData):
    """A page of a sorted queryset in two steps: the page's primary keys first, sorting only the sort keys and
    the ids, then the page's rows by key. Sorting whole rows (the text of every commitment) for a page near
    the end spills to disk on PostgreSQL (an external merge of 6 MB at 10,000 commitments).

    A page in the second half is read from the other end, in the reverse order: an OFFSET makes the database
    walk past every row before the page, so the last page would otherwise cost the most. Every order of the
    table ends with a unique key, so the reverse order is exactly the same rows backwards.

    Reading from the end needs the exact number of rows of the snapshot the page is read from: one too few
    and a row is skipped, one too many and one is shown twice. So the count always comes with the data
    generation it was taken under (aitracker/cache.py), and the page's keys come with the generation of their
    own statement: a page is read from the end only when the two are the same, else from the start.
    `count`, when given, is the number of rows kept under `generation` (the view's kept counts); it is used
    only while the generation has not moved since, and counted afresh otherwise.
    """

    def __init__(self, data, count=None, generation=None):
        super().__init__(data)
        self._kept = (count, generation) if count is not None and generation is not None else None
        self._length = self._generation = None

    def __len__(self):
        if self._length is None:
            if not hasattr(self.table, "paginator"):
                return super().__len__()
            self._length, self._generation = self._count()
        return self._length

    def _count(self):
        if self._kept is not None and read_generation() == self._kept[1]:
            return self._kept
        # The count and the generation in one statement, so of one snapshot.
        counted = self.data.order_by().aggregate(total=Count("pk"), generation=Max(generation_expression()))
        return counted["total"], counted["generation"]

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step is not None:
            return super().__getitem__(key)
        if key.stop is not None and settings.AITRACKER_SUMMARY_CACHE_SECONDS > 0 and hasattr(self.table, "paginator"):
            return KeyedRows(self.data, self._kept_keys(key.start or 0, key.stop))
        return KeyedRows(self.data, self._page_keys(key.start or 0, key.stop))

    def _kept_keys(self, start, stop):
        """The keys of rows start to stop from blocks of KEY_BLOCK keys kept under the data generation (cache.
        cached_summary), named by the keys' query itself (its filters, order and language): a block is read
        from the database once per generation, and every page in it, from any visitor, reads one kept value
        instead of walking an index past every row before it (43 ms for the middle page at 100,000)."""
        if stop >= len(self):
            # The last page, up to a full page (as _page_keys fills it): a write may have added rows since.
            stop = start + self.table.paginator.per_page
        try:
            query = str(self.data.prefetch_related(None).values_list("pk", flat=True).query)
        except EmptyResultSet:
            # Django knows the rows without asking the database: none (a search or filter that matches nothing,
            # a filter form with errors). Such a query has no SQL to name a block by.
            return []
        name = hashlib.sha256(query.encode()).hexdigest()[:32]
        first, last = start // KEY_BLOCK, (stop - 1) // KEY_BLOCK
        keys = []
        for block in range(first, last + 1):
            keys += cached_summary(
                f"table-keys:{name}:{block}",
                lambda block=block: self._page_keys(block * KEY_BLOCK, (block + 1) * KEY_BLOCK, whole=False),
            )
        return keys[start - first * KEY_BLOCK : stop - first * KEY_BLOCK]

    def _page_keys(self, start, stop, whole=True):
        """The keys of rows start to stop, of one snapshot. `whole`: a page of the table (the last one filled up
        to a full page if a write has added rows since the count)."""
        keys = self.data.prefetch_related(None).values_list("pk", flat=True)
        total = len(self) if stop is not None else None
        page_keys = None
        if total is not None and start > total // 2 and self._generation is not None:
            stop = min(stop, total)
            rows = list(
                self.data.prefetch_related(None)
                .annotate(page_generation=generation_expression())
                .values_list("pk", "page_generation")
                .reverse()[max(total - stop, 0) : max(total - start, 0)]
            )
            # A write committed since the count (or nothing there): the count is not this snapshot's.
            if rows and rows[0][1] == self._generation:
                page_keys = [pk for pk, _generation in reversed(rows)]
        if page_keys is None:
            if whole and total is not None and stop >= total and hasattr(self.table, "paginator"):
                # The last page, cut at a count a write has since made one too few: up to a full page.
                stop = start + self.table.paginator.per_page
            page_keys = list(keys[start:stop])
        return page_keys


class KeyedRows(Sequence):
    """A page's rows by key, read from the database only when a row is: the table's body takes the rows it
    finds among the kept fragments (aitracker/fragments.py) by key, and reads only the others."""

    def __init__(self, queryset, keys):
        self.queryset, self.keys = queryset, keys
        self._rows = None

    def rows(self):
        if self._rows is None:
            self._rows = self.queryset.in_key_order(self.keys)
        return self._rows

    def __len__(self):
        return len(self.rows()) if self._rows is not None else len(self.keys)

    def __getitem__(self, index):
        return self.rows()[index]

    def __iter__(self):
        return iter(self.rows())


class LeanTable(tables.Table):
    """A table whose header cells and page links are built in Python (includes/table.html shows them), in the
    markup django-tables2's template tags give (its `querystring_replace` and `table_page_range`, the columns'
    public attributes): through the template engine they cost a fifth of a table page's time.
    tests/test_tables_lean.py renders both ways and compares."""

    def _querystring(self, key, value) -> str:
        """django-tables2's {% querystring_replace key=value %}: the request's query string with `key` set."""
        params = dict(self.request.GET)
        params[key] = value
        return escape("?" + urlencode(params, doseq=True))

    def head_html(self):
        cells = []
        for column in self.columns:
            sort = ""
            if column.is_ordered:
                sort = f' aria-sort="{"descending" if column.order_by_alias.is_descending else "ascending"}"'
            header = conditional_escape(localize(column.header))
            if column.orderable:
                link = self._querystring(self.prefixed_order_by_field, column.order_by_alias.next)
                header = f'<a href="{link}">{header}<span class="sort-indicator" aria-hidden="true"></span></a>'
            cells.append(f'<th scope="col" {column.attrs["th"].as_html()}{sort}>{header}</th>')
        return mark_safe("\n".join(cells))

    def pagination_html(self):
        page = getattr(self, "page", None)
        if not page or self.paginator.num_pages <= 1:
            return ""
        field = self.prefixed_page_field
        items = []
        if page.has_previous():
            link = self._querystring(field, page.previous_page_number())
            items.append(f'<li><a href="{link}" rel="prev">{escape(gettext("Previous"))}</a></li>')
        for number in table_page_range(page, self.paginator):
            if number == "...":
                items.append('<li><span class="ellipsis">…</span></li>')
                continue
            current = ' aria-current="page"' if number == page.number else ""
            items.append(f'<li><a href="{self._querystring(field, number)}"{current}>{localize(number)}</a></li>')
        if page.has_next():
            link = self._querystring(field, page.next_page_number())
            items.append(f'<li><a href="{link}" rel="next">{escape(gettext("Next"))}</a></li>')
        label = escape(gettext("Pages of results"))
        return mark_safe(f'<nav class="pagination" aria-label="{label}">\n  <ul>\n{"\n".join(items)}\n  </ul>\n</nav>')


class CommitmentTable(LeanTable):
    # The cells are built by the render_* methods below, in Python: django-tables2's generic cells (linkify,
    # a template parsed anew for every TemplateColumn cell) cost more than the rest of the page put together.
    instrument = tables.Column(
        verbose_name=_("Instrument"), accessor="instrument__short_title", attrs={"td": {"class": "col-instrument"}}
    )
    reference = tables.Column(verbose_name=_("Ref."), attrs={"td": {"class": "col-reference"}})
    title = tables.Column(verbose_name=_("Commitment"), attrs={"td": {"class": "col-title stack-main"}})
    themes = tables.Column(verbose_name=_("Themes"), empty_values=(), attrs={"td": {"class": "col-themes"}})
    current_status = tables.Column(
        verbose_name=_("Current status"), empty_values=(), attrs={"td": {"class": "col-status"}}
    )
    current_progress = tables.Column(
        verbose_name=_("Progress"), empty_values=(), attrs={"td": {"class": "col-progress"}}
    )
    last_update_on = tables.Column(
        verbose_name=_("Last update"), default=_("Never"), attrs={"td": {"class": "nowrap col-last-update"}}
    )

    class Meta:
        model = Commitment
        fields = ["instrument", "reference", "title", "themes", "current_status", "current_progress", "last_update_on"]
        template_name = "aitracker/includes/table.html"
        # On a phone the rows stack (site.css, .stack-table): the title, then status, progress and last update.
        attrs = {"class": "data-table stack-table", "id": "commitments-table"}
        order_by_field = "sort"
        page_field = "page"
        per_page = 25
        empty_text = _("No commitment matches these filters.")

    def __init__(self, data=None, *args, count=None, generation=None, as_of=None, **kwargs):
        if isinstance(data, QuerySet):
            data = PageByKeysData(data, count=count, generation=generation)
        # The day the rows are as of (?as_of=), or None for today's record: the rows' fragments are kept by it.
        self.as_of = as_of
        super().__init__(data, *args, **kwargs)

    def paginate(self, *args, per_page=None, **kwargs):
        # ?per_page= comes from the visitor: keep a page to a size the server renders quickly.
        per_page = max(1, min(per_page or self._meta.per_page, MAX_PER_PAGE))
        return super().paginate(*args, per_page=per_page, **kwargs)

    def body_html(self):
        """The rows of the current page, built in one pass. django-tables2's own rows go through its generic
        cell machinery (it inspects a render method's signature for every cell), which cost more than all
        the rest of the page; the cells are the same.

        A row's cells are the same on every page that shows the commitment (any filter, sort or page), so they
        are kept as a fragment per commitment (and as-of day): a page reads its rows' cells in one get_many
        and loads from the database only the commitments whose cells are not kept."""
        columns = [(column.name, column.attrs["td"].as_html(), column.default) for column in self.columns]
        data = self.paginated_rows.data
        if isinstance(data, KeyedRows):

            def render(keys):
                records = data.queryset.in_key_order_with_themes(keys)
                return {record.pk: self._cells(record, columns) for record in records}

            kept = cached_fragments(f"commitment-row:{self.as_of or ''}", data.keys, render)
            cells = [kept[pk] for pk in data.keys if pk in kept]
        else:
            records = [row.record for row in self.paginated_rows]
            for record in records:
                record.theme_list = record.themes.all()
            cells = [self._cells(record, columns) for record in records]
        rows = [
            format_html('<tr class="{}">{}</tr>', "odd" if number % 2 else "even", row_cells)
            for number, row_cells in enumerate(cells)
        ]
        return mark_safe("\n".join(rows))

    def _cells(self, record, columns):
        return format_html_join(
            "", "<td {}>{}</td>", ((attrs, self._cell(name, record, default)) for name, attrs, default in columns)
        )

    def _cell(self, name, record, default):
        if name == "reference":
            return self.render_reference(record)
        if name == "last_update_on":
            return self.render_last_update_on(getattr(record, "as_of_update_on", record.last_update_on)) or default
        return getattr(self, f"render_{name}")(record)

    def render_instrument(self, record):
        return format_html(
            '<a href="{}">{}</a>',
            slug_url("instrument_detail", record.instrument.slug),
            translated_html(record.instrument, "short_title"),
        )

    def render_reference(self, record):
        return translated_html(record, "reference")

    def render_title(self, record):
        return format_html(
            '<a href="{}">{}</a>', slug_url("commitment_detail", record.slug), translated_html(record, "title")
        )

    def render_themes(self, record):
        themes = record.theme_list  # the rows' themes, read with them (body_html)
        if not themes:
            return "—"
        links = ((slug_url("theme_detail", theme.slug), translated_html(theme, "name")) for theme in themes)
        return format_html_join(", ", '<a href="{}">{}</a>', links)

    # A table as of a day (aitracker/asof.py) carries each row's record of that day as `as_of_*` annotations.
    def render_current_status(self, record):
        return status_badge_html(getattr(record, "as_of_status", record.current_status))

    def render_current_progress(self, record):
        return progress_bar_html(getattr(record, "as_of_progress", record.current_progress))

    def render_last_update_on(self, value):
        return time_tag(value)

    def order_instrument(self, queryset, is_descending):
        return _ordered(queryset, is_descending, "instrument__short_title", "reference")

    def order_reference(self, queryset, is_descending):
        return _ordered(queryset, is_descending, "reference", "instrument__short_title")

    def order_title(self, queryset, is_descending):
        return _ordered(queryset, is_descending, "title")

    def order_themes(self, queryset, is_descending):
        # By the alphabetically first theme; commitments without a theme come last.
        return _ordered(queryset.with_first_theme_name(), is_descending, "first_theme_name", "title")

    def order_current_status(self, queryset, is_descending):
        # By meaning, from "not yet assessed" to "reversed", not alphabetically.
        return _ordered(asof.with_status_rank(queryset), is_descending, "status_rank", "title")

    def order_current_progress(self, queryset, is_descending):
        field = "as_of_progress" if asof.status_field(queryset) == "as_of_status" else "current_progress"
        return _ordered(queryset, is_descending, field, "title")

    def order_last_update_on(self, queryset, is_descending):
        field = "as_of_update_on" if asof.status_field(queryset) == "as_of_status" else "last_update_on"
        return _ordered(queryset, is_descending, field, "title")


# The parties list: one row per party, with its counts per status from its own PartyStatus rows.
class PartyPageData(TableQuerysetData):
    """A page of parties, then their counts per status for that page alone, in one grouped query."""

    def __getitem__(self, key):
        rows = super().__getitem__(key)
        if not isinstance(key, slice):
            return rows
        rows = list(rows)
        attach_status_counts(rows, as_of=getattr(self.table, "as_of", None))
        return rows


def attach_status_counts(parties, as_of=None):
    """Give each party `status_counts` ({status: n}, every status) and `bound_count`: today, from the kept counts
    (models.PartyStatusCount, a few rows per party: one query for the page). As of a day: the commitments of
    the instruments adopted by then, each party's status on them that day (aitracker/asof.py), counted for
    every party once per data generation (cache.cached_summary)."""
    counts = _status_counts_as_of(as_of) if as_of else PartyStatusCount.objects.by_party(p.pk for p in parties)
    for party in parties:
        party.status_counts = counts.get(party.pk, dict.fromkeys(STATUS_VALUES, 0))
        party.bound_count = sum(party.status_counts.values())


def _status_counts_as_of(day) -> dict:
    """{party pk: {status: n}} of every party as of the day, kept under the data generation: what the parties
    table shows as of a day, and sorts by."""
    return cached_summary(f"party-status-counts:{day}", lambda: _every_partys_status_counts_as_of(day))


def _every_partys_status_counts_as_of(day):
    binding = PartyStatus.objects.public().filter(commitment__instrument__adopted_on__lte=day).order_by()
    records = asof.records_as_of(binding.values("commitment"), day)
    counts = {}
    for party_id, commitment_id in binding.values_list("party", "commitment").iterator(chunk_size=2000):
        status = records.get(commitment_id, {}).get(party_id, asof.NOT_ASSESSED).status
        counts.setdefault(party_id, dict.fromkeys(STATUS_VALUES, 0))[status] += 1
    return counts


def _party_status_count(status=None):
    """A party's kept count in `status` (every status summed when None), for sorting by it."""
    rows = PartyStatusCount.objects.public().filter(party=OuterRef("pk"))
    if status:
        rows = rows.filter(status=status)
    return Coalesce(Subquery(rows.order_by().values("party").annotate(n=Sum("count")).values("n")), 0)


class StatusCountColumn(tables.Column):
    """How many commitments binding the party are in `status` (all of them when None); sorts by that count
    (PartyTable.order_by_count: today's kept counts, or those of the day the table is as of)."""

    def __init__(self, status=None, **kwargs):
        self.status = status
        accessor = f"status_counts__{status}" if status else "bound_count"
        super().__init__(accessor=accessor, attrs={"th": {"class": "num"}, "td": {"class": "num"}}, **kwargs)


def _by_count(queryset, key, is_descending):
    """By a count, ties in alphabetical order whichever way the count runs."""
    count = F(key).desc() if is_descending else F(key).asc()
    return queryset.order_by(count, "name", "pk"), True


class PartyTable(LeanTable):
    name = tables.Column(verbose_name=_("Party"), linkify=True)
    kind = tables.Column(verbose_name=_("Kind"))
    region = tables.Column(verbose_name=_("Region"), default="—")
    endorsed_count = tables.Column(
        verbose_name=_("Instruments endorsed"),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
    )
    bound_count = StatusCountColumn(verbose_name=_("Commitments binding it"))
    not_assessed = StatusCountColumn(Status.NOT_ASSESSED, verbose_name=Status.NOT_ASSESSED.label)
    not_started = StatusCountColumn(Status.NOT_STARTED, verbose_name=Status.NOT_STARTED.label)
    in_progress = StatusCountColumn(Status.IN_PROGRESS, verbose_name=Status.IN_PROGRESS.label)
    partly_achieved = StatusCountColumn(Status.PARTLY_ACHIEVED, verbose_name=Status.PARTLY_ACHIEVED.label)
    achieved = StatusCountColumn(Status.ACHIEVED, verbose_name=Status.ACHIEVED.label)
    stalled = StatusCountColumn(Status.STALLED, verbose_name=Status.STALLED.label)
    reversed = StatusCountColumn(Status.REVERSED, verbose_name=Status.REVERSED.label)

    class Meta:
        model = Party
        fields = ["name", "kind", "region", "endorsed_count", "bound_count", *STATUS_VALUES]
        sequence = ["name", "kind", "region", "endorsed_count", "bound_count", *STATUS_VALUES]
        template_name = "aitracker/includes/table.html"
        attrs = {"class": "data-table", "id": "parties-table"}
        order_by_field = "sort"
        page_field = "page"
        per_page = 50
        empty_text = _("No party matches these filters.")

    def __init__(self, data=None, *args, as_of=None, **kwargs):
        if isinstance(data, QuerySet):
            data = PartyPageData(data)
        # As of a day (?as_of=): the counts of that day.
        self.as_of = as_of
        super().__init__(data, *args, **kwargs)
        self.caption = _("Parties; select a column heading to sort by it")

    def paginate(self, *args, per_page=None, **kwargs):
        per_page = max(1, min(per_page or self._meta.per_page, MAX_PER_PAGE))
        return super().paginate(*args, per_page=per_page, **kwargs)

    def body_html(self):
        """The rows of the current page (includes/table.html shows the tables' rows this way), their cells built
        here: through django-tables2's generic cell machinery (`BoundRow.items()`, which inspects a render
        method's signature for every cell) the 600 cells of a page cost 60 ms. The same cells:
        tests/test_tables_lean.py compares them with `BoundRow.items()`."""
        columns = [(column.name, column.attrs["td"].as_html()) for column in self.columns]
        rows = []
        for number, row in enumerate(self.paginated_rows):
            cells = format_html_join(
                "", "<td {}>{}</td>", ((attrs, self._cell(name, row.record)) for name, attrs in columns)
            )
            rows.append(format_html('<tr class="{}">{}</tr>', "odd" if number % 2 else "even", cells))
        return mark_safe("\n".join(rows))

    def _cell(self, name, party):
        if name == "name":
            return format_html('<a href="{}">{}</a>', party.get_absolute_url(), self.render_name(party))
        if name == "kind":
            return party.get_kind_display()
        if name == "region":
            return party.get_region_display() if party.region else self.columns["region"].default
        if name == "endorsed_count":
            return party.endorsed_count
        if name == "bound_count":
            return party.bound_count
        return party.status_counts[name]

    def render_name(self, record):
        return translated_html(record, "name")  # a country's name from django-countries, in the page's language

    def order_name(self, queryset, is_descending):
        return _ordered(queryset, is_descending, "name")

    def order_kind(self, queryset, is_descending):
        return _ordered(queryset, is_descending, "kind", "name")

    def order_region(self, queryset, is_descending):
        # Global bodies, with no region, come last either way, as empty values do in the other columns.
        region = F("region").desc() if is_descending else F("region").asc()
        no_region = Case(When(region="", then=Value(1)), default=Value(0), output_field=IntegerField())
        return queryset.annotate(no_region=no_region).order_by("no_region", region, "name", "pk"), True

    def order_endorsed_count(self, queryset, is_descending):
        return _by_count(queryset, "endorsed_count", is_descending)

    def order_by_count(self, status, queryset, is_descending):
        """By the count the column shows: today's kept counts, or, as of a day, that day's (the same kept
        summary the cells read), so that the order is the one the cells show."""
        key = f"count_{status or 'bound'}"
        if not self.as_of:
            return _by_count(queryset.annotate(**{key: _party_status_count(status)}), key, is_descending)
        counts = _status_counts_as_of(self.as_of)
        whens = [
            When(pk=party_id, then=Value(statuses[status] if status else sum(statuses.values())))
            for party_id, statuses in counts.items()
        ]
        count = Case(*whens, default=Value(0), output_field=IntegerField()) if whens else Value(0)
        return _by_count(queryset.annotate(**{key: count}), key, is_descending)

    def order_bound_count(self, queryset, is_descending):
        return self.order_by_count(None, queryset, is_descending)

    def order_not_assessed(self, queryset, is_descending):
        return self.order_by_count(Status.NOT_ASSESSED, queryset, is_descending)

    def order_not_started(self, queryset, is_descending):
        return self.order_by_count(Status.NOT_STARTED, queryset, is_descending)

    def order_in_progress(self, queryset, is_descending):
        return self.order_by_count(Status.IN_PROGRESS, queryset, is_descending)

    def order_partly_achieved(self, queryset, is_descending):
        return self.order_by_count(Status.PARTLY_ACHIEVED, queryset, is_descending)

    def order_achieved(self, queryset, is_descending):
        return self.order_by_count(Status.ACHIEVED, queryset, is_descending)

    def order_stalled(self, queryset, is_descending):
        return self.order_by_count(Status.STALLED, queryset, is_descending)

    def order_reversed(self, queryset, is_descending):
        return self.order_by_count(Status.REVERSED, queryset, is_descending)


def with_endorsed_count(parties, as_of=None):
    """Annotate `endorsed_count`, the instruments each party signed, joined, sponsored or voted for (as of a
    day: by then, aitracker/asof.py): a subquery, evaluated for the rows shown, rather than a join that groups
    every party's endorsements."""
    endorsements = Endorsement.objects.public()
    if as_of:
        endorsements = asof.endorsements_as_of(endorsements, as_of)
    endorsed = (
        endorsements.filter(party=OuterRef("pk"), relation__in=Endorsement.Relation.endorsing())
        .order_by()
        .values("party")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return parties.annotate(endorsed_count=Coalesce(Subquery(endorsed), 0))
