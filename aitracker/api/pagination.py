"""Cursor pagination over the full sort key: every API list is ordered by named fields ending with the primary
key, and a cursor carries the values of all of them for the last row it showed, so a page deep in a list costs
what the first one does and no row is skipped or repeated however many share a value. (DRF's own
CursorPagination positions on the first field only and falls back on an OFFSET, capped, for ties: a list
ordered by status, thousands to a value, would repeat rows.)

Cursors are signed: a cursor the API did not make, or one made for another order, is a 400, never a query."""

import functools
import operator
from datetime import date, datetime
from decimal import Decimal

from django.core import signing
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import remove_query_param, replace_query_param

from ..links import absolute_url

CURSOR_SALT = "aitracker.api.cursor"


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def keyset_after(order, values):
    """The rows strictly after `values` in `order` (names, "-" for descending): (a > x) or (a = x and b > y)…"""
    clauses, equal = [], {}
    for field, value in zip(order, values, strict=True):
        name = field.lstrip("-")
        clauses.append(Q(**equal, **{f"{name}__{'lt' if field.startswith('-') else 'gt'}": value}))
        equal[name] = value
    return functools.reduce(operator.or_, clauses)


def reversed_order(order):
    return tuple(field[1:] if field.startswith("-") else f"-{field}" for field in order)


class KeysetCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    page_size_query_description = _("How many results a page holds, from 1 to 200 (50 unless given).")
    cursor_query_description = _("Where to continue: the `next` or `previous` link of a page carries it.")

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("Give a whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return size

    def get_ordering(self, request, queryset, view):
        return view.api_ordering(request)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = absolute_url(request.get_full_path())
        self.ordering = self.get_ordering(request, queryset, view)
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor["reverse"])
        order = reversed_order(self.ordering) if reverse else self.ordering
        queryset = queryset.order_by(*order)
        if self.cursor:
            queryset = queryset.filter(keyset_after(order, self.cursor["values"]))
        # The page's keys and the values of its order (for the cursors), not its rows: the view loads only
        # the rows whose representation is not kept (ApiViewSet.list_page), without the prefetches.
        fields = [field.lstrip("-") for field in self.ordering]
        rows = list(queryset.prefetch_related(None).values_list("pk", *fields)[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        self.page = [row[0] for row in rows]
        self.order_values = {row[0]: [_plain(value) for value in row[1:]] for row in rows}
        self.has_next = (more and not reverse) or (reverse and self.cursor is not None)
        self.has_previous = (self.cursor is not None and not reverse) or (reverse and more)
        return self.page

    def _values(self, key):
        return self.order_values[key]

    def _link(self, values, reverse):
        token = signing.dumps({"k": list(self.ordering), "v": values, "r": reverse}, salt=CURSOR_SALT, compress=True)
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def get_next_link(self):
        if not self.has_next:
            return None
        return self._link(self._values(self.page[-1]), False)

    def get_previous_link(self):
        if not self.has_previous:
            return None
        if not self.page:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._link(self._values(self.page[0]), True)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            token = signing.loads(encoded, salt=CURSOR_SALT)
            valid = (
                isinstance(token, dict)
                and token.get("k") == list(self.ordering)
                and isinstance(token.get("v"), list)
                and len(token["v"]) == len(self.ordering)
            )
        except (signing.BadSignature, ValueError, TypeError):
            valid = False
        if not valid:
            raise ValidationError(
                {self.cursor_query_param: [_("This cursor is not valid for this list and order: start again.")]}
            )
        return {"values": token["v"], "reverse": bool(token.get("r"))}
