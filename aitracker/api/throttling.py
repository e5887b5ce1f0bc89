"""The API's per-address rate limit (a module of its own: DRF imports it while its views are being defined)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from ..middleware import client_ip


class AddressRateThrottle(SimpleRateThrottle):
    """AITRACKER_API_RATE requests per address (aitracker.middleware.client_ip, behind the trusted proxies);
    an empty setting turns the limit off. Read at each request so that it can be changed in tests."""

    scope = "api"

    def get_rate(self):
        return settings.AITRACKER_API_RATE or None

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request._request) or "unknown"}
