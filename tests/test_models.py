"""Each invariant of the domain is held by the database (or model validation) with a clear message."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from aitracker.models import Commitment, Endorsement, Party, ProgressUpdate, Source
from tests.factories import (
    make_commitment,
    make_endorsement,
    make_instrument,
    make_party,
    make_update,
)

pytestmark = pytest.mark.django_db


def refused(model_instance, message):
    """The model's validation names the problem, and the database refuses the row too."""
    with pytest.raises(ValidationError) as error:
        model_instance.full_clean()
    assert message in " ".join(error.value.messages)
    with pytest.raises(IntegrityError), transaction.atomic():
        model_instance.save()


def test_one_endorsement_per_instrument_and_party():
    endorsement = make_endorsement()
    duplicate = Endorsement(
        instrument=endorsement.instrument,
        party=endorsement.party,
        relation=Endorsement.Relation.DID_NOT_SIGN,
        source_url="https://example.org/x",
        confidence="reported",
    )
    refused(duplicate, "This party already has a relation to this instrument.")


@pytest.mark.parametrize("progress", [-1, 101, 250])
def test_update_progress_must_be_between_0_and_100(progress):
    update = make_update()
    update.progress = progress
    with pytest.raises(ValidationError) as error:
        update.full_clean()
    assert "progress" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgressUpdate.objects.filter(pk=update.pk).update(progress=progress)


@pytest.mark.parametrize("progress", [0, 100, None])
def test_update_progress_bounds_are_inclusive_and_optional(progress):
    update = make_update(progress=progress)
    update.full_clean()


def test_published_update_needs_a_publication_time():
    update = make_update()
    update.state = ProgressUpdate.State.PUBLISHED
    refused(update, "A published update needs its publication time.")


def test_unpublished_update_has_no_publication_time():
    update = make_update()
    update.published_at = timezone.now()
    refused(update, "Only a published update has a publication time.")


def test_update_must_assert_a_real_status():
    update = make_update()
    update.status = "not_assessed"
    with pytest.raises(ValidationError) as error:
        update.full_clean()
    assert "status" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgressUpdate.objects.filter(pk=update.pk).update(status="not_assessed")


def test_update_needs_a_summary():
    update = make_update()
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgressUpdate.objects.filter(pk=update.pk).update(summary="")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.org/file", "data:text/html,hi"])
def test_source_address_must_be_http(url):
    update = make_update(sources=0)
    with pytest.raises(ValidationError):
        Source(update=update, url=url, title="x").full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Source.objects.create(update=update, url=url, title="x")


def test_commitment_reference_is_unique_within_its_instrument():
    commitment = make_commitment(reference="§1")
    refused(
        Commitment(
            instrument=commitment.instrument,
            reference="§1",
            slug="other",
            title="Other",
            text="x",
            source_url="https://example.org",
        ),
        "This instrument already has a commitment with this reference.",
    )
    make_commitment(reference="§1")  # the same reference in another instrument is fine


def test_country_party_needs_its_code_and_organisations_have_none():
    refused(Party(slug="nowhere", name="Nowhere", kind=Party.Kind.COUNTRY), "A country needs its ISO country code")
    refused(
        Party(slug="org", name="Org", kind=Party.Kind.REGIONAL_ORGANISATION, country="FR"),
        "A country needs its ISO country code",
    )


def test_one_party_per_country():
    make_party(slug="france", name="France", kind=Party.Kind.COUNTRY, country="FR")
    refused(
        Party(slug="french-republic", name="French Republic", kind=Party.Kind.COUNTRY, country="FR"),
        "A party for this country already exists.",
    )


def test_readable_names():
    instrument = make_instrument(short_title="Paris statement")
    commitment = make_commitment(instrument=instrument, reference="§4", title="Future of work")
    update = make_update(commitment=commitment, reported_on=date(2025, 7, 26), status="in_progress")
    party = make_party(name="France", slug="france", kind=Party.Kind.COUNTRY, country="FR")
    endorsement = make_endorsement(instrument=instrument, party=party)
    assert str(instrument) == "Paris statement"
    assert str(commitment) == "Paris statement §4: Future of work"
    assert str(update) == "2025-07-26 · In progress · Paris statement §4"
    assert str(endorsement) == "France — Signed — Paris statement"
    assert str(update.sources.get()) == "Source 0"


def test_public_updates_never_include_drafts_submitted_returned_or_deleted():
    commitment = make_commitment()
    published = make_update(commitment=commitment, state="published")
    for state in ("draft", "submitted", "returned"):
        make_update(commitment=commitment, state=state)
    make_update(commitment=commitment, state="published", deleted_at=timezone.now())
    assert list(ProgressUpdate.objects.public()) == [published]
    assert set(Source.objects.public()) == set(published.sources.all())


def test_deleted_commitments_and_their_updates_are_not_public():
    commitment = make_commitment()
    make_update(commitment=commitment, state="published")
    Commitment.objects.filter(pk=commitment.pk).update(deleted_at=timezone.now())
    assert not Commitment.objects.public().exists()
    assert not ProgressUpdate.objects.public().exists()


def test_stale_commitments_have_not_been_reviewed_in_twelve_months():
    now = timezone.now()
    never = make_commitment()
    old = make_commitment()
    make_update(commitment=old, state="published", reported_on=date(2024, 1, 1), published_at=now - timedelta(days=400))
    # An event of 2024 published today was reviewed today: it is not stale.
    fresh = make_commitment()
    make_update(commitment=fresh, state="published", reported_on=date(2024, 1, 1))
    draft_only = make_commitment()
    make_update(commitment=draft_only, state="draft", reported_on=now.date())
    assert set(Commitment.objects.stale()) == {never, old, draft_only}
    assert [c.is_stale for c in (never, old, fresh, draft_only)] == [True, True, False, True]


def test_for_party_covers_named_parties_and_every_signatory_of_open_commitments():
    instrument = make_instrument()
    signer = make_party()
    refuser = make_party()
    make_endorsement(instrument=instrument, party=signer)
    make_endorsement(instrument=instrument, party=refuser, relation=Endorsement.Relation.DID_NOT_SIGN)
    binds_all = make_commitment(instrument=instrument)
    names_refuser = make_commitment(instrument=instrument, parties=[refuser])
    assert set(Commitment.objects.for_party(signer)) == {binds_all}
    assert set(Commitment.objects.for_party(refuser)) == {names_refuser}


def test_the_status_and_latest_update_index_exists_on_public_commitments():
    """Migration 0006 creates it by hand, per database; the table filtered by status and sorted by latest update
    reads its pages from it."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "aitracker_commitment")
    index = constraints["commitment_public_status_last"]
    assert index["index"] and index["columns"][:2] == ["current_status", "last_update_on"]
