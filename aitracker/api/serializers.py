"""What the read API says about each public record: plain values, a code beside every enumerated label, and
absolute links (from AITRACKER_SITE_URL, never the request's Host) to the record in the API and on the site."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..links import absolute_url, slug_url
from ..models import Commitment, Endorsement, Instrument, Party, PartyStatus, ProgressUpdate, Source, Theme


@extend_schema_field(OpenApiTypes.URI)
class LinkField(serializers.Field):
    """An absolute link built from the object: `to_url(obj)` gives its path."""

    def __init__(self, to_url, **kwargs):
        self.to_url = to_url
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return absolute_url(self.to_url(value))


def _api_path(name, attribute="slug"):
    def path(obj):
        return reverse(f"api:{name}", kwargs={"lookup": getattr(obj, attribute)})

    return path


def _html_path(name, attribute="slug"):
    def path(obj):
        return slug_url(name, getattr(obj, attribute))

    return path


class LabelField(serializers.CharField):
    """The translated label of an enumerated field, next to its code."""

    def __init__(self, field, **kwargs):
        super().__init__(source=f"get_{field}_display", read_only=True, **kwargs)


class InstrumentSerializer(serializers.ModelSerializer):
    url = LinkField(_api_path("instrument-detail"), help_text="This instrument in the API.")
    html_url = LinkField(_html_path("instrument_detail"), help_text="This instrument's page on the site.")
    kind_label = LabelField("kind")
    adoption_label = LabelField("adoption")
    commitments_url = LinkField(
        lambda obj: f"{reverse('api:commitment-list')}?instrument={obj.slug}",
        help_text="The commitments this instrument contains.",
    )
    endorsements_url = LinkField(
        lambda obj: f"{reverse('api:endorsement-list')}?instrument={obj.slug}",
        help_text="The parties' relations to this instrument.",
    )

    class Meta:
        model = Instrument
        fields = [
            "id",
            "slug",
            "url",
            "html_url",
            "title",
            "short_title",
            "kind",
            "kind_label",
            "adopted_on",
            "adopted_on_confidence",
            "place",
            "summary",
            "note",
            "source_url",
            "adoption",
            "adoption_label",
            "commitments_url",
            "endorsements_url",
        ]


class PartySerializer(serializers.ModelSerializer):
    url = LinkField(_api_path("party-detail"), help_text="This party in the API.")
    html_url = LinkField(_html_path("party_detail"), help_text="This party's page on the site.")
    kind_label = LabelField("kind")
    country = serializers.CharField(
        source="country.code", read_only=True, help_text="ISO 3166-1 alpha-2 code; empty for organisations."
    )
    region_label = LabelField("region")
    endorsements_url = LinkField(
        lambda obj: f"{reverse('api:endorsement-list')}?party={obj.slug}",
        help_text="This party's relations to instruments.",
    )

    class Meta:
        model = Party
        fields = [
            "id",
            "slug",
            "url",
            "html_url",
            "name",
            "kind",
            "kind_label",
            "country",
            "region",
            "region_label",
            "un_member",
            "endorsements_url",
        ]


class EndorsementSerializer(serializers.ModelSerializer):
    url = LinkField(_api_path("endorsement-detail", "pk"), help_text="This relation in the API.")
    instrument = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    instrument_url = LinkField(lambda obj: reverse("api:instrument-detail", kwargs={"lookup": obj.instrument.slug}))
    party = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    party_url = LinkField(lambda obj: reverse("api:party-detail", kwargs={"lookup": obj.party.slug}))
    relation_label = LabelField("relation")
    confidence_label = LabelField("confidence")

    class Meta:
        model = Endorsement
        fields = [
            "id",
            "url",
            "instrument",
            "instrument_url",
            "party",
            "party_url",
            "relation",
            "relation_label",
            "date",
            "confidence",
            "confidence_label",
            "source_url",
            "note",
        ]


class ThemeSerializer(serializers.ModelSerializer):
    url = LinkField(_api_path("theme-detail"), help_text="This theme in the API.")
    html_url = LinkField(_html_path("theme_detail"), help_text="This theme's page on the site.")
    commitments_url = LinkField(lambda obj: f"{reverse('api:commitment-list')}?theme={obj.slug}")

    class Meta:
        model = Theme
        fields = ["id", "slug", "url", "html_url", "name", "description", "commitments_url"]


class CommitmentSerializer(serializers.ModelSerializer):
    url = LinkField(_api_path("commitment-detail"), help_text="This commitment in the API.")
    html_url = LinkField(_html_path("commitment_detail"), help_text="This commitment's page on the site.")
    instrument = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    instrument_url = LinkField(lambda obj: reverse("api:instrument-detail", kwargs={"lookup": obj.instrument.slug}))
    themes = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    parties = serializers.SlugRelatedField(
        slug_field="slug",
        many=True,
        read_only=True,
        help_text="The responsible parties; empty when the commitment binds every signatory of the instrument.",
    )
    reference = serializers.CharField(
        source="reference_en", read_only=True, help_text='The point or paragraph, in English: an identifier ("§4").'
    )
    confidence_label = LabelField("confidence")
    status = serializers.ChoiceField(
        source="current_status", choices=Commitment._meta.get_field("current_status").choices, read_only=True
    )
    status_label = LabelField("current_status")
    progress = serializers.IntegerField(source="current_progress", read_only=True, allow_null=True)
    updates_url = LinkField(
        lambda obj: f"{reverse('api:update-list')}?commitment={obj.slug}",
        help_text="Its published progress updates.",
    )

    class Meta:
        model = Commitment
        fields = [
            "id",
            "slug",
            "url",
            "html_url",
            "instrument",
            "instrument_url",
            "reference",
            "title",
            "text",
            "themes",
            "parties",
            "target_date",
            "source_url",
            "confidence",
            "confidence_label",
            "status",
            "status_label",
            "progress",
            "last_update_on",
            "last_reviewed_on",
            "updates_url",
        ]


class PartyStatusSerializer(serializers.ModelSerializer):
    party = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    party_url = LinkField(lambda obj: reverse("api:party-detail", kwargs={"lookup": obj.party.slug}))
    status_label = LabelField("status")

    class Meta:
        model = PartyStatus
        fields = ["party", "party_url", "status", "status_label", "progress", "last_update_on", "last_reviewed_on"]


class CommitmentDetailSerializer(CommitmentSerializer):
    party_statuses = PartyStatusSerializer(
        many=True, read_only=True, help_text="Each bound party's own status, progress and latest update."
    )

    class Meta(CommitmentSerializer.Meta):
        fields = [*CommitmentSerializer.Meta.fields, "party_statuses"]


class SourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = ["id", "url", "title", "publisher", "published_on", "archived_url"]


UPDATE_STATUS_CHOICES = ProgressUpdate._meta.get_field("status").choices


class UpdateSerializer(serializers.ModelSerializer):
    url = LinkField(_api_path("update-detail", "pk"), help_text="This update in the API.")
    html_url = LinkField(
        lambda obj: f"{slug_url('commitment_detail', obj.commitment.slug)}#update-{obj.pk}",
        help_text="This update on its commitment's page.",
    )
    commitment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    commitment_url = LinkField(lambda obj: reverse("api:commitment-detail", kwargs={"lookup": obj.commitment.slug}))
    instrument = serializers.CharField(source="commitment.instrument.slug", read_only=True)
    kind_label = LabelField("kind")
    status = serializers.SerializerMethodField(help_text="What an assessment asserts; null for a check.")
    status_label = serializers.SerializerMethodField()
    confidence_label = LabelField("confidence")
    parties = serializers.SlugRelatedField(
        slug_field="slug",
        many=True,
        read_only=True,
        help_text="Whose action it records; empty: the update is about the commitment as a whole.",
    )
    sources = SourceSerializer(many=True, read_only=True)

    class Meta:
        model = ProgressUpdate
        fields = [
            "id",
            "url",
            "html_url",
            "commitment",
            "commitment_url",
            "instrument",
            "kind",
            "kind_label",
            "reported_on",
            "published_at",
            "status",
            "status_label",
            "progress",
            "confidence",
            "confidence_label",
            "parties",
            "summary",
            "corrected_at",
            "correction_note",
            "sources",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=UPDATE_STATUS_CHOICES, allow_null=True))
    def get_status(self, obj):
        return obj.status or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_status_label(self, obj):
        return obj.get_status_display() if obj.status else None
