"""The domain: instruments contain commitments, parties endorse instruments, analysts log dated and
sourced progress updates against commitments, editors publish them.

Reads are QuerySet methods (`Commitment.objects.public().for_theme(theme)`); writes that change what the
public sees go through `aitracker.services`.
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator
from django.db import models
from django.db.models import (
    Q,
)
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from .links import slug_url
from .querysets import (
    CommitmentQuerySet,
    CommitmentStatusCountQuerySet,
    EndorsementQuerySet,
    InstrumentQuerySet,
    OfficialTextQuerySet,
    PartyQuerySet,
    PartyStatusCountQuerySet,
    PartyStatusQuerySet,
    ProgressUpdateQuerySet,
    SourceQuerySet,
    SuggestionQuerySet,
    ThemeQuerySet,
    stale_cutoff,
)

HTTP_URL = Q(url__startswith="http://") | Q(url__startswith="https://")

# Every free-text field has a limit, enforced by the model's validators so that forms, the admin, imports and
# the services all refuse a longer text with the same clear error. Generous for real texts, and small enough
# that rendering or storing one is always cheap.
SUMMARY_MAX_LENGTH = 20_000
TEXT_MAX_LENGTH = 10_000
NOTE_MAX_LENGTH = 2_000
SUGGESTION_TEXT_MAX_LENGTH = 5_000
SUGGESTION_MAX_SOURCES = 5


def text_limit(length):
    return [MaxLengthValidator(length)]


def translation_columns(*fields) -> list[str]:
    """The per-language columns django-modeltranslation adds to these fields (aitracker/translation.py). The
    history records a translated field's original column, which the services keep equal to its English text
    (aitracker.i18n.sync_original_columns); the translations are not part of it."""
    return [f"{field}_{code.replace('-', '_')}" for field in fields for code, _name in settings.LANGUAGES]


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


class Adoption(models.TextChoices):
    """How an instrument was adopted, which decides whom it binds."""

    SIGNATURE = "signature", _("By signature (binds those who signed or joined later)")
    WITHOUT_VOTE = "without_vote", _("Without a vote (binds every UN member state)")
    RECORDED_VOTE = "recorded_vote", _("By recorded vote (binds those voting yes)")


class Instrument(models.Model):
    Adoption = Adoption

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
    adoption = models.CharField(
        _("how it was adopted"),
        max_length=16,
        choices=Adoption.choices,
        default=Adoption.SIGNATURE,
        help_text=_("Says whom the instrument binds: its signatories, every UN member state, or those voting yes."),
    )

    history = HistoricalRecords(excluded_fields=translation_columns("title", "short_title", "summary", "note", "place"))
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


class OfficialText(models.Model):
    """Where an instrument's official text is published in one language (UN documents have six)."""

    class Language(models.TextChoices):
        ARABIC = "ar", _("Arabic")
        CHINESE = "zh-hans", _("Chinese")
        ENGLISH = "en", _("English")
        FRENCH = "fr", _("French")
        RUSSIAN = "ru", _("Russian")
        SPANISH = "es", _("Spanish")

    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.PROTECT, related_name="official_texts"
    )
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    url = models.URLField(_("address"), max_length=500)
    note = models.CharField(_("note"), max_length=300, blank=True, help_text=_("E.g. who publishes this copy."))

    history = HistoricalRecords(excluded_fields=translation_columns("note"))
    objects = OfficialTextQuerySet.as_manager()

    class Meta:
        ordering = ["instrument", "language"]
        verbose_name = _("official text")
        verbose_name_plural = _("official texts")
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "language"],
                name="official_text_unique_language",
                violation_error_message=_("This instrument already has an official text in this language."),
            ),
            models.CheckConstraint(
                condition=HTTP_URL,
                name="official_text_url_http",
                violation_error_message=_("The address must start with http:// or https://."),
            ),
        ]

    def __str__(self):
        return f"{self.instrument} ({self.get_language_display()})"


class Party(models.Model):
    class Kind(models.TextChoices):
        COUNTRY = "country", _("Country")
        REGIONAL_ORGANISATION = "regional_organisation", _("Regional organisation")
        INTERNATIONAL_ORGANISATION = "international_organisation", _("International organisation")

    class Region(models.TextChoices):
        AFRICA = "africa", _("Africa")
        AMERICAS = "americas", _("Americas")
        ASIA = "asia", _("Asia")
        EUROPE = "europe", _("Europe")
        OCEANIA = "oceania", _("Oceania")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, default=Kind.COUNTRY)
    country = CountryField(_("country"), blank=True, help_text=_("ISO 3166-1 code; empty for organisations."))
    region = models.CharField(
        _("region"), max_length=16, choices=Region.choices, blank=True, help_text=_("Empty for global bodies.")
    )
    un_member = models.BooleanField(
        _("UN member state"),
        default=False,
        help_text=_("Bound by every UN General Assembly resolution adopted without a vote."),
    )

    history = HistoricalRecords(excluded_fields=translation_columns("name"))
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
        from .i18n import translated_text

        return translated_text(self, "name")  # a country's in the page's language (django-countries)

    def get_absolute_url(self):
        return slug_url("party_detail", self.slug)


class Endorsement(models.Model):
    class Relation(models.TextChoices):
        SIGNED = "signed", _("Signed")
        JOINED_LATER = "joined_later", _("Joined later")
        DID_NOT_SIGN = "did_not_sign", _("Did not sign")
        ATTENDED_WITHOUT_SIGNING = "attended_without_signing", _("Attended without signing")
        LEAD_SPONSOR = "lead_sponsor", _("Lead sponsor")
        CO_SPONSOR = "co_sponsor", _("Co-sponsor")
        VOTED_YES = "voted_yes", _("Voted yes")
        VOTED_NO = "voted_no", _("Voted no")
        ABSTAINED = "abstained", _("Abstained")

        @classmethod
        def endorsing(cls):
            """The relations that bind the party to what the instrument promises."""
            return [cls.SIGNED, cls.JOINED_LATER, cls.LEAD_SPONSOR, cls.CO_SPONSOR, cls.VOTED_YES]

    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.PROTECT, related_name="endorsements"
    )
    party = models.ForeignKey(Party, verbose_name=_("party"), on_delete=models.PROTECT, related_name="endorsements")
    relation = models.CharField(_("relation"), max_length=32, choices=Relation.choices)
    date = models.DateField(_("date"), null=True, blank=True)
    source_url = models.URLField(_("source address"), max_length=500)
    confidence = models.CharField(_("confidence"), max_length=16, choices=Confidence.choices)
    note = models.TextField(_("note"), blank=True, validators=text_limit(NOTE_MAX_LENGTH))

    history = HistoricalRecords(excluded_fields=translation_columns("note"))
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


class Theme(models.Model):
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True, validators=text_limit(TEXT_MAX_LENGTH))

    history = HistoricalRecords(excluded_fields=translation_columns("name", "description"))
    objects = ThemeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("theme")
        verbose_name_plural = _("themes")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return slug_url("theme_detail", self.slug)


class ReviewedMixin:
    """For a model with `last_reviewed_on`: the same rule as ReviewedQuerySetMixin.stale(), once loaded."""

    @property
    def is_stale(self) -> bool:
        return self.last_reviewed_on is None or self.last_reviewed_on < stale_cutoff()


class Commitment(ReviewedMixin, models.Model):
    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.PROTECT, related_name="commitments"
    )
    reference = models.CharField(_("reference"), max_length=60, help_text=_('The point or paragraph, e.g. "§4".'))
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
    last_reviewed_on = models.DateField(_("last reviewed"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, editable=False)

    history = HistoricalRecords(
        m2m_fields=[themes, parties], excluded_fields=translation_columns("reference", "title", "text")
    )
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
            # Public commitments only (every public read says so), and covering the counts by status and by
            # instrument and status: a scan of the index alone (122 ms -> 9 ms at 100,000 on SQLite).
            models.Index(
                fields=["current_status", "instrument"],
                name="commitment_public_status",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(fields=["last_update_on"], name="commitment_last_update"),
            # Public commitments only, covering the count of stale ones (49 ms -> a few at 100,000 on SQLite).
            models.Index(
                fields=["last_reviewed_on"],
                name="commitment_public_reviewed",
                condition=Q(deleted_at__isnull=True),
            ),
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


class ProgressUpdate(models.Model):
    class Kind(models.TextChoices):
        ASSESSMENT = "assessment", _("Assessment")
        CHECK = "check", _("Check: searched, nothing new")

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted for review")
        RETURNED = "returned", _("Returned to the analyst")
        PUBLISHED = "published", _("Published")

    commitment = models.ForeignKey(
        Commitment, verbose_name=_("commitment"), on_delete=models.PROTECT, related_name="updates"
    )
    kind = models.CharField(
        _("kind"),
        max_length=16,
        choices=Kind.choices,
        default=Kind.ASSESSMENT,
        help_text=_("A check records that we searched on that date and found nothing new: it keeps the status."),
    )
    reported_on = models.DateField(_("date of the event"), help_text=_("For a check, the day the search was made."))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=[c for c in Status.choices if c[0] != Status.NOT_ASSESSED],
        blank=True,
        help_text=_("Required for an assessment; a check has none."),
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
    parties = models.ManyToManyField(
        Party,
        verbose_name=_("parties"),
        related_name="updates",
        blank=True,
        help_text=_("Whose action it records. None: the update is about the commitment as a whole."),
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
    history = HistoricalRecords(
        m2m_fields=[parties],
        excluded_fields=["summary_html", *translation_columns("summary", "summary_html", "correction_note")],
    )
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
                condition=Q(kind="assessment") & ~Q(status="not_assessed") & ~Q(status="")
                | Q(kind="check", status="", progress__isnull=True),
                name="update_asserts_a_status",
                violation_error_message=_("An assessment must assert a status; a check asserts none."),
            ),
            models.CheckConstraint(
                condition=~Q(summary=""),
                name="update_has_summary",
                violation_error_message=_("An update needs a summary."),
            ),
            # modeltranslation writes the summary of the active language into its own column (summary_en, ...), not
            # into `summary`: English, the source language every other falls back to, is never empty either.
            models.CheckConstraint(
                condition=~Q(summary_en=""),
                name="update_has_english_summary",
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
            # The latest correction (datapackage.last_published): the few corrected updates alone.
            models.Index(fields=["-corrected_at"], name="update_corrected", condition=Q(corrected_at__isnull=False)),
            models.Index(fields=["state", "-reported_on", "-published_at", "-id"], name="update_state_reported"),
            models.Index(fields=["author", "state"], name="update_author_state"),
        ]

    def __str__(self):
        commitment = self.commitment
        what = self.get_status_display() if self.kind == self.Kind.ASSESSMENT else _("Checked, nothing new")
        return f"{self.reported_on:%Y-%m-%d} · {what} · {commitment.instrument.short_title} {commitment.reference}"

    def get_absolute_url(self):
        return f"{self.commitment.get_absolute_url()}#update-{self.pk}"

    def clean(self):
        super().clean()
        if self.kind == self.Kind.ASSESSMENT and not self.status:
            raise ValidationError({"status": _("An assessment must say the status it finds.")})
        if self.kind == self.Kind.CHECK and (self.status or self.progress is not None):
            raise ValidationError(_("A check keeps the status: leave the status and the progress empty."))

    @property
    def is_check(self) -> bool:
        return self.kind == self.Kind.CHECK

    @property
    def published_on(self):
        """The day we published it (in the site's time zone), shown beside the date of the event."""
        return timezone.localdate(self.published_at) if self.published_at else None

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
        if self.kind == self.Kind.CHECK or self.parties.all():
            # A check keeps every status; an update naming parties changes theirs, not the overall one.
            return {"current": current, "proposed": current, "changes": False}
        latest_on = commitment.last_update_on
        becomes_current = latest_on is None or self.reported_on >= latest_on
        proposed = (Status(self.status), self.progress) if becomes_current else current
        return {"current": current, "proposed": proposed, "changes": current != proposed}


class LinkStatus(models.TextChoices):
    UNCHECKED = "unchecked", _("Not checked yet")
    OK = "ok", _("Reachable")
    REDIRECTED = "redirected", _("Reachable after a redirect")
    BROKEN = "broken", _("Broken")
    BLOCKED = "blocked", _("Not checked: robots.txt forbids it")


LINK_CHECK_FIELDS = [
    "link_status",
    "link_http_status",
    "link_final_url",
    "link_error",
    "link_checked_at",
    "link_failures",
]
# The public page says "this link may be broken" after this many failed checks in a row.
LINK_BROKEN_AFTER_FAILURES = 2


class Source(models.Model):
    update = models.ForeignKey(
        ProgressUpdate, verbose_name=_("progress update"), on_delete=models.CASCADE, related_name="sources"
    )
    url = models.URLField(_("address"), max_length=500)
    title = models.CharField(_("title"), max_length=300)
    publisher = models.CharField(_("publisher"), max_length=200, blank=True)
    published_on = models.DateField(_("published on"), null=True, blank=True)
    archived_url = models.URLField(_("archived copy"), max_length=500, blank=True)
    # What the link checker found (aitracker/linkcheck.py), written only by services.source_link_check_record:
    # bookkeeping about the address, not part of the update's content, so out of its history.
    link_status = models.CharField(
        _("link status"),
        max_length=16,
        choices=LinkStatus.choices,
        default=LinkStatus.UNCHECKED,
        db_default=LinkStatus.UNCHECKED,
        editable=False,
    )
    link_http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True, editable=False)
    link_final_url = models.URLField(
        _("final address"), max_length=2000, blank=True, default="", db_default="", editable=False
    )
    link_error = models.CharField(
        _("link error"), max_length=300, blank=True, default="", db_default="", editable=False
    )
    link_checked_at = models.DateTimeField(_("link last checked"), null=True, blank=True, editable=False)
    link_failures = models.PositiveSmallIntegerField(
        _("failed checks in a row"), default=0, db_default=0, editable=False
    )

    history = HistoricalRecords(excluded_fields=LINK_CHECK_FIELDS)
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

    @property
    def may_be_broken(self) -> bool:
        """What the public page says: only after repeated failures, so that one bad night shows nothing."""
        return self.link_failures >= LINK_BROKEN_AFTER_FAILURES


class DataGeneration(models.Model):
    """One row: a number that every write the public can see increases in its own transaction
    (`aitracker.cache.public_pages_changed()`). Cached public pages and kept counts are stored under it, so a
    commit makes them unreachable on every server at the moment it becomes visible. Bookkeeping, not data:
    not in backups, not in the admin."""

    value = models.BigIntegerField(_("value"))

    class Meta:
        verbose_name = _("data generation")
        verbose_name_plural = _("data generations")

    def __str__(self):
        return str(self.value)


class PartyStatus(ReviewedMixin, models.Model):
    """One party's record on one commitment that binds it: its own status, progress and latest update.

    Derived data, like Commitment.current_status: only services.party_statuses_sync (which rows exist) and
    services.commitment_refresh_status (what they say) write it, in the transaction of the write that
    changes it."""

    # No index of their own: the unique (commitment, party) and the (party, status) indexes serve them, and
    # every index costs at bulk load (about 550,000 rows for 10,000 synthetic commitments).
    commitment = models.ForeignKey(
        Commitment,
        verbose_name=_("commitment"),
        on_delete=models.CASCADE,
        related_name="party_statuses",
        db_index=False,
    )
    party = models.ForeignKey(
        Party, verbose_name=_("party"), on_delete=models.CASCADE, related_name="commitment_statuses", db_index=False
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NOT_ASSESSED)
    progress = models.PositiveSmallIntegerField(
        _("progress"), null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    last_update_on = models.DateField(_("last update"), null=True, blank=True)
    last_reviewed_on = models.DateField(_("last reviewed"), null=True, blank=True)
    latest_update = models.ForeignKey(
        ProgressUpdate,
        verbose_name=_("latest update"),
        on_delete=models.SET_NULL,
        related_name="+",
        null=True,
        blank=True,
        # Read only through its row; an update is soft-deleted, so the set-null scan on a hard delete is rare.
        db_index=False,
    )

    objects = PartyStatusQuerySet.as_manager()

    class Meta:
        ordering = ["commitment", "party"]
        verbose_name = _("party status")
        verbose_name_plural = _("party statuses")
        constraints = [
            models.UniqueConstraint(fields=["commitment", "party"], name="party_status_unique"),
            models.CheckConstraint(
                condition=Q(progress__isnull=True) | Q(progress__gte=0, progress__lte=100),
                name="party_status_progress_0_100",
            ),
        ]
        indexes = [
            # With the commitment, it covers the parties table's counts by party and status (a scan of the
            # index alone): 0.5 s instead of 2.1 s over 547,000 rows at 10,000 commitments on SQLite.
            models.Index(fields=["party", "status", "commitment"], name="party_status_party_status"),
        ]

    def __str__(self):
        return f"{self.party} · {self.get_status_display()} · {self.commitment_id}"

    def get_absolute_url(self):
        return f"{self.commitment.get_absolute_url()}#party-{self.party.slug}"


class PartyStatusCount(models.Model):
    """How many public commitments binding a party stand at a status, by that party's own record: the sum of
    its PartyStatus rows, kept as data so that the parties table, a party's page and the search read a few
    rows instead of counting thousands (5.5 million PartyStatus rows at 100,000 commitments).

    Derived data, like PartyStatus: only the services write it (services.kept_counts: the difference the write
    made to its commitments' rows, in the same transaction; `kept_counts_rebuild` after a bulk load). A
    (party, status) with no commitment may have no row, or a row of 0."""

    party = models.ForeignKey(
        Party, verbose_name=_("party"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    count = models.IntegerField(_("count"), default=0)

    objects = PartyStatusCountQuerySet.as_manager()

    class Meta:
        ordering = ["party", "status"]
        verbose_name = _("party status count")
        verbose_name_plural = _("party status counts")
        constraints = [
            models.UniqueConstraint(fields=["party", "status"], name="party_status_count_unique"),
        ]

    def __str__(self):
        return f"{self.party_id} · {self.status} · {self.count}"


class StatusCount(models.Model):
    """How many public commitments stand at a status, by their overall record: the dashboard's and the
    commitments table's total, kept as data like the counts below.

    Derived data: only the services write it (services.kept_counts, from the commitments a write changes;
    `kept_counts_rebuild` after a bulk load)."""

    status = models.CharField(_("status"), max_length=20, choices=Status.choices, unique=True)
    count = models.IntegerField(_("count"), default=0)

    objects = CommitmentStatusCountQuerySet.as_manager()

    class Meta:
        ordering = ["status"]
        verbose_name = _("status count")
        verbose_name_plural = _("status counts")

    def __str__(self):
        return f"{self.status} · {self.count}"


class InstrumentStatusCount(models.Model):
    """How many public commitments of an instrument stand at a status (overall record): the dashboard's and
    the instruments page's bars and the table's count when it is filtered by an instrument, a few rows read
    instead of a count over every commitment (a GROUP BY over 100,000 took 198 ms on SQLite).

    Derived data, like StatusCount. An (instrument, status) with no commitment may have no row, or a row of 0."""

    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    count = models.IntegerField(_("count"), default=0)

    objects = CommitmentStatusCountQuerySet.as_manager()

    class Meta:
        ordering = ["instrument", "status"]
        verbose_name = _("instrument status count")
        verbose_name_plural = _("instrument status counts")
        constraints = [
            models.UniqueConstraint(fields=["instrument", "status"], name="instrument_status_count_unique"),
        ]

    def __str__(self):
        return f"{self.instrument_id} · {self.status} · {self.count}"


class ThemeStatusCount(models.Model):
    """How many public commitments under a theme stand at a status (overall record): the dashboard's, the
    themes page's and a theme's page bars, and the table's count when it is filtered by a theme (a GROUP BY
    over every commitment's themes took 414 ms at 100,000 on SQLite).

    Derived data, like StatusCount. A theme's rows go with it (a commitment loses the theme)."""

    theme = models.ForeignKey(
        Theme, verbose_name=_("theme"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    count = models.IntegerField(_("count"), default=0)

    objects = CommitmentStatusCountQuerySet.as_manager()

    class Meta:
        ordering = ["theme", "status"]
        verbose_name = _("theme status count")
        verbose_name_plural = _("theme status counts")
        constraints = [
            models.UniqueConstraint(fields=["theme", "status"], name="theme_status_count_unique"),
        ]

    def __str__(self):
        return f"{self.theme_id} · {self.status} · {self.count}"


class SearchEntry(models.Model):
    """One public object in one language, as the search reads it (aitracker/search.py): derived data, rebuilt
    by `search_index_refresh` from the services that change the object, never edited. Only public objects
    have rows, so a draft can never be found. PostgreSQL indexes `vector` (a GIN index, filled in the
    language's configuration); SQLite mirrors title and body into an FTS5 table (migration 0014)."""

    class Kind(models.TextChoices):
        PARTY = "party", _("Parties")
        THEME = "theme", _("Themes")
        INSTRUMENT = "instrument", _("Instruments")
        COMMITMENT = "commitment", _("Commitments")
        UPDATE = "update", _("Progress updates")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    object_id = models.PositiveIntegerField(_("object id"))
    language = models.CharField(_("language"), max_length=8)
    title = models.CharField(_("title"), max_length=500)
    body = models.TextField(_("body"), blank=True)
    # What the result shows as its link (not searched as such: an update's title is its sources' titles).
    heading = models.CharField(_("heading"), max_length=500)
    # What the result shows under its title (not searched): the instrument of a commitment, the commitment
    # of an update.
    context = models.CharField(_("context"), max_length=500, blank=True)
    url = models.CharField(_("address"), max_length=500)
    date = models.DateField(_("date"), null=True, blank=True)
    vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["kind", "object_id", "language"]
        verbose_name = _("search entry")
        verbose_name_plural = _("search entries")
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id", "language"], name="search_entry_unique"),
        ]
        indexes = [models.Index(fields=["language", "kind"], name="search_entry_language_kind")]

    def __str__(self):
        return f"{self.kind} {self.object_id} ({self.language}): {self.title}"

    def get_absolute_url(self):
        return self.url


class Suggestion(models.Model):
    """A reader's suggestion: a new development or an error in the record, with sources. Never public: only
    analysts see it, in their queue, and turn it into a draft update or dismiss it (aitracker/services.py)."""

    class Kind(models.TextChoices):
        NEW_DEVELOPMENT = "new_development", _("A new development")
        ERROR = "error", _("An error in the record")

    class State(models.TextChoices):
        NEW = "new", _("New")
        CONVERTED = "converted", _("Turned into a draft update")
        DISMISSED = "dismissed", _("Dismissed")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.NEW_DEVELOPMENT)
    commitment = models.ForeignKey(
        Commitment,
        verbose_name=_("commitment"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suggestions",
    )
    party = models.ForeignKey(
        Party, verbose_name=_("party"), on_delete=models.SET_NULL, null=True, blank=True, related_name="suggestions"
    )
    text = models.TextField(_("what happened"), validators=text_limit(SUGGESTION_TEXT_MAX_LENGTH))
    happened_on = models.DateField(_("when"))
    source_urls = models.JSONField(_("source addresses"), default=list)
    name = models.CharField(_("name"), max_length=120, blank=True)
    email = models.EmailField(_("e-mail address"), max_length=254, blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.NEW)
    dismiss_reason = models.TextField(_("reason"), blank=True, validators=text_limit(NOTE_MAX_LENGTH))
    draft = models.ForeignKey(
        ProgressUpdate,
        verbose_name=_("draft update"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suggestions",
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    sender_notified_at = models.DateTimeField(_("sender told at"), null=True, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    objects = SuggestionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("suggestion")
        verbose_name_plural = _("suggestions")
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="dismissed") | ~Q(dismiss_reason=""),
                name="suggestion_dismissed_has_reason",
                violation_error_message=_("Say why the suggestion is dismissed."),
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="suggestion_state_created")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d} · {self.get_kind_display()} · {self.text[:60]}"

    def get_absolute_url(self):
        return reverse("suggestion_detail", args=[self.pk])

    @property
    def subject(self):
        return self.commitment or self.party


# --- E-mail alerts -----------------------------------------------------------------------------------------
# Personal data (see the privacy page): an address, its language and what it follows. Never shown anywhere,
# not in the admin either; deleted with its last subscription, and left out of backups.

FOLLOW_TARGETS = ("commitment", "party", "instrument", "theme")


def _exactly_one_target() -> Q:
    condition = Q()
    for target in FOLLOW_TARGETS:
        condition |= Q(**{f"{name}__isnull": name != target for name in FOLLOW_TARGETS})
    return condition


class Subscriber(models.Model):
    """An e-mail address that follows something. Its random key is part of every link sent to it, so a link
    works for this address only, and stops working if the address is deleted and subscribes again."""

    email = models.EmailField(_("e-mail address"), max_length=254, unique=True)
    language = models.CharField(_("language"), max_length=16, default="en")
    key = models.CharField(_("key"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")

    def __str__(self):
        return _("subscriber %(pk)s") % {"pk": self.pk}


class Subscription(models.Model):
    """One address following one commitment, party, instrument or theme. Nothing but the confirmation is sent
    until `confirmed_at` is set (double opt-in)."""

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", _("As it happens")
        DAILY = "daily", _("Daily digest")

    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    commitment = models.ForeignKey(
        Commitment, verbose_name=_("commitment"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    party = models.ForeignKey(
        Party, verbose_name=_("party"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    instrument = models.ForeignKey(
        Instrument, verbose_name=_("instrument"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    theme = models.ForeignKey(
        Theme, verbose_name=_("theme"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    frequency = models.CharField(_("frequency"), max_length=16, choices=Frequency.choices, default=Frequency.IMMEDIATE)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.CheckConstraint(condition=_exactly_one_target(), name="subscription_one_target"),
            *(
                models.UniqueConstraint(
                    fields=["subscriber", target],
                    condition=Q(**{f"{target}__isnull": False}),
                    name=f"follow_{target}_once",
                )
                for target in FOLLOW_TARGETS
            ),
        ]

    def __str__(self):
        return str(self.target)

    @property
    def target(self):
        return next(getattr(self, name) for name in FOLLOW_TARGETS if getattr(self, f"{name}_id") is not None)

    @property
    def target_kind(self) -> str:
        return next(name for name in FOLLOW_TARGETS if getattr(self, f"{name}_id") is not None)


class AlertDelivery(models.Model):
    """A message sent to a subscriber, by what it was about (`key`: the confirmation request, the update and
    its publication or correction, the day of a digest). The job that sends it inserts this row first, in the
    transaction that sends: a second run or a second worker fails on the unique constraint (or waits for the
    first to commit, then fails), so no message goes out twice; a worker that dies before committing leaves no
    row, and the job's next run sends it."""

    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="deliveries"
    )
    key = models.CharField(_("key"), max_length=120)
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        constraints = [models.UniqueConstraint(fields=["subscriber", "key"], name="alert_sent_once")]

    def __str__(self):
        return self.key


class StatusChange(models.Model):
    """A month at whose end a commitment's overall status changed, by the as-of rule: the progress chart's
    data (aitracker/charts.py), so that the chart is a few grouped queries, not a replay of every update.

    Derived data, like Commitment.current_status: only the services (through `charts.status_changes_store`,
    in the transaction of the write that changes them) write it. `month` is a month index (year x 12 + month
    - 1), counted from the instrument's adoption: a public commitment's first row is its entry at the adoption
    month, in the status it had at that month's end, with no `previous`. A deleted commitment has no rows."""

    commitment = models.ForeignKey(
        Commitment, verbose_name=_("commitment"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    month = models.PositiveIntegerField(_("month"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    previous = models.CharField(_("previous status"), max_length=20, choices=Status.choices, blank=True)

    class Meta:
        ordering = ["commitment", "month"]
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        constraints = [
            models.UniqueConstraint(fields=["commitment", "month"], name="status_change_unique"),
        ]
        # The chart's one grouped query reads this index alone (covering), not the table.
        indexes = [models.Index(fields=["month", "status", "previous"], name="status_change_month")]

    def __str__(self):
        return f"{self.commitment_id} · {self.month} · {self.previous} → {self.status}"


class StatusChangeCount(models.Model):
    """How many public commitments changed from `previous` to `status` at the end of `month` (their StatusChange
    rows counted): the site-wide progress chart's data, a few thousand rows however many commitments (915,769
    StatusChange rows at 100,000 commitments took 115 ms to group on SQLite).

    Derived data: only the services write it (the difference `charts.status_changes_store` makes, applied with
    the parties' counts: services.kept_counts), and `services.kept_counts_rebuild` after a bulk load."""

    month = models.PositiveIntegerField(_("month"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    previous = models.CharField(_("previous status"), max_length=20, choices=Status.choices, blank=True)
    count = models.IntegerField(_("count"), default=0)

    class Meta:
        ordering = ["month", "status", "previous"]
        verbose_name = _("status change count")
        verbose_name_plural = _("status change counts")
        constraints = [
            models.UniqueConstraint(fields=["month", "status", "previous"], name="status_change_count_unique"),
        ]

    def __str__(self):
        return f"{self.month} · {self.previous} → {self.status} · {self.count}"
