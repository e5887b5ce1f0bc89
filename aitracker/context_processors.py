"""What every page's head needs: its canonical address, and whether search engines should index it."""

from .links import absolute_url


def canonical(request):
    """A page's canonical form is its path without a query string: a filtered, sorted or paged view of a list
    points to the list, and asks not to be indexed itself (its links are still followed)."""
    return {
        "canonical_url": absolute_url(request.path),
        "noindex": bool(request.GET),
        "site_url": absolute_url(""),
    }


def search_box(request):
    """The header's search box shows the text searched on the results page (which sets it), empty elsewhere."""
    return {"search_query": ""}
