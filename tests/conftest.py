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
    settings.AITRACKER_FRAGMENT_CACHE_SECONDS = 0
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


def _table_rows(cursor, table):
    """(columns, rows) of one table, in a stable order; SQLite's full-text table with its rowid."""
    from django.db import connection

    from aitracker.search import FTS_TABLE

    name = connection.ops.quote_name(table)
    cursor.execute(f"SELECT rowid, * FROM {name}" if table == FTS_TABLE else f"SELECT * FROM {name}")
    columns = [column[0] for column in cursor.description]
    return columns, sorted(cursor.fetchall(), key=repr)


def _database_rows():
    """Every table's rows, but the internal tables of SQLite's full-text index (its virtual table rebuilds them)."""
    from django.db import connection

    from aitracker.search import FTS_TABLE

    with connection.cursor() as cursor:
        tables = [
            table
            for table in connection.introspection.table_names(cursor)
            if not table.startswith(f"{FTS_TABLE}_") and not table.startswith("sqlite_")
        ]
        return {table: _table_rows(cursor, table) for table in tables}


@pytest.fixture(scope="session")
def _real_data_rows(django_db_setup, django_db_blocker):
    """The tables that `load_real_data` changes, with their rows after it: loaded once per run, in a transaction
    rolled back at once, so that each test that asks for the real data gets exactly those rows in a few
    milliseconds instead of a load of seconds. tests/test_real_data.py runs the command itself."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        before = _database_rows()
        call_command("load_real_data", verbosity=0)
        after = _database_rows()
        transaction.set_rollback(True)
    return {table: rows for table, rows in after.items() if before.get(table) != rows}


@pytest.fixture
def real_data(db, _real_data_rows):
    """The real data of fixtures/, as `make run` loads it (`load_real_data`), written straight into the tables."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection, transaction

    # One transaction, so that the foreign keys are checked once all the rows are in (a live server's test commits).
    with transaction.atomic(), connection.cursor() as cursor:
        for table, (columns, rows) in _real_data_rows.items():
            name = connection.ops.quote_name(table)
            cursor.execute(f"DELETE FROM {name}")
            if rows:
                marks = ", ".join(["%s"] * len(columns))
                names = ", ".join(connection.ops.quote_name(column) for column in columns)
                cursor.executemany(f"INSERT INTO {name} ({names}) VALUES ({marks})", rows)
        # PostgreSQL's sequences do not follow rows written with their ids: the next ones come after them.
        for sql in connection.ops.sequence_reset_sql(no_style(), apps.get_models(include_auto_created=True)):
            cursor.execute(sql)


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
    settings.AITRACKER_FRAGMENT_CACHE_SECONDS = 600
    locmem = "django.core.cache.backends.locmem.LocMemCache"
    settings.CACHES = {"default": {"BACKEND": locmem, "LOCATION": f"worker-a-{uuid.uuid4()}"}}
    caches["default"].clear()
    return settings
