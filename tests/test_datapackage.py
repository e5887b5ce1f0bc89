"""/data/datapackage.json describes every download, and `frictionless validate` finds the package and the files
it describes valid: types, enumerated codes, primary and foreign keys, licence."""

import json

import frictionless
import pytest
from django.urls import reverse

from aitracker.datapackage import DATASETS
from tests import factories
from tests.public_factories import World, grow

pytestmark = pytest.mark.django_db


def saved_package(client, folder):
    """The package and its CSV files, saved the way a reader downloads them: side by side in one folder."""
    response = client.get(reverse("datapackage"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    package = response.json()
    (folder / "datapackage.json").write_bytes(response.content)
    for resource in package["resources"]:
        name, export = resource["path"].rsplit(".", 1)
        download = client.get(reverse("data_download", kwargs={"name": name, "export": export}))
        assert download.status_code == 200
        (folder / resource["path"]).write_bytes(b"".join(download.streaming_content))
    return package


def test_the_data_package_is_valid_for_frictionless(client, tmp_path):
    world = grow(World(), 2)
    # The awkward rows: a check (no status), a correction, an organisation without a region, a formula-like text.
    factories.make_update(commitment=world.commitments[0], state="published", kind="check")
    factories.make_update(
        commitment=world.commitments[1], state="published", summary="=1+1 is not a formula", sources=1
    )
    factories.make_party(region="", name="-Leading dash")
    package = saved_package(client, tmp_path)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "type", "note"])[:10]
    assert {resource["name"] for resource in package["resources"]} == {dataset.name for dataset in DATASETS}
    # Every row of every table was read.
    rows = {task.name: task.stats["rows"] for task in report.tasks}
    assert rows["updates"] == world_updates() and rows["parties"] == len(world.parties) + 1


def world_updates():
    from aitracker.models import ProgressUpdate

    return ProgressUpdate.objects.public().count()


def test_the_package_states_licence_keys_and_what_the_licence_covers(client, db):
    package = client.get(reverse("datapackage")).json()
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert "third-party" in package["description"] and "official texts" in package["description"]
    resources = {resource["name"]: resource for resource in package["resources"]}
    assert resources["commitments"]["schema"]["primaryKey"] == ["slug"]
    assert {"fields": "commitment", "reference": {"resource": "commitments", "fields": "slug"}} in resources["updates"][
        "schema"
    ]["foreignKeys"]
    status = next(f for f in resources["commitments"]["schema"]["fields"] if f["name"] == "status")
    assert "not_assessed" in status["constraints"]["enum"]
    assert package["sources"] and package["contributors"] and package["version"] and package["created"]


def test_every_described_column_is_the_downloads_header(client, db):
    for dataset in DATASETS:
        download = client.get(reverse("data_download", kwargs={"name": dataset.name, "export": "csv"}))
        header = b"".join(download.streaming_content).decode("utf-8-sig").splitlines()[0]
        assert header.split(",") == dataset.fields, dataset.name


def test_the_package_is_plain_json(client, db):
    response = client.get(reverse("datapackage"))
    assert json.loads(response.content)["name"] == "aitracker"


def test_the_count_of_updates_is_that_of_the_public_ones(editor):
    """The data page counts the updates from the commitments' side (a faster plan on SQLite): the same number as
    ProgressUpdate.objects.public(), drafts, deleted updates and the updates of a deleted commitment left out."""
    from aitracker import services
    from aitracker.models import Commitment, ProgressUpdate
    from tests import factories

    kept, gone = factories.make_commitment(), factories.make_commitment()
    for commitment in (kept, gone):
        factories.make_update(commitment=commitment, state="published")
        factories.make_update(commitment=commitment, state="draft")
    deleted = factories.make_update(commitment=kept, state="published")
    services.progress_update_delete(update=deleted, editor=editor)
    services.commitment_delete(commitment=gone, editor=editor)
    assert Commitment.objects.public().published_update_count() == ProgressUpdate.objects.public().count() == 1
