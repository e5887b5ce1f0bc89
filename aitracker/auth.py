"""What a login costs, and how many anyone may try.

- `Argon2PasswordHasher`: Argon2id at OWASP's minimum (Password Storage Cheat Sheet: 19 MiB of memory, two
  iterations, one lane), about 40 ms a hash on a small machine where Django's default PBKDF2 (1,500,000
  iterations) takes 0.5 s. Every failed login costs one hash, even for a username that does not exist (Django
  hashes anyway, so that timing does not tell), so this is also what a flood of failed logins costs. Older
  PBKDF2 hashes still verify, and are re-hashed with these parameters at the user's next login.
- `AddressThrottlingHandler`: django-axes locks one account from one address after AXES_FAILURE_LIMIT
  failures; this adds a lock on the address itself after AITRACKER_LOGIN_FAILURES_PER_ADDRESS failures across
  every username, so that rotating usernames does not buy unlimited attempts. A locked request is refused
  before any password is hashed.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import hashers
from django.db.models import Max, Sum
from django.utils import timezone


class Argon2PasswordHasher(hashers.Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


def address_failures(request) -> tuple[int, object]:
    """Failed logins from the request's address within the cool-off period, whatever the usernames, and the
    time of the latest."""
    cool_off = get_cool_off(request)
    attempts = AccessAttempt.objects.filter(ip_address=getattr(request, "axes_ip_address", None))
    if cool_off:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    totals = attempts.aggregate(failures=Sum("failures_since_start"), latest=Max("attempt_time"))
    return totals["failures"] or 0, totals["latest"]


def address_is_locked(request) -> bool:
    limit = settings.AITRACKER_LOGIN_FAILURES_PER_ADDRESS
    return bool(limit) and address_failures(request)[0] >= limit


class AddressThrottlingHandler(AxesDatabaseHandler):
    """AXES_HANDLER: axes' own lock per account and address, plus one per address across usernames."""

    def is_locked(self, request, credentials=None) -> bool:
        # Asked before any password is hashed: a locked request costs a query, not a hash.
        return super().is_locked(request, credentials) or address_is_locked(request)

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        # Axes decides whether to answer with its lockout page from its own count; the address's is added.
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and not getattr(request, "axes_locked_out", False) and address_is_locked(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials
