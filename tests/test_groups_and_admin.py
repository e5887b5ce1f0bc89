"""The groups' permissions, and the admin as a data-entry tool for editors."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from aitracker.models import Commitment, Endorsement, Instrument, Party, ProgressUpdate, Source, Theme
from tests.factories import make_commitment, make_editor, make_endorsement, make_update

pytestmark = pytest.mark.django_db

MODELS = [Instrument, Party, Endorsement, Theme, Commitment, ProgressUpdate, Source]


def codenames(group_name):
    return set(Group.objects.get(name=group_name).permissions.values_list("codename", flat=True))


def test_analysts_may_log_updates_with_sources_but_not_publish_or_edit_reference_data():
    perms = codenames("Analyst")
    assert {"add_progressupdate", "change_progressupdate", "add_source", "change_source"} <= perms
    assert "publish_progressupdate" not in perms
    assert "delete_progressupdate" not in perms
    for model in ("instrument", "party", "endorsement", "theme", "commitment"):
        assert f"view_{model}" in perms
        assert not {f"add_{model}", f"change_{model}", f"delete_{model}"} & perms


def test_editors_may_publish_and_maintain_everything():
    perms = codenames("Editor")
    assert "publish_progressupdate" in perms
    for model in MODELS:
        name = model._meta.model_name
        assert {f"add_{name}", f"change_{name}", f"delete_{name}", f"view_{name}"} <= perms
    assert not {"add_user", "change_user", "change_group"} & perms  # users and groups are the superuser's


@pytest.fixture
def one_of_each(db):
    endorsement = make_endorsement()
    commitment = make_commitment(instrument=endorsement.instrument, themes=[])
    update = make_update(commitment=commitment, state="published", parties=[endorsement.party])
    return {
        Instrument: endorsement.instrument,
        Party: endorsement.party,
        Endorsement: endorsement,
        Theme: commitment.themes.create(slug="t", name="T"),
        Commitment: commitment,
        ProgressUpdate: update,
        Source: update.sources.get(),
    }


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.model_name)
def test_every_admin_page_answers_for_an_editor(client, one_of_each, model):
    client.force_login(make_editor())
    obj = one_of_each[model]
    opts = model._meta
    prefix = f"admin:{opts.app_label}_{opts.model_name}"
    for url in [
        reverse(f"{prefix}_changelist"),
        reverse(f"{prefix}_changelist") + "?q=a",
        reverse(f"{prefix}_add"),
        reverse(f"{prefix}_change", args=[obj.pk]),
        reverse(f"{prefix}_history", args=[obj.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url


def test_admin_history_records_who_changed_what(client, one_of_each):
    editor = make_editor(username="edith")
    client.force_login(editor)
    party = one_of_each[Party]
    response = client.post(
        reverse("admin:aitracker_party_change", args=[party.pk]),
        {"slug": party.slug, "name": "Renamed party", "kind": party.kind, "country": ""},
    )
    assert response.status_code == 302
    latest = party.history.latest()
    assert latest.name == "Renamed party" and latest.history_user == editor
    page = client.get(reverse("admin:aitracker_party_history", args=[party.pk]))
    assert b"edith" in page.content


def test_the_admin_publish_action_goes_through_the_service(client):
    editor = make_editor()
    client.force_login(editor)
    update = make_update(state="submitted", status="achieved", progress=100)
    response = client.post(
        reverse("admin:aitracker_progressupdate_changelist"),
        {"action": "publish_selected", "_selected_action": [update.pk]},
        follow=True,
    )
    assert "1 update published." in response.content.decode()
    update.refresh_from_db()
    update.commitment.refresh_from_db()
    assert update.state == "published" and update.reviewer == editor and update.published_at
    assert update.commitment.current_status == "achieved"


def test_the_admin_publish_action_refuses_an_update_without_source(client):
    client.force_login(make_editor())
    update = make_update(state="submitted", sources=0)
    response = client.post(
        reverse("admin:aitracker_progressupdate_changelist"),
        {"action": "publish_selected", "_selected_action": [update.pk]},
        follow=True,
    )
    assert "needs at least one source" in response.content.decode()
    update.refresh_from_db()
    assert update.state == "submitted"


def test_analysts_see_only_their_own_updates_in_the_admin(client, analyst):
    mine = make_update(author=analyst, summary="mine")
    theirs = make_update(summary="theirs")
    client.force_login(analyst)
    listing = client.get(reverse("admin:aitracker_progressupdate_changelist"))
    assert listing.status_code == 200
    assert str(mine.commitment) in listing.content.decode()
    assert str(theirs.commitment) not in listing.content.decode()
    assert client.get(reverse("admin:aitracker_progressupdate_change", args=[theirs.pk])).status_code in (302, 404)
