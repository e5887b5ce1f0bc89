"""seed_synthetic: deterministic for a seed, consistent denormalised statuses, and careful with existing data."""

import html
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils.html import strip_tags
from django.utils.translation import override

from aitracker import services
from aitracker.charts import status_changes_store
from aitracker.models import (
    Commitment,
    Endorsement,
    Instrument,
    Party,
    PartyStatus,
    ProgressUpdate,
    SearchEntry,
    Source,
    Status,
    StatusChange,
    Theme,
)
from aitracker.rendering import render_markdown
from aitracker.search import search_index_rebuild
from tests import factories

pytestmark = pytest.mark.django_db
PARTY_STATUS_FIELDS = [
    "commitment",
    "party",
    "status",
    "progress",
    "last_update_on",
    "last_reviewed_on",
    "latest_update",
]


def seed(**options):
    out = StringIO()
    call_command(
        "seed_synthetic",
        **{"commitments": 40, "updates_per_commitment": 6, "seed": 7, "instruments": 4, **options},
        stdout=out,
    )
    return out.getvalue()


def snapshot():
    """Everything seed_synthetic writes, except the commitments' creation and change times (the clock's)."""
    return {
        "instruments": list(Instrument.objects.order_by("pk").values()),
        "parties": list(Party.objects.order_by("pk").values()),
        "endorsements": list(Endorsement.objects.order_by("pk").values()),
        "themes": list(Theme.objects.order_by("pk").values()),
        "commitments": list(
            Commitment.objects.order_by("pk").values(
                "pk", "instrument", "reference", "slug", "title", "text", "target_date", "source_url",
                "confidence", "current_status", "current_progress", "last_update_on", "last_reviewed_on", "deleted_at",
            )
        ),
        "commitment_themes": list(Commitment.themes.through.objects.order_by("pk").values("commitment", "theme")),
        "commitment_parties": list(Commitment.parties.through.objects.order_by("pk").values("commitment", "party")),
        "updates": list(ProgressUpdate.objects.order_by("pk").values()),
        "update_parties": list(
            ProgressUpdate.parties.through.objects.order_by("pk").values("progressupdate", "party")
        ),
        "party_statuses": list(PartyStatus.objects.order_by("pk").values(*PARTY_STATUS_FIELDS)),
        "sources": list(Source.objects.order_by("pk").values()),
    }  # fmt: skip


def test_fills_every_table_and_reports_its_time():
    output = seed()
    assert Instrument.objects.count() == 4
    assert Party.objects.count() == 200
    assert Theme.objects.count() >= 3
    assert Commitment.objects.count() == 40
    assert ProgressUpdate.objects.count() == 40 * 6
    assert Endorsement.objects.exists()
    assert "40 commitments" in output and " s (seed 7)" in output
    states = set(ProgressUpdate.objects.values_list("state", flat=True))
    assert {"published", "draft"} <= states


def test_every_published_update_has_a_source_and_the_models_constraints_hold():
    seed()
    assert not ProgressUpdate.objects.filter(state="published").annotate(n=Count("sources")).filter(n=0).exists()
    for model in (Instrument, Party, Endorsement, Commitment, ProgressUpdate, Source):
        for obj in model.objects.order_by("?")[:20]:
            obj.full_clean(validate_unique=False)


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    seed()
    first = snapshot()
    seed(flush=True)
    assert snapshot() == first
    seed(flush=True, seed=8)
    assert snapshot()["updates"] != first["updates"]


def test_denormalised_status_matches_the_published_updates():
    seed(commitments=120, updates_per_commitment=5)
    wrong = [
        c.slug
        for c in Commitment.objects.with_computed_status()
        if (c.current_status, c.current_progress, c.last_update_on)
        != (c.computed_status or Status.NOT_ASSESSED, c.computed_progress, c.computed_update_on)
    ]
    assert wrong == []
    # Several statuses occur, including a commitment nobody has assessed yet.
    assert len({c.current_status for c in Commitment.objects.all()}) >= 4


def test_party_statuses_are_what_the_services_compute():
    """The seeder writes PartyStatus rows in bulk with the services' rules: recomputing them through the
    services (whom each commitment binds, then each record) changes nothing."""
    seed(commitments=60, updates_per_commitment=8)
    before = snapshot()
    assert PartyStatus.objects.exclude(status=Status.NOT_ASSESSED).exists()
    assert ProgressUpdate.objects.filter(kind="check", state="published").exists()
    services.commitments_refresh_all()
    after = snapshot()
    assert after["party_statuses"] == before["party_statuses"]
    assert after["commitments"] == before["commitments"]


def test_writes_no_history():
    seed()
    assert not Commitment.history.exists()
    assert not ProgressUpdate.history.exists()


def test_refuses_a_database_with_commitments_unless_flushed():
    factories.make_commitment(title="Real work")
    with pytest.raises(CommandError, match=r"already holds 1 commitments.*--flush"):
        seed()
    assert Commitment.objects.count() == 1
    seed(flush=True)
    assert Commitment.objects.count() == 40
    assert not Commitment.objects.filter(title="Real work").exists()


def test_no_updates_means_every_commitment_is_not_assessed():
    seed(updates_per_commitment=0)
    assert set(Commitment.objects.values_list("current_status", flat=True)) == {Status.NOT_ASSESSED}


def test_rejects_impossible_sizes():
    with pytest.raises(CommandError):
        seed(commitments=0)
    with pytest.raises(CommandError):
        seed(commitments=3, instruments=4)


def test_status_changes_are_those_the_chart_stores():
    """The seeder writes the StatusChange rows itself, from the chart's replay: storing them again through
    charts.status_changes_store, from nothing, gives the same rows."""
    seed(commitments=60, updates_per_commitment=8)
    fields = ["commitment", "month", "status", "previous"]
    seeded = list(StatusChange.objects.order_by("commitment", "month").values_list(*fields))
    assert len({row[0] for row in seeded}) > 50
    StatusChange.objects.all().delete()
    status_changes_store(commitment_ids=Commitment.objects.values_list("pk", flat=True))
    assert list(StatusChange.objects.order_by("commitment", "month").values_list(*fields)) == seeded


def test_the_search_entries_of_updates_read_each_language_with_its_fallback():
    """The rebuild builds millions of update entries from plain rows, sharing what does not change between
    languages: each is what the update, read through its models in that language, says."""
    seed(commitments=12, updates_per_commitment=5, instruments=2)
    update, unrendered = ProgressUpdate.objects.public().order_by("pk")[:2]
    # Translations of some of it, so that the languages differ: a French summary, the commitment's French title
    # and the instrument's Chinese short title; and a summary whose HTML is missing in every language (rendered).
    ProgressUpdate.objects.filter(pk=update.pk).update(
        summary_fr="Un *résumé* & plus", summary_html_fr="<p>Un <em>résumé</em> &amp; plus</p>"
    )
    ProgressUpdate.objects.filter(pk=unrendered.pk).update(summary="Un **texte** à rendre", summary_html="")
    Commitment.objects.filter(pk=update.commitment_id).update(title_fr="Un titre")
    Instrument.objects.filter(pk=update.commitment.instrument_id).update(short_title_zh_hans="文书")
    Source.objects.create(update=update, url="https://example.org/x", title="Sans éditeur", publisher="")
    search_index_rebuild()
    entries = SearchEntry.objects.filter(kind=SearchEntry.Kind.UPDATE)
    assert entries.count() == 3 * ProgressUpdate.objects.public().count()
    for entry in entries:
        with override(entry.language):
            shown = ProgressUpdate.objects.select_related("commitment__instrument").get(pk=entry.object_id)
            commitment, sources = shown.commitment, list(shown.sources.order_by("pk"))
            rendered = shown.summary_html or render_markdown(shown.summary)
            publishers = sorted({source.publisher for source in sources if source.publisher})
            assert (entry.title, entry.heading, entry.body, entry.context, entry.url, entry.date) == (
                " · ".join(source.title for source in sources)[:500],
                commitment.title,
                " ".join([html.unescape(strip_tags(rendered)), *publishers]),
                f"{commitment.instrument.short_title} {commitment.reference}",
                f"{commitment.get_absolute_url()}#update-{shown.pk}",
                shown.reported_on,
            ), (entry.language, entry.object_id)
    french = entries.get(object_id=update.pk, language="fr")
    assert french.body.startswith("Un résumé & plus") and french.heading == "Un titre"
    assert entries.get(object_id=update.pk, language="zh-hans").context.startswith("文书 ")
    assert entries.get(object_id=unrendered.pk, language="zh-hans").body.startswith("Un texte à rendre")
