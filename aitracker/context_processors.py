"""What every page's head needs: its canonical address, and whether search engines should index it."""

from django.conf import settings
from django.utils.http import urlencode
from django.utils.translation import get_language, get_language_info

from .i18n import SOURCE_LANGUAGE, current_language, hreflang, path_in_language
from .links import absolute_url

# Open Graph names a locale as language_TERRITORY.
OG_LOCALES = {"en": "en_GB", "fr": "fr_FR", "zh-hans": "zh_CN"}


def canonical(request):
    """A page's canonical form is its path without a query string: a filtered, sorted or paged view of a list
    points to the list, and asks not to be indexed itself (its links are still followed). A page whose query
    names what it is (the follow form: `?theme=…`; without it, 404) keeps its query."""
    return {
        "canonical_url": absolute_url(request.path + _naming_query(request)),
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


def languages(request):
    """The language switch (the same page and query string in each language, plain links) and the
    `<link rel="alternate" hreflang>` of every page (absolute, on the configured site address; x-default is
    the English page at the root)."""
    current = current_language()
    query = request.META.get("QUERY_STRING", "")
    links = []
    for code, _name in settings.LANGUAGES:
        path = path_in_language(request.path, code)
        links.append(
            {
                "code": code,
                "tag": hreflang(code),
                "name": _capitalised(get_language_info(code)["name_local"]),
                "url": f"{path}?{query}" if query else path,
                "absolute_url": absolute_url(path + _naming_query(request)),
                "current": code == current,
            }
        )
    return {
        "language_links": links,
        "page_language": hreflang(current),
        "x_default_url": absolute_url(path_in_language(request.path, SOURCE_LANGUAGE) + _naming_query(request)),
    }


def _naming_query(request) -> str:
    """The part of the query string without which a page does not exist: the parameters its view names in
    `request.query_names_page` (a tracking parameter or any other is left out of its canonical addresses)."""
    names = getattr(request, "query_names_page", ())
    kept = [(name, request.GET[name]) for name in names if request.GET.get(name)]
    return f"?{urlencode(kept)}" if kept else ""


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]  # "français" -> "Français" (a menu entry)
