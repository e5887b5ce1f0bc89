"""Every read of the domain: chainable QuerySet methods named for what they mean, `public()` first on every
model, so that nothing unpublished can reach a public page, feed or download
(`Commitment.objects.public().for_theme(theme)`). The models (aitracker/models.py) use them as their managers.
"""

import functools
import operator
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

# The models module imports this one first; its classes are looked up when a query runs, never at import.
from . import i18n
from . import models as domain


class InstrumentQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def with_signatory_count(self):
        """Annotate `signatory_count` with a subquery: unlike a second Count join next to the commitments',
        it does not multiply the rows the database has to group."""
        signatories = (
            domain.Endorsement.objects.filter(
                instrument=OuterRef("pk"), relation__in=domain.Endorsement.Relation.endorsing()
            )
            .order_by()
            .values("instrument")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(signatory_count=Coalesce(Subquery(signatories), 0))


class OfficialTextQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def page_language_first(self):
        """The official text in the active language first, then the others in their usual order."""
        from django.utils.translation import get_language

        first = models.Case(models.When(language=get_language(), then=0), default=1)
        return self.order_by(first, "language")


class PartyQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def with_counts(self):
        return self.annotate(
            endorsed_count=Count(
                "endorsements",
                filter=Q(endorsements__relation__in=domain.Endorsement.Relation.endorsing()),
                distinct=True,
            ),
        )


class EndorsementQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def endorsing(self):
        return self.filter(relation__in=domain.Endorsement.Relation.endorsing())


class ThemeQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def with_counts(self):
        return self.annotate(
            commitment_count=Count("commitments", filter=Q(commitments__deleted_at__isnull=True), distinct=True)
        )


def stale_cutoff():
    """The one staleness rule: a record not reviewed since this date is stale. Reviewed means a published
    assessment (on the day it was published) or a published check (on the day searched): see `last_reviewed_on`."""
    return timezone.localdate() - timedelta(days=settings.AITRACKER_STALE_AFTER_DAYS)


def stale_after_days() -> int:
    return settings.AITRACKER_STALE_AFTER_DAYS


def linked_lists(model, relation: str, keys) -> dict:
    """{key: [the `model` rows linked to it through the many-to-many `relation`]} for every key, in one query:
    the one a prefetch of them makes, so in its order (the model's, in the page's language, as modeltranslation
    rewrites it), without the related manager and queryset a prefetch builds for every row it fills."""
    lists = {key: [] for key in keys}
    for row in model.objects.filter(**{f"{relation}__in": list(lists)}).annotate(linked_key=F(f"{relation}__id")):
        lists[row.linked_key].append(row)
    return lists


class ReviewedQuerySetMixin:
    def stale(self):
        """Not reviewed since stale_cutoff() (never reviewed counts as stale)."""
        return self.filter(Q(last_reviewed_on__isnull=True) | Q(last_reviewed_on__lt=stale_cutoff()))

    def fresh(self):
        return self.filter(last_reviewed_on__gte=stale_cutoff())


class CommitmentQuerySet(ReviewedQuerySetMixin, models.QuerySet):
    def public(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)

    def with_related(self):
        return self.select_related("instrument").prefetch_related("themes")

    def for_instrument(self, instrument):
        return self.filter(instrument=instrument)

    def for_theme(self, theme):
        return self.filter(themes=theme)

    def for_party(self, party):
        """Commitments that bind a party (the rule is services.bound_party_ids), read from their kept PartyStatus rows:
        one index lookup whatever the number of instruments and commitments."""
        return self.filter(party_statuses__party=party)

    def in_key_order(self, keys):
        """The rows of these primary keys, in the keys' order; a key whose row is gone is left out. For a page
        chosen by sorting only the keys (sorting whole rows, texts included, costs more as matches grow)."""
        rows = {row.pk: row for row in self.order_by().filter(pk__in=keys)}
        return [rows[pk] for pk in keys if pk in rows]

    def in_key_order_with_themes(self, keys):
        """in_key_order(), without the themes' prefetch, each row with `theme_list`: its themes, read in one
        query, the one a prefetch makes (so in its order: Theme's, in the page's language). A prefetch also
        builds a related manager and a queryset for every row: more than half the cost of a page of rows."""
        rows = self.prefetch_related(None).in_key_order(keys)
        themes = linked_lists(domain.Theme, "commitments", [row.pk for row in rows])
        for row in rows:
            row.theme_list = themes[row.pk]
        return rows

    def with_status(self, status):
        return self.filter(current_status=status)

    def with_computed_status(self):
        """Annotate the status that the published updates imply, to check the denormalised fields against."""
        latest = (
            domain.ProgressUpdate.objects.public()
            .assessments()
            .filter(commitment=OuterRef("pk"), parties__isnull=True)
            .latest_first()
        )
        return self.annotate(
            computed_status=Subquery(latest.values("status")[:1]),
            computed_progress=Subquery(latest.values("progress")[:1]),
            computed_update_on=Subquery(latest.values("reported_on")[:1]),
        )

    def published_update_count(self) -> int:
        """How many public updates these commitments have: `ProgressUpdate.objects.public()` counted from the
        commitments' side, which SQLite reads as a join (0.13 s at 10,000 commitments) where it would read the
        updates' own public() check row by row (0.7 s)."""
        update = domain.ProgressUpdate
        published = Q(updates__state=update.State.PUBLISHED, updates__deleted_at__isnull=True)
        return self.public().aggregate(n=Count("updates", filter=published))["n"]

    def status_counts(self):
        """{status: count} over this queryset, every status present (zero where none)."""
        counts = dict(self.order_by().values_list("current_status").annotate(n=Count("pk")))
        return {status: counts.get(status, 0) for status in domain.STATUS_VALUES}

    def with_status_rank(self):
        """Annotate `status_rank`, the status's place in Status (not yet assessed first), to sort by meaning."""
        return self.annotate(
            status_rank=Case(
                *(When(current_status=status, then=Value(rank)) for rank, status in enumerate(domain.Status.values)),
                output_field=IntegerField(),
            )
        )

    def with_first_theme_name(self):
        """Annotate `first_theme_name`, the alphabetically first theme's name, to sort by themes."""
        # The name as the page shows it (the page's language, or English), written out: modeltranslation turns
        # values("name") into two columns (the language's and English), which a subquery cannot return.
        first = (
            domain.Theme.objects.filter(commitments=OuterRef("pk"))
            .annotate(shown_name=i18n.translated_value(domain.Theme, "name"))
            .order_by("shown_name")
            .values("shown_name")[:1]
        )
        return self.annotate(first_theme_name=Subquery(first, output_field=CharField()))


def reverse_order(order) -> tuple:
    """The same order backwards: ("-a", "b") becomes ("a", "-b")."""
    return tuple(field[1:] if field.startswith("-") else f"-{field}" for field in order)


class ProgressUpdateQuerySet(models.QuerySet):
    def public(self):
        """Published, not deleted, of a commitment that is not deleted.

        The commitment is checked with EXISTS, a lookup of its primary key for each update read, rather than a
        join: with a join, SQLite reads "the latest N published updates" by scanning every commitment (to build
        a Bloom filter or to drive the join, then sorting their updates) instead of walking the updates' index
        in order and stopping at N: at 10,000 commitments, 156 ms for the latest publication instead of 0.07 ms,
        ten times that at 100,000 (bench/README.md)."""
        live_commitment = domain.Commitment.objects.filter(pk=OuterRef("commitment_id"), deleted_at__isnull=True)
        return self.filter(
            Exists(live_commitment), state=domain.ProgressUpdate.State.PUBLISHED, deleted_at__isnull=True
        )

    def latest_first(self):
        return self.order_by("-reported_on", "-published_at", "-pk")

    def after(self, key: dict, order) -> "ProgressUpdateQuerySet":
        """The updates strictly after the one whose values are `key` in `order` (field names, "-" for
        descending, ending with a unique key), nearest first: the next page of a long list. The bound on the
        first field lets the database start from that point of its index, so that a page deep in the list
        costs what the first one does (an OFFSET walks every row before it)."""
        clauses, equal = [], {}
        for field in order:
            name = field.lstrip("-")
            clauses.append(Q(**equal, **{f"{name}__{'lt' if field.startswith('-') else 'gt'}": key[name]}))
            equal[name] = key[name]
        first = order[0]
        bound = {f"{first.lstrip('-')}__{'lte' if first.startswith('-') else 'gte'}": key[first.lstrip("-")]}
        return self.filter(functools.reduce(operator.or_, clauses), **bound).order_by(*order)

    def before(self, key: dict, order) -> "ProgressUpdateQuerySet":
        """The updates strictly before the one whose values are `key` in `order`, the nearest first."""
        return self.after(key, reverse_order(order))

    def with_previous_status(self):
        """Annotate `previous_status`: the overall status (from the assessments naming no party) just before
        this update, for showing a change of the overall status.

        A correlated subquery, one index lookup for each update shown, rather than a window over the whole
        set: a window numbers every published update of the site to show the latest eight.
        """
        earlier = (
            domain.ProgressUpdate.objects.public()
            .assessments()
            .overall()
            .filter(
                Q(reported_on__lt=OuterRef("reported_on"))
                | Q(reported_on=OuterRef("reported_on"), published_at__lt=OuterRef("published_at"))
                | Q(reported_on=OuterRef("reported_on"), published_at=OuterRef("published_at"), pk__lt=OuterRef("pk")),
                commitment=OuterRef("commitment"),
            )
        )
        return self.annotate(previous_status=Subquery(earlier.latest_first().values("status")[:1]))

    def with_related(self):
        return self.select_related("commitment__instrument").prefetch_related("sources", "parties")

    def assessments(self):
        return self.filter(kind=domain.ProgressUpdate.Kind.ASSESSMENT)

    def checks(self):
        return self.filter(kind=domain.ProgressUpdate.Kind.CHECK)

    def for_party(self, party):
        """The party's own updates: those naming it as acting (or, for a check, as the party looked at)."""
        return self.filter(parties=party)

    def overall(self):
        """Updates about the commitment as a whole: they name no party."""
        return self.filter(parties__isnull=True)

    def live(self):
        """Not soft-deleted, nor on a soft-deleted commitment: what staff work with."""
        return self.filter(deleted_at__isnull=True, commitment__deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)

    def with_staff_related(self):
        return self.select_related("commitment__instrument", "author", "reviewer").prefetch_related(
            "sources", "parties"
        )

    def awaiting_review(self):
        return self.live().filter(state=domain.ProgressUpdate.State.SUBMITTED)

    def by_author(self, user):
        return self.live().filter(author=user)


class SourceQuerySet(models.QuerySet):
    def public(self):
        return self.filter(
            update__in=domain.ProgressUpdate.objects.public(),
        )

    def link_problems(self):
        """Published sources whose last check failed or was forbidden, the most failures first."""
        return (
            self.public()
            .filter(link_status__in=[domain.LinkStatus.BROKEN, domain.LinkStatus.BLOCKED])
            .order_by("-link_failures", "-link_checked_at", "pk")
        )


class SuggestionQuerySet(models.QuerySet):
    """Suggestions are never public: there is no public() here, and only staff pages read them."""

    def waiting(self):
        return self.filter(state=domain.Suggestion.State.NEW)


class CommitmentStatusCountQuerySet(models.QuerySet):
    """The kept counts of public commitments by status: overall (models.StatusCount), by instrument
    (InstrumentStatusCount) and by theme (ThemeStatusCount)."""

    def public(self):
        """Every row counts public commitments only."""
        return self.all()

    def counts(self) -> dict:
        """{status: count}, every status present (zero where none): of StatusCount's rows, or summed."""
        counts = dict.fromkeys(domain.STATUS_VALUES, 0)
        for status, n in self.public().order_by().values_list("status").annotate(n=Sum("count")):
            counts[status] = n
        return counts

    def by(self, field: str, pks=None) -> dict:
        """{(pk,): {status: count}, every status present} by `field` ("instrument" or "theme") for these pks
        (all when None), in one query. A key with no public commitment is left out."""
        rows = self.public()
        if pks is not None:
            rows = rows.filter(**{f"{field}__in": list(pks)})
        counts = {}
        for pk, status, n in rows.order_by().values_list(field, "status", "count"):
            if n:
                counts.setdefault((pk,), dict.fromkeys(domain.STATUS_VALUES, 0))[status] = n
        return counts


class PartyStatusCountQuerySet(models.QuerySet):
    def public(self):
        """Every row counts public commitments only (models.PartyStatusCount)."""
        return self.all()

    def by_party(self, party_ids=None) -> dict:
        """{party pk: {status: count}, every status present} for these parties (all when None) in one query; a
        party with no commitment binding it is left out."""
        rows = self.public()
        if party_ids is not None:
            rows = rows.filter(party__in=list(party_ids))
        counts = {}
        for party_id, status, n in rows.order_by().values_list("party", "status", "count"):
            counts.setdefault(party_id, dict.fromkeys(domain.STATUS_VALUES, 0))[status] = n
        return {party_id: statuses for party_id, statuses in counts.items() if any(statuses.values())}


class PartyStatusQuerySet(ReviewedQuerySetMixin, models.QuerySet):
    def public(self):
        return self.filter(commitment__deleted_at__isnull=True)

    def status_counts(self):
        """{status: count} over these rows, every status present (zero where none)."""
        counts = dict(self.order_by().values_list("status").annotate(n=Count("pk")))
        return {status: counts.get(status, 0) for status in domain.STATUS_VALUES}
