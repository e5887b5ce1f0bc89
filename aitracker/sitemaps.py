"""The sitemap (django.contrib.sitemaps) and robots.txt: what crawlers may read, and every public page to read."""

from django.contrib import sitemaps
from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control

from .i18n import language_codes, language_prefix
from .links import absolute_url
from .models import Commitment, Instrument, Party, Theme
from .templatetags.aitracker_tags import SECTION_ROOTS

# Staff and account pages: nothing for a search engine there (and they answer only to staff anyway), in every
# language (/fr/admin/ too).
STAFF_PATHS = ("/admin/", "/accounts/", "/review/", "/staff/", "/my/")
DISALLOWED = tuple(language_prefix(language) + path for language in language_codes() for path in STAFF_PATHS)


class SiteSitemap(sitemaps.Sitemap):
    """Addresses on the configured site address (AITRACKER_SITE_URL) rather than the request's Host.

    `get_domain()` is how django.contrib.sitemaps picks the host of every <loc>; tests/test_web_conventions.py
    pins that it still does. Every page is listed in every language, each with its alternates (hreflang) and
    the English page as x-default."""

    i18n = True
    alternates = True
    x_default = True

    def get_domain(self, site=None):
        return absolute_url("").split("://", 1)[1]

    def get_protocol(self, protocol=None):
        return absolute_url("").split("://", 1)[0]


class PagesSitemap(SiteSitemap):
    changefreq = "daily"

    def items(self):
        return SECTION_ROOTS

    def location(self, item):
        return reverse(item)


class ObjectSitemap(SiteSitemap):
    """Every public object with a page of its own; `get_absolute_url()` is its location."""

    def __init__(self, queryset):
        self.queryset = queryset

    def items(self):
        return self.queryset.all()  # a fresh queryset each time: never results cached from an earlier request


SITEMAPS = {
    "pages": PagesSitemap(),
    "instruments": ObjectSitemap(Instrument.objects.public().order_by("slug")),
    "commitments": ObjectSitemap(Commitment.objects.public().select_related(None).order_by("slug")),
    "parties": ObjectSitemap(Party.objects.public().order_by("slug")),
    "themes": ObjectSitemap(Theme.objects.public().order_by("slug")),
}


def sitemap_index(request):
    """The index of the sections' sitemaps, each paged at the library's limit (50,000 addresses), rendered with
    django.contrib.sitemaps' own template. Django's index view takes the host from the request; this one from
    the configured site address, like every other absolute link of the site."""
    entries = []
    for section, site in SITEMAPS.items():
        location = absolute_url(reverse("sitemap_section", kwargs={"section": section}))
        entries.append({"location": location})
        entries += [{"location": f"{location}?p={page}"} for page in range(2, site.paginator.num_pages + 1)]
    return TemplateResponse(request, "sitemap_index.xml", {"sitemaps": entries}, content_type="application/xml")


@cache_control(public=True, max_age=3600)
def robots_txt(request):
    lines = [
        "User-agent: *",
        *(f"Disallow: {path}" for path in DISALLOWED),
        "",
        f"Sitemap: {absolute_url('/sitemap.xml')}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


@cache_control(public=True, max_age=86400)
def favicon(request):
    """Browsers ask for /favicon.ico on every page without an icon link (the admin's, error pages, feeds)."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
