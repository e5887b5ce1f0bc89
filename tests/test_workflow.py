"""The analysts' and editors' workflow on the site: log, edit, submit, return, publish, correct; refused inputs;
concurrent edits; history and restore; soft delete and undo."""

from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aitracker import history, services
from aitracker.models import Commitment, ProgressUpdate, Source
from tests.factories import make_analyst, make_commitment, make_editor, make_party, make_update

pytestmark = pytest.mark.django_db


SOURCE = {
    "url": "https://example.org/news/1",
    "title": "Ministry launches the AI fund",
    "publisher": "Example News",
    "published_on": "2025-05-02",
    "archived_url": "",
}


def form_data(*, sources=(SOURCE,), existing=(), version=None, **fields):
    """The POST body of the update form: its fields, then the sources formset (existing sources first)."""
    data = {
        "reported_on": "2025-05-01",
        "status": "in_progress",
        "progress": "30",
        "kind": "assessment",
        "confidence": "confirmed",
        "summary": "The **fund** was launched.",
    } | fields
    if version is not None:
        data["version"] = version
    rows = [*existing, *sources]
    data |= {
        "sources-TOTAL_FORMS": str(len(rows) + 2),
        "sources-INITIAL_FORMS": str(len(existing)),
        "sources-MIN_NUM_FORMS": "1",
        "sources-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"sources-{index}-{key}"] = value
    return data


def login(user):
    client = Client()
    client.force_login(user)
    return client


def text(response):
    return response.content.decode()


@pytest.fixture
def commitment(db):
    return make_commitment(title="Fund AI research", slug="fund-ai-research")


def test_the_whole_path_from_draft_to_the_public_page(commitment):
    analyst, editor = make_analyst(username="ana"), make_editor(username="eddie")
    ana, eddie = login(analyst), login(editor)
    public = Client()
    page = reverse("commitment_detail", args=[commitment.slug])

    form = ana.get(reverse("update_create", args=[commitment.slug]))
    assert form.status_code == 200 and "Log a progress update" in text(form)

    response = ana.post(reverse("update_create", args=[commitment.slug]), form_data(save="1"))
    update = ProgressUpdate.objects.get()
    assert response.status_code == 302 and response.url == reverse("update_edit", args=[update.pk])
    assert update.state == "draft" and update.author == analyst and update.sources.count() == 1
    assert "launched" not in text(public.get(page))

    ana.post(reverse("update_submit", args=[update.pk]))
    update.refresh_from_db()
    assert update.state == "submitted"
    assert "launched" not in text(public.get(page))

    queue = eddie.get(reverse("review_queue"))
    assert "Fund AI research" in text(queue) and "Not yet assessed" in text(queue)

    eddie.post(reverse("update_return", args=[update.pk]), {"note": "Which ministry? Add the official notice."})
    update.refresh_from_db()
    assert update.state == "returned" and update.reviewer == editor
    mine = ana.get(reverse("my_updates"))
    assert "Which ministry? Add the official notice." in text(mine)

    existing = [{"id": source.pk, **SOURCE} for source in update.sources.all()]
    official = SOURCE | {"url": "https://gov.example/notice", "title": "Official notice"}
    response = ana.post(
        reverse("update_edit", args=[update.pk]),
        form_data(existing=existing, sources=[official], version=history.version_token(update), submit="1"),
    )
    assert response.status_code == 302 and response.url == reverse("my_updates")
    update.refresh_from_db()
    assert update.state == "submitted" and update.sources.count() == 2
    assert "launched" not in text(public.get(page))

    eddie.post(reverse("update_publish", args=[update.pk]))
    update.refresh_from_db()
    commitment.refresh_from_db()
    assert update.state == "published" and update.published_at
    assert commitment.current_status == "in_progress" and commitment.current_progress == 30

    shown = text(public.get(page))
    assert "<strong>fund</strong> was launched" in shown and "Official notice" in shown
    assert "Nothing to review" in text(eddie.get(reverse("review_queue")))


def test_the_review_queue_shows_what_publication_would_change(commitment, editor_client):
    make_update(commitment=commitment, state="published", status="in_progress", progress=40)
    make_update(commitment=commitment, state="submitted", status="achieved", progress=100, reported_on=date(2025, 9, 1))
    page = text(editor_client.get(reverse("review_queue")))
    assert "What publication would change" in page
    effect = page.split("What publication would change")[1].split("</table>")[0]
    assert effect.index("In progress") < effect.index("Achieved")
    assert "40%" in effect and "100%" in effect


def test_an_older_update_is_shown_as_changing_nothing(commitment, editor_client):
    make_update(commitment=commitment, state="published", reported_on=date(2025, 9, 1))
    make_update(commitment=commitment, state="submitted", status="stalled", reported_on=date(2025, 1, 1))
    assert "No change to the current status" in text(editor_client.get(reverse("review_queue")))


def test_returning_needs_a_note(commitment, editor_client):
    update = make_update(commitment=commitment, state="submitted")
    response = editor_client.post(reverse("update_return", args=[update.pk]), {"note": "  "}, follow=True)
    assert "Say what the analyst should change" in text(response)
    update.refresh_from_db()
    assert update.state == "submitted"


def test_the_preview_step_renders_sanitised_markdown_and_saves_nothing(commitment, analyst_client):
    summary = "A *new* law. <script>alert(1)</script>[x](javascript:alert(2))"
    response = analyst_client.post(
        reverse("update_create", args=[commitment.slug]), form_data(summary=summary, preview="1")
    )
    page = text(response)
    assert response.status_code == 200
    assert "Preview of the summary" in page and "<em>new</em>" in page
    assert (
        "<script>alert(1)" not in page
        and "javascript:alert" not in page.split("Preview of the summary")[1].split("</section>")[0]
    )
    assert "A *new* law." in page  # the typed text stays in the form
    assert not ProgressUpdate.objects.exists()


def test_an_analyst_saves_a_draft_and_edits_it(commitment, analyst, analyst_client):
    update = make_update(commitment=commitment, author=analyst, summary="First words.")
    source = update.sources.get()
    response = analyst_client.post(
        reverse("update_edit", args=[update.pk]),
        form_data(
            summary="Better words.",
            existing=[{"id": source.pk, "url": source.url, "title": "Renamed source"}],
            sources=[],
            version=history.version_token(update),
            save="1",
        ),
    )
    assert response.status_code == 302
    update.refresh_from_db()
    assert update.summary == "Better words." and update.state == "draft"
    assert list(update.sources.values_list("title", flat=True)) == ["Renamed source"]


def test_an_analyst_can_remove_a_source_of_a_draft(commitment, analyst, analyst_client):
    update = make_update(commitment=commitment, author=analyst, sources=2)
    first, second = update.sources.all()
    analyst_client.post(
        reverse("update_edit", args=[update.pk]),
        form_data(
            existing=[
                {"id": first.pk, "url": first.url, "title": first.title},
                {"id": second.pk, "url": second.url, "title": second.title, "DELETE": "on"},
            ],
            sources=[],
            version=history.version_token(update),
            save="1",
        ),
    )
    assert list(update.sources.all()) == [first]
    assert Source.history.filter(id=second.pk, history_type="-").exists()


def test_a_submitted_update_is_not_editable_by_its_author(commitment, analyst, analyst_client):
    update = make_update(commitment=commitment, author=analyst, state="submitted")
    response = analyst_client.get(reverse("update_edit", args=[update.pk]), follow=True)
    assert "waiting for review" in text(response)
    response = analyst_client.post(
        reverse("update_edit", args=[update.pk]), form_data(version=history.version_token(update), save="1")
    )
    assert response.status_code == 302
    update.refresh_from_db()
    assert update.summary == "Something happened."


def test_an_editor_can_fix_a_submitted_update_before_publishing(commitment, editor_client):
    update = make_update(commitment=commitment, state="submitted")
    source = update.sources.get()
    response = editor_client.post(
        reverse("update_edit", args=[update.pk]),
        form_data(
            summary="Fixed typo.",
            existing=[{"id": source.pk, "url": source.url, "title": source.title}],
            sources=[],
            version=history.version_token(update),
            save="1",
        ),
    )
    assert response.status_code == 302 and response.url == reverse("review_queue")
    update.refresh_from_db()
    assert update.summary == "Fixed typo." and update.state == "submitted"


# --- Refused inputs: a clear message next to the field, and what was typed kept ---------------------------


@pytest.mark.parametrize(
    ("fields", "source", "message", "kept"),
    [
        (
            {},
            {"url": "ftp://example.org/file"},
            "Enter a web address starting with http:// or https://.",
            "ftp://example.org/file",
        ),
        (
            {},
            {"url": "javascript:alert(1)"},
            "Enter a web address starting with http:// or https://.",
            "javascript:alert(1)",
        ),
        (
            {},
            {"archived_url": "file:///etc/passwd"},
            "Enter a web address starting with http:// or https://.",
            "file:///etc/passwd",
        ),
        ({"reported_on": "2999-01-01"}, {}, "The date of the event cannot be in the future.", "2999-01-01"),
        ({}, {"published_on": "2999-01-01"}, "A source cannot be published in the future.", "2999-01-01"),
        ({"progress": "101"}, {}, "Progress must be between 0 and 100.", 'value="101"'),
        ({"progress": "-5"}, {}, "Progress must be between 0 and 100.", 'value="-5"'),
        ({"summary": ""}, {}, "This field is required.", "Ministry launches the AI fund"),
    ],
    ids=[
        "ftp-url",
        "javascript-url",
        "file-archive",
        "future-event",
        "future-source",
        "progress-101",
        "progress-neg",
        "no-summary",
    ],
)
def test_refused_inputs_say_why_and_keep_what_was_typed(commitment, analyst_client, fields, source, message, kept):
    data = form_data(sources=[SOURCE | source], summary=fields.pop("summary", "Kept **summary**."), save="1", **fields)
    response = analyst_client.post(reverse("update_create", args=[commitment.slug]), data)
    page = text(response)
    assert response.status_code == 400
    assert message in page
    assert kept in page
    assert "Nothing was saved" in page
    assert not ProgressUpdate.objects.exists()


def test_the_error_is_next_to_its_field(commitment, analyst_client):
    response = analyst_client.post(
        reverse("update_create", args=[commitment.slug]), form_data(progress="150", save="1")
    )
    page = text(response)
    field = page.split('for="id_progress"')[1].split('name="progress"')[0]  # from its label to its input
    assert "Progress must be between 0 and 100." in field
    assert 'aria-invalid="true"' in page.split('name="progress"')[1].split(">")[0]


def test_an_update_without_a_source_is_refused(commitment, analyst_client):
    response = analyst_client.post(
        reverse("update_create", args=[commitment.slug]), form_data(sources=[], summary="Typed summary.", save="1")
    )
    page = text(response)
    assert response.status_code == 400
    assert "Add at least one source" in page and "Typed summary." in page
    assert not ProgressUpdate.objects.exists()


def test_deleting_every_source_of_a_draft_is_refused(commitment, analyst, analyst_client):
    update = make_update(commitment=commitment, author=analyst)
    source = update.sources.get()
    response = analyst_client.post(
        reverse("update_edit", args=[update.pk]),
        form_data(
            existing=[{"id": source.pk, "url": source.url, "title": source.title, "DELETE": "on"}],
            sources=[],
            version=history.version_token(update),
            save="1",
        ),
    )
    assert response.status_code == 400 and "Add at least one source" in text(response)
    assert update.sources.count() == 1


def test_a_deleted_commitment_cannot_get_new_updates(commitment, analyst_client, editor):
    services.commitment_delete(commitment=commitment, editor=editor)
    assert analyst_client.get(reverse("update_create", args=[commitment.slug])).status_code == 404


# --- Concurrent edits ------------------------------------------------------------------------------------


def test_the_second_of_two_concurrent_edits_is_refused_with_what_changed(commitment):
    analyst, editor = make_analyst(), make_editor(username="eddie")
    update = make_update(commitment=commitment, author=analyst, state="returned", summary="Original.")
    source = update.sources.get()
    existing = [{"id": source.pk, "url": source.url, "title": source.title}]
    loaded = history.version_token(update)  # both opened the form now

    first = login(editor).post(
        reverse("update_edit", args=[update.pk]),
        form_data(
            summary="The editor's fix.", status="stalled", existing=existing, sources=[], version=loaded, save="1"
        ),
    )
    assert first.status_code == 302

    second = login(analyst).post(
        reverse("update_edit", args=[update.pk]),
        form_data(summary="The analyst's rewrite.", existing=existing, sources=[], version=loaded, save="1"),
    )
    page = text(second)
    assert second.status_code == 409
    assert "Someone else changed this update" in page and "eddie" in page
    assert "Original." in page and "The editor&#x27;s fix." in page  # summary: old → new
    assert "In progress" in page and "Stalled" in page  # status: old → new
    assert "The analyst&#x27;s rewrite." in page  # what they typed is kept
    update.refresh_from_db()
    assert update.summary == "The editor's fix."  # the first save stays

    # The form now carries the new version: saving again, knowingly, goes through.
    version = page.split('name="version" value="')[1].split('"')[0]
    assert version == history.version_token(update)
    third = login(analyst).post(
        reverse("update_edit", args=[update.pk]),
        form_data(summary="The analyst's rewrite.", existing=existing, sources=[], version=version, save="1"),
    )
    assert third.status_code == 302
    update.refresh_from_db()
    assert update.summary == "The analyst's rewrite."


def test_a_form_without_its_version_is_refused(commitment, analyst, analyst_client):
    update = make_update(commitment=commitment, author=analyst)
    source = update.sources.get()
    response = analyst_client.post(
        reverse("update_edit", args=[update.pk]),
        form_data(existing=[{"id": source.pk, "url": source.url, "title": source.title}], sources=[], save="1"),
    )
    assert response.status_code == 409


def test_the_service_refuses_a_stale_version(commitment, analyst, editor):
    update = make_update(commitment=commitment, author=analyst)
    stale = history.version_token(update)
    services.progress_update_edit(update=update, user=editor, expected_version=stale, summary="Newer.")
    with pytest.raises(history.EditConflict) as conflict:
        services.progress_update_edit(update=update, user=analyst, expected_version=stale, summary="Older.")
    assert [change.field for change in conflict.value.changes] == ["summary"]
    assert conflict.value.changes[0].old == "Something happened." and conflict.value.changes[0].new == "Newer."


# --- Corrections -----------------------------------------------------------------------------------------


def test_a_correction_is_shown_publicly_and_the_earlier_version_stays_in_the_history(commitment, editor_client):
    update = make_update(commitment=commitment, state="published", status="achieved", progress=100, summary="Done.")
    commitment.refresh_from_db()
    assert commitment.current_status == "achieved"
    source = update.sources.get()
    response = editor_client.post(
        reverse("update_correct", args=[update.pk]),
        form_data(
            status="partly_achieved",
            progress="60",
            summary="Half done.",
            correction_note="The second phase has not started.",
            existing=[{"id": source.pk, "url": source.url, "title": source.title}],
            sources=[],
            version=history.version_token(update),
            save="1",
        ),
    )
    assert response.status_code == 302
    update.refresh_from_db()
    commitment.refresh_from_db()
    assert update.corrected_at and update.correction_note == "The second phase has not started."
    assert commitment.current_status == "partly_achieved" and commitment.current_progress == 60

    page = text(Client().get(commitment.get_absolute_url()))
    assert "Half done." in page and "Corrected on" in page and "The second phase has not started." in page
    assert "Done." not in page.replace("Half done.", "")

    assert update.history.filter(summary="Done.", status="achieved").exists()
    history_page = text(editor_client.get(reverse("update_history", args=[update.pk])))
    assert all(word in history_page for word in ("Done.", "Half done.", "Achieved", "Partly achieved"))


def test_a_correction_needs_a_note(commitment, editor_client):
    update = make_update(commitment=commitment, state="published")
    source = update.sources.get()
    response = editor_client.post(
        reverse("update_correct", args=[update.pk]),
        form_data(
            summary="Changed.",
            existing=[{"id": source.pk, "url": source.url, "title": source.title}],
            sources=[],
            version=history.version_token(update),
            save="1",
        ),
    )
    assert response.status_code == 400 and "This field is required." in text(response)
    update.refresh_from_db()
    assert update.summary == "Something happened." and update.corrected_at is None


def test_editing_a_published_update_leads_the_editor_to_the_correction_form(commitment, editor_client):
    update = make_update(commitment=commitment, state="published")
    response = editor_client.get(reverse("update_edit", args=[update.pk]))
    assert response.status_code == 302 and response.url == reverse("update_correct", args=[update.pk])


# --- History and restore ---------------------------------------------------------------------------------


def test_an_editor_restores_an_earlier_version_of_a_published_update(commitment, editor, editor_client):
    update = make_update(commitment=commitment, state="published", status="achieved", summary="Right.")
    first_version = update.history.latest()
    services.progress_update_correct(
        update=update,
        editor=editor,
        note="Oops",
        status="reversed",
        summary="Wrong.",
        sources=[{"url": "https://example.org/wrong", "title": "Wrong source"}],
    )
    commitment.refresh_from_db()
    assert commitment.current_status == "reversed"
    update.refresh_from_db()

    history_page = text(editor_client.get(reverse("update_history", args=[update.pk])))
    assert "Restore this version" in history_page and "Wrong source" in history_page

    response = editor_client.post(
        reverse("update_restore", args=[update.pk, first_version.history_id]),
        {"version": history.version_token(update)},
        follow=True,
    )
    assert "The earlier version was restored" in text(response)
    update.refresh_from_db()
    commitment.refresh_from_db()
    assert update.summary == "Right." and update.status == "achieved"
    assert list(update.sources.values_list("title", flat=True)) == ["Source 0"]
    assert commitment.current_status == "achieved"
    assert update.history.latest().history_change_reason.startswith("Restored the version of")
    assert update.history.filter(summary="Wrong.").exists()  # the restore can itself be undone


def test_restoring_with_a_stale_page_is_refused(commitment, editor, editor_client):
    update = make_update(commitment=commitment, state="draft")
    first = update.history.latest()
    stale = history.version_token(update)
    services.progress_update_edit(update=update, user=editor, summary="Later.")
    response = editor_client.post(
        reverse("update_restore", args=[update.pk, first.history_id]), {"version": stale}, follow=True
    )
    assert "was changed by" in text(response)
    update.refresh_from_db()
    assert update.summary == "Later."


def test_an_editor_restores_an_earlier_version_of_a_commitment(commitment, editor, editor_client):
    party = make_party(name="Ruritania")
    original = commitment.history.latest()
    with_party = Commitment.objects.get(pk=commitment.pk)
    with_party.title = "A rewritten title"
    with_party._history_user = editor
    with_party.save()
    with_party.parties.set([party])
    commitment.refresh_from_db()

    history_page = text(editor_client.get(reverse("commitment_history", args=[commitment.slug])))
    assert "A rewritten title" in history_page and "Fund AI research" in history_page and "Ruritania" in history_page

    editor_client.post(
        reverse("commitment_restore", args=[commitment.slug, original.history_id]),
        {"version": history.version_token(commitment)},
    )
    commitment.refresh_from_db()
    assert commitment.title == "Fund AI research" and not commitment.parties.exists()
    assert commitment.history.filter(title="A rewritten title").exists()


# --- Soft delete and undo --------------------------------------------------------------------------------


def test_soft_deleting_an_update_hides_it_and_undo_brings_it_back(commitment, editor_client):
    older = make_update(commitment=commitment, state="published", reported_on=date(2025, 1, 1), status="stalled")
    newer = make_update(commitment=commitment, state="published", reported_on=date(2025, 6, 1), summary="Newest.")
    page = commitment.get_absolute_url()

    editor_client.post(reverse("update_delete", args=[newer.pk]))
    newer.refresh_from_db()
    commitment.refresh_from_db()
    assert newer.deleted_at and commitment.current_status == "stalled"
    assert "Newest." not in text(Client().get(page))
    assert ProgressUpdate.objects.filter(pk=newer.pk).exists()  # nothing erased

    deleted = text(editor_client.get(reverse("deleted_items")))
    assert str(newer) in deleted

    editor_client.post(reverse("update_undelete", args=[newer.pk]))
    newer.refresh_from_db()
    commitment.refresh_from_db()
    assert newer.deleted_at is None and commitment.current_status == "in_progress"
    assert "Newest." in text(Client().get(page))
    assert older.pk != newer.pk


def test_soft_deleting_a_commitment_hides_it_and_undo_brings_it_back(commitment, editor_client):
    make_update(commitment=commitment, state="published", status="achieved")
    editor_client.post(reverse("commitment_delete", args=[commitment.slug]))
    commitment.refresh_from_db()
    assert commitment.deleted_at
    assert Client().get(commitment.get_absolute_url()).status_code == 404
    assert "Fund AI research" in text(editor_client.get(reverse("deleted_items")))

    editor_client.post(reverse("commitment_undelete", args=[commitment.slug]))
    commitment.refresh_from_db()
    assert commitment.deleted_at is None and commitment.current_status == "achieved"
    assert Client().get(commitment.get_absolute_url()).status_code == 200


def test_the_history_shows_who_changed_what(commitment, analyst, editor, editor_client):
    update = services.progress_update_create(
        commitment=commitment,
        author=analyst,
        reported_on=timezone.localdate() - timedelta(days=3),
        status="in_progress",
        summary="First.",
        sources=[{"url": "https://example.org/a", "title": "A"}],
    )
    services.progress_update_submit(update=update, user=analyst)
    services.progress_update_publish(update=update, editor=editor)
    page = text(editor_client.get(reverse("update_history", args=[update.pk])))
    assert "ana" in page and "eddie" in page
    assert "Submitted for review" in page and "Published" in page
    assert "Draft" in page and "Submitted for review" in page  # state: old → new
