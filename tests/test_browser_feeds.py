"""An Atom feed opened in a browser (issue 17): a readable page that says what a feed is and how to subscribe,
styled by the site and allowed by its CSP, while the bytes a feed reader gets stay the same Atom XML."""

import pytest
from django.urls import reverse

from aitracker import services
from tests import factories
from tests.test_browser_csp import Browsing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def published(db):
    commitment = factories.make_commitment(title="Open the archives")
    update = factories.make_update(commitment=commitment, state="submitted", summary="The **archive** opened.")
    services.progress_update_publish(update=update, editor=factories.make_editor())
    return commitment


# Chromium 156 puts a banner on every XSLT page, announcing that XSLT will go (chromestatus feature
# 4709671889534976): a console warning, and inline styles and handlers that our CSP refuses. Those are its own.
CHROMIUMS_BANNER = (
    "style-src-attr",
    "script-src-attr",
    "Applying inline style",
    "inline event handler",
    "chromestatus.com/feature/4709671889534976",
)


def from_chromiums_banner(problem):
    return any(mark in problem for mark in CHROMIUMS_BANNER)


def test_a_feed_opened_in_a_browser_reads_as_a_page_that_explains_subscribing(live_server, page, published):
    browsing = Browsing(page, live_server.url)
    banners = 0
    for path in (reverse("feed_updates"), reverse("feed_commitment", kwargs={"slug": published.slug})):
        response = page.goto(live_server.url + path)
        assert response.headers["content-type"].startswith("application/xml")
        assert page.locator("h1").first.inner_text().startswith("aitracker")
        assert page.get_by_role("heading", name="This is a web feed").is_visible()
        assert page.locator(".feed-address").inner_text() == f"http://127.0.0.1:8000{path}"
        entry = page.locator(".feed-entries li").first
        assert "Open the archives" in entry.locator("h3").inner_text()
        assert entry.locator(".feed-summary strong", has_text="archive").count() == 1
        # The site's own style sheet applies (the header is the brand colour, not the browser's default).
        background = page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")
        browsing.collect()
        # Nothing of ours is inline: no style or event attribute anywhere in the transformed page, bar the
        # deprecation banner Chromium itself adds to every XSLT page (with inline styles our CSP refuses).
        own_inline = page.evaluate(
            """[...document.querySelectorAll('*')].filter(e => !e.closest('xslt-warning-banner'))
               .filter(e => [...e.attributes].some(a => a.name === 'style' || a.name.startsWith('on'))).length"""
        )
        assert own_inline == 0
        banners += page.locator("xslt-warning-banner").count()
    page.wait_for_timeout(200)
    assert [problem for problem in browsing.problems if not (banners and from_chromiums_banner(problem))] == []
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(live_server.url + reverse("feed_updates"))
    page.screenshot(path="/tmp/feed-375.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path="/tmp/feed-375.png", full_page=True)
