"""The workflow in a real browser (headless Chromium): an analyst logs in with their password, logs an update with
two sources and submits it; an editor publishes it from the review queue and sees it on the public page."""

import re

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, ensure_staff_groups, make_analyst, make_commitment, make_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def groups(_fast_password_hashing):
    """The Analyst and Editor groups that a data migration creates. An earlier transactional test's flush
    removes them, and serialized_rollback cannot bring them back once Playwright's event loop runs in this
    thread (Django then keeps a fresh connection object, without the serialized data): so run the migration's
    own function again, on the migration state, when they are missing."""
    ensure_staff_groups()


def log_in(page, base, username, lands_on="my_updates"):
    page.goto(base + reverse("dashboard"))
    page.get_by_role("link", name="Staff login").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(reverse(lands_on)) + "$"))


def test_an_update_goes_from_an_analyst_to_the_public_page(live_server, page):
    make_analyst(username="ana")
    make_editor(username="eddie")
    commitment = make_commitment(title="Fund AI research", slug="fund-ai-research")
    base = live_server.url
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))

    # The analyst logs in through the form, finds the commitment and logs an update with two sources.
    log_in(page, base, "ana")
    page.goto(base + commitment.get_absolute_url())
    page.get_by_role("link", name="Log a progress update").click()
    page.get_by_label("Date of the event").fill("2025-05-01")
    page.get_by_label("Status").select_option("in_progress")
    page.get_by_label("Progress (%)").fill("35")
    page.get_by_label("Confidence").select_option("reported")
    page.get_by_label("Summary").fill("The research **fund** opened its first call.")
    first, second = page.locator(".source-form").nth(0), page.locator(".source-form").nth(1)
    first.get_by_label("Address").fill("https://gov.example/fund-call")
    first.get_by_label("Title").fill("Call for proposals")
    second.get_by_label("Address").fill("https://news.example/fund")
    second.get_by_label("Title").fill("Fund opens its doors")

    page.get_by_role("button", name="Preview").click()
    assert page.locator(".preview-body strong").inner_text() == "fund"

    page.get_by_role("button", name="Save and submit for review").click()
    page.wait_for_url(re.compile(re.escape(reverse("my_updates")) + "$"))
    assert "Your update was submitted for review." in page.content()
    waiting = page.locator("section", has=page.get_by_role("heading", name=re.compile("Waiting for review")))
    assert "Fund AI research" in waiting.inner_text()

    # Not public yet.
    page.goto(base + commitment.get_absolute_url())
    assert "opened its first call" not in page.content()

    page.get_by_role("button", name=re.compile("Log out")).click()

    # The editor publishes it from the review queue.
    log_in(page, base, "eddie", lands_on="review_queue")
    page.get_by_role("link", name="Review queue").click()
    item = page.locator(".review-item", has_text="Fund AI research")
    assert "Not yet assessed" in item.inner_text() and "In progress" in item.inner_text()
    item.get_by_role("button", name="Publish").click()
    assert "Published" in page.locator(".messages").inner_text()
    assert "Nothing to review" in page.content()

    # And sees it on the public commitment page, with both sources.
    page.goto(base + commitment.get_absolute_url())
    timeline = page.locator(".timeline").inner_text()
    assert "opened its first call" in timeline
    assert "Call for proposals" in timeline and "Fund opens its doors" in timeline
    assert "In progress" in page.locator(".status-panel").inner_text()
    assert not [problem for problem in problems if "Content Security Policy" in problem], problems
