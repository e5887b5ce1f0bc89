"""Hardening for the open internet (issue 6): deployment settings, headers on every response, staff accounts,
CSRF, caching of private pages, and untrusted text that never reaches a page unsanitised."""

import csv
import io
import json
import os
import re
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aitracker.models import Commitment, Endorsement, Instrument, ProgressUpdate, Source
from aitracker.templatetags.aitracker_tags import render_markdown
from aitracker.views import update_key
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = factories.PASSWORD
SIX_MONTHS = 60 * 60 * 24 * 182


@pytest.fixture(autouse=True)
def fast_tests(settings):
    """Every request here must reach the view (no page cached by an earlier test), and the many logins hash
    their passwords quickly (what is tested is the validators and the lockout, not the hasher)."""
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


def login_url():
    return reverse("login")  # the site's staff login; the admin's is tested alongside where it matters


def logout_url():
    return reverse("logout")


# ---------------------------------------------------------------------------------------------------------------
# 1. Deployment settings, read in a fresh process (settings are read once, at import)

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
    "DJANGO_ALLOWED_HOSTS": "aitracker.example.org",
    # Production sends its e-mail through SMTP: without EMAIL_HOST, Django's deploy check rightly reports the
    # console backend (mail.E001).
    "EMAIL_HOST": "smtp.example.org",
}
SETTINGS_SHOWN = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "LANGUAGE_COOKIE_SECURE",
]


def run_django(args, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment |= {"DJANGO_SETTINGS_MODULE": "aitracker.settings", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def production_settings(**env) -> dict:
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {SETTINGS_SHOWN!r}}}))"
    )
    result = run_django(["-c", script], **(PRODUCTION | env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("preload", ["0", "1"])
def test_the_deploy_check_reports_nothing_in_production(preload):
    result = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DJANGO_HSTS_PRELOAD=preload, **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_settings_are_strict_by_default():
    values = production_settings()
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= SIX_MONTHS
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is False  # opt-in
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # X-Forwarded-Proto is not trusted unless asked
    for cookie in ("SESSION", "CSRF"):
        assert values[f"{cookie}_COOKIE_SECURE"] is True
        assert values[f"{cookie}_COOKIE_HTTPONLY"] is True
        assert values[f"{cookie}_COOKIE_SAMESITE"] in ("Lax", "Strict")
    assert values["LANGUAGE_COOKIE_SECURE"] is True


def test_production_knobs_for_what_sits_in_front():
    values = production_settings(
        DJANGO_TRUST_X_FORWARDED_PROTO="1", DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_HSTS_PRELOAD="1"
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_PRELOAD"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "too-short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_HSTS_PRELOAD": "1", "DJANGO_HSTS_SECONDS": "600"}, "DJANGO_HSTS_PRELOAD"),
    ],
    ids=["no-secret-key", "short-secret-key", "no-allowed-hosts", "preload-without-a-year"],
)
def test_production_refuses_to_start_when_misconfigured(env, message):
    result = run_django(["manage.py", "check"], **(PRODUCTION | env))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


# ---------------------------------------------------------------------------------------------------------------
# 2. Headers on every response


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


STRICT_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def assert_security_headers(response):
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    sources = [source for values in csp.values() for source in values]
    assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"} & set(sources)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.fixture
def site(db):
    commitment = factories.make_commitment()
    factories.make_update(commitment=commitment, state="published")
    return commitment


PUBLIC_PAGES = ["/", "/commitments/", "/updates/", "/methodology/", "/feeds/updates.atom", "/healthz"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_every_public_response_carries_the_security_headers(client, site, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(response)


def test_public_detail_pages_and_downloads_carry_the_security_headers(client, site):
    for path in [site.get_absolute_url(), site.instrument.get_absolute_url(), "/commitments/?_export=csv"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)


def test_admin_pages_carry_the_security_headers(client, editor, site):
    assert_security_headers(client.get(reverse("admin:login")))
    client.force_login(editor)
    for path in [
        reverse("admin:index"),
        reverse("admin:aitracker_commitment_changelist"),
        reverse("admin:aitracker_instrument_change", args=[site.instrument.pk]),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)


def test_staff_pages_carry_the_security_headers_and_are_never_cached(client, editor, site):
    client.force_login(editor)
    for path in [
        reverse("review_queue"),
        reverse("my_updates"),
        reverse("update_create", kwargs={"slug": site.slug}),
        reverse("password_change"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
        assert_not_stored(response)


def test_error_pages_and_redirects_carry_the_security_headers(client, db):
    not_found = client.get("/no-such-page/")
    assert not_found.status_code == 404
    assert_security_headers(not_found)
    redirect = client.get(reverse("admin:index"))
    assert redirect.status_code == 302
    assert_security_headers(redirect)
    csrf_failure = Client(enforce_csrf_checks=True).post(login_url(), {"username": "x", "password": "y"})
    assert csrf_failure.status_code == 403
    assert_security_headers(csrf_failure)


# ---------------------------------------------------------------------------------------------------------------
# Private pages are never stored by the browser or a shared cache


def assert_not_stored(response):
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= directives, response.get("Cache-Control")


def test_admin_and_login_pages_are_never_cached(client, editor):
    assert_not_stored(client.get(reverse("admin:login")))
    assert_not_stored(client.get(login_url()))
    client.force_login(editor)
    assert_not_stored(client.get(reverse("admin:index")))
    assert_not_stored(client.get(reverse("admin:axes_accessattempt_changelist")))


def test_any_page_sent_to_a_logged_in_user_is_never_cached(client, editor, site):
    public = client.get("/")
    assert "no-store" not in public.get("Cache-Control", "")
    client.force_login(editor)
    assert_not_stored(client.get("/"))
    assert_not_stored(client.get(site.get_absolute_url()))


def test_the_response_to_a_successful_login_is_never_cached(client, editor):
    response = client.post(login_url(), {"username": editor.username, "password": PASSWORD})
    assert response.status_code == 302
    assert_not_stored(response)


# ---------------------------------------------------------------------------------------------------------------
# 3. Staff accounts: passwords


@pytest.mark.parametrize(
    "password",
    ["Sh0rt-pass!", "password1234", "qwertyuiop123", "123456789012345", "margaret.hamilton"],
    ids=["11-characters", "common", "common-keyboard", "numeric", "like-the-username"],
)
def test_weak_staff_passwords_are_refused(db, password):
    editor = factories.make_editor(username="margaret.hamilton", email="margaret.hamilton@example.org")
    with pytest.raises(ValidationError):
        validate_password(password, user=editor)


def test_a_long_uncommon_password_is_accepted(editor):
    validate_password("correct horse battery staple", user=editor)


def test_the_password_change_form_enforces_the_rules(client, editor):
    client.force_login(editor)
    url = reverse("password_change")
    weak = client.post(
        url, {"old_password": PASSWORD, "new_password1": "password1234", "new_password2": "password1234"}
    )
    assert weak.status_code == 200
    assert "too common" in weak.content.decode()
    editor.refresh_from_db()
    assert editor.check_password(PASSWORD)
    strong = "a long and uncommon passphrase"
    ok = client.post(url, {"old_password": PASSWORD, "new_password1": strong, "new_password2": strong})
    assert ok.status_code == 302
    editor.refresh_from_db()
    assert editor.check_password(strong)


# ---------------------------------------------------------------------------------------------------------------
# Lockout after repeated failed logins, per account and address


def attempt(client, username, password, address="203.0.113.7", **headers):
    return client.post(login_url(), {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def lock_out(client, username, address="203.0.113.7", **headers):
    from django.conf import settings

    limit = settings.AXES_FAILURE_LIMIT
    responses = [attempt(client, username, "wrong password", address, **headers) for _ in range(limit)]
    assert all(r.status_code == 200 for r in responses[:-1])  # the form again, with an error
    return responses[-1]


def test_repeated_failed_logins_lock_the_account_out_with_a_clear_message(client, editor, settings):
    locked = lock_out(client, editor.username)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins" in page
    shown = re.search(r"You can try again from (\d\d:\d\d) UTC on (\d+ \w+ \d{4})", page)
    assert shown, page
    retry_at = datetime.strptime(" ".join(shown.groups()), "%H:%M %d %b %Y").replace(tzinfo=UTC)
    expected = timezone.now() + settings.AXES_COOLOFF_TIME
    assert abs(retry_at - expected) < timedelta(minutes=2)
    assert 0 < int(locked["Retry-After"]) <= settings.AXES_COOLOFF_TIME.total_seconds()
    assert_security_headers(locked)
    assert_not_stored(locked)
    # Even the right password is refused while the lock holds.
    assert attempt(client, editor.username, PASSWORD).status_code == 429


def test_the_lockout_is_per_account_and_address(client, editor, analyst):
    lock_out(client, editor.username, address="203.0.113.7")
    # The editor from another address, and another account from the same address, may still log in.
    assert attempt(Client(), editor.username, PASSWORD, address="198.51.100.20").status_code == 302
    assert attempt(Client(), analyst.username, PASSWORD, address="203.0.113.7").status_code == 302


def test_behind_trusted_proxies_the_lockout_is_per_visitor_not_per_proxy(client, editor, settings):
    from axes.models import AccessAttempt

    settings.AITRACKER_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    locked = lock_out(client, editor.username, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    # The same visitor cannot escape by adding a made-up address in front: the proxy appends the real one.
    spoofed = attempt(client, editor.username, PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.20, 203.0.113.7")
    assert spoofed.status_code == 429
    # Another visitor through the same proxy is not locked out.
    assert attempt(Client(), editor.username, PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.20").status_code == 302


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, editor):
    from axes.models import AccessAttempt

    lock_out(client, editor.username, address="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    # A header the visitor writes does not give a locked-out visitor a new address.
    assert attempt(client, editor.username, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429


def test_the_lockout_is_released_after_the_cool_off(client, editor, settings):
    from axes.models import AccessAttempt

    lock_out(client, editor.username)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    assert attempt(client, editor.username, PASSWORD).status_code == 302


def test_the_lockout_is_released_by_axes_reset(client, editor):
    lock_out(client, editor.username)
    call_command("axes_reset", verbosity=0)
    assert attempt(client, editor.username, PASSWORD).status_code == 302


def test_editors_see_the_failed_logins_and_the_login_log_in_the_admin(client, editor, analyst):
    lock_out(Client(), "someone-guessing")
    attempt(Client(), analyst.username, PASSWORD)
    client.force_login(editor)
    attempts = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert attempts.status_code == 200
    assert "someone-guessing" in attempts.content.decode()
    log = client.get(reverse("admin:axes_accesslog_changelist"))
    assert log.status_code == 200
    assert analyst.username in log.content.decode()
    # Analysts do not.
    other = Client()
    other.force_login(analyst)
    assert other.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


# ---------------------------------------------------------------------------------------------------------------
# Sessions: they expire after inactivity, end at logout


def test_staff_sessions_expire_after_inactivity(client, editor, settings):
    assert settings.SESSION_COOKIE_AGE <= 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    client.force_login(editor)
    session = Session.objects.get()
    # Each request pushes the expiry back: nearly idle for the whole period, the editor stays in.
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    assert client.get(reverse("admin:index")).status_code == 200
    session.refresh_from_db()
    assert session.expire_date > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)
    # Idle for longer than that, the session is over.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_session_cookie_lasts_no_longer_than_the_browser(client, editor):
    response = client.post(login_url(), {"username": editor.username, "password": PASSWORD})
    cookie = response.cookies["sessionid"]
    assert not cookie["max-age"] and not cookie["expires"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_logout_ends_the_session_on_the_server(client, editor):
    client.post(login_url(), {"username": editor.username, "password": PASSWORD})
    stolen = client.cookies["sessionid"].value
    assert client.get(reverse("admin:index")).status_code == 200
    client.post(logout_url())
    assert not Session.objects.filter(session_key=stolen).exists()
    replay = Client()
    replay.cookies["sessionid"] = stolen
    assert replay.get(reverse("admin:index")).status_code == 302


# ---------------------------------------------------------------------------------------------------------------
# CSRF on every form


def test_a_login_without_a_csrf_token_is_refused(editor):
    client = Client(enforce_csrf_checks=True)
    for url in {login_url(), reverse("admin:login")}:
        response = client.post(url, {"username": editor.username, "password": PASSWORD})
        assert response.status_code == 403, url
    # With the token of the form, the same login works: the check is not blocking everything.
    page = client.get(login_url())
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        login_url(), {"username": editor.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


def test_an_admin_change_without_a_csrf_token_is_refused(editor):
    party = factories.make_party(name="Unchanged")
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    response = client.post(
        reverse("admin:aitracker_party_change", args=[party.pk]),
        {"slug": party.slug, "name": "Defaced", "kind": party.kind, "country": ""},
    )
    assert response.status_code == 403
    party.refresh_from_db()
    assert party.name == "Unchanged"


# The one-click unsubscribe (RFC 8058) is posted by mail clients, which carry no CSRF token: its view is
# csrf_exempt and the signed token in its address is the proof (tests/test_alerts.py forges and reuses them).
NO_CSRF_TOKEN = {"aitracker/follow_unsubscribe.html"}


def test_every_post_form_in_the_templates_carries_a_csrf_token():
    form = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
    for template in (ROOT / "templates").rglob("*.html"):
        name = template.relative_to(ROOT / "templates").as_posix()
        for match in form.finditer(template.read_text()):
            if re.search(r'method=["\']?post', match.group(0), re.I):
                assert ("{% csrf_token %}" in match.group(0)) != (name in NO_CSRF_TOKEN), template


# ---------------------------------------------------------------------------------------------------------------
# 4. Untrusted text never reaches a page, a feed or a download unsanitised

HOSTILE = [
    '<script>alert("xss-script")</script>',
    '<img src=x onerror=alert("xss-img")>',
    '<a href="javascript:alert(1)">html js link</a>',
    '[markdown js link](javascript:alert("xss-md"))',
    "<a href='JaVaScRiPt:alert(1)'>mixed case</a> <a href=\"&#106;avascript:alert(1)\">entity</a>",
    '<a href=" \tjavascript:alert(1)">spaces</a> [tab](java\tscript:alert(1))',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    "[data link](data:text/html,<script>alert(1)</script>) ![img](data:image/svg+xml,<svg onload=alert(1)>)",
    '<a href="vbscript:msgbox(1)">vb</a> [vb](vbscript:msgbox(1))',
    '<svg onload=alert("xss-svg")><circle r="10"/></svg>',
    '<svg><script>alert("svg-script")</script><a xlink:href="javascript:alert(1)">x</a></svg>',
    '<div onclick="alert(1)" style="background:url(javascript:alert(1))">broken <b><i>html <p></div></table>',
    '"><script>alert("attribute-break")</script><input value="',
    "'><img src=x onerror=alert(1)//",
    '<iframe src="https://evil.example/"></iframe><object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example/"><button formaction="javascript:alert(1)">go</button></form>',
    "<style>body{display:none}</style><link rel=stylesheet href=https://evil.example/x.css>",
    '<meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/">',
    "<!--<script>alert(1)</script>--> <![CDATA[<script>alert(1)</script>]]>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "[relative](/admin/) [protocol-relative](//evil.example/) <a href=//evil.example/>x</a>",
    '=HYPERLINK("https://evil.example/","click") +cmd|" /C calc"!A0 -2+3 @SUM(1)',
]
# Text pasted from a word processor can hold control characters that XML 1.0 (the feeds) cannot.
CONTROL_CHARACTERS = "Pasted from a word processor:\x0bvertical tab,\x0cform feed,\x1b escape, \x08 backspace."
LONG_HOSTILE = ('<a href="javascript:alert(1)">x</a><script>alert(2)</script><b><i><u>' + "A" * 40)[:100] * 1000
assert len(LONG_HOSTILE) == 100_000

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "cite"}
FORBIDDEN_TAGS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "style", "math", "noscript"}
FORBIDDEN_SCHEMES = ("javascript:", "data:", "vbscript:")


class HostileMarkup(HTMLParser):
    """Collects every piece of markup on a page that could run script, load content or restyle the page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}=…>")
            # Browsers ignore whitespace and control characters in a URL's scheme.
            scheme_free = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name in URL_ATTRIBUTES and scheme_free.startswith(FORBIDDEN_SCHEMES):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>")
        # A JSON-LD data block is never run (and json_ld escapes <, so no value can end it early).
        data_block = attributes.get("type") == "application/ld+json" and "src" not in attributes
        if tag == "script" and not data_block and not (attributes.get("src") or "").startswith("/static/"):
            self.problems.append("<script>")
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        if tag == "meta" and "http-equiv" in attributes:
            self.problems.append("<meta http-equiv>")
        # Style sheets and icons come from the site; the canonical and hreflang links name the page on the site's
        # own address.
        canonical = (
            attributes.get("rel") == "canonical" or (attributes.get("rel") == "alternate" and "hreflang" in attributes)
        ) and (attributes.get("href") or "").startswith(settings.AITRACKER_SITE_URL + "/")
        if tag == "link" and not canonical and not (attributes.get("href") or "/").startswith("/"):
            self.problems.append(f"<link href={attributes['href']!r}>")
        if tag in ("form", "button") and re.match(r"\s*(https?:)?//", attributes.get("action") or ""):
            self.problems.append(f"<{tag} action=…>")


def hostile_markup(html: str) -> list[str]:
    parser = HostileMarkup()
    parser.feed(html)
    parser.close()
    return parser.problems


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8-sig")


@pytest.fixture
def hostile_site(db):
    """Every hostile text in the commitment's title and text, an update's summary and correction, a source's
    title and publisher, all published."""
    instrument = factories.make_instrument(title=HOSTILE[0], short_title="Hostile instrument")
    party = factories.make_party(name='Party <img src=x onerror=alert("party")>')
    theme = factories.make_theme(name="Theme <script>alert(1)</script>")
    factories.make_endorsement(instrument=instrument, party=party, note=HOSTILE[1])
    commitments = []
    for index, text in enumerate([*HOSTILE, LONG_HOSTILE, CONTROL_CHARACTERS]):
        commitment = factories.make_commitment(
            instrument=instrument,
            themes=[theme],
            title=text[:200],
            text=text,
            slug=f"hostile-{index}",
            reference=f"H{index}",
        )
        update = factories.make_update(
            commitment=commitment,
            state="published",
            sources=0,
            parties=[party],
            summary=text,
            corrected_at=timezone.now(),
            correction_note=text,
        )
        Source.objects.create(update=update, url="https://example.org/s", title=text[:300], publisher=text[:200])
        commitments.append(commitment)
    return {"instrument": instrument, "party": party, "theme": theme, "commitments": commitments}


def test_hostile_text_never_reaches_a_public_page_unsanitised(client, hostile_site):
    pages = [
        "/",
        "/commitments/",
        "/commitments/?per_page=100",
        "/commitments/?" + "&".join(f"q={text[:100]}" for text in HOSTILE[:3]),
        "/updates/",
        # The next page of updates, continued from the newest.
        "/updates/?older=" + update_key(ProgressUpdate.objects.public().latest_first().first()),
        hostile_site["instrument"].get_absolute_url(),
        hostile_site["party"].get_absolute_url(),
        hostile_site["theme"].get_absolute_url(),
        "/instruments/",
        "/parties/",
        "/themes/",
        *(commitment.get_absolute_url() for commitment in hostile_site["commitments"]),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = body(response)
        assert hostile_markup(html) == [], page


def assert_clean_feeds(client, feeds):
    for feed in feeds:
        response = client.get(feed)
        assert response.status_code == 200, feed
        root = ElementTree.fromstring(response.content)  # well-formed XML, whatever the text held
        for element in root.iter():
            if element.get("type") == "html":
                # A feed reader renders this HTML: it must be as clean as a page.
                assert hostile_markup(element.text or "") == [], feed
            elif element.tag.endswith("link"):
                assert element.get("href", "").startswith(("http://", "https://")), feed


def test_hostile_text_never_reaches_a_feed_unsanitised(client, hostile_site):
    commitment = hostile_site["commitments"][-1]  # the one with control characters: XML 1.0 cannot hold them
    assert commitment.text == CONTROL_CHARACTERS
    assert_clean_feeds(
        client,
        [
            reverse("feed_updates"),
            reverse("feed_commitment", args=[commitment.slug]),
            reverse("feed_party", args=[hostile_site["party"].slug]),
        ],
    )


def test_hostile_text_in_downloads_is_data_not_markup_or_formulas(client, hostile_site):
    for export in ("csv", "json"):
        response = client.get(f"/commitments/?_export={export}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith({"csv": "text/csv", "json": "application/json"}[export])
        assert response["X-Content-Type-Options"] == "nosniff"  # never sniffed, so never rendered, as HTML
        assert "attachment" in response.get("Content-Disposition", "")
        text = body(response)
        if export == "json":
            titles = {row["title"] for row in json.loads(text)}
            assert HOSTILE[0] in titles  # the data is kept as it is, exactly
        else:
            # A cell that a spreadsheet would run as a formula is neutralised.
            for row in csv.reader(io.StringIO(text)):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@")), cell


def test_the_markdown_sanitiser_keeps_only_safe_links():
    html = render_markdown(
        "[site](https://example.org/a) [plain](http://example.org/b) [js](javascript:alert(1)) "
        "[rel](/admin/) [proto](//evil.example/) <a href='https://example.org/c' onclick='x()' target=_top>c</a>"
    )
    links = re.findall(r"<a [^>]*>", html)
    hrefs = re.findall(r'href="([^"]*)"', html)
    # The three absolute http(s) links keep their address; the others lose it (an <a> without href is text).
    assert hrefs == ["https://example.org/a", "http://example.org/b", "https://example.org/c"], html
    for link in links:
        assert 'rel="nofollow noopener"' in link
        assert "onclick" not in link and "target" not in link
    assert hostile_markup(render_markdown(LONG_HOSTILE)) == []


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Instrument, "source_url"),
        (Endorsement, "source_url"),
        (Commitment, "source_url"),
        (Source, "url"),
        (Source, "archived_url"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_addresses_shown_as_links_are_http_even_when_written_past_the_forms(db, model, field):
    """The public pages put these addresses in `href` as they are: the database itself must refuse a
    `javascript:` one, whatever writes it (an import, a fixture, the shell)."""
    commitment = factories.make_commitment()
    update = factories.make_update(commitment=commitment, sources=0)
    factories_for = {
        Instrument: lambda **f: factories.make_instrument(**f),
        Endorsement: lambda **f: factories.make_endorsement(**f),
        Commitment: lambda **f: factories.make_commitment(**f),
        Source: lambda **f: Source.objects.create(update=update, title="t", **({"url": "https://example.org/"} | f)),
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        factories_for[model](**{field: "javascript:alert(document.cookie)"})
