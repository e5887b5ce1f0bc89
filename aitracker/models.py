"""The domain: instruments contain commitments, parties endorse instruments, analysts log dated and
sourced progress updates against commitments, editors publish them.

Reads are QuerySet methods (`Commitment.objects.public().for_theme(theme)`); writes that change what the
public sees go through `aitracker.services`.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator
from django.db import models
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from .links import slug_url

HTTP_URL = Q(url__startswith="http://") | Q(url__startswith="https://")

# Every free-text field has a limit, enforced by the model's validators so that forms, the admin, imports and
# the services all refuse a longer text with the same clear error. Generous for real texts, and small enough
# that rendering or storing one is always cheap.
SUMMARY_MAX_LENGTH = 20_000
TEXT_MAX_LENGTH = 10_000
NOTE_MAX_LENGTH = 2_000


def text_limit(length):
    return [MaxLengthValidator(length)]


class Confidence(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    REPORTED = "reported", _("Reported")
    UNCERTAIN = "uncertain", _("Uncertain")


class Status(models.TextChoices):
    """What a progress update asserts about a commitment; NOT_ASSESSED only ever describes a commitment."""

    NOT_ASSESSED = "not_assessed", _("Not yet assessed")
    NOT_STARTED = "not_started", _("Not started")
    IN_PROGRESS = "in_progress", _("In progress")
    PARTLY_ACHIEVED = "partly_achieved", _("Partly achieved")
    ACHIEVED = "achieved", _("Achieved")
    STALLED = "stalled", _("Stalled")
    REVERSED = "reversed", _("Reversed")


# Status.values builds a new list from the enum on every access: read it once for the per-row loops.
STATUS_VALUES = tuple(Status.values)

STATUS_DEFINITIONS = {
    Status.NOT_ASSESSED: _("No published, sourced update exists yet for this commitment."),
    Status.NOT_STARTED: _("The commitment has been made but no concrete step towards it has been found."),
    Status.IN_PROGRESS: _("Concrete steps have been taken (a body set up, money committed, a process launched)."),
    Status.PARTLY_ACHIEVED: _("Part of what was promised has been delivered; part remains outstanding."),
    Status.ACHIEVED: _("What was promised has been delivered, as far as the sources show."),
    Status.STALLED: _("Steps were taken but nothing has moved for a long time, or the process was suspended."),
    Status.REVERSED: _("A party has withdrawn from, or acted against, what it promised."),
}


class InstrumentQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def with_signatory_count(self):
        """Annotate `signatory_count` with a subquery: unlike a second Count join next to the commitments',
        it does not multiply the rows the database has to group."""
        signatories = (
            Endorsement.objects.filter(instrument=OuterRef("pk"), relation__in=Endorsement.Relation.endorsing())
            .order_by()
            .values("instrument")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(signatory_count=Coalesce(Subquery(signatories), 0))


class Instrument(models.Model):
    class Kind(models.TextChoices):
        SUMMIT_STATEMENT = "summit_statement", _("Summit statement")
        BILATERAL_DECLARATION = "bilateral_declaration", _("Bilateral declaration")
        UN_RESOLUTION = "un_resolution", _("UN resolution")
        COMPACT = "compact", _("Compact")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title = models.CharField(_("title"), max_length=300)
    short_title = models.CharField(_("short title"), max_length=80)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    adopted_on = models.DateField(_("adopted on"))
    adopted_on_confidence = models.CharField(
        _("confidence in the date"), max_length=16, choices=Confidence.choices, default=Confidence.CONFIRMED
    )
    place = models.CharField(_("place"), max_length=120, blank=True)
    summary = models.TextField(
        _("summary"), help_text=_("Our own summary, in plain words."), validators=text_limit(TEXT_MAX_LENGTH)
    )
    source_url = models.URLField(_("source address"), max_length=500)
    note = models.TextField(
        _("note"),
        blank=True,
        help_text=_("Further sources and caveats, e.g. doubts on the date."),
        validators=text_limit(TEXT_MAX_LENGTH),
    )

    history = HistoricalRecords()
    objects = InstrumentQuerySet.as_manager()

    class Meta:
        ordering = ["-adopted_on", "short_title"]
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")
        # The commitments table's default order starts with the instrument's date and slug.
        indexes = [models.Index(fields=["adopted_on", "slug"], name="instrument_adopted_slug")]
        constraints = [
            models.CheckConstraint(
                condition=Q(source_url__startswith="http://") | Q(source_url__startswith="https://"),
                name="instrument_source_url_http",
                violation_error_message=_("The source address must start with http:// or https://."),
            ),
        ]

    def __str__(self):
        return self.short_title

    def get_absolute_url(self):
        return slug_url("instrument_detail", self.slug)


class PartyQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def with_counts(self):
        return self.annotate(
            endorsed_count=Count(
                "endorsements",
                filter=Q(endorsements__relation__in=Endorsement.Relation.endorsing()),
                distinct=True,
            ),
        )


class Party(models.Model):
    class Kind(models.TextChoices):
        COUNTRY = "country", _("Country")
        REGIONAL_ORGANISATION = "regional_organisation", _("Regional organisation")
        INTERNATIONAL_ORGANISATION = "international_organisation", _("International organisation")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, default=Kind.COUNTRY)
    country = CountryField(_("country"), blank=True, help_text=_("ISO 3166-1 code; empty for organisations."))

    history = HistoricalRecords()
    objects = PartyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="country") & ~Q(country="") | ~Q(kind="country") & Q(country=""),
                name="party_country_code_iff_country",
                violation_error_message=_("A country needs its ISO country code; an organisation has none."),
            ),
            models.UniqueConstraint(
                fields=["country"],
                condition=~Q(country=""),
                name="party_unique_country",
                violation_error_message=_("A party for this country already exists."),
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return slug_url("party_detail", self.slug)


class EndorsementQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def endorsing(self):
        return self.filter(relation__in=Endorsement.Relation.endorsing())


class Endorsement(models.Model):
    class Relation(models.TextChoices):
        SIGNED = "signed", _("Signed")
        JOINED_LATER = "joined_later", _("Joined later")
        DID_NOT_SIGN = "did_not_sign", _("Did not sign")
        ATTENDED_WITHOUT_SIGNING = "attended_without_signing", _("Attended without signing")

        @classmethod
        def endorsing(cls):
            return [cls.SIGNED, cls.JOINED_LATER]

    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.PROTECT, related_name="endorsements"
    )
    party = models.ForeignKey(Party, verbose_name=_("party"), on_delete=models.PROTECT, related_name="endorsements")
    relation = models.CharField(_("relation"), max_length=32, choices=Relation.choices)
    date = models.DateField(_("date"), null=True, blank=True)
    source_url = models.URLField(_("source address"), max_length=500)
    confidence = models.CharField(_("confidence"), max_length=16, choices=Confidence.choices)
    note = models.TextField(_("note"), blank=True, validators=text_limit(NOTE_MAX_LENGTH))

    history = HistoricalRecords()
    objects = EndorsementQuerySet.as_manager()

    class Meta:
        ordering = ["instrument", "party__name"]
        verbose_name = _("endorsement")
        verbose_name_plural = _("endorsements")
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "party"],
                name="endorsement_unique_instrument_party",
                violation_error_message=_("This party already has a relation to this instrument."),
            ),
            models.CheckConstraint(
                condition=Q(source_url__startswith="http://") | Q(source_url__startswith="https://"),
                name="endorsement_source_url_http",
                violation_error_message=_("The source address must start with http:// or https://."),
            ),
        ]
        indexes = [models.Index(fields=["party", "relation"], name="endorsement_party_relation")]

    def __str__(self):
        return f"{self.party} — {self.get_relation_display()} — {self.instrument}"


class ThemeQuerySet(models.QuerySet):
    def public(self):
        return self.all()

    def with_counts(self):
        return self.annotate(
            commitment_count=Count("commitments", filter=Q(commitments__deleted_at__isnull=True), distinct=True)
        )


class Theme(models.Model):
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True, validators=text_limit(TEXT_MAX_LENGTH))

    history = HistoricalRecords()
    objects = ThemeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("theme")
        verbose_name_plural = _("themes")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return slug_url("theme_detail", self.slug)


def binds_party(party, via=""):
    """The condition "this commitment binds the party": it names the party, or it names nobody (binding every
    signatory) and belongs to an instrument the party signed or joined. `via` is the path from the queried
    model to the commitment ("" on commitments, "commitment__" on updates).

    The party's instruments and named commitments are lists the database reads once and then looks up by
    index, rather than tests to run against every commitment."""
    endorsed = Endorsement.objects.filter(party=party, relation__in=Endorsement.Relation.endorsing())
    naming_party = Commitment.parties.through.objects.filter(party=party)
    names_anyone = Commitment.parties.through.objects.filter(commitment=OuterRef(f"{via}pk"))
    return Q(**{f"{via}pk__in": naming_party.values("commitment_id")}) | (
        Q(**{f"{via}instrument__in": endorsed.values("instrument_id")}) & ~Exists(names_anyone)
    )


class CommitmentQuerySet(models.QuerySet):
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
        """Commitments that bind a party: those naming it, and those naming nobody (binding every
        signatory) in an instrument it signed or joined."""
        return self.filter(binds_party(party))

    def in_key_order(self, keys):
        """The rows of these primary keys, in the keys' order; a key whose row is gone is left out. For a page
        chosen by sorting only the keys (sorting whole rows, texts included, costs more as matches grow)."""
        rows = {row.pk: row for row in self.order_by().filter(pk__in=keys)}
        return [rows[pk] for pk in keys if pk in rows]

    def with_status(self, status):
        return self.filter(current_status=status)

    def stale(self, *, now=None):
        """No published update in the last 12 months (never assessed counts as stale)."""
        cutoff = (now or timezone.now()).date() - timedelta(days=settings.AITRACKER_STALE_AFTER_DAYS)
        return self.filter(Q(last_update_on__isnull=True) | Q(last_update_on__lt=cutoff))

    def with_computed_status(self):
        """Annotate the status that the published updates imply, to check the denormalised fields against."""
        latest = ProgressUpdate.objects.public().filter(commitment=OuterRef("pk")).latest_first()
        return self.annotate(
            computed_status=Subquery(latest.values("status")[:1]),
            computed_progress=Subquery(latest.values("progress")[:1]),
            computed_update_on=Subquery(latest.values("reported_on")[:1]),
        )

    def status_counts(self):
        """{status: count} over this queryset, every status present (zero where none)."""
        counts = dict(self.order_by().values_list("current_status").annotate(n=Count("pk")))
        return {status: counts.get(status, 0) for status in STATUS_VALUES}

    def status_counts_by(self, *fields):
        """{(values of fields): {status: count}} over this queryset in one query, every status present in each.

        Grouping by a many-to-many field (`themes__slug`) counts a commitment once per theme, and under
        (None, ...) when it has none.
        """
        rows = self.order_by().values_list(*fields, "current_status").annotate(n=Count("pk", distinct=True))
        breakdown = {}
        for *key, status, count in rows:
            breakdown.setdefault(tuple(key), dict.fromkeys(STATUS_VALUES, 0))[status] = count
        return breakdown

    def with_status_rank(self):
        """Annotate `status_rank`, the status's place in Status (not yet assessed first), to sort by meaning."""
        return self.annotate(
            status_rank=Case(
                *(When(current_status=status, then=Value(rank)) for rank, status in enumerate(Status.values)),
                output_field=IntegerField(),
            )
        )

    def with_first_theme_name(self):
        """Annotate `first_theme_name`, the alphabetically first theme's name, to sort by themes."""
        first = Theme.objects.filter(commitments=OuterRef("pk")).order_by("name").values("name")[:1]
        return self.annotate(first_theme_name=Subquery(first))


class Commitment(models.Model):
    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.PROTECT, related_name="commitments"
    )
    reference = models.CharField(_("reference"), max_length=40, help_text=_('The point or paragraph, e.g. "§4".'))
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    title = models.CharField(_("title"), max_length=200)
    text = models.TextField(
        _("text"), help_text=_("What was pledged, in our own plain words."), validators=text_limit(TEXT_MAX_LENGTH)
    )
    themes = models.ManyToManyField(Theme, verbose_name=_("themes"), related_name="commitments", blank=True)
    parties = models.ManyToManyField(
        Party,
        verbose_name=_("responsible parties"),
        related_name="commitments",
        blank=True,
        help_text=_("Leave empty when the commitment binds every signatory of the instrument."),
    )
    target_date = models.DateField(_("target date"), null=True, blank=True)
    source_url = models.URLField(_("source address"), max_length=500, help_text=_("Where the pledge's text is."))
    confidence = models.CharField(
        _("confidence"),
        max_length=16,
        choices=Confidence.choices,
        default=Confidence.CONFIRMED,
        help_text=_("How sure we are of the pledge's wording (secondary sources lower it)."),
    )
    # Denormalised from the latest published update; only services.commitment_refresh_status writes them.
    current_status = models.CharField(
        _("current status"), max_length=20, choices=Status.choices, default=Status.NOT_ASSESSED, editable=False
    )
    current_progress = models.PositiveSmallIntegerField(
        _("current progress"), null=True, blank=True, editable=False, validators=[MaxValueValidator(100)]
    )
    last_update_on = models.DateField(_("last update"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, editable=False)

    history = HistoricalRecords(m2m_fields=[themes, parties])
    objects = CommitmentQuerySet.as_manager()

    class Meta:
        ordering = ["instrument__adopted_on", "instrument__slug", "slug"]
        verbose_name = _("commitment")
        verbose_name_plural = _("commitments")
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "reference"],
                name="commitment_unique_reference",
                violation_error_message=_("This instrument already has a commitment with this reference."),
            ),
            models.CheckConstraint(
                condition=Q(source_url__startswith="http://") | Q(source_url__startswith="https://"),
                name="commitment_source_url_http",
                violation_error_message=_("The source address must start with http:// or https://."),
            ),
            models.CheckConstraint(
                condition=Q(current_progress__isnull=True) | Q(current_progress__gte=0, current_progress__lte=100),
                name="commitment_progress_0_100",
                violation_error_message=_("Progress must be between 0 and 100."),
            ),
        ]
        indexes = [
            models.Index(fields=["current_status", "instrument"], name="commitment_status"),
            models.Index(fields=["last_update_on"], name="commitment_last_update"),
            models.Index(fields=["current_progress"], name="commitment_progress"),
            models.Index(fields=["reference"], name="commitment_reference"),
            models.Index(fields=["title"], name="commitment_title"),
            # The table's default order (instrument by date, then slug): walked instrument by instrument.
            models.Index(fields=["instrument", "slug"], name="commitment_instrument_slug"),
            # Filtered by status, newest update first (migration 0006 creates it, with "empty last" on
            # PostgreSQL, where a descending index would otherwise put them first).
            models.Index(
                fields=["current_status", "-last_update_on", "-title", "id"],
                condition=Q(deleted_at__isnull=True),
                name="commitment_public_status_last",
            ),
        ]

    def __str__(self):
        return f"{self.instrument.short_title} {self.reference}: {self.title}"

    def get_absolute_url(self):
        return slug_url("commitment_detail", self.slug)

    @property
    def status_definition(self):
        return STATUS_DEFINITIONS[self.current_status]


class ProgressUpdateQuerySet(models.QuerySet):
    def public(self):
        return self.filter(
            state=ProgressUpdate.State.PUBLISHED, deleted_at__isnull=True, commitment__deleted_at__isnull=True
        )

    def latest_first(self):
        return self.order_by("-reported_on", "-published_at", "-pk")

    def older_than(self, *, reported_on, published_at, pk):
        """Published updates after the given one in latest_first() order: the next page of a long list. The
        bound on the date lets the database start from that point of its latest-first index, so that a page
        deep in the list costs what the first one does (an OFFSET walks every newer row first)."""
        return self.filter(
            Q(reported_on__lt=reported_on)
            | Q(reported_on=reported_on, published_at__lt=published_at)
            | Q(reported_on=reported_on, published_at=published_at, pk__lt=pk),
            reported_on__lte=reported_on,
        )

    def newer_than(self, *, reported_on, published_at, pk):
        """Published updates before the given one in latest_first() order, the nearest first."""
        return self.filter(
            Q(reported_on__gt=reported_on)
            | Q(reported_on=reported_on, published_at__gt=published_at)
            | Q(reported_on=reported_on, published_at=published_at, pk__gt=pk),
            reported_on__gte=reported_on,
        ).order_by("reported_on", "published_at", "pk")

    def with_previous_status(self):
        """Annotate `previous_status`: the status of the commitment's public update just before this one.

        A correlated subquery, one index lookup for each update shown, rather than a window over the whole
        set: a window numbers every published update of the site to show the latest eight.
        """
        earlier = ProgressUpdate.objects.public().filter(
            Q(reported_on__lt=OuterRef("reported_on"))
            | Q(reported_on=OuterRef("reported_on"), published_at__lt=OuterRef("published_at"))
            | Q(reported_on=OuterRef("reported_on"), published_at=OuterRef("published_at"), pk__lt=OuterRef("pk")),
            commitment=OuterRef("commitment"),
        )
        return self.annotate(previous_status=Subquery(earlier.latest_first().values("status")[:1]))

    def with_related(self):
        return self.select_related("commitment__instrument", "party").prefetch_related("sources")

    def for_party(self, party):
        """Updates that name the party as acting, or on a commitment that binds it. The rule is tested on each
        update's own commitment row, so the latest few are found by walking the latest-first index, rather
        than by collecting every update of every commitment binding the party (or, on PostgreSQL, hashing
        every commitment binding it first)."""
        return self.filter(Q(party=party) | binds_party(party, via="commitment__"))

    def live(self):
        """Not soft-deleted, nor on a soft-deleted commitment: what staff work with."""
        return self.filter(deleted_at__isnull=True, commitment__deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)

    def with_staff_related(self):
        return self.select_related("commitment__instrument", "party", "author", "reviewer").prefetch_related("sources")

    def awaiting_review(self):
        return self.live().filter(state=ProgressUpdate.State.SUBMITTED)

    def by_author(self, user):
        return self.live().filter(author=user)


class ProgressUpdate(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted for review")
        RETURNED = "returned", _("Returned to the analyst")
        PUBLISHED = "published", _("Published")

    commitment = models.ForeignKey(
        Commitment, verbose_name=_("commitment"), on_delete=models.PROTECT, related_name="updates"
    )
    reported_on = models.DateField(_("date of the event"))
    status = models.CharField(
        _("status"), max_length=20, choices=[c for c in Status.choices if c[0] != Status.NOT_ASSESSED]
    )
    progress = models.PositiveSmallIntegerField(
        _("progress (%)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_("Optional, from 0 to 100."),
    )
    summary = models.TextField(
        _("summary"),
        help_text=_("Markdown. What happened, in plain words."),
        validators=text_limit(SUMMARY_MAX_LENGTH),
    )
    # The summary rendered and sanitised once, by the services, when it is saved (aitracker/rendering.py).
    summary_html = models.TextField(_("summary as HTML"), blank=True, editable=False)
    confidence = models.CharField(
        _("confidence"),
        max_length=16,
        choices=Confidence.choices,
        default=Confidence.CONFIRMED,
        help_text=_("Uncertain when the sources disagree or only a secondary source reports it."),
    )
    party = models.ForeignKey(
        Party,
        verbose_name=_("acting party"),
        on_delete=models.PROTECT,
        related_name="updates",
        null=True,
        blank=True,
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.PROTECT,
        related_name="progress_updates",
        null=True,
        blank=True,
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        on_delete=models.PROTECT,
        related_name="reviewed_updates",
        null=True,
        blank=True,
    )
    review_note = models.TextField(_("review note"), blank=True, validators=text_limit(NOTE_MAX_LENGTH))
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    corrected_at = models.DateTimeField(_("corrected at"), null=True, blank=True)
    correction_note = models.TextField(_("correction note"), blank=True, validators=text_limit(NOTE_MAX_LENGTH))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, editable=False)

    # The stored HTML is derived from the summary: a restore renders it again.
    history = HistoricalRecords(excluded_fields=["summary_html"])
    objects = ProgressUpdateQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_on", "-published_at", "-pk"]
        get_latest_by = ["reported_on", "published_at"]
        verbose_name = _("progress update")
        verbose_name_plural = _("progress updates")
        permissions = [("publish_progressupdate", _("Can publish, return and correct progress updates"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__isnull=True) | Q(progress__gte=0, progress__lte=100),
                name="update_progress_0_100",
                violation_error_message=_("Progress must be between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=~Q(state="published") | Q(published_at__isnull=False),
                name="update_published_has_time",
                violation_error_message=_("A published update needs its publication time."),
            ),
            models.CheckConstraint(
                condition=Q(state="published") | Q(published_at__isnull=True),
                name="update_unpublished_has_no_time",
                violation_error_message=_("Only a published update has a publication time."),
            ),
            models.CheckConstraint(
                condition=~Q(status="not_assessed") & ~Q(status=""),
                name="update_asserts_a_status",
                violation_error_message=_("An update must assert a status."),
            ),
            models.CheckConstraint(
                condition=~Q(summary=""),
                name="update_has_summary",
                violation_error_message=_("An update needs a summary."),
            ),
        ]
        indexes = [
            # Both in the order of latest_first(), so that "the latest N" and a commitment's timeline are read
            # from the index in order, without sorting every published update.
            models.Index(
                fields=["commitment", "state", "-reported_on", "-published_at", "-id"],
                name="update_commitment_timeline",
            ),
            models.Index(fields=["state", "-published_at"], name="update_state_published"),
            models.Index(fields=["state", "-reported_on", "-published_at", "-id"], name="update_state_reported"),
            models.Index(fields=["party", "state"], name="update_party_state"),
            models.Index(fields=["author", "state"], name="update_author_state"),
        ]

    def __str__(self):
        commitment = self.commitment
        return (
            f"{self.reported_on:%Y-%m-%d} · {self.get_status_display()} · "
            f"{commitment.instrument.short_title} {commitment.reference}"
        )

    def get_absolute_url(self):
        return f"{self.commitment.get_absolute_url()}#update-{self.pk}"

    @property
    def is_public(self):
        return self.state == self.State.PUBLISHED and self.deleted_at is None

    def publication_effect(self):
        """The commitment's current (status, progress) and what they would be once this update is published.

        A published update sets the current status when its event is the latest (a tie goes to the later
        publication, i.e. this one); an update about an older event only joins the timeline.
        """
        commitment = self.commitment
        current = (Status(commitment.current_status), commitment.current_progress)
        latest_on = commitment.last_update_on
        becomes_current = latest_on is None or self.reported_on >= latest_on
        proposed = (Status(self.status), self.progress) if becomes_current else current
        return {"current": current, "proposed": proposed, "changes": current != proposed}


class SourceQuerySet(models.QuerySet):
    def public(self):
        return self.filter(
            update__in=ProgressUpdate.objects.public(),
        )


class Source(models.Model):
    update = models.ForeignKey(
        ProgressUpdate, verbose_name=_("progress update"), on_delete=models.CASCADE, related_name="sources"
    )
    url = models.URLField(_("address"), max_length=500)
    title = models.CharField(_("title"), max_length=300)
    publisher = models.CharField(_("publisher"), max_length=200, blank=True)
    published_on = models.DateField(_("published on"), null=True, blank=True)
    archived_url = models.URLField(_("archived copy"), max_length=500, blank=True)

    history = HistoricalRecords()
    objects = SourceQuerySet.as_manager()

    class Meta:
        ordering = ["update", "pk"]
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        constraints = [
            models.CheckConstraint(
                condition=HTTP_URL,
                name="source_url_http",
                violation_error_message=_("The address must start with http:// or https://."),
            ),
            models.CheckConstraint(
                condition=Q(archived_url="")
                | Q(archived_url__startswith="http://")
                | Q(archived_url__startswith="https://"),
                name="source_archived_url_http",
                violation_error_message=_("The archived copy's address must start with http:// or https://."),
            ),
        ]

    def __str__(self):
        return self.title or self.url
