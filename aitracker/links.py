"""Addresses of the public pages of one object, built quickly: a page links to hundreds of them."""

import functools

from django.urls import get_script_prefix, reverse


def slug_url(name, slug):
    """reverse(name, kwargs={"slug": slug}), without resolving the pattern again for every link."""
    prefix, suffix = _slug_url_parts(name, get_script_prefix())
    return f"{prefix}{slug}{suffix}"


@functools.cache
def _slug_url_parts(name, script_prefix):
    prefix, _placeholder, suffix = reverse(name, kwargs={"slug": "-slug-"}).partition("-slug-")
    return prefix, suffix
