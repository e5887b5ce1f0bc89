from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path

from . import feeds, views
from .cache import cache_public_page
from .sitemaps import SITEMAPS, favicon, robots_txt, sitemap_index

# Every page a person reads, in each language: English at the root, French under /fr/, Chinese under
# /zh-hans/ (aitracker.middleware.PathLocaleMiddleware activates the language the address names). The admin too,
# so that an editor reads it in their language and the address still decides it (no cookie, no browser hint).
# Outside them, for machines, one address each: /healthz, /readyz, /robots.txt, /favicon.ico, the sitemaps
# (which list every page in every language with its alternates), static files, and the API (/api/v1/).
localized_patterns = [
    path("admin/", admin.site.urls),
    path("", include("aitracker.staff_urls")),
    # Public site: anonymous visitors get these from the page cache (aitracker.cache).
    path("", cache_public_page(views.DashboardView.as_view()), name="dashboard"),
    path("commitments/", cache_public_page(views.CommitmentListView.as_view()), name="commitment_list"),
    path("commitments/<slug:slug>/", cache_public_page(views.CommitmentDetailView.as_view()), name="commitment_detail"),
    path("instruments/", cache_public_page(views.InstrumentListView.as_view()), name="instrument_list"),
    path("instruments/<slug:slug>/", cache_public_page(views.InstrumentDetailView.as_view()), name="instrument_detail"),
    path("parties/", cache_public_page(views.PartyListView.as_view()), name="party_list"),
    path("parties/<slug:slug>/", cache_public_page(views.PartyDetailView.as_view()), name="party_detail"),
    path("themes/", cache_public_page(views.ThemeListView.as_view()), name="theme_list"),
    path("themes/<slug:slug>/", cache_public_page(views.ThemeDetailView.as_view()), name="theme_detail"),
    path("compare/", cache_public_page(views.CompareView.as_view()), name="compare"),
    path("updates/", cache_public_page(views.UpdateListView.as_view()), name="update_list"),
    path("methodology/", cache_public_page(views.MethodologyView.as_view()), name="methodology"),
    path("feeds/updates.atom", cache_public_page(feeds.UpdatesFeed()), name="feed_updates"),
    path(
        "feeds/commitments/<slug:slug>.atom", cache_public_page(feeds.CommitmentUpdatesFeed()), name="feed_commitment"
    ),
    path("feeds/parties/<slug:slug>.atom", cache_public_page(feeds.PartyUpdatesFeed()), name="feed_party"),
]

urlpatterns = [
    *i18n_patterns(*localized_patterns, prefix_default_language=False),
    path("robots.txt", robots_txt, name="robots_txt"),
    path("favicon.ico", favicon, name="favicon"),
    # An index of one sitemap per kind of page: a sitemap holds at most 50,000 addresses, and a section that
    # grows past that is paged (?p=2) by the index itself.
    path("sitemap.xml", cache_public_page(sitemap_index), name="sitemap"),
    path(
        "sitemap-<section>.xml",
        cache_public_page(sitemap_views.sitemap),
        {"sitemaps": SITEMAPS},
        name="sitemap_section",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
