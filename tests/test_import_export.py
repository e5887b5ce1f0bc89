"""Bulk import and export in the admin: a preview first, row-numbered errors, all or nothing, and a CSV export
that imports back unchanged."""

import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from tablib import Dataset

from aitracker.models import Endorsement, ProgressUpdate, Source
from aitracker.resources import EndorsementResource, ProgressUpdateResource
from tests.factories import make_commitment, make_endorsement, make_instrument, make_party, make_update

pytestmark = pytest.mark.django_db

HEADER = [
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
    "sources",
]
SOURCES = json.dumps([{"url": "https://example.org/a", "title": "A report", "publisher": "Example"}])


@pytest.fixture
def data(db):
    return {
        "commitment": make_commitment(slug="fund-research"),
        "party": make_party(slug="ruritania", name="Ruritania"),
    }


def to_csv(rows, header=HEADER):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def row(**fields):
    values = {
        "id": "",
        "commitment": "fund-research",
        "reported_on": "2025-04-01",
        "kind": "assessment",
        "status": "in_progress",
        "progress": "20",
        "parties": "ruritania",
        "confidence": "confirmed",
        "summary": "A fund was set up.",
        "state": "",
        "sources": SOURCES,
    } | fields
    return [values[column] for column in HEADER]


def preview(client, model, content):
    """Upload a file to the admin's import page: the dry run and its preview."""
    return client.post(
        reverse(f"admin:aitracker_{model}_import"),
        {"format": "0", "import_file": SimpleUploadedFile("data.csv", content, content_type="text/csv")},
    )


def confirm(client, model, preview_response):
    page = preview_response.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert "import_file_name" in fields, "no confirm step in the preview"
    return client.post(reverse(f"admin:aitracker_{model}_process_import"), fields, follow=True)


def test_the_import_page_says_what_an_import_may_do(editor_client):
    page = editor_client.get(reverse("admin:aitracker_progressupdate_import")).content.decode()
    assert "nothing is published by an import, publish them from the review queue" in page
    assert "nothing is imported" in page


def test_an_import_is_previewed_then_confirmed_and_lands_in_the_review_queue(editor, editor_client, data):
    content = to_csv([row(), row(summary="Second one.", state="draft", parties="", progress="")])
    response = preview(editor_client, "progressupdate", content)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Confirm import" in page and "A fund was set up." in page
    assert not ProgressUpdate.objects.exists()  # a preview imports nothing

    done = confirm(editor_client, "progressupdate", response)
    assert "Import finished: 2 new" in done.content.decode()
    submitted, draft = ProgressUpdate.objects.order_by("pk")
    assert (submitted.state, draft.state) == ("submitted", "draft")
    assert submitted.author == editor and list(submitted.parties.all()) == [data["party"]] and submitted.progress == 20
    assert list(submitted.sources.values_list("title", "publisher")) == [("A report", "Example")]
    assert not ProgressUpdate.objects.public().exists()  # nothing is published by an import
    assert submitted.history.latest().history_user == editor
    assert "A fund was set up." in editor_client.get(reverse("review_queue")).content.decode()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"reported_on": "2999-01-01"}, "The date of the event cannot be in the future."),
        ({"commitment": "no-such-commitment"}, "No commitment has the slug “no-such-commitment”."),
        ({"progress": "140"}, "Ensure this value is less than or equal to 100."),
        ({"sources": "[]"}, "Every update needs at least one source."),
        ({"sources": json.dumps([{"url": "ftp://example.org/x", "title": "x"}])}, "Source 1:"),
        ({"state": "published"}, "publish it from the review queue"),
        ({"status": "not_assessed"}, "is not a valid choice"),
    ],
    ids=["future", "unknown-commitment", "progress", "no-source", "ftp-source", "published", "bad-status"],
)
def test_one_bad_row_imports_nothing_and_the_error_names_its_row(editor_client, data, bad, message):
    content = to_csv([row(), row(summary="Fine too."), row(summary="The bad one.", **bad)])
    response = preview(editor_client, "progressupdate", content)
    page = response.content.decode()
    assert message in page
    assert re.search(r"<td>\s*3\s*</td>", page) or "Line number: 3" in page  # the third row is named
    assert "Confirm import" not in page
    assert not ProgressUpdate.objects.exists()


def test_the_import_is_all_or_nothing_even_without_the_admin(editor, data):
    dataset = Dataset().load(to_csv([row(), row(reported_on="2999-01-01")]).decode(), format="csv")
    result = ProgressUpdateResource().import_data(dataset, dry_run=False, user=editor)
    assert result.has_validation_errors()
    assert [invalid.number for invalid in result.invalid_rows] == [2]
    assert not ProgressUpdate.objects.exists() and not Source.objects.exists()


def test_a_published_update_cannot_be_changed_by_import(editor_client, data):
    update = make_update(commitment=data["commitment"], state="published", summary="As published.")
    exported = ProgressUpdateResource().export(ProgressUpdate.objects.all()).csv
    changed = exported.replace("As published.", "Rewritten by import.")
    page = preview(editor_client, "progressupdate", changed.encode()).content.decode()
    assert "correct it on the site" in page and "Confirm import" not in page
    update.refresh_from_db()
    assert update.summary == "As published."


def test_an_unpublished_update_can_be_changed_by_import(editor_client, data):
    update = make_update(commitment=data["commitment"], state="submitted", summary="Before.")
    exported = ProgressUpdateResource().export(ProgressUpdate.objects.all()).csv
    response = preview(editor_client, "progressupdate", exported.replace("Before.", "After.").encode())
    confirm(editor_client, "progressupdate", response)
    update.refresh_from_db()
    assert update.summary == "After." and update.state == "submitted" and update.sources.count() == 1


def test_the_exported_csv_imports_back_unchanged(editor, editor_client, data):
    make_update(
        commitment=data["commitment"], state="published", parties=[data["party"]], summary="Line one.\n\nLine *two*."
    )
    make_update(commitment=data["commitment"], state="draft", progress=None, sources=2)
    make_update(commitment=data["commitment"], state="returned", review_note="Fix it")
    fields = {f"progressupdateresource_{name}": "on" for name in HEADER}
    export = editor_client.post(reverse("admin:aitracker_progressupdate_export"), {"format": "0", **fields})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    content = export.content
    assert content.decode("utf-8-sig").splitlines()[0] == ",".join(HEADER)

    before = snapshot()
    response = preview(editor_client, "progressupdate", content)
    assert "Confirm import" in response.content.decode()
    done = confirm(editor_client, "progressupdate", response).content.decode()
    assert "0 new, 0 updated, 0 deleted and 3 skipped" in done
    assert snapshot() == before


def snapshot():
    """Every update, source and history record: an unchanged import must not touch any of them."""
    return (
        list(ProgressUpdate.objects.order_by("pk").values()),
        list(Source.objects.order_by("pk").values()),
        ProgressUpdate.history.count(),
        Source.history.count(),
        list(Endorsement.objects.order_by("pk").values()),
        Endorsement.history.count(),
    )


def test_endorsements_round_trip_by_slug(editor_client):
    instrument = make_instrument(slug="paris")
    make_endorsement(instrument=instrument, party=make_party(slug="a"), note="Signed on the day.")
    make_endorsement(instrument=instrument, party=make_party(slug="b"), relation="did_not_sign", date=None)
    exported = EndorsementResource().export(Endorsement.objects.all()).csv
    assert exported.splitlines()[0] == "instrument,party,relation,date,source_url,confidence,note"
    assert "paris,a,signed" in exported

    before = snapshot()
    response = preview(editor_client, "endorsement", exported.encode())
    done = confirm(editor_client, "endorsement", response).content.decode()
    assert "0 new, 0 updated, 0 deleted and 2 skipped" in done
    assert snapshot() == before


def test_an_endorsement_import_with_one_bad_row_imports_nothing(editor_client):
    make_instrument(slug="paris")
    make_party(slug="a")
    make_party(slug="b")
    header = ["instrument", "party", "relation", "date", "source_url", "confidence", "note"]
    content = to_csv(
        [
            ["paris", "a", "signed", "2025-02-11", "https://example.org/list", "confirmed", ""],
            ["paris", "b", "signed", "2025-02-11", "ftp://example.org/list", "confirmed", ""],
        ],
        header=header,
    )
    page = preview(editor_client, "endorsement", content).content.decode()
    assert "Confirm import" not in page
    assert re.search(r"<td>\s*2\s*</td>", page)
    assert "http" in page and not Endorsement.objects.exists()


def test_a_new_endorsement_is_imported(editor_client):
    make_instrument(slug="paris")
    make_party(slug="a")
    header = ["instrument", "party", "relation", "date", "source_url", "confidence", "note"]
    content = to_csv(
        [["paris", "a", "joined_later", "2025-03-01", "https://example.org/list", "reported", "Late."]], header
    )
    confirm(editor_client, "endorsement", preview(editor_client, "endorsement", content))
    endorsement = Endorsement.objects.get()
    assert endorsement.relation == "joined_later" and endorsement.party.slug == "a"
