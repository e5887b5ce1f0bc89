"""What every page's head needs: its canonical address, and whether search engines should index it."""

from django.utils.translation import get_language

from .links import absolute_url

# Open Graph names a locale as language_TERRITORY.
OG_LOCALES = {"en": "en_GB", "fr": "fr_FR", "zh-hans": "zh_CN"}


def canonical(request):
    """A page's canonical form is its path without a query string: a filtered, sorted or paged view of a list
    points to the list, and asks not to be indexed itself (its links are still followed)."""
    return {
        "canonical_url": absolute_url(request.path),
        "noindex": bool(request.GET),
        "site_url": absolute_url(""),
        "og_locale": OG_LOCALES.get(get_language() or "en", "en_GB"),
    }


def staff(request):
    """The staff navigation's count of updates waiting for review: one count, on editors' pages only."""
    from .models import ProgressUpdate
    from .services import user_is_editor

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff or not user_is_editor(user):
        return {}
    return {"review_count": ProgressUpdate.objects.awaiting_review().count()}


def search_box(request):
    """The header's search box shows the text searched on the results page (which sets it), empty elsewhere."""
    return {"search_query": ""}
