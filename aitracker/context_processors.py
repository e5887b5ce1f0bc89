"""What every page's head needs: its canonical address, and whether search engines should index it."""

from django.conf import settings
from django.utils.translation import get_language_info

from .i18n import SOURCE_LANGUAGE, current_language, hreflang, path_in_language
from .links import absolute_url


def canonical(request):
    """A page's canonical form is its path without a query string: a filtered, sorted or paged view of a list
    points to the list, and asks not to be indexed itself (its links are still followed)."""
    return {
        "canonical_url": absolute_url(request.path),
        "noindex": bool(request.GET),
        "site_url": absolute_url(""),
    }


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
                "absolute_url": absolute_url(path),
                "current": code == current,
            }
        )
    return {
        "language_links": links,
        "page_language": hreflang(current),
        "x_default_url": absolute_url(path_in_language(request.path, SOURCE_LANGUAGE)),
    }


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]  # "français" -> "Français" (a menu entry)
