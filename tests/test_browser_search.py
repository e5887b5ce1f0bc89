"""The search box in every page's header and the results page, in headless Chromium at a phone's width and a
laptop's: typed into and submitted, no sideways scroll, no serious accessibility violation. Screenshots of
the results page go to AITRACKER_SHOTS (default /work/shots/search) when that folder exists."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.accessibility import serious_violations

SHOTS = Path(os.environ.get("AITRACKER_SHOTS", "/work/shots/search"))
WIDTHS = [375, 1280]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


@pytest.mark.parametrize("width", WIDTHS)
def test_the_header_search_box_finds_things_at_phone_and_laptop_width(live_server, real_data, browser, width):
    # Only this audit context may bypass the page's CSP, to inject axe-core.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse("dashboard"))
        box = page.get_by_role("searchbox", name="Search the site")
        assert box.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        box.fill("energy")
        box.press("Enter")
        page.wait_for_url("**/search/?q=energy")
        assert page.get_by_role("heading", name="Themes (1)").is_visible()
        assert page.locator("mark", has_text="energy").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert serious_violations(page) == []
        page.goto(live_server.url + reverse("search") + "?q=France")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert serious_violations(page) == []
        if SHOTS.is_dir():
            page.screenshot(path=str(SHOTS / f"search-france-{width}.png"), full_page=True)
            page.goto(live_server.url + reverse("search") + "?q=energy")
            page.screenshot(path=str(SHOTS / f"search-energy-{width}.png"), full_page=True)
            page.goto(live_server.url + reverse("search") + "?q=%22*%22")
            page.screenshot(path=str(SHOTS / f"search-symbols-{width}.png"))
    finally:
        context.close()
