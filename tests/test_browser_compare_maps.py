"""The comparison page and both maps in headless Chromium, at desktop and phone widths: no sideways page
scroll, no console or CSP error, no serious or critical axe-core violation. Screenshots go to
AITRACKER_SCREENS (default /work/screens, made if missing) for a person to look at."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from aitracker.models import Commitment, PartyStatus
from tests.accessibility import serious_violations

SCREENS = Path(os.environ.get("AITRACKER_SCREENS", "/work/screens"))
WIDTHS = [1280, 375]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


def the_pages():
    """The comparison, an instrument's map, and the map of the commitment binding the most parties."""
    commitment = (
        Commitment.objects.public()
        .filter(pk__in=PartyStatus.objects.values("commitment"))
        .order_by("-instrument__adopted_on", "pk")
        .first()
    )
    return {
        "compare": reverse("compare") + "?parties=france,china,india",
        "instrument-map": reverse("instrument_detail", kwargs={"slug": "paris-2025"}),
        "commitment-map": reverse("commitment_detail", kwargs={"slug": commitment.slug}),
    }


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["compare", "instrument-map", "commitment-map"])
def test_page_fits_renders_without_errors_and_is_accessible(live_server, real_data, browser, name, width):
    path = the_pages()[name]
    SCREENS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    try:
        response = page.goto(live_server.url + path)
        assert response.status == 200
        if name != "compare":
            map_links = page.locator("svg.world-map a")
            assert map_links.count() > 10
            assert page.locator("svg.world-map a title").first.text_content()
            assert page.locator(".map-legend li").count() >= 1
        else:
            assert page.locator("table.compare-table").count() == 2
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENS / f"h11b-{name}-{width}.png"), full_page=True)
        assert problems == []
    finally:
        context.close()

    # The audit injects axe-core, which the page's CSP rightly forbids: only this context bypasses it.
    audit = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    try:
        page = audit.new_page()
        page.goto(live_server.url + path)
        assert serious_violations(page) == []
    finally:
        audit.close()


def test_a_visitor_chooses_parties_with_the_form_and_gets_a_shareable_address(live_server, real_data, page):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("compare") + "?parties=france")
    page.get_by_label("Party 2", exact=True).select_option(label="China")
    page.get_by_label("Party 3 (optional)").select_option(label="India")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(live_server.url + reverse("compare") + "?parties=france,china,india")
    expect(page.get_by_role("heading", level=1)).to_have_text("Compare France, China, India")


def test_a_map_country_is_a_link_to_its_party_page(live_server, real_data, page):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("instrument_detail", kwargs={"slug": "paris-2025"}))
    page.locator('svg.world-map a[href="/parties/france/"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("France")
