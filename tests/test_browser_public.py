"""The public site in headless Chromium: a visitor's journey from the dashboard to a download, an axe-core
accessibility check of the main pages, and a phone-width layout check."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse

from aitracker.models import Commitment, Theme
from tests.accessibility import serious_violations

THEME = "Global South cyber-capacity support"
CYBER_COMMITMENT = "Help developing countries strengthen their cyber capabilities"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


@pytest.fixture
def problems(page):
    """Console errors (a CSP violation is one) and failed requests seen while the test browses."""
    seen = []
    page.on("console", lambda message: seen.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.append(str(error)))
    page.on("requestfailed", lambda request: seen.append(f"failed: {request.url}"))
    return seen


def test_visitor_filters_by_theme_opens_a_commitment_and_downloads_the_csv(live_server, real_data, page, problems):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("dashboard"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Are governments keeping their AI promises?")
    expect(page.get_by_role("heading", name="Where the commitments stand")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Commitments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Commitments")
    page.get_by_label("Theme").select_option(label=THEME)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"theme=global-south-cyber-capacity"))
    # Every commitment of the theme, as the reference data has them (ten since the UN resolutions' were added).
    expected = set(Commitment.objects.public().for_theme(Theme.objects.get(name=THEME)).values_list("title", flat=True))
    rows = page.locator("#commitments-table tbody tr")
    expect(rows).to_have_count(len(expected))
    expect(page.locator("#commitments-table tbody")).to_contain_text(CYBER_COMMITMENT)
    expect(page.get_by_text(f"{len(expected)} commitments", exact=True)).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = download_info.value
    assert re.fullmatch(r"aitracker-commitments-\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    rows_downloaded = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert {row["title"] for row in rows_downloaded} == expected
    assert all(THEME in row["themes"] for row in rows_downloaded)

    page.get_by_role("link", name=CYBER_COMMITMENT).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(CYBER_COMMITMENT)
    expect(page.locator(".status-line")).to_contain_text("Not yet assessed")
    source = page.get_by_role("link", name="Read the original text")
    expect(source).to_have_attribute("href", re.compile(r"^https?://"))

    # A commitment with a published update lists the update's sources.
    page.goto(live_server.url + reverse("commitment_detail", kwargs={"slug": "cn-fr-2024-2-address-ai-risks"}))
    source_links = page.locator(".sources a")
    expect(source_links.first).to_have_attribute("href", re.compile(r"^https://"))
    expect(page.locator(".sources").first).to_contain_text("WAM (Emirates News Agency")

    assert problems == []


def test_table_sorts_when_a_heading_is_clicked(live_server, real_data, page, problems):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("commitment_list"))
    page.locator("#commitments-table thead").get_by_role("link", name="Last update").click()
    expect(page).to_have_url(re.compile(r"sort=last_update_on"))
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("Last update")
    page.locator("#commitments-table thead").get_by_role("link", name="Last update").click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Last update")
    expect(page.locator("#commitments-table tbody tr").first).to_contain_text("6 Jul 2026")
    assert problems == []


MAIN_PAGES = [
    ("dashboard", {}),
    ("commitment_list", {}),
    ("commitment_detail", {"slug": "cn-fr-2024-2-address-ai-risks"}),
    ("instrument_detail", {"slug": "paris-2025"}),
    ("party_detail", {"slug": "china"}),
    ("methodology", {}),
    ("update_list", {}),
    ("theme_list", {}),
]


@pytest.fixture
def axe_page(browser):
    # The page's own CSP rightly forbids injected scripts; only this audit context may bypass it.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize(("name", "kwargs"), MAIN_PAGES, ids=[name for name, _ in MAIN_PAGES])
def test_main_pages_have_no_serious_accessibility_violation(live_server, real_data, axe_page, name, kwargs):
    axe_page.goto(live_server.url + reverse(name, kwargs=kwargs))
    assert serious_violations(axe_page) == []


@pytest.mark.parametrize(("name", "kwargs"), MAIN_PAGES, ids=[name for name, _ in MAIN_PAGES])
def test_main_pages_fit_a_phone_screen(live_server, real_data, browser, name, kwargs):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse(name, kwargs=kwargs))
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


def test_keyboard_user_can_skip_to_the_content(live_server, real_data, page):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("dashboard"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
