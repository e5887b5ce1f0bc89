"""Numbered pages of the public lists: the page asked for, or a 404 past either end."""

from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import Http404
from django.utils.translation import gettext as _


def page_or_404(paginator, number):
    """The page asked for: the first if the number is not one, a 404 past the end (not the last page again
    under another address)."""
    try:
        return paginator.page(number or 1)
    except PageNotAnInteger:
        return paginator.page(1)
    except EmptyPage:
        raise Http404(_("This list has no such page.")) from None
