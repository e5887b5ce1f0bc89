"""Atom feeds of published progress updates: all of them, one commitment's, one party's."""

import re

from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Commitment, Party, ProgressUpdate

FEED_ITEMS = 50
# XML 1.0 cannot carry these, and text pasted from a word processor can hold them.
XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(value):
    return XML_FORBIDDEN.sub("", value) if isinstance(value, str) else value


class XmlSafeAtom1Feed(Atom1Feed):
    """An Atom feed that drops the control characters XML cannot hold instead of failing on them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*map(_xml_safe, args), **{key: _xml_safe(value) for key, value in kwargs.items()})

    def add_item(self, *args, **kwargs):
        super().add_item(*map(_xml_safe, args), **{key: _xml_safe(value) for key, value in kwargs.items()})


class UpdatesFeed(Feed):
    feed_type = XmlSafeAtom1Feed
    title = gettext_lazy("aitracker: latest progress updates")
    subtitle = gettext_lazy("Published, sourced assessments of what governments promised about AI.")
    description_template = "aitracker/includes/feed_update.html"

    def link(self):
        return reverse("update_list")

    def updates(self):
        return (
            ProgressUpdate.objects.public()
            .latest_first()
            .select_related("commitment__instrument")
            .prefetch_related("parties")
            .prefetch_related("sources")
        )

    def items(self, obj=None):
        return self.updates()[:FEED_ITEMS]

    def item_title(self, item):
        what = _("Checked, nothing new") if item.is_check else item.get_status_display()
        names = ", ".join(party.name for party in item.parties.all())
        if names:
            return _("%(commitment)s: %(status)s (%(parties)s)") % {
                "commitment": item.commitment,
                "status": what,
                "parties": names,
            }
        return _("%(commitment)s: %(status)s") % {"commitment": item.commitment, "status": what}

    def item_link(self, item):
        return item.get_absolute_url()

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.corrected_at or item.published_at


class CommitmentUpdatesFeed(UpdatesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Commitment.objects.public().select_related("instrument"), slug=slug)

    def title(self, obj):
        return _("aitracker: updates on %(commitment)s") % {"commitment": obj}

    def subtitle(self, obj):
        return obj.text

    def link(self, obj):
        return obj.get_absolute_url()

    def items(self, obj):
        return self.updates().filter(commitment=obj)[:FEED_ITEMS]


class PartyUpdatesFeed(UpdatesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Party.objects.public(), slug=slug)

    def title(self, obj):
        return _("aitracker: updates on %(party)s's actions") % {"party": obj}

    def subtitle(self, obj):
        return _("Published progress updates that name %(party)s: its own record on the commitments.") % {"party": obj}

    def link(self, obj):
        return obj.get_absolute_url()

    def items(self, obj):
        return self.updates().for_party(obj)[:FEED_ITEMS]
