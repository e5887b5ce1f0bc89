"""History, restore, soft delete and concurrent edits in the admin: the same services as the site's pages."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from aitracker import history, services
from aitracker.models import Commitment, ProgressUpdate
from tests.factories import make_commitment, make_editor, make_update

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


def update_admin_data(update, *, version, **changes):
    """The admin change form of an update, as the browser would post it."""
    sources = list(update.sources.all())
    data = {
        "commitment": update.commitment_id,
        "reported_on": update.reported_on.isoformat(),
        "status": update.status,
        "progress": "" if update.progress is None else update.progress,
        "kind": update.kind,
        "parties": [party.pk for party in update.parties.all()],
        "confidence": update.confidence,
        "summary": update.summary,
        "review_note": update.review_note,
        "correction_note": update.correction_note,
        "version": version,
        "sources-TOTAL_FORMS": len(sources),
        "sources-INITIAL_FORMS": len(sources),
        "sources-MIN_NUM_FORMS": 1,
        "sources-MAX_NUM_FORMS": 1000,
    }
    for index, source in enumerate(sources):
        data |= {
            f"sources-{index}-id": source.pk,
            f"sources-{index}-update": update.pk,
            f"sources-{index}-url": source.url,
            f"sources-{index}-title": source.title,
            f"sources-{index}-publisher": source.publisher,
            f"sources-{index}-published_on": "",
            f"sources-{index}-archived_url": source.archived_url,
        }
    return data | changes


def commitment_admin_data(commitment, *, version, **changes):
    return {
        "instrument": commitment.instrument_id,
        "reference": commitment.reference,
        "title": commitment.title,
        "slug": commitment.slug,
        "text": commitment.text,
        "source_url": commitment.source_url,
        "confidence": commitment.confidence,
        "themes": [theme.pk for theme in commitment.themes.all()],
        "parties": [party.pk for party in commitment.parties.all()],
        "target_date": "",
        "version": version,
    } | changes


def test_the_admin_refuses_the_second_of_two_concurrent_edits_of_an_update():
    first_editor, second_editor = make_editor(username="first"), make_editor(username="second")
    update = make_update(state="submitted", summary="Original.")
    url = reverse("admin:aitracker_progressupdate_change", args=[update.pk])
    form = login(second_editor).get(url).content.decode()
    loaded = form.split('name="version" value="')[1].split('"')[0]
    assert loaded == history.version_token(update)

    first = login(first_editor).post(url, update_admin_data(update, version=loaded, summary="First editor's text."))
    assert first.status_code == 302

    second = login(second_editor).post(url, update_admin_data(update, version=loaded, summary="Second editor's text."))
    page = second.content.decode()
    assert second.status_code == 200
    assert "was changed by first" in page
    assert "Summary: Original. → First editor&#x27;s text." in page
    assert "Second editor&#x27;s text." in page  # what they typed is still in the form
    update.refresh_from_db()
    assert update.summary == "First editor's text."


def test_the_admin_refuses_the_second_of_two_concurrent_edits_of_a_commitment():
    first_editor, second_editor = make_editor(username="first"), make_editor(username="second")
    commitment = make_commitment(title="Original title")
    url = reverse("admin:aitracker_commitment_change", args=[commitment.pk])
    loaded = history.version_token(commitment)

    assert (
        login(first_editor).post(url, commitment_admin_data(commitment, version=loaded, title="New title")).status_code
        == 302
    )
    second = login(second_editor).post(url, commitment_admin_data(commitment, version=loaded, text="Other text"))
    page = second.content.decode()
    assert second.status_code == 200 and "Title: Original title → New title" in page
    commitment.refresh_from_db()
    assert commitment.title == "New title" and commitment.text == "A test commitment."


def test_an_admin_edit_with_the_current_version_goes_through(editor_client):
    commitment = make_commitment()
    url = reverse("admin:aitracker_commitment_change", args=[commitment.pk])
    response = editor_client.post(
        url, commitment_admin_data(commitment, version=history.version_token(commitment), title="Better")
    )
    assert response.status_code == 302
    commitment.refresh_from_db()
    assert commitment.title == "Better"


def test_editing_a_published_update_in_the_admin_is_a_visible_correction(editor_client):
    update = make_update(state="published", status="achieved")
    url = reverse("admin:aitracker_progressupdate_change", args=[update.pk])
    data = update_admin_data(
        update, version=history.version_token(update), status="stalled", correction_note="Wrong status."
    )
    assert editor_client.post(url, data).status_code == 302
    update.refresh_from_db()
    update.commitment.refresh_from_db()
    assert update.corrected_at and update.commitment.current_status == "stalled"
    assert "Corrected on" in Client().get(update.commitment.get_absolute_url()).content.decode()


def test_reverting_in_the_admin_goes_through_the_restore_service(editor, editor_client):
    update = make_update(state="published", status="achieved", summary="Right.")
    right = update.history.latest()
    services.progress_update_correct(update=update, editor=editor, note="x", status="reversed", summary="Wrong.")
    update.refresh_from_db()
    update.commitment.refresh_from_db()
    assert update.commitment.current_status == "reversed"

    url = reverse("admin:aitracker_progressupdate_simple_history", args=[update.pk, right.history_id])
    form = editor_client.get(url)
    assert form.status_code == 200 and "Right." in form.content.decode()
    response = editor_client.post(url, {"version": history.version_token(update)}, follow=True)
    assert "The earlier version was restored" in response.content.decode()
    update.refresh_from_db()
    update.commitment.refresh_from_db()
    assert update.summary == "Right." and update.commitment.current_status == "achieved"
    assert update.history.latest().history_user == editor


def test_reverting_a_commitment_in_the_admin(editor, editor_client):
    commitment = make_commitment(title="Old title")
    old = commitment.history.latest()
    editor_client.post(
        reverse("admin:aitracker_commitment_change", args=[commitment.pk]),
        commitment_admin_data(commitment, version=history.version_token(commitment), title="New title"),
    )
    commitment.refresh_from_db()
    url = reverse("admin:aitracker_commitment_simple_history", args=[commitment.pk, old.history_id])
    editor_client.post(url, {"version": history.version_token(commitment)})
    commitment.refresh_from_db()
    assert commitment.title == "Old title"
    assert commitment.history.filter(title="New title").exists()


def test_the_admin_history_shows_field_by_field_changes_to_editors(editor, editor_client):
    update = make_update(state="draft", summary="Before.")
    services.progress_update_edit(update=update, user=editor, summary="After.")
    page = editor_client.get(reverse("admin:aitracker_progressupdate_history", args=[update.pk])).content.decode()
    assert "Before." in page and "After." in page and editor.username in page


def test_the_admin_delete_is_a_soft_delete(editor_client):
    update = make_update(state="published", status="achieved")
    commitment = update.commitment
    url = reverse("admin:aitracker_progressupdate_delete", args=[update.pk])
    confirm = editor_client.get(url).content.decode()
    assert "not erased" in confirm
    editor_client.post(url, {"post": "yes"})
    update.refresh_from_db()
    commitment.refresh_from_db()
    assert update.deleted_at is not None and commitment.current_status == "not_assessed"

    editor_client.post(
        reverse("admin:aitracker_commitment_delete", args=[commitment.pk]), {"post": "yes"}
    )  # an update protects nothing: the commitment is only hidden
    commitment.refresh_from_db()
    assert commitment.deleted_at is not None
    assert Commitment.objects.filter(pk=commitment.pk).exists()


def test_the_admin_bulk_delete_is_a_soft_delete(editor_client):
    updates = [make_update(state="draft"), make_update(state="submitted")]
    editor_client.post(
        reverse("admin:aitracker_progressupdate_changelist"),
        {"action": "delete_selected", "_selected_action": [u.pk for u in updates], "post": "yes"},
    )
    assert ProgressUpdate.objects.filter(pk__in=[u.pk for u in updates], deleted_at__isnull=False).count() == 2
    listing = editor_client.get(reverse("admin:aitracker_progressupdate_changelist")).content.decode()
    assert str(updates[0].commitment) not in listing


def test_undo_from_the_deleted_items_page(editor, editor_client):
    update = make_update(state="published", reported_on=date(2025, 3, 1))
    services.progress_update_delete(update=update, editor=editor)
    page = editor_client.get(reverse("deleted_items")).content.decode()
    assert reverse("update_undelete", args=[update.pk]) in page
    editor_client.post(reverse("update_undelete", args=[update.pk]))
    update.refresh_from_db()
    update.commitment.refresh_from_db()
    assert update.deleted_at is None and update.commitment.current_status == "in_progress"
    assert [r.history_change_reason for r in update.history.order_by("-history_date")[:2]] == [
        "Deletion undone",
        "Deleted",
    ]


def test_history_pages_list_source_changes(editor, editor_client):
    update = make_update(state="draft")
    services.progress_update_edit(
        update=update, user=editor, sources=[{"url": "https://example.org/new", "title": "A new source"}]
    )
    page = editor_client.get(reverse("update_history", args=[update.pk])).content.decode()
    assert "A new source" in page and "Source 0" in page and "deleted" in page
