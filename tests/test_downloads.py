"""Downloads anyone can cite: every public table as CSV and JSON under /data/, following the filters of its
page, with stable columns (a code beside every label), nothing unpublished, and a page that lists them all with
their columns, sizes, licence and how to cite them."""

import csv
import io
import json

import pytest
from django.urls import reverse

from aitracker.datapackage import DATASETS
from aitracker.models import Endorsement, ProgressUpdate
from tests import factories
from tests.public_factories import World, grow

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return grow(World(), 2)


def download(client, name, export, query=""):
    response = client.get(reverse("data_download", kwargs={"name": name, "export": export}) + query)
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert f"aitracker-{name}-" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(body))) if export == "csv" else json.loads(body)


@pytest.mark.parametrize("dataset", [dataset.name for dataset in DATASETS])
def test_every_dataset_downloads_as_csv_and_json_with_the_same_rows(client, world, dataset):
    rows = download(client, dataset, "csv")
    objects = download(client, dataset, "json")
    assert rows and len(rows) == len(objects)
    key = "id" if "id" in rows[0] else "slug"
    assert [str(row[key]) for row in rows] == [str(obj[key]) for obj in objects]
    # A code column beside every label.
    for column in rows[0]:
        if column.endswith("_label"):
            assert column.removesuffix("_label") in rows[0]


def test_the_endorsements_download_follows_its_filters(client, world):
    instrument = world.instruments[-1]
    factories.make_endorsement(instrument=instrument, party=factories.make_party(), relation="did_not_sign")
    rows = download(client, "endorsements", "csv", f"?instrument={instrument.slug}&relation=did_not_sign")
    expected = Endorsement.objects.filter(instrument=instrument, relation="did_not_sign")
    assert {int(row["id"]) for row in rows} == set(expected.values_list("pk", flat=True)) and rows
    assert {row["relation_label"] for row in rows} == {"Did not sign"}
    assert (
        client.get(
            reverse("data_download", kwargs={"name": "endorsements", "export": "csv"}) + "?confidence=sure"
        ).status_code
        == 400
    )


def test_the_updates_download_follows_the_updates_filters_and_hides_drafts(client, world):
    party = world.parties[0]
    rows = download(client, "updates", "csv", f"?party={party.slug}")
    expected = ProgressUpdate.objects.public().for_party(party)
    assert {int(row["id"]) for row in rows} == set(expected.values_list("pk", flat=True)) and rows
    everything = {int(row["id"]) for row in download(client, "updates", "csv")}
    assert everything == set(ProgressUpdate.objects.public().values_list("pk", flat=True))
    assert not everything & set(ProgressUpdate.objects.exclude(state="published").values_list("pk", flat=True))
    assert all(row["sources"] for row in rows)


def test_the_list_pages_downloads_are_the_data_downloads(client, world):
    theme = world.themes[0].slug
    data = download(client, "commitments", "csv", f"?theme={theme}&sort=-title")
    page = client.get(reverse("commitment_list") + f"?theme={theme}&sort=-title&_export=csv")
    page_rows = list(csv.DictReader(io.StringIO(b"".join(page.streaming_content).decode("utf-8-sig"))))
    assert data == page_rows and data
    parties = download(client, "parties", "csv", "?kind=organisation")
    assert {row["kind"] for row in parties} == {"international_organisation"}


def test_unknown_downloads_are_404_and_bad_filters_400(client, world):
    assert client.get("/data/nothing.csv").status_code == 404
    assert client.get("/data/commitments.xlsx").status_code == 404
    assert (
        client.get(
            reverse("data_download", kwargs={"name": "commitments", "export": "csv"}) + "?status=nope"
        ).status_code
        == 400
    )


def test_the_downloads_page_lists_every_dataset_with_its_columns_licence_and_citation(client, world):
    factories.make_update(commitment=world.commitments[0], state="published")
    response = client.get(reverse("data"))
    assert response.status_code == 200
    html = response.content.decode()
    for dataset in DATASETS:
        assert reverse("data_download", kwargs={"name": dataset.name, "export": "csv"}) in html
        assert reverse("data_download", kwargs={"name": dataset.name, "export": "json"}) in html
        for column in dataset.columns:
            assert f"<code>{column.name}</code>" in html
    assert "CC BY 4.0" in html and "creativecommons.org/licenses/by/4.0/" in html
    assert "official texts" in html and "How to cite" in html
    assert reverse("datapackage") in html and reverse("api:docs") in html
    count = ProgressUpdate.objects.public().count()
    assert f"{count} rows" in html
