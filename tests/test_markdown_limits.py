"""Issue 10, hole 8: Markdown can no longer take a worker down. Every free-text field has a length limit with a
clear error; a summary is rendered once, when it is saved, and pages show the stored HTML; no text of the
allowed length takes long to render or raises."""

import time
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from aitracker import services
from aitracker.models import (
    NOTE_MAX_LENGTH,
    SUMMARY_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    Commitment,
    Endorsement,
    Instrument,
    ProgressUpdate,
    Theme,
)
from aitracker.rendering import render_markdown
from tests import factories
from tests.test_import_export import HEADER, preview, row, to_csv
from tests.test_workflow import SOURCE, form_data

N = SUMMARY_MAX_LENGTH


def _repeat(piece, length=N):
    return (piece * (length // len(piece) + 1))[:length]


ADVERSARIAL = {
    "brackets": "[" * N,
    "image brackets": _repeat("!["),
    "stars": "*" * N,
    "underscores": "_" * N,
    "backticks": "`" * N,
    "angle brackets": "<" * N,
    "unclosed links": _repeat("[a]("),
    "links in links": _repeat("[a]([b]("),
    "emphasis runs": _repeat("a*"),
    "mixed openers": _repeat("*[`<_"),
    "balanced brackets": "[" * (N // 2) + "]" * (N // 2),
    "entities": _repeat("&#"),
    "deep list": "".join("  " * depth + "- x\n" for depth in range(2000))[:N],
    "deep inline list": _repeat("- "),
    "deep blockquote": ">" * N,
    "deep quoted lists": _repeat("> - "),
    "deep ordered lists": _repeat("1. "),
    "deep html divs": _repeat("<div>"),
    "deep html lists": _repeat("<ul><li>"),
    "misnested formatting": _repeat("<a><b><i>"),
    "html comments": _repeat("<!--"),
    "link reference definitions": _repeat("[x]: "),
    "fences": _repeat("```\n"),
    "backslashes": "\\" * N,
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_no_summary_of_the_allowed_length_is_slow_to_render_or_raises(text):
    assert len(text) <= SUMMARY_MAX_LENGTH
    started = time.perf_counter()
    html = render_markdown(text)
    elapsed = time.perf_counter() - started
    # The target is 100 ms (measured: 18 ms at worst, on a busy two-core machine); the margin keeps a busy
    # CI machine from failing the test for nothing.
    assert elapsed < 1.0, f"{elapsed * 1000:.0f} ms"
    assert "<script" not in html


def test_a_deep_list_still_renders_its_text_safely():
    html = render_markdown("".join("  " * depth + "- item\n" for depth in range(2000)))
    assert "item" in html and "<script" not in html
    html = render_markdown(">" * 5000 + " <script>alert(1)</script> deep")
    assert "deep" in html and "<script" not in html


def test_ordinary_nesting_keeps_its_structure():
    html = render_markdown("> quoted\n>\n> - one\n>   - two\n")
    assert "<blockquote>" in html and html.count("<ul>") == 2


@pytest.mark.parametrize(
    ("make", "field", "limit"),
    [
        (lambda text: factories.make_update(summary="x"), "summary", SUMMARY_MAX_LENGTH),
        (lambda text: factories.make_update(), "review_note", NOTE_MAX_LENGTH),
        (lambda text: factories.make_update(), "correction_note", NOTE_MAX_LENGTH),
        (lambda text: factories.make_instrument(), "summary", TEXT_MAX_LENGTH),
        (lambda text: factories.make_instrument(), "note", TEXT_MAX_LENGTH),
        (lambda text: factories.make_endorsement(), "note", NOTE_MAX_LENGTH),
        (lambda text: factories.make_theme(), "description", TEXT_MAX_LENGTH),
        (lambda text: factories.make_commitment(), "text", TEXT_MAX_LENGTH),
    ],
)
@pytest.mark.django_db
def test_every_free_text_field_has_a_limit_the_model_enforces(make, field, limit):
    obj = make("")
    setattr(obj, field, "x" * limit)
    obj.full_clean()
    setattr(obj, field, "x" * (limit + 1))
    with pytest.raises(ValidationError) as error:
        obj.full_clean()
    assert field in error.value.message_dict
    assert f"at most {limit} characters" in " ".join(error.value.message_dict[field])


@pytest.mark.django_db
def test_source_titles_and_publishers_are_bounded():
    update = factories.make_update()
    source = update.sources.get()
    source.title = "t" * 301
    source.publisher = "p" * 201
    with pytest.raises(ValidationError) as error:
        source.full_clean()
    assert {"title", "publisher"} <= set(error.value.message_dict)


@pytest.mark.django_db
def test_the_form_refuses_a_summary_over_the_limit_with_a_clear_error(analyst_client):
    commitment = factories.make_commitment()
    url = reverse("update_create", args=[commitment.slug])
    response = analyst_client.post(url, form_data(summary="[" * (N + 1), save="1"))
    assert response.status_code == 400
    assert f"Ensure this value has at most {N} characters (it has {N + 1})." in response.content.decode()
    assert not ProgressUpdate.objects.exists()
    # Nor is an over-long text rendered by the preview.
    response = analyst_client.post(url, form_data(summary="[" * (N + 1), preview="1"))
    assert response.status_code == 200 and "Preview of the summary" not in response.content.decode()
    response = analyst_client.post(url, form_data(summary="**" + "[" * (N - 2), preview="1"))
    assert "Preview of the summary" in response.content.decode()


@pytest.mark.django_db
def test_the_review_and_correction_notes_have_a_clear_limit(editor_client):
    update = factories.make_update(state="submitted")
    response = editor_client.post(
        reverse("update_return", args=[update.pk]), {"note": "n" * (NOTE_MAX_LENGTH + 1)}, follow=True
    )
    assert f"at most {NOTE_MAX_LENGTH} characters" in response.content.decode()
    update.refresh_from_db()
    assert update.state == "submitted"
    editor = factories.make_editor()
    with pytest.raises(ValidationError):
        services.progress_update_return(update=update, editor=editor, note="n" * (NOTE_MAX_LENGTH + 1))


@pytest.mark.django_db
def test_an_import_refuses_an_over_long_summary(editor_client):
    factories.make_commitment(slug="fund-research")
    factories.make_party(slug="ruritania", name="Ruritania")
    page = preview(editor_client, "progressupdate", to_csv([row(summary="x" * (N + 1))], HEADER)).content.decode()
    assert f"at most {N} characters" in page and "Confirm import" not in page
    assert not ProgressUpdate.objects.exists()


def _published_through_the_services(summary):
    analyst, editor = factories.make_analyst(), factories.make_editor()
    update = services.progress_update_create(
        commitment=factories.make_commitment(),
        author=analyst,
        sources=[SOURCE | {"published_on": date(2025, 5, 2)}],
        reported_on=date(2025, 5, 1),
        status="in_progress",
        summary=summary,
    )
    services.progress_update_submit(update=update, user=analyst)
    return services.progress_update_publish(update=update, editor=editor), editor


@pytest.mark.django_db
def test_every_service_that_writes_a_summary_stores_its_html():
    update, editor = _published_through_the_services("First **words**.")
    assert update.summary_html == "<p>First <strong>words</strong>.</p>\n"
    first_version = update.history.earliest().history_id
    update = services.progress_update_correct(update=update, editor=editor, note="Typo.", summary="Second *words*.")
    update.refresh_from_db()
    assert update.summary_html == "<p>Second <em>words</em>.</p>\n"
    update = services.progress_update_restore(update=update, history_id=first_version, editor=editor)
    update.refresh_from_db()
    assert update.summary_html == "<p>First <strong>words</strong>.</p>\n"
    draft = factories.make_update(author=editor, summary="x")
    services.progress_update_edit(update=draft, user=editor, summary="Third `words`.")
    draft.refresh_from_db()
    assert draft.summary_html == "<p>Third <code>words</code>.</p>\n"


@pytest.mark.django_db
def test_pages_and_feeds_show_the_stored_html_and_never_render_on_request(client, editor_client, monkeypatch):
    update, _ = _published_through_the_services("Rendered **once**.")
    submitted = factories.make_update(state="submitted", summary="Waiting *here*.")
    # Were a page to render the Markdown itself, this would fail it.
    monkeypatch.setattr("aitracker.rendering.cmarkgfm.markdown_to_html", lambda *a, **k: 1 / 0)
    for url in (update.commitment.get_absolute_url(), reverse("update_list"), reverse("feed_updates")):
        page = client.get(url).content.decode()
        assert "once" in page and ("<strong>once</strong>" in page or "&lt;strong&gt;once" in page), url
    review = editor_client.get(reverse("review_queue"))
    assert review.status_code == 200 and "<em>here</em>" in review.content.decode()
    assert submitted.summary_html


@pytest.mark.django_db
def test_the_review_queue_survives_a_hostile_summary(editor_client):
    analyst = factories.make_analyst()
    update = services.progress_update_create(
        commitment=factories.make_commitment(),
        author=analyst,
        sources=[SOURCE | {"published_on": date(2025, 5, 2)}],
        reported_on=date(2025, 5, 1),
        status="in_progress",
        summary="".join("  " * depth + "- x\n" for depth in range(2000))[:N],
    )
    services.progress_update_submit(update=update, user=analyst)
    started = time.perf_counter()
    response = editor_client.get(reverse("review_queue"))
    assert response.status_code == 200
    assert time.perf_counter() - started < 2


@pytest.mark.django_db
def test_rerender_markdown_renders_every_stored_summary_again():
    stale = factories.make_update(summary="Now **bold**.", summary_html="<p>old rules</p>")
    fresh = factories.make_update(summary="Fine.")
    call_command("rerender_markdown", verbosity=0)
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.summary_html == "<p>Now <strong>bold</strong>.</p>\n"
    assert fresh.summary_html == "<p>Fine.</p>\n"
    assert stale.history.count() == 1  # derived data: no history entry of its own


def test_load_real_data_renders_the_fixtures_summaries(real_data):
    updates = ProgressUpdate.objects.all()
    assert updates.exists()
    assert not updates.filter(summary_html="").exists()
    for update in updates[:20]:
        assert update.summary_html == render_markdown(update.summary)


@pytest.mark.django_db
def test_the_limits_leave_the_real_data_valid(real_data):
    for model in (Instrument, Endorsement, Theme, Commitment, ProgressUpdate):
        for obj in model.objects.all():
            obj.full_clean()
