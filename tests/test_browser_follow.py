"""E-mail alerts in a real browser (headless Chromium) and a real SMTP server: a visitor follows a commitment from
its page, the confirmation arrives, its link is followed; an editor publishes an update; the worker runs; the
alert arrives; its unsubscribe link ends the subscription in one click. The pages pass axe's audit."""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

from aitracker import services
from aitracker.models import Subscriber
from tests.accessibility import serious_violations
from tests.factories import ensure_staff_groups, make_analyst, make_commitment, make_editor, make_update
from tests.mailbox import run_jobs, text_part

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
SCREENS = Path(os.environ.get("AITRACKER_SCREENS", "/work/screens"))


@pytest.fixture(autouse=True)
def groups(_fast_password_hashing):
    ensure_staff_groups()  # see tests/test_browser_workflow.py


def link(message, fragment: str, base: str) -> str:
    return next(url for url in re.findall(re.escape(base) + r"/[^\s\"<>]+", text_part(message)) if fragment in url)


def test_follow_confirm_alert_and_one_click_unsubscribe(live_server, browser, mailbox, settings):
    from django.core.cache import cache

    cache.clear()  # the rate limit
    settings.AITRACKER_SITE_URL = base = live_server.url
    commitment = make_commitment(title="Fund AI research", slug="fund-ai-research")
    analyst, editor = make_analyst(username="ana"), make_editor(username="eddie")
    context = browser.new_context(bypass_csp=True)  # only so that axe's script can be injected
    page = context.new_page()
    SCREENS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(base + commitment.get_absolute_url())
        page.get_by_role("link", name="Follow it by e-mail").click()
        page.get_by_label("Your e-mail address").fill("reader@example.org")
        page.get_by_label("As it happens").check()
        assert serious_violations(page) == []
        page.screenshot(path=str(SCREENS / "follow-form.png"), full_page=True)
        page.get_by_role("button", name="Follow").click()
        assert page.get_by_role("heading", name="Check your inbox").is_visible()

        run_jobs()
        (recipient, confirmation), *_ = mailbox.wait_for(1)
        assert recipient == "reader@example.org"
        page.goto(link(confirmation, "/follow/confirm/", base))
        assert "you now follow" in page.content() and "Fund AI research" in page.content()

        update = make_update(commitment=commitment, author=analyst, state="submitted", summary="The fund opened.")
        services.progress_update_publish(update=update, editor=editor)
        run_jobs()
        _, alert = mailbox.wait_for(2)[1]
        assert "The fund opened." in text_part(alert)
        assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        page.goto(link(alert, "/follow/unsubscribe/", base))
        assert serious_violations(page) == []
        page.screenshot(path=str(SCREENS / "follow-unsubscribe.png"), full_page=True)
        page.get_by_role("button", name="Unsubscribe").click()
        assert page.get_by_role("heading", name="Unsubscribed").is_visible()
        assert not Subscriber.objects.exists()

        page.goto(base + reverse("privacy"))
        assert serious_violations(page) == []
        page.screenshot(path=str(SCREENS / "privacy.png"), full_page=True)
    finally:
        context.close()
