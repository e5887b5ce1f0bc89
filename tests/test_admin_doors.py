"""Every door the admin opens (its saves, inlines, the history pages and "Revert" that django-simple-history
mounts, the CSV export) is a client of the services, tried as the least-trusted user who can reach it."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aitracker import history, services
from aitracker.models import ProgressUpdate, Source, Theme
from tests.factories import (
    make_analyst,
    make_commitment,
    make_editor,
    make_endorsement,
    make_theme,
    make_update,
)

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


def admin_url(obj, view, *args):
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk, *args])


@pytest.fixture
def generation_bumps(monkeypatch):
    """How many times a service said the public pages changed."""
    calls = []
    monkeypatch.setattr(services, "public_pages_changed", lambda **kwargs: calls.append(kwargs))
    return calls


# --- Hole 1: the history's "Revert" -----------------------------------------------------------------------


def reference_objects():
    """One of each reference model, changed once after creation, with the (old) version to revert to and the
    form fields an attacker would post (public-facing values rewritten)."""
    theme = make_theme(name="Inclusive AI")
    endorsement = make_endorsement()
    instrument, party = endorsement.instrument, endorsement.party
    cases = {
        "theme": (theme, {"slug": theme.slug, "name": "Hacked theme", "description": "x"}),
        "instrument": (
            instrument,
            {
                "slug": instrument.slug,
                "title": "Hacked title",
                "short_title": "Hacked",
                "kind": instrument.kind,
                "adopted_on": "2025-02-11",
                "adopted_on_confidence": "confirmed",
                "summary": "Hacked summary",
                "source_url": "https://evil.example/",
            },
        ),
        "party": (party, {"slug": party.slug, "name": "Hacked party", "kind": party.kind, "country": ""}),
        "endorsement": (
            endorsement,
            {
                "instrument": instrument.pk,
                "party": party.pk,
                "relation": "did_not_sign",
                "source_url": "https://evil.example/",
                "confidence": "confirmed",
                "note": "",
            },
        ),
    }
    return cases


def snapshot(obj):
    return type(obj).objects.filter(pk=obj.pk).values().get()


@pytest.mark.parametrize("name", ["theme", "instrument", "party", "endorsement"])
def test_an_analyst_cannot_revert_reference_data(name):
    obj, data = reference_objects()[name]
    before, history_count = snapshot(obj), obj.history.count()
    version = obj.history.latest().history_id
    response = login(make_analyst()).post(admin_url(obj, "simple_history", version), data)
    assert response.status_code == 403
    assert snapshot(obj) == before and obj.history.count() == history_count


def test_an_analyst_cannot_revert_a_source():
    update = make_update(state="published")
    source = update.sources.get()
    before = snapshot(source)
    data = {"update": update.pk, "url": "https://evil.example/", "title": "Hacked", "publisher": "", "archived_url": ""}
    response = login(make_analyst()).post(admin_url(source, "simple_history", source.history.latest().history_id), data)
    assert response.status_code in (403, 404)
    assert snapshot(source) == before


@pytest.mark.parametrize("name", ["theme", "instrument", "party", "endorsement"])
def test_an_editors_revert_restores_the_recorded_version_through_the_service(name, generation_bumps):
    obj, data = reference_objects()[name]
    old = obj.history.latest()
    editor = make_editor(username="restorer")
    later = {"theme": "name", "instrument": "title", "party": "name", "endorsement": "note"}[name]
    setattr(obj, later, "Changed later")
    services.reference_save(obj=obj, editor=editor, reason="A later change")
    generation_bumps.clear()

    response = login(editor).post(admin_url(obj, "simple_history", old.history_id), data)
    assert response.status_code == 302
    # The recorded version comes back, whatever the form posted.
    # (The per-language columns are not in the history: a translation is kept as it is.)
    recorded = [field.attname for field in obj._meta.concrete_fields if hasattr(old, field.attname)]
    current = snapshot(obj)
    assert {name: current[name] for name in recorded} == {name: getattr(old, name) for name in recorded}
    latest = obj.history.latest()
    assert latest.history_user == editor and latest.history_change_reason.startswith("Restored the version of")
    assert generation_bumps


def test_the_revert_of_a_source_is_switched_off_even_for_editors():
    update = make_update(state="draft")
    source = update.sources.get()
    old = source.history.latest().history_id
    services.progress_update_edit(
        update=update,
        user=make_editor(),
        sources=[{"id": source.pk, "url": "https://example.org/new", "title": "New title"}],
    )
    editor = login(make_editor())
    page = editor.get(admin_url(source, "simple_history", old))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = editor.post(admin_url(source, "simple_history", old), {"update": update.pk, "title": "Old"})
    assert response.status_code == 403
    source.refresh_from_db()
    assert source.title == "New title"


def test_an_analyst_cannot_revert_even_their_own_draft(analyst):
    update = make_update(state="draft", author=analyst, summary="First.")
    old = update.history.latest().history_id
    services.progress_update_edit(update=update, user=analyst, summary="Second.")
    response = login(analyst).post(admin_url(update, "simple_history", old), {"version": ""})
    assert response.status_code == 403
    update.refresh_from_db()
    assert update.summary == "Second."


# --- Hole 2: sources -------------------------------------------------------------------------------------


def source_data(update, **changes):
    return {
        "update": update.pk,
        "url": "https://example.org/planted",
        "title": "Planted source",
        "publisher": "",
        "published_on": "",
        "archived_url": "",
    } | changes


def test_an_analyst_cannot_add_a_source_to_someone_elses_published_update(analyst):
    theirs = make_update(state="published", author=make_analyst())
    response = login(analyst).post(reverse("admin:aitracker_source_add"), source_data(theirs))
    assert response.status_code in (200, 403)
    assert not Source.objects.filter(title="Planted source").exists()


def test_an_analyst_cannot_add_a_source_to_their_own_published_update(analyst):
    mine = make_update(state="published", author=analyst)
    response = login(analyst).post(reverse("admin:aitracker_source_add"), source_data(mine))
    assert response.status_code in (200, 403)
    assert not Source.objects.filter(title="Planted source").exists()


def test_an_analyst_cannot_edit_the_sources_of_their_own_published_update(analyst):
    mine = make_update(state="published", author=analyst)
    source = mine.sources.get()
    client = login(analyst)
    response = client.post(admin_url(source, "change"), source_data(mine, title="Rewritten"))
    assert response.status_code == 403
    assert client.post(admin_url(source, "delete"), {"post": "yes"}).status_code == 403
    source.refresh_from_db()
    assert source.title == "Source 0"


def test_an_analyst_adds_a_source_to_their_own_draft_through_the_service(analyst):
    mine = make_update(state="draft", author=analyst)
    response = login(analyst).post(reverse("admin:aitracker_source_add"), source_data(mine))
    assert response.status_code == 302
    source = mine.sources.get(title="Planted source")
    assert source.history.latest().history_user == analyst
    assert mine.history.latest().history_user == analyst


def test_the_update_choices_of_the_source_admin_are_the_analysts_own_open_updates(analyst):
    draft = make_update(state="draft", author=analyst, summary="Own draft")
    make_update(state="published", author=analyst)
    make_update(state="draft", author=make_analyst())
    client = login(analyst)
    found = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "aitracker", "model_name": "source", "field_name": "update", "term": ""},
    ).json()
    assert [int(result["id"]) for result in found["results"]] == [draft.pk]


def test_an_editor_changing_a_published_updates_source_makes_a_visible_correction(editor, editor_client):
    update = make_update(state="published")
    source = update.sources.get()
    url = admin_url(source, "change")
    refused = editor_client.post(url, source_data(update, title="Better title"))
    assert refused.status_code == 200 and "Say what was corrected" in refused.content.decode()
    source.refresh_from_db()
    assert source.title == "Source 0"

    done = editor_client.post(url, source_data(update, title="Better title", correction_note="Source title fixed."))
    assert done.status_code == 302
    source.refresh_from_db()
    update.refresh_from_db()
    assert source.title == "Better title" and update.corrected_at
    page = Client().get(update.commitment.get_absolute_url()).content.decode()
    assert "Corrected on" in page and "Source title fixed." in page


# --- Hole 3: history pages -------------------------------------------------------------------------------


def test_an_analyst_cannot_read_another_analysts_draft_history(analyst):
    theirs = make_update(state="draft", author=make_analyst(), summary="Their secret draft.")
    client = login(analyst)
    record = theirs.history.latest().history_id
    for url in (admin_url(theirs, "history"), admin_url(theirs, "simple_history", record)):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert b"Their secret draft." not in response.content


def test_an_analyst_cannot_read_an_editors_review_note_on_someone_elses_update(analyst, editor):
    theirs = make_update(state="submitted", author=make_analyst())
    services.progress_update_return(update=theirs, editor=editor, note="Private note from the editor.")
    client = login(analyst)
    record = theirs.history.latest().history_id
    for url in (admin_url(theirs, "history"), admin_url(theirs, "simple_history", record)):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert b"Private note from the editor." not in response.content


def test_an_analyst_cannot_read_the_history_of_another_analysts_sources(analyst):
    theirs = make_update(state="draft", author=make_analyst())
    source = theirs.sources.get()
    client = login(analyst)
    for url in (admin_url(source, "history"), admin_url(source, "simple_history", source.history.latest().history_id)):
        assert client.get(url).status_code in (403, 404), url


def test_an_analyst_reads_the_history_of_their_own_draft(analyst):
    mine = make_update(state="draft", author=analyst, summary="My draft.")
    assert login(analyst).get(admin_url(mine, "history")).status_code == 200
    record = mine.history.latest().history_id
    assert "My draft." in login(analyst).get(admin_url(mine, "simple_history", record)).content.decode()


# --- Hole 4: the admin's save of an update ---------------------------------------------------------------


def update_form(update, **changes):
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
        "version": history.version_token(update),
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


def test_the_admin_refuses_a_future_date_on_a_published_update(editor_client):
    update = make_update(state="published", reported_on=date(2025, 6, 1))
    future = (timezone.localdate() + timedelta(days=30)).isoformat()
    response = editor_client.post(
        admin_url(update, "change"), update_form(update, reported_on=future, correction_note="New date.")
    )
    assert response.status_code == 200 and "cannot be in the future" in response.content.decode()
    update.refresh_from_db()
    update.commitment.refresh_from_db()
    assert update.reported_on == date(2025, 6, 1) and update.corrected_at is None
    assert update.commitment.last_update_on == date(2025, 6, 1)


def test_the_admin_refuses_a_correction_without_a_note(editor_client):
    update = make_update(state="published", status="achieved")
    response = editor_client.post(admin_url(update, "change"), update_form(update, status="stalled"))
    assert response.status_code == 200 and "Say what was corrected" in response.content.decode()
    update.refresh_from_db()
    assert update.status == "achieved" and update.corrected_at is None


def test_a_correction_in_the_admin_goes_through_the_correction_service(editor, editor_client):
    update = make_update(state="published", status="achieved")
    response = editor_client.post(
        admin_url(update, "change"), update_form(update, status="stalled", correction_note="Status was wrong.")
    )
    assert response.status_code == 302
    update.refresh_from_db()
    assert update.corrected_at and update.correction_note == "Status was wrong."
    assert update.history.latest().history_change_reason == "Corrected"
    assert update.history.latest().history_user == editor


def test_an_analysts_admin_edit_of_a_draft_goes_through_the_edit_service(analyst):
    update = make_update(state="draft", author=analyst)
    future = (timezone.localdate() + timedelta(days=1)).isoformat()
    client = login(analyst)
    refused = client.post(admin_url(update, "change"), update_form(update, reported_on=future))
    assert refused.status_code == 200 and "cannot be in the future" in refused.content.decode()
    done = client.post(admin_url(update, "change"), update_form(update, summary="Edited in the admin."))
    assert done.status_code == 302
    update.refresh_from_db()
    assert update.summary == "Edited in the admin." and update.corrected_at is None
    assert update.history.latest().history_change_reason == "Edited"


def new_update_form(commitment, **changes):
    return {
        "commitment": commitment.pk,
        "reported_on": "2025-05-01",
        "kind": "assessment",
        "status": "in_progress",
        "progress": "",
        "confidence": "confirmed",
        "summary": "Logged in the admin.",
        "version": "",
        "sources-TOTAL_FORMS": 1,
        "sources-INITIAL_FORMS": 0,
        "sources-MIN_NUM_FORMS": 1,
        "sources-MAX_NUM_FORMS": 1000,
        "sources-0-url": "https://example.org/report",
        "sources-0-title": "A report",
        "sources-0-publisher": "",
        "sources-0-published_on": "",
        "sources-0-archived_url": "",
    } | changes


def test_an_update_added_in_the_admin_is_a_draft_of_its_author(analyst):
    commitment = make_commitment()
    response = login(analyst).post(reverse("admin:aitracker_progressupdate_add"), new_update_form(commitment))
    assert response.status_code == 302
    update = ProgressUpdate.objects.get(summary="Logged in the admin.")
    assert update.author == analyst and update.state == "draft"
    assert [s.title for s in update.sources.all()] == ["A report"]
    assert update.history.earliest().history_change_reason == "Logged as a draft"


def test_endorsements_edited_inside_the_instrument_go_through_the_service(editor, editor_client, generation_bumps):
    endorsement = make_endorsement()
    instrument = endorsement.instrument
    data = {
        "slug": instrument.slug,
        "title": instrument.title,
        "short_title": instrument.short_title,
        "kind": instrument.kind,
        "adopted_on": instrument.adopted_on.isoformat(),
        "adopted_on_confidence": instrument.adopted_on_confidence,
        "adoption": instrument.adoption,
        "place": "",
        "summary": instrument.summary,
        "source_url": instrument.source_url,
        "note": "",
        "endorsements-TOTAL_FORMS": 1,
        "endorsements-INITIAL_FORMS": 1,
        "endorsements-MIN_NUM_FORMS": 0,
        "endorsements-MAX_NUM_FORMS": 1000,
        "endorsements-0-id": endorsement.pk,
        "endorsements-0-instrument": instrument.pk,
        "endorsements-0-party": endorsement.party_id,
        "endorsements-0-relation": "joined_later",
        "endorsements-0-date": "",
        "endorsements-0-confidence": "confirmed",
        "endorsements-0-source_url": endorsement.source_url,
        "endorsements-0-note": "",
    }
    response = editor_client.post(admin_url(instrument, "change"), data)
    assert response.status_code == 302
    endorsement.refresh_from_db()
    assert endorsement.relation == "joined_later"
    assert endorsement.history.latest().history_user == editor
    assert generation_bumps


def test_reference_services_refuse_analysts(analyst):
    theme = make_theme()
    theme.name = "Renamed"
    with pytest.raises(services.PermissionDenied):
        services.reference_save(obj=theme, editor=analyst)
    with pytest.raises(services.PermissionDenied):
        services.reference_restore(obj=theme, history_id=theme.history.latest().history_id, editor=analyst)
    assert Theme.objects.get(pk=theme.pk).name != "Renamed"


# --- Hole 11: formula cells in the admin's CSV export ----------------------------------------------------

FORMULAE = ['=HYPERLINK("https://evil.example/","Click")', "@SUM(A1:A2)", "+1+1", "-2+3"]


def exported_rows(client, model, fields):
    response = client.post(
        reverse(f"admin:aitracker_{model}_export"),
        {"format": "0", **{f"{model}resource_{name}": "on" for name in fields}},
    )
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_admin_csv_export_escapes_formula_cells(editor_client):
    commitment = make_commitment()
    for formula in FORMULAE:
        make_update(commitment=commitment, summary=formula)
    endorsement = make_endorsement(note="@SUM(1+1)*cmd|' /C calc'!A0")
    rows = exported_rows(editor_client, "progressupdate", ["id", "summary"])
    assert sorted(row["summary"] for row in rows) == sorted("'" + formula for formula in FORMULAE)
    notes = exported_rows(editor_client, "endorsement", ["instrument", "party", "note"])
    assert [row["note"] for row in notes] == ["'" + endorsement.note]


def test_the_admin_csv_export_with_formula_cells_imports_back_unchanged(editor_client):
    from tests.test_import_export import confirm, preview

    commitment = make_commitment()
    make_update(commitment=commitment, state="draft", summary='=HYPERLINK("https://evil.example/")')
    make_update(commitment=commitment, state="draft", summary="'=already quoted")
    fields = [
        "id",
        "commitment",
        "kind",
        "reported_on",
        "status",
        "progress",
        "parties",
        "confidence",
        "summary",
        "state",
    ]
    export = editor_client.post(
        reverse("admin:aitracker_progressupdate_export"),
        {"format": "0", **{f"progressupdateresource_{name}": "on" for name in [*fields, "sources"]}},
    )
    before = list(ProgressUpdate.objects.order_by("pk").values()), ProgressUpdate.history.count()
    done = confirm(editor_client, "progressupdate", preview(editor_client, "progressupdate", export.content))
    assert "0 new, 0 updated, 0 deleted and 2 skipped" in done.content.decode()
    assert (list(ProgressUpdate.objects.order_by("pk").values()), ProgressUpdate.history.count()) == before


# --- More of the same doors ------------------------------------------------------------------------------


def test_an_analyst_may_still_view_their_own_published_update(analyst):
    mine = make_update(state="published", author=analyst, summary="Mine, published.")
    response = login(analyst).get(admin_url(mine, "change"))
    assert response.status_code == 200 and "Mine, published." in response.content.decode()


def test_an_analyst_cannot_add_a_source_to_their_own_update_under_review(analyst):
    mine = make_update(state="submitted", author=analyst)
    login(analyst).post(reverse("admin:aitracker_source_add"), source_data(mine))
    assert not Source.objects.filter(title="Planted source").exists()


def test_an_editor_adding_a_source_to_a_published_update_corrects_it(editor_client):
    update = make_update(state="published")
    url = reverse("admin:aitracker_source_add")
    refused = editor_client.post(url, source_data(update))
    assert refused.status_code == 200 and "Say what was corrected" in refused.content.decode()
    assert not Source.objects.filter(title="Planted source").exists()
    assert editor_client.post(url, source_data(update, correction_note="A second source.")).status_code == 302
    update.refresh_from_db()
    assert update.sources.filter(title="Planted source").exists()
    assert update.corrected_at and update.correction_note == "A second source."


def test_an_endorsement_import_goes_through_the_service(editor, editor_client):
    from tests.test_import_export import confirm, preview

    endorsement = make_endorsement(note="Before.")
    content = (
        "instrument,party,relation,date,source_url,confidence,note\n"
        f"{endorsement.instrument.slug},{endorsement.party.slug},signed,,{endorsement.source_url},confirmed,After.\n"
    )
    confirm(editor_client, "endorsement", preview(editor_client, "endorsement", content.encode()))
    endorsement.refresh_from_db()
    latest = endorsement.history.latest()
    assert endorsement.note == "After." and latest.history_user == editor
    assert latest.history_change_reason == "Imported from a CSV file"


def test_a_malformed_version_in_the_history_address_is_a_404(editor_client):
    theme = make_theme()
    for version in ("abc", "1.5"):
        assert editor_client.get(admin_url(theme, "simple_history", version)).status_code == 404
        assert editor_client.post(admin_url(theme, "simple_history", version)).status_code == 404


def test_a_refusal_of_the_service_is_shown_on_the_admin_form_with_what_was_typed(analyst, editor):
    commitment = make_commitment()
    services.commitment_delete(commitment=commitment, editor=editor)
    response = login(analyst).post(
        reverse("admin:aitracker_progressupdate_add"), new_update_form(commitment, summary="Typed with care.")
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "This commitment has been deleted" in page and "Typed with care." in page
    assert not ProgressUpdate.objects.filter(summary="Typed with care.").exists()
