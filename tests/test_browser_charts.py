"""The progress chart on the dashboard and the Paris instrument page, and an as-of commitment page with its
banner and "cite this" block, in headless Chromium at desktop and phone widths: no sideways page scroll, no
console or CSP error, no serious or critical axe-core violation. Screenshots go to AITRACKER_SCREENS (default
/work/shots/asof) for a person to look at."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from aitracker.models import Commitment, ProgressUpdate
from tests.accessibility import serious_violations

SCREENS = Path(os.environ.get("AITRACKER_SCREENS", "/work/shots/asof"))
WIDTHS = [1280, 375]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


def the_pages():
    updated = ProgressUpdate.objects.public().order_by("published_at").first()
    commitment = Commitment.objects.get(pk=updated.commitment_id)
    return {
        "dashboard": reverse("dashboard"),
        "paris": reverse("instrument_detail", kwargs={"slug": "paris-2025"}),
        "commitment-as-of": reverse("commitment_detail", kwargs={"slug": commitment.slug})
        + f"?as_of={updated.published_at.date().isoformat()}",
    }


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["dashboard", "paris", "commitment-as-of"])
def test_chart_pages_fit_render_without_errors_and_are_accessible(live_server, real_data, browser, name, width):
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
        if name == "commitment-as-of":
            assert page.locator(".as-of-banner").count() == 1
            page.locator(".cite summary").first.click()
            assert "@misc{" in page.locator(".cite pre").first.text_content()
            page.locator(".as-of-banner").screenshot(path=str(SCREENS / f"{name}-banner-{width}.png"))
            page.locator(".cite").screenshot(path=str(SCREENS / f"{name}-cite-{width}.png"))
        else:
            chart = page.locator("section.status-chart svg.chart[role=img]")
            assert chart.count() == 1
            box = chart.bounding_box()
            assert 0 < box["width"] <= width
            # Its numbers and years stay legible however far the chart is scaled down (9 px and more on screen).
            heights = page.evaluate(
                "Array.from(document.querySelectorAll('.chart-label'), label => label.getBoundingClientRect().height)"
            )
            assert heights and min(heights) >= 9, heights
            page.locator("section.status-chart figure").screenshot(path=str(SCREENS / f"{name}-chart-{width}.png"))
            page.locator(".chart-data summary").click()
            assert page.locator(".chart-data tbody tr").count() >= 1
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
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
