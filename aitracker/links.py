"""Addresses of the public pages of one object, built quickly: a page links to hundreds of them."""

import functools

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language


def slug_url(name, slug):
    """reverse(name, kwargs={"slug": slug}), without resolving the pattern again for every link.

    Kept per script prefix *and* language: under i18n_patterns the same name is /parties/… in English and
    /fr/parties/… in French."""
    prefix, suffix = _slug_url_parts(name, get_script_prefix(), get_language())
    return f"{prefix}{slug}{suffix}"


@functools.cache
def _slug_url_parts(name, script_prefix, language):
    prefix, _placeholder, suffix = reverse(name, kwargs={"slug": "-slug-"}).partition("-slug-")
    return prefix, suffix


def absolute_url(path: str) -> str:
    """The address of a path of this site, from the configured site address (AITRACKER_SITE_URL), never from
    the request's Host: a feed's ids and a download's links stay the same however the site was reached."""
    return f"{settings.AITRACKER_SITE_URL}{path}"
