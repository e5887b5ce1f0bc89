"""A commitment's current status is its latest published update's (by date of the event, then publication)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from aitracker import services
from aitracker.models import Commitment, ProgressUpdate, Status
from tests.factories import make_analyst, make_commitment, make_editor, make_update

pytestmark = pytest.mark.django_db


def current(commitment):
    commitment.refresh_from_db()
    return commitment.current_status, commitment.current_progress, commitment.last_update_on


def publish(update, editor):
    ProgressUpdate.objects.filter(pk=update.pk).update(state="submitted")
    return services.progress_update_publish(update=update, editor=editor)


def test_a_commitment_without_published_updates_is_not_yet_assessed():
    commitment = make_commitment()
    make_update(commitment=commitment, state="draft")
    assert current(commitment) == (Status.NOT_ASSESSED, None, None)


def test_the_latest_published_update_by_date_wins():
    editor = make_editor()
    commitment = make_commitment()
    later = make_update(commitment=commitment, state="submitted", reported_on=date(2025, 9, 1), status="achieved")
    earlier = make_update(
        commitment=commitment, state="submitted", reported_on=date(2025, 3, 1), status="stalled", progress=10
    )
    publish(later, editor)
    publish(earlier, editor)  # published afterwards, but about an earlier event
    assert current(commitment) == ("achieved", 40, date(2025, 9, 1))


def test_on_the_same_date_the_later_publication_wins():
    editor = make_editor()
    commitment = make_commitment()
    first = make_update(commitment=commitment, state="submitted", status="stalled")
    second = make_update(commitment=commitment, state="submitted", status="reversed", progress=None)
    publish(first, editor)
    publish(second, editor)
    assert current(commitment) == ("reversed", None, date(2025, 6, 1))


def test_a_later_draft_changes_nothing():
    editor = make_editor()
    commitment = make_commitment()
    publish(make_update(commitment=commitment, state="submitted", status="in_progress"), editor)
    make_update(commitment=commitment, state="draft", reported_on=date(2026, 1, 1), status="reversed")
    make_update(commitment=commitment, state="submitted", reported_on=date(2026, 1, 2), status="reversed")
    assert current(commitment)[0] == "in_progress"


def test_unpublishing_recomputes():
    editor = make_editor()
    commitment = make_commitment()
    publish(make_update(commitment=commitment, state="submitted", reported_on=date(2025, 1, 1)), editor)
    newest = publish(
        make_update(commitment=commitment, state="submitted", reported_on=date(2025, 8, 1), status="achieved"), editor
    )
    services.progress_update_unpublish(update=newest, editor=editor, note="Source retracted the story.")
    assert current(commitment) == ("in_progress", 40, date(2025, 1, 1))
    newest.refresh_from_db()
    assert newest.state == "returned" and newest.published_at is None


def test_unpublishing_the_only_update_returns_to_not_assessed():
    editor = make_editor()
    commitment = make_commitment()
    only = publish(make_update(commitment=commitment, state="submitted"), editor)
    services.progress_update_unpublish(update=only, editor=editor, note="Wrong commitment.")
    assert current(commitment) == (Status.NOT_ASSESSED, None, None)


def test_the_denormalised_status_matches_the_computed_one():
    editor = make_editor()
    for _ in range(3):
        commitment = make_commitment()
        for day in (3, 1, 2):
            publish(make_update(commitment=commitment, state="submitted", reported_on=date(2025, 1, day)), editor)
    for row in Commitment.objects.with_computed_status():
        assert (row.current_status, row.last_update_on) == (row.computed_status, row.computed_update_on)


def test_publishing_needs_an_editor_a_submitted_update_and_a_source():
    analyst = make_analyst()
    editor = make_editor()
    update = make_update(state="submitted", author=analyst)
    with pytest.raises(PermissionDenied):
        services.progress_update_publish(update=update, editor=analyst)
    draft = make_update(state="draft")
    with pytest.raises(ValidationError, match="Only a submitted update can be published"):
        services.progress_update_publish(update=draft, editor=editor)
    sourceless = make_update(state="submitted", sources=0)
    with pytest.raises(ValidationError, match="at least one source"):
        services.progress_update_publish(update=sourceless, editor=editor)
    assert current(update.commitment)[0] == Status.NOT_ASSESSED


def test_an_event_in_the_future_cannot_be_submitted_or_published():
    analyst = make_analyst()
    update = make_update(author=analyst, reported_on=timezone.localdate() + timedelta(days=2))
    with pytest.raises(ValidationError, match="cannot be in the future"):
        services.progress_update_submit(update=update, user=analyst)


def test_the_submit_publish_path_through_the_services():
    analyst = make_analyst()
    editor = make_editor()
    commitment = make_commitment()
    update = services.progress_update_create(
        commitment=commitment,
        author=analyst,
        reported_on=date(2025, 5, 5),
        status="partly_achieved",
        progress=60,
        summary="Half of it is done.",
        sources=[{"url": "https://example.org/news", "title": "News"}],
    )
    assert update.state == "draft"
    services.progress_update_submit(update=update, user=analyst)
    services.progress_update_return(update=update, editor=editor, note="Add the official source.")
    update.refresh_from_db()
    assert (update.state, update.review_note) == ("returned", "Add the official source.")
    services.progress_update_submit(update=update, user=analyst)
    services.progress_update_publish(update=update, editor=editor)
    assert current(commitment) == ("partly_achieved", 60, date(2025, 5, 5))


def test_an_analyst_cannot_submit_someone_elses_update():
    owner = make_analyst()
    other = make_analyst()
    update = make_update(author=owner)
    with pytest.raises(PermissionDenied):
        services.progress_update_submit(update=update, user=other)
