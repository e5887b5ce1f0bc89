"""Atom feeds of published progress updates: all of them, one commitment's, one party's."""

import dataclasses
import datetime
import io
import re
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.feedgenerator import Atom1Feed, Stylesheet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.xmlutils import SimplerXMLGenerator

from .fragments import cached_pieces
from .i18n import current_language, hreflang, list_of, translated_text
from .links import absolute_url
from .models import Commitment, Party, ProgressUpdate

FEED_ITEMS = 50
# XML 1.0 cannot carry these, and text pasted from a word processor can hold them.
XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(value):
    return XML_FORBIDDEN.sub("", value) if isinstance(value, str) else value


# An empty feed's <updated>: a fixed moment rather than "now", which would differ from one request, and one
# worker, to the next (and make feed readers think something changed).
EMPTY_FEED_UPDATED = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


class XmlSafeAtom1Feed(Atom1Feed):
    """An Atom feed that drops the control characters XML cannot hold instead of failing on them."""

    def latest_post_date(self):
        if not any(item.get("updateddate") or item.get("pubdate") for item in self.items):
            return EMPTY_FEED_UPDATED
        return super().latest_post_date()

    def __init__(self, *args, **kwargs):
        super().__init__(*map(_xml_safe, args), **{key: _xml_safe(value) for key, value in kwargs.items()})

    def add_item(self, *args, **kwargs):
        super().add_item(*map(_xml_safe, args), **{key: _xml_safe(value) for key, value in kwargs.items()})

    def write_items(self, handler):
        # An entry kept with its markup (FeedEntry.xml, passed by UpdatesFeed.item_extra_kwargs) is written as it
        # is: serialising fifty entries afresh cost about as much as the rest of the feed.
        for item in self.items:
            if item.get("entry_xml"):
                handler.ignorableWhitespace(item["entry_xml"])
            else:
                handler.startElement("entry", self.item_attributes(item))
                self.add_item_elements(handler, item)
                handler.endElement("entry")

    def write(self, outfile, encoding):
        # Atom1Feed.write, plus the feed's stylesheets before the root element (Django writes them for RSS only).
        handler = SimplerXMLGenerator(outfile, encoding, short_empty_elements=True)
        handler.startDocument()
        self.add_stylesheets(handler)
        handler.startElement("feed", self.root_attributes())
        self.add_root_elements(handler)
        self.write_items(handler)
        handler.endElement("feed")

    def add_stylesheets(self, handler):
        for stylesheet in self.feed["stylesheets"] or []:
            handler.processingInstruction("xml-stylesheet", str(stylesheet))


@dataclass(frozen=True)
class FeedEntry:
    """What a feed shows of one update, kept under the data generation (aitracker/fragments.py): the same in the
    site's feed, its commitment's and its parties', so a feed reads only the keys of its 50 latest updates and
    builds only the entries not kept."""

    title: str
    link: str
    description: str
    pubdate: datetime.datetime
    updateddate: datetime.datetime
    # The <entry> element as the feed writes it (entry_xml()), for every feed that shows this entry.
    xml: str = ""


def add_entry(feed, entry: FeedEntry, **extra) -> None:
    """Add `entry` to `feed` as Feed.get_feed adds the item UpdatesFeed's hooks make of it (an absolute link, which
    is its id; no author, category, enclosure or comments of its own), with `extra` (item_extra_kwargs)."""
    feed.add_item(
        title=entry.title,
        link=entry.link,
        description=entry.description,
        unique_id=entry.link,
        enclosures=[],
        pubdate=entry.pubdate,
        updateddate=entry.updateddate,
        **extra,
    )


def entry_xml(entry: FeedEntry) -> str:
    """The <entry> element of `entry` as XmlSafeAtom1Feed writes it from the item Feed.get_feed() makes of it with
    UpdatesFeed's hooks (an absolute link, which is its id; no author, category or enclosure of its own).
    tests/test_feeds_markup.py checks it against the feed written item by item."""
    feed = XmlSafeAtom1Feed(title="", link="", description="")
    add_entry(feed, entry)
    out = io.StringIO()
    feed.write_items(SimplerXMLGenerator(out, "utf-8", short_empty_elements=True))
    return out.getvalue()


# While UpdatesFeed.get_feed has Django build the feed without its items: the entries items() then returns.
_ITEMS_OVERRIDE = ContextVar("feed_items_override", default=None)


class UpdatesFeed(Feed):
    feed_type = XmlSafeAtom1Feed
    title = gettext_lazy("aitracker: latest progress updates")
    subtitle = gettext_lazy("Published, sourced assessments of what governments promised about AI.")
    entry_template = "aitracker/includes/feed_update.html"
    # RFC 4287 requires an author for the feed or for every entry: the updates are the editors' work.
    author_name = gettext_lazy("aitracker editors")

    @property
    def language(self):
        """The feed's xml:lang: the language of the address it was fetched at (/fr/feeds/… is in French)."""
        return hreflang(current_language())

    # Every address is absolute on the configured site address, so a feed's ids never change with the Host
    # the feed was fetched through.
    def author_link(self):
        return absolute_url("/")

    def stylesheets(self):
        # A browser opening the feed shows a readable page that explains how to subscribe (XSLT); feed readers
        # ignore it. A path, not an absolute address: the stylesheet must come from the feed's own origin.
        return [Stylesheet(reverse("feed_stylesheet"), mimetype="text/xsl")]

    def link(self):
        return absolute_url(reverse("update_list"))

    def feed_url(self, obj=None):
        return absolute_url(reverse("feed_updates"))

    def updates(self):
        return (
            ProgressUpdate.objects.public()
            .latest_first()
            .select_related("commitment__instrument")
            .prefetch_related("parties")
            .prefetch_related("sources")
        )

    def get_feed(self, obj, request):
        """Django's feed (Feed.get_feed) with the entries added as they were kept: Django's loop asks a dozen hooks
        about every item through its introspection, about a third of a feed made of kept entries. Each entry is
        added as Feed.get_feed adds it (add_entry); tests/test_feeds_markup.py checks the feeds against Django's
        own get_feed."""
        entries = self.items(obj)
        token = _ITEMS_OVERRIDE.set(())
        try:
            feed = super().get_feed(obj, request)
        finally:
            _ITEMS_OVERRIDE.reset(token)
        for entry in entries:
            add_entry(feed, entry, **self.item_extra_kwargs(entry))
        return feed

    def items(self, obj=None):
        override = _ITEMS_OVERRIDE.get()
        return override if override is not None else self.entries(self.feed_updates(obj))

    def feed_updates(self, obj):
        """The updates this feed shows (its first FEED_ITEMS): all of them here."""
        return self.updates()

    def entries(self, updates):
        """The feed's entries for the first FEED_ITEMS of `updates` (latest first)."""
        keys = list(updates.prefetch_related(None).values_list("pk", flat=True)[:FEED_ITEMS])

        def build(missing):
            rows = {update.pk: update for update in self.updates().filter(pk__in=missing)}
            return {pk: self.entry(rows[pk]) for pk in missing if pk in rows}

        kept = cached_pieces("feed-entry", keys, build)
        return [kept[pk] for pk in keys if pk in kept]

    def entry(self, update):
        entry = FeedEntry(
            title=self.update_title(update),
            link=absolute_url(update.get_absolute_url()),
            description=get_template(self.entry_template).render({"obj": update}),
            pubdate=update.published_at,
            updateddate=update.corrected_at or update.published_at,
        )
        return dataclasses.replace(entry, xml=entry_xml(entry))

    def item_extra_kwargs(self, item):
        return {"entry_xml": item.xml}

    # The Feed's hooks read the entries (Django would render a description_template for every item).
    def item_description(self, item):
        return item.description

    def item_title(self, item):
        return item.title

    def item_link(self, item):
        return item.link

    def item_pubdate(self, item):
        return item.pubdate

    def item_updateddate(self, item):
        return item.updateddate

    def update_title(self, item):
        what = _("Checked, nothing new") if item.is_check else item.get_status_display()
        names = list_of(translated_text(party, "name") for party in item.parties.all())
        if names:
            return _("%(commitment)s: %(status)s (%(parties)s)") % {
                "commitment": item.commitment,
                "status": what,
                "parties": names,
            }
        return _("%(commitment)s: %(status)s") % {"commitment": item.commitment, "status": what}


class CommitmentUpdatesFeed(UpdatesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Commitment.objects.public().select_related("instrument"), slug=slug)

    def feed_url(self, obj):
        return absolute_url(reverse("feed_commitment", kwargs={"slug": obj.slug}))

    def title(self, obj):
        return _("aitracker: updates on %(commitment)s") % {"commitment": obj}

    def subtitle(self, obj):
        return translated_text(obj, "text")

    def link(self, obj):
        return absolute_url(obj.get_absolute_url())

    def feed_updates(self, obj):
        return self.updates().filter(commitment=obj)


class PartyUpdatesFeed(UpdatesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Party.objects.public(), slug=slug)

    def feed_url(self, obj):
        return absolute_url(reverse("feed_party", kwargs={"slug": obj.slug}))

    def title(self, obj):
        return _("aitracker: updates on %(party)s's actions") % {"party": translated_text(obj, "name")}

    def subtitle(self, obj):
        return _("Published progress updates that name %(party)s: its own record on the commitments.") % {
            "party": translated_text(obj, "name")
        }

    def link(self, obj):
        return absolute_url(obj.get_absolute_url())

    def feed_updates(self, obj):
        return self.updates().for_party(obj)


def readable_in_browsers(view):
    """Serve a feed as `application/xml` to a browser that navigates to it, `application/atom+xml` otherwise.

    The bytes are the same Atom document. Chromium shows an `application/atom+xml` response as raw text and
    applies the feed's XSLT stylesheet only to a generic XML type; a browser's navigation asks for text/html
    first, which no feed reader does.
    """

    @wraps(view)
    def negotiated(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        accept = request.META.get("HTTP_ACCEPT", "")
        if "text/html" in accept and response.get("Content-Type", "").startswith("application/atom+xml"):
            response["Content-Type"] = "application/xml; charset=utf-8"
        patch_vary_headers(response, ("Accept",))
        return response

    return negotiated


def feed_stylesheet(request):
    """The XSLT stylesheet that turns any of the feeds into a readable page, in the page's language."""
    response = render(request, "aitracker/feed.xsl", content_type="text/xsl; charset=utf-8")
    patch_cache_control(response, public=True, max_age=3600)
    return response
