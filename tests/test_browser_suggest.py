"""A reader's suggestion in a real browser (headless Chromium): a visitor sends one from a commitment's page,
an analyst turns it into a draft update and submits it, an editor publishes it; the form passes axe-core."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from aitracker.models import Suggestion
from tests.factories import ensure_staff_groups, make_analyst, make_commitment, make_editor
from tests.test_browser_workflow import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@pytest.fixture(autouse=True)
def groups(_fast_password_hashing, settings):
    ensure_staff_groups()
    # A person takes longer than the three seconds the form asks for; a script does not need to wait.
    settings.AITRACKER_SUGGEST_MIN_SECONDS = 0
    settings.AITRACKER_LINKCHECK_TIMEOUT = 0.5
    settings.AITRACKER_LINKCHECK_HOST_DELAY = 0


def test_a_visitors_suggestion_becomes_a_published_update(live_server, page):
    make_analyst(username="ana")
    make_editor(username="eddie")
    commitment = make_commitment(title="Open an AI sandbox", slug="open-an-ai-sandbox")
    base = live_server.url
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    when = (timezone.localdate() - timedelta(days=5)).isoformat()

    # A visitor sends a suggestion from the commitment's page.
    page.goto(base + commitment.get_absolute_url())
    page.get_by_role("link", name="Suggest an update or report an error").click()
    assert "Open an AI sandbox" in page.locator(".page-header").inner_text()
    page.get_by_label("A new development").check()
    page.get_by_label("What happened").fill("The ministry opened a regulatory sandbox for AI start-ups.")
    page.get_by_label("When").fill(when)
    page.get_by_label("Source address").fill("https://gov.example/sandbox")
    page.get_by_label("Second source (optional)").fill("https://news.example/sandbox")
    page.get_by_label("Your e-mail address (optional)").fill("ada@example.org")
    page.get_by_role("button", name="Send the suggestion").click()
    page.wait_for_url(re.compile(re.escape(reverse("suggest_thanks")) + "$"))
    assert Suggestion.objects.count() == 1

    # Not public.
    page.goto(base + commitment.get_absolute_url())
    assert "regulatory sandbox" not in page.content()

    # An analyst turns it into a draft, and submits it.
    log_in(page, base, "ana")
    page.get_by_role("link", name=re.compile(r"^Suggestions 1 waiting")).click()
    page.get_by_role("link", name=re.compile("regulatory sandbox")).click()
    page.get_by_label("Commitment").select_option(label=str(commitment))
    page.get_by_label("Status").select_option("in_progress")
    page.get_by_role("button", name="Make a draft update").click()
    page.wait_for_url(re.compile(r"/staff/updates/\d+/edit/$"))
    assert page.get_by_label("Summary").input_value() == "The ministry opened a regulatory sandbox for AI start-ups."
    first = page.locator(".source-form").nth(0)
    assert first.get_by_label("Address").input_value() == "https://gov.example/sandbox"
    first.get_by_label("Title").fill("Ministry opens the AI sandbox")
    page.get_by_role("button", name="Save and submit for review").click()
    page.wait_for_url(re.compile(re.escape(reverse("my_updates")) + "$"))
    page.get_by_role("button", name=re.compile("Log out")).click()

    # An editor publishes it; the public page shows it with both sources.
    log_in(page, base, "eddie", lands_on="review_queue")
    page.get_by_role("link", name="Review queue").click()
    page.locator(".review-item", has_text="Open an AI sandbox").get_by_role("button", name="Publish").click()
    assert "Published" in page.locator(".messages").inner_text()
    page.goto(base + commitment.get_absolute_url())
    timeline = page.locator(".timeline").inner_text()
    assert "regulatory sandbox" in timeline
    assert "Ministry opens the AI sandbox" in timeline and "news.example/sandbox" in timeline
    assert not [problem for problem in problems if "Content Security Policy" in problem], problems


def test_the_form_has_no_serious_accessibility_violation(live_server, browser):
    commitment = make_commitment()
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(live_server.url + reverse("suggest") + f"?commitment={commitment.slug}")
        page.get_by_role("button", name="Send the suggestion").click()  # with its errors shown
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"
        )
        serious = [
            f"{violation['id']}: {violation['help']} at "
            + ", ".join(node["target"][0] for node in violation["nodes"][:3])
            for violation in result["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert serious == []
        # The honeypot is out of sight.
        assert not page.locator("input[name=website]").is_visible() or page.evaluate(
            "document.querySelector('input[name=website]').getBoundingClientRect().right < 0"
        )
    finally:
        context.close()
