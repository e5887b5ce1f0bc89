from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.routers import SimpleRouter

from ..cache import cache_public_page
from . import views

router = SimpleRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("instruments", views.InstrumentViewSet, basename="instrument")
router.register("parties", views.PartyViewSet, basename="party")
router.register("endorsements", views.EndorsementViewSet, basename="endorsement")
router.register("themes", views.ThemeViewSet, basename="theme")
router.register("commitments", views.CommitmentViewSet, basename="commitment")
router.register("updates", views.UpdateViewSet, basename="update")

app_name = "api"
urlpatterns = [
    path("schema/", SpectacularJSONAPIView.as_view(), name="schema"),
    path("docs/", cache_public_page(views.ApiDocsView.as_view()), name="docs"),
    path("", include(router.urls)),
    # Anything else under /api/v1/ is a JSON 404 too, not the site's HTML page.
    re_path(r"^", views.not_found),
]
