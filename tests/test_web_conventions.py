"""What crawlers, feed readers and link checkers expect of a public site: robots.txt, a sitemap of every public
page, canonical links, absolute addresses from the configured site address (never the request's Host),
Atom feeds with an author and a stable date, and 404 for pages past the end of a list."""

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from django.contrib.sitemaps import Sitemap
from django.test import Client
from django.urls import reverse

from aitracker.sitemaps import SITEMAPS, SiteSitemap
from tests import factories

pytestmark = pytest.mark.django_db
SITE = "https://aitracker.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.AITRACKER_SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]


@pytest.fixture
def world():
    instrument = factories.make_instrument(slug="paris")
    party = factories.make_party(slug="france", name="France")
    factories.make_endorsement(instrument=instrument, party=party)
    commitment = factories.make_commitment(instrument=instrument, slug="access")
    return {"instrument": instrument, "party": party, "commitment": commitment}


def test_robots_txt_keeps_crawlers_out_of_staff_pages_and_points_to_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for path in ("/admin/", "/review/", "/staff/", "/accounts/", "/my/"):
        assert f"Disallow: {path}" in text
    assert f"Sitemap: {SITE}/sitemap.xml" in text


def _locs(client, url, host="testserver"):
    response = client.get(url, HTTP_HOST=host)
    assert response.status_code == 200, url
    return [loc.text for loc in ET.fromstring(response.content).iter(f"{SM}loc")]


def test_the_sitemap_lists_every_public_page_on_the_configured_address(client, world):
    sections = _locs(client, "/sitemap.xml", host="evil.example")
    assert sections and all(loc.startswith(f"{SITE}/sitemap-") for loc in sections)
    pages = []
    for section in sections:
        pages += _locs(client, section.removeprefix(SITE), host="evil.example")
    assert all(loc.startswith(SITE + "/") for loc in pages)
    for obj in world.values():
        assert SITE + obj.get_absolute_url() in pages
    assert f"{SITE}{reverse('methodology')}" in pages


def test_a_deleted_commitment_leaves_the_sitemap(client, world, editor):
    from aitracker import services

    services.commitment_delete(commitment=world["commitment"], editor=editor)
    pages = _locs(client, "/sitemap-commitments.xml")
    assert SITE + world["commitment"].get_absolute_url() not in pages


def test_the_sitemap_relies_on_get_domain_and_get_protocol():
    """django.contrib.sitemaps builds every <loc> from Sitemap.get_domain() and get_protocol() (not a
    documented hook): pin that, so a Django upgrade that stops calling them fails here, not silently."""
    assert Sitemap.get_urls.__code__.co_names.count("get_domain") == 1
    assert "get_protocol" in Sitemap.get_urls.__code__.co_names
    assert SiteSitemap().get_domain() == "aitracker.example.org"
    assert SiteSitemap().get_protocol() == "https"
    assert set(SITEMAPS) == {"pages", "instruments", "commitments", "parties", "themes"}


def test_every_page_names_its_canonical_address_and_filtered_views_ask_not_to_be_indexed(client, world):
    html = client.get(reverse("commitment_list"), HTTP_HOST="evil.example").content.decode()
    assert f'<link rel="canonical" href="{SITE}/commitments/">' in html
    assert 'name="robots"' not in html
    html = client.get(reverse("commitment_list") + "?sort=title&page=1").content.decode()
    assert f'<link rel="canonical" href="{SITE}/commitments/">' in html
    assert '<meta name="robots" content="noindex, follow">' in html
    html = client.get(world["party"].get_absolute_url()).content.decode()
    assert f'<link rel="canonical" href="{SITE}/parties/france/">' in html


def _feed(client, url, host="testserver"):
    response = client.get(url, HTTP_HOST=host)
    assert response.status_code == 200
    return ET.fromstring(response.content)


def test_feeds_have_an_author_and_ids_that_do_not_change_with_the_host(client, world):
    factories.make_update(commitment=world["commitment"], state="published", parties=[world["party"]])
    feeds = [reverse("feed_updates"), reverse("feed_commitment", kwargs={"slug": "access"})]
    feeds.append(reverse("feed_party", kwargs={"slug": "france"}))
    for url in feeds:
        one, other = _feed(client, url), _feed(Client(), url, host="evil.example")
        assert ET.tostring(one) == ET.tostring(other), url
        assert one.find(f"{ATOM}author/{ATOM}name").text
        assert one.find(f"{ATOM}id").text.startswith(SITE + "/")
        entries = one.findall(f"{ATOM}entry")
        assert entries, url
        for entry in entries:
            assert entry.find(f"{ATOM}id").text.startswith(SITE + "/")
            assert entry.find(f"{ATOM}link").get("href").startswith(SITE + "/")
        self_link = [link for link in one.findall(f"{ATOM}link") if link.get("rel") == "self"]
        assert self_link and self_link[0].get("href") == SITE + url


def test_an_empty_feed_has_a_stable_updated_date(client, world):
    url = reverse("feed_commitment", kwargs={"slug": "access"})
    first = _feed(client, url).find(f"{ATOM}updated").text
    assert first == _feed(client, url).find(f"{ATOM}updated").text
    assert first.startswith("2024-01-01")


def test_downloads_link_to_the_configured_address(client, world):
    response = client.get(reverse("commitment_list") + "?_export=csv", HTTP_HOST="evil.example")
    body = b"".join(response.streaming_content).decode()
    assert f"{SITE}/commitments/access/" in body
    assert "evil.example" not in body


@pytest.mark.parametrize("query", ["page=2", "page=-1", "page=0"])
def test_pages_past_the_end_of_the_table_are_not_found(client, world, query):
    assert client.get(f"{reverse('commitment_list')}?{query}").status_code == 404


def test_a_page_number_that_is_not_one_shows_the_first_page(client, world):
    assert client.get(f"{reverse('commitment_list')}?page=abc").status_code == 200


@pytest.mark.parametrize(
    ("name", "kwargs", "extra"),
    [
        ("party_list", {}, {}),
        ("party_detail", {"slug": "france"}, {}),
        ("update_list", {}, {}),
        ("compare", {}, {"parties": "france,germany"}),
    ],
)
def test_every_paged_public_list_answers_404_past_its_end(client, world, name, kwargs, extra):
    factories.make_party(slug="germany", name="Germany")
    factories.make_update(commitment=world["commitment"], state="published")
    url = reverse(name, kwargs=kwargs)
    assert client.get(url, extra).status_code == 200
    assert client.get(url, extra | {"page": "1"}).status_code == 200
    assert client.get(url, extra | {"page": "abc"}).status_code == 200
    for page in ("99", "2", "0", "-1"):
        assert client.get(url, extra | {"page": page}).status_code == 404, page


def test_the_updates_list_answers_404_for_a_page_after_its_last_update(client, world):
    from aitracker.views import update_key

    update = factories.make_update(commitment=world["commitment"], state="published")
    url = reverse("update_list")
    assert client.get(url, {"older": update_key(update)}).status_code == 404
    # A key that is not one shows the first page.
    assert client.get(url, {"older": "nonsense"}).status_code == 200


def test_favicon_ico_leads_to_the_site_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
    from django.contrib.staticfiles import finders

    assert finders.find("img/favicon.svg")


class HeadReader(HTMLParser):
    """The JSON-LD blocks and the Open Graph and Twitter meta tags of a page."""

    def __init__(self):
        super().__init__()
        self.json_ld, self.meta, self.canonical, self._in_ld = [], {}, None, False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("type") == "application/ld+json":
            self._in_ld = True
            self.json_ld.append("")
        elif tag == "meta" and (key := attributes.get("property") or attributes.get("name", "")):
            if key.startswith(("og:", "twitter:")):
                self.meta[key] = attributes.get("content")
        elif tag == "link" and attributes.get("rel") == "canonical":
            self.canonical = attributes.get("href")

    def handle_endtag(self, tag):
        self._in_ld = False

    def handle_data(self, data):
        if self._in_ld:
            self.json_ld[-1] += data


def read_head(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    reader = HeadReader()
    reader.feed(response.content.decode())
    return reader, [json.loads(block) for block in reader.json_ld]


@pytest.mark.parametrize("name", ["dashboard", "commitment_detail", "data"])
def test_link_previews_carry_open_graph_and_twitter_tags(client, world, name):
    url = reverse(name, kwargs={"slug": "access"} if name == "commitment_detail" else {})
    reader, _blocks = read_head(client, url)
    meta = reader.meta
    assert reader.canonical == f"{SITE}{url}"
    assert meta["og:url"] == reader.canonical
    assert meta["og:title"] and meta["og:description"] and meta["og:type"] == "website"
    assert meta["og:image"].startswith(f"{SITE}/") and meta["og:image:alt"]
    assert meta["twitter:card"] == "summary_large_image"
    if name == "commitment_detail":
        assert world["commitment"].title in meta["og:title"]


def test_the_dashboard_describes_the_site_as_a_website(client, world):
    _reader, blocks = read_head(client, reverse("dashboard"))
    assert [block["@type"] for block in blocks] == ["WebSite"]
    assert blocks[0]["url"] == f"{SITE}/"


def test_the_downloads_page_describes_every_download_as_a_dataset(client, world):
    from aitracker.datapackage import DATASETS

    _reader, blocks = read_head(client, reverse("data"))
    (dataset,) = [block for block in blocks if block["@type"] == "Dataset"]
    assert dataset["@context"] == "https://schema.org"
    assert dataset["url"] == f"{SITE}/data/"
    assert dataset["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert dataset["name"] and dataset["description"] and dataset["isAccessibleForFree"] is True
    urls = {item["contentUrl"]: item["encodingFormat"] for item in dataset["distribution"]}
    for each in DATASETS:
        assert urls[f"{SITE}/data/{each.name}.csv"] == "text/csv"
        assert urls[f"{SITE}/data/{each.name}.json"] == "application/json"
    assert urls[f"{SITE}/data/datapackage.json"] == "application/json"
    assert all(item["license"] == dataset["license"] for item in dataset["distribution"])
    # Each download answers where the description says it is.
    for url in urls:
        assert client.get(url.removeprefix(SITE)).status_code == 200, url
    # The commitments table no longer claims to be the dataset.
    _reader, blocks = read_head(client, reverse("commitment_list"))
    assert "Dataset" not in [block["@type"] for block in blocks]
