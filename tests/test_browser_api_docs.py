"""The API documentation page (/api/v1/docs/) in headless Chromium: Swagger UI, served by the site itself from
drf-spectacular-sidecar's files, renders every operation of the schema under the site's strict CSP, with no
violation, no console error and no request to another site."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.test_browser_csp import Browsing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SCREENS = Path(os.environ.get("AITRACKER_SCREENS", "/work/screens"))


def test_the_api_docs_render_under_the_csp_with_no_console_error(page, live_server):
    browsing = Browsing(page, live_server.url)
    elsewhere = []
    page.on(
        "request", lambda request: None if request.url.startswith(live_server.url) else elsewhere.append(request.url)
    )
    browsing.visit(reverse("api:docs"))
    page.wait_for_selector(".opblock-tag", timeout=20_000)
    tags = page.locator(".opblock-tag").all_inner_texts()
    for tag in ("commitments", "updates", "parties", "endorsements", "instruments", "themes"):
        assert any(tag in text for text in tags), tags
    # Open one operation: its parameters (the table's filters) are listed.
    page.locator(".opblock-summary", has_text="/api/v1/commitments/").first.click()
    page.wait_for_selector("tr[data-param-name='status']", timeout=10_000)
    browsing.collect()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "api-docs.png"), full_page=False)
    assert browsing.problems == []
    assert elsewhere == []
