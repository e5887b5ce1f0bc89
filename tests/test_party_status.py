"""Per-party status (issue 11): whom a commitment binds, each bound party's own record, checks, staleness."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aitracker import history, services
from aitracker.models import Commitment, Endorsement, Instrument, PartyStatus, ProgressUpdate, stale_cutoff
from tests import factories

pytestmark = pytest.mark.django_db


def publish(commitment, editor, *, parties=(), kind="assessment", status="in_progress", reported_on=None, now=None):
    """Log, submit and publish an update through the services, as the staff pages do."""
    fields = {"status": status, "progress": None} if kind == "assessment" else {"status": "", "progress": None}
    update = services.progress_update_create(
        commitment=commitment,
        author=editor,
        parties=parties,
        kind=kind,
        reported_on=reported_on or date(2025, 6, 1),
        summary="Something, sourced.",
        sources=[{"url": "https://example.org/s", "title": "A source"}],
        **fields,
    )
    services.progress_update_submit(update=update, user=editor)
    return services.progress_update_publish(update=update, editor=editor, now=now)


def records(commitment):
    return {row.party.slug: row.status for row in PartyStatus.objects.filter(commitment=commitment)}


@pytest.fixture
def world(db):
    instrument = factories.make_instrument()
    france = factories.make_party(slug="france", name="France")
    china = factories.make_party(slug="china", name="China")
    refuser = factories.make_party(slug="refuser", name="Refuser")
    factories.make_endorsement(instrument=instrument, party=france)
    factories.make_endorsement(instrument=instrument, party=china)
    factories.make_endorsement(instrument=instrument, party=refuser, relation=Endorsement.Relation.DID_NOT_SIGN)
    commitment = factories.make_commitment(instrument=instrument)
    return {"instrument": instrument, "france": france, "china": china, "refuser": refuser, "commitment": commitment}


def test_a_commitment_naming_nobody_binds_every_endorsing_party_not_the_others(world):
    assert records(world["commitment"]) == {"france": "not_assessed", "china": "not_assessed"}


def test_a_party_status_is_the_latest_assessment_naming_it_and_the_overall_one_names_nobody(world, editor):
    commitment = world["commitment"]
    publish(commitment, editor, parties=[world["france"]], status="achieved", reported_on=date(2025, 5, 1))
    commitment.refresh_from_db()
    assert records(commitment) == {"france": "achieved", "china": "not_assessed"}
    assert commitment.current_status == "not_assessed"  # an update naming a party is not about the whole

    publish(commitment, editor, status="stalled", reported_on=date(2025, 6, 1))
    publish(commitment, editor, parties=[world["france"]], status="in_progress", reported_on=date(2024, 1, 1))
    commitment.refresh_from_db()
    assert commitment.current_status == "stalled"
    # The older event joins France's timeline without replacing its latest status.
    assert records(commitment) == {"france": "achieved", "china": "not_assessed"}
    row = PartyStatus.objects.get(commitment=commitment, party=world["france"])
    assert row.last_update_on == date(2025, 5, 1) and row.latest_update.status == "achieved"


def test_an_update_naming_several_parties_sets_each_of_their_statuses(world, editor):
    publish(world["commitment"], editor, parties=[world["france"], world["china"]], status="partly_achieved")
    assert records(world["commitment"]) == {"france": "partly_achieved", "china": "partly_achieved"}


def test_unpublishing_or_deleting_an_update_gives_the_party_its_previous_status(world, editor):
    commitment = world["commitment"]
    publish(commitment, editor, parties=[world["china"]], status="in_progress", reported_on=date(2025, 1, 1))
    later = publish(commitment, editor, parties=[world["china"]], status="reversed", reported_on=date(2025, 3, 1))
    assert records(commitment)["china"] == "reversed"
    services.progress_update_unpublish(update=later, editor=editor, note="Wrong source.")
    assert records(commitment)["china"] == "in_progress"
    first = ProgressUpdate.objects.get(commitment=commitment, state="published")
    services.progress_update_delete(update=first, editor=editor)
    assert records(commitment)["china"] == "not_assessed"


def test_a_check_keeps_every_status_and_moves_last_reviewed_on(world, editor):
    commitment = world["commitment"]
    long_ago = timezone.now() - timedelta(days=500)
    publish(commitment, editor, status="in_progress", reported_on=date(2024, 6, 1), now=long_ago)
    publish(
        commitment, editor, parties=[world["france"]], status="achieved", reported_on=date(2024, 6, 1), now=long_ago
    )
    commitment.refresh_from_db()
    france = PartyStatus.objects.get(commitment=commitment, party=world["france"])
    assert commitment.is_stale and france.is_stale

    today = timezone.localdate()
    publish(commitment, editor, parties=[world["france"]], kind="check", reported_on=today)
    commitment.refresh_from_db()
    france.refresh_from_db()
    assert (france.status, france.last_update_on, france.last_reviewed_on) == ("achieved", date(2024, 6, 1), today)
    assert not france.is_stale
    # A check naming France says nothing about the commitment as a whole.
    assert commitment.is_stale and commitment.current_status == "in_progress"

    publish(commitment, editor, kind="check", reported_on=today)
    commitment.refresh_from_db()
    assert commitment.current_status == "in_progress" and commitment.last_reviewed_on == today
    assert not commitment.is_stale
    assert commitment not in Commitment.objects.stale()


def test_an_old_event_published_today_is_not_stale(world, editor):
    commitment = world["commitment"]
    publish(commitment, editor, status="achieved", reported_on=date(2020, 1, 1))
    commitment.refresh_from_db()
    assert commitment.last_update_on == date(2020, 1, 1)
    assert commitment.last_reviewed_on == timezone.localdate() and not commitment.is_stale
    assert stale_cutoff() == timezone.localdate() - timedelta(days=365)


def test_a_check_asserts_no_status_and_an_assessment_must(world, editor):
    with pytest.raises(services.ValidationError):
        services.progress_update_create(
            commitment=world["commitment"],
            author=editor,
            kind="check",
            status="achieved",
            reported_on=date(2025, 1, 1),
            summary="Searched.",
        )
    with pytest.raises(services.ValidationError):
        services.progress_update_create(
            commitment=world["commitment"], author=editor, kind="assessment", reported_on=date(2025, 1, 1), summary="?"
        )


def test_endorsements_saved_in_the_admin_change_whom_the_commitments_bind(world, editor_client, editor):
    commitment = world["commitment"]
    publish(commitment, editor, parties=[world["refuser"]], status="in_progress")
    endorsement = Endorsement.objects.get(party=world["refuser"])
    data = {
        "instrument": endorsement.instrument_id,
        "party": endorsement.party_id,
        "relation": "joined_later",
        "date": "2025-03-01",
        "source_url": "https://example.org/joined",
        "confidence": "confirmed",
        "note": "",
    }
    response = editor_client.post(reverse("admin:aitracker_endorsement_change", args=[endorsement.pk]), data)
    assert response.status_code == 302
    # It now binds the party, with the status its own published update gives it.
    assert records(commitment) == {"france": "not_assessed", "china": "not_assessed", "refuser": "in_progress"}

    data["relation"] = "did_not_sign"
    data["note"] = "Listed in error: it never signed."
    editor_client.post(reverse("admin:aitracker_endorsement_change", args=[endorsement.pk]), data)
    assert "refuser" not in records(commitment)


def test_naming_parties_on_a_commitment_in_the_admin_binds_only_them(world, editor_client):
    commitment = world["commitment"]
    data = {
        "instrument": commitment.instrument_id,
        "reference": commitment.reference,
        "title": commitment.title,
        "slug": commitment.slug,
        "text": commitment.text,
        "source_url": commitment.source_url,
        "confidence": commitment.confidence,
        "version": history.version_token(commitment),
        "parties": [world["china"].pk],
        "themes": [],
    }
    response = editor_client.post(reverse("admin:aitracker_commitment_change", args=[commitment.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert records(commitment) == {"china": "not_assessed"}


def test_adoption_without_a_vote_binds_every_un_member_state(db, editor_client):
    resolution = factories.make_instrument(kind=Instrument.Kind.UN_RESOLUTION, adoption="without_vote")
    usa = factories.make_party(slug="usa", name="United States", kind="country", country="US", un_member=True)
    kenya = factories.make_party(slug="kenya", name="Kenya", kind="country", country="KE", un_member=True)
    eu = factories.make_party(slug="eu", name="European Union", kind="regional_organisation")
    factories.make_endorsement(instrument=resolution, party=usa, relation=Endorsement.Relation.LEAD_SPONSOR)
    commitment = factories.make_commitment(instrument=resolution)
    assert records(commitment) == {"usa": "not_assessed", "kenya": "not_assessed"}
    assert list(Commitment.objects.for_party(usa)) == [commitment]
    assert not Commitment.objects.for_party(eu).exists()

    # Leaving the UN, in the admin, unbinds the party.
    data = {"slug": kenya.slug, "name": kenya.name, "kind": kenya.kind, "country": "KE", "region": "africa"}
    response = editor_client.post(reverse("admin:aitracker_party_change", args=[kenya.pk]), data)
    assert response.status_code == 302
    assert records(commitment) == {"usa": "not_assessed"}


def test_changing_an_instruments_adoption_in_the_services_rebinds_its_commitments(db):
    resolution = factories.make_instrument(kind=Instrument.Kind.UN_RESOLUTION)
    member = factories.make_party(un_member=True)
    commitment = factories.make_commitment(instrument=resolution)
    assert records(commitment) == {}
    Instrument.objects.filter(pk=resolution.pk).update(adoption="without_vote")
    services.instrument_bindings_changed(instrument=resolution)
    assert records(commitment) == {member.slug: "not_assessed"}


def _refresh_queries(commitment):
    with CaptureQueriesContext(connection) as queries:
        services.commitment_refresh_status(commitment=commitment)
    return len(queries)


def test_refreshing_costs_the_same_queries_for_2_or_200_bound_parties(db, editor):
    small = factories.make_commitment(parties=[factories.make_party() for _ in range(2)])
    many = [factories.make_party() for _ in range(200)]
    large = factories.make_commitment(parties=many)
    for commitment, named in ((small, list(small.parties.all())), (large, many[:50])):
        publish(commitment, editor, parties=named, status="achieved")
        publish(commitment, editor, status="stalled")
    assert PartyStatus.objects.filter(commitment=large).count() == 200
    assert PartyStatus.objects.filter(commitment=large, status="achieved").count() == 50
    assert _refresh_queries(small) == _refresh_queries(large)


def test_the_stored_records_match_a_full_recomputation(world, editor):
    publish(world["commitment"], editor, parties=[world["france"]], status="achieved")
    publish(world["commitment"], editor, kind="check", reported_on=timezone.localdate())
    before = list(PartyStatus.objects.order_by("pk").values())
    assert services.commitments_refresh_all() == 0
    assert list(PartyStatus.objects.order_by("pk").values()) == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_copies_each_updates_party_and_creates_the_party_statuses():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("aitracker", "0006_commitment_status_latest_index")])
    old = executor.loader.project_state([("aitracker", "0006_commitment_status_latest_index")]).apps
    Instrument0, Party0 = old.get_model("aitracker", "Instrument"), old.get_model("aitracker", "Party")
    Endorsement0, Commitment0 = old.get_model("aitracker", "Endorsement"), old.get_model("aitracker", "Commitment")
    Update0 = old.get_model("aitracker", "ProgressUpdate")
    instrument = Instrument0.objects.create(
        slug="i", title="I", short_title="I", kind="compact", adopted_on=date(2025, 1, 1), summary="s",
        source_url="https://example.org",
    )  # fmt: skip
    signer = Party0.objects.create(slug="a", name="A", kind="international_organisation")
    Party0.objects.create(slug="b", name="B", kind="international_organisation")
    Endorsement0.objects.create(
        instrument=instrument, party=signer, relation="signed", source_url="https://example.org", confidence="confirmed"
    )
    commitment = Commitment0.objects.create(
        instrument=instrument, reference="§1", slug="c", title="C", text="t", source_url="https://example.org"
    )
    published = timezone.now()
    update = Update0.objects.create(
        commitment=commitment, reported_on=date(2025, 2, 1), status="achieved", summary="s", party=signer,
        state="published", published_at=published,
    )  # fmt: skip
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([("aitracker", "0009_per_party_status")])
        new = executor.loader.project_state([("aitracker", "0009_per_party_status")]).apps
        Update9, PartyStatus9 = new.get_model("aitracker", "ProgressUpdate"), new.get_model("aitracker", "PartyStatus")
        assert list(Update9.objects.get(pk=update.pk).parties.values_list("slug", flat=True)) == ["a"]
        row = PartyStatus9.objects.get()
        assert (row.party.slug, row.status, row.latest_update_id) == ("a", "achieved", update.pk)
        assert row.last_reviewed_on == timezone.localdate(published)
        commitment9 = new.get_model("aitracker", "Commitment").objects.get(pk=commitment.pk)
        assert commitment9.current_status == "not_assessed"  # its only update names a party
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_an_endorsement_import_rebinds_the_instruments_commitments(world, editor_client):
    from tests.test_import_export import confirm, preview, to_csv

    header = ["instrument", "party", "relation", "date", "source_url", "confidence", "note"]
    rows = [
        [world["instrument"].slug, "refuser", "joined_later", "2025-03-01", "https://example.org/l", "confirmed", ""],
        [world["instrument"].slug, "china", "did_not_sign", "", "https://example.org/l", "confirmed", "In error."],
    ]
    response = preview(editor_client, "endorsement", to_csv(rows, header=header))
    assert records(world["commitment"]) == {"france": "not_assessed", "china": "not_assessed"}  # a preview only
    confirm(editor_client, "endorsement", response)
    assert records(world["commitment"]) == {"france": "not_assessed", "refuser": "not_assessed"}


def test_naming_a_party_on_a_published_update_in_the_admin_moves_the_status_to_it(world, editor_client, editor):
    from tests.test_history import update_admin_data

    update = publish(world["commitment"], editor, status="achieved")
    url = reverse("admin:aitracker_progressupdate_change", args=[update.pk])
    data = update_admin_data(
        update,
        version=history.version_token(update),
        parties=[world["china"].pk],
        correction_note="It was China's step.",
    )
    response = editor_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    world["commitment"].refresh_from_db()
    assert world["commitment"].current_status == "not_assessed"
    assert records(world["commitment"]) == {"france": "not_assessed", "china": "achieved"}


def test_rebinding_an_instrument_costs_the_same_queries_for_5_or_150_commitments(db):
    def queries_to_rebind(count):
        instrument = factories.make_instrument()
        factories.make_endorsement(instrument=instrument)
        Commitment.objects.bulk_create(
            Commitment(instrument=instrument, reference=f"§{i}", slug=f"{instrument.slug}-{i}", title="t", text="t",
                       source_url="https://example.org")
            for i in range(count)
        )  # fmt: skip
        # A second signatory, recorded without the services: the rebind below makes all its rows.
        Endorsement.objects.create(
            instrument=instrument, party=factories.make_party(), relation="co_sponsor",
            source_url="https://example.org", confidence="confirmed",
        )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            services.instrument_bindings_changed(instrument=instrument)
        assert PartyStatus.objects.filter(commitment__instrument=instrument).count() == 2 * count
        return len(queries)

    assert queries_to_rebind(5) == queries_to_rebind(150)
