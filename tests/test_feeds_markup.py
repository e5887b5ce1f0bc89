"""The feeds' entries are written from their kept markup (feeds.entry_xml): byte for byte what Django's Atom
feed writes item by item (Feed.get_feed's loop over the items), in every language, for the site's feed, a
commitment's and a party's."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.syndication.views import Feed
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from aitracker import feeds
from aitracker.models import Commitment, Party, ProgressUpdate


@pytest.fixture
def feed_urls(db):
    call_command("seed_synthetic", commitments=30, updates_per_commitment=5, instruments=3, seed=3, stdout=StringIO())
    # A title XML cannot carry as it is (the control character is dropped), and a correction (its own date).
    update = ProgressUpdate.objects.public().order_by("-published_at").first()
    commitment = update.commitment
    Commitment.objects.filter(pk=commitment.pk).update(title="Open\x0b data & <archives>")
    ProgressUpdate.objects.filter(pk=update.pk).update(corrected_at=update.published_at + timedelta(days=2))
    party = Party.objects.annotate(n=Count("updates")).order_by("-n", "pk").first()
    urls = [
        reverse("feed_updates"),
        reverse("feed_commitment", kwargs={"slug": Commitment.objects.public().first().slug}),
        reverse("feed_commitment", kwargs={"slug": commitment.slug}),
        reverse("feed_party", kwargs={"slug": party.slug}),
    ]
    return urls + [f"/fr{url}" for url in urls] + [f"/zh-hans{url}" for url in urls]


def test_feeds_written_from_kept_entries_are_the_feeds_django_writes(client, feed_urls, monkeypatch):
    kept = {url: client.get(url).content for url in feed_urls}
    assert all(b"<entry>" in body for body in kept.values())
    # Django's own loop over the items (Feed.get_feed) and its own writing of each entry.
    monkeypatch.setattr(feeds.UpdatesFeed, "get_feed", Feed.get_feed)
    monkeypatch.setattr(feeds.XmlSafeAtom1Feed, "write_items", Atom1Feed.write_items)
    for url in feed_urls:
        assert client.get(url).content == kept[url], url
