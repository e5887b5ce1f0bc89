from django.contrib import admin
from django.urls import include, path

from . import feeds, views
from .cache import cache_public_page

urlpatterns = [
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
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
