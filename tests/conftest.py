import os
import shutil
import uuid

import pytest
from django.core.cache import caches
from django.core.management import call_command

from aitracker import cache as page_cache
from tests import factories

CHROMIUM = os.environ.get("AITRACKER_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashers cost seconds per login on a small machine; tests check behaviour, not hashing strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _page_cache_off(settings):
    """Pages are rendered afresh in tests: a test's database is rolled back but the local-memory cache is not,
    and the data generation, in the database, is rolled back with it. tests/test_cache.py turns the cache on
    where it tests it."""
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 0
    page_cache.reset_cache_breaker()


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """A request activates the language of its address and leaves it active in the thread (as Django's own
    LocaleMiddleware does: a streamed download is written after the middleware returns). Each test starts in
    English, whatever the previous one requested."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture
def real_data(db):
    """The real data of fixtures/, loaded the way `make run` loads it."""
    call_command("load_real_data", verbosity=0)


@pytest.fixture
def analyst(db):
    return factories.make_analyst(username="ana")


@pytest.fixture
def editor(db):
    return factories.make_editor(username="eddie")


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright. Skips where Chromium is absent, except in CI."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("AITRACKER_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI must install it (apt-get install chromium).")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread; the test database calls are still sync.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def mailbox(settings):
    """A real SMTP server (aiosmtpd) on a free port, the site's mailer pointed at it; what arrives, parsed."""
    from tests.mailbox import smtp_mailers, start_smtp

    box, controller, port = start_smtp()
    settings.MAILERS = smtp_mailers(port)
    box.port = port
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def cache_on(settings):
    """The page cache as `make serve` runs it: local memory per worker, the generation in the database, the
    site-wide counts kept under the same generation."""
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 600
    locmem = "django.core.cache.backends.locmem.LocMemCache"
    settings.CACHES = {"default": {"BACKEND": locmem, "LOCATION": f"worker-a-{uuid.uuid4()}"}}
    caches["default"].clear()
    return settings
