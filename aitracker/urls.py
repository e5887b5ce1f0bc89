from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path

from . import feeds, follow_views, views
from .cache import cache_public_page
from .feeds import readable_in_browsers
from .sitemaps import SITEMAPS, favicon, robots_txt, sitemap_index

# Every page a person reads, in each language: English at the root, French under /fr/, Chinese under
# /zh-hans/ (aitracker.middleware.PathLocaleMiddleware activates the language the address names). The admin too,
# so that an editor reads it in their language and the address still decides it (no cookie, no browser hint).
# Outside them, for machines, one address each: /healthz, /readyz, /robots.txt, /favicon.ico, the sitemaps
# (which list every page in every language with its alternates), static files, and the API (/api/v1/).
localized_patterns = [
    # Public site: anonymous visitors get these from the page cache (aitracker.cache). First, because Django tries
    # the patterns in order and these are most of the requests: after the staff pages, finding /commitments/
    # cost 28 failed matches (60-70 µs against 25-30 µs now, of a ~0.5 ms hit). No two patterns overlap.
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
    path("search/", cache_public_page(views.SearchView.as_view()), name="search"),
    # A form: it holds a CSRF token, so it is never cached (the pages that link to it are).
    path("suggest/", views.SuggestView.as_view(), name="suggest"),
    path("suggest/thanks/", views.SuggestThanksView.as_view(), name="suggest_thanks"),
    path("data/", cache_public_page(views.DataView.as_view()), name="data"),
    path("data/datapackage.json", cache_public_page(views.datapackage_json), name="datapackage"),
    path("data/<slug:name>.<slug:export>", views.data_download, name="data_download"),
    path("methodology/", cache_public_page(views.MethodologyView.as_view()), name="methodology"),
    path("feeds/updates.atom", readable_in_browsers(cache_public_page(feeds.UpdatesFeed())), name="feed_updates"),
    path(
        "feeds/commitments/<slug:slug>.atom",
        readable_in_browsers(cache_public_page(feeds.CommitmentUpdatesFeed())),
        name="feed_commitment",
    ),
    path(
        "feeds/parties/<slug:slug>.atom",
        readable_in_browsers(cache_public_page(feeds.PartyUpdatesFeed())),
        name="feed_party",
    ),
    path("feeds/atom.xsl", cache_public_page(feeds.feed_stylesheet), name="feed_stylesheet"),
    path("privacy/", cache_public_page(follow_views.PrivacyView.as_view()), name="privacy"),
    # E-mail alerts: never cached (their addresses hold a subscriber's token).
    path("follow/", follow_views.follow, name="follow"),
    path("follow/sent/", follow_views.follow_sent, name="follow_sent"),
    path("follow/confirm/<str:token>/", follow_views.confirm, name="follow_confirm"),
    path("follow/unsubscribe/<str:token>/", follow_views.unsubscribe, name="follow_unsubscribe"),
    path("follow/manage/<str:token>/", follow_views.manage, name="follow_manage"),
    path("admin/", admin.site.urls),
    path("", include("aitracker.staff_urls")),
]

urlpatterns = [
    # The read API and its documentation: never language-prefixed. Before the pages, so that finding an API
    # address does not first try every localized pattern (no page's address starts with api/).
    path("api/v1/", include("aitracker.api.urls")),
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
