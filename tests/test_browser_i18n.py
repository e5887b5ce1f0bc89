"""The three languages in headless Chromium (issue 13): the dashboard, the commitments table, a commitment and a
party, in English, French and Chinese, at desktop and phone widths: no console or CSP error, no sideways scroll,
and no serious or critical axe-core violation (the language of every fragment included). Screenshots go to
AITRACKER_SHOTS_DIR (default /work/shots/i18n when it exists) to be looked at."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from tests.accessibility import serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SHOTS = Path(os.environ.get("AITRACKER_SHOTS_DIR", "/work/shots/i18n"))
PAGES = [
    ("dashboard", "dashboard", {}),
    ("table", "commitment_list", {}),
    ("commitment", "commitment_detail", {"slug": "cn-fr-2024-2-address-ai-risks"}),
    ("party", "party_detail", {"slug": "china"}),
]
LANGUAGES = {"en": "en", "fr": "fr", "zh-hans": "zh-Hans"}
WIDTHS = (1280, 375)


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


def url_of(live_server, name, kwargs, language):
    with translation.override(language):
        return live_server.url + reverse(name, kwargs=kwargs or None)


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize(("label", "name", "kwargs"), PAGES, ids=[page[0] for page in PAGES])
def test_the_page_reads_well_in_each_language(live_server, real_data, browser, language, label, name, kwargs):
    url = url_of(live_server, name, kwargs, language)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        seen = []
        page.on("console", lambda message, seen=seen: seen.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error, seen=seen: seen.append(str(error)))
        page.on("requestfailed", lambda request, seen=seen: seen.append(f"failed: {request.url}"))
        try:
            page.goto(url)
            assert page.evaluate("document.documentElement.lang") == LANGUAGES[language]
            # Wide tables scroll inside their own box; the page itself never scrolls sideways.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (url, width)
            if SHOTS.is_dir() and language != "en":
                page.screenshot(path=str(SHOTS / f"{language}-{label}-{width}.png"), full_page=width == 375)
            assert seen == [], (url, width, seen)
        finally:
            context.close()

    # The page's own CSP rightly forbids injected scripts; only this audit context may bypass it.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(url)
        serious = serious_violations(page)
    finally:
        context.close()
    assert serious == [], (url, serious)


# The tables whose last columns French pushed out of sight at 1280 px (issue 13: "Dernière mise à jour" cut off
# at "22 septembr…"), with the cells a reader needs in view in each: the name, its status and its last update.
TABLES = [
    ("commitment_list", {}, "#commitments-table"),
    ("party_detail", {"slug": "france"}, ".party-record"),
    ("party_detail", {"slug": "china"}, ".party-record"),
]
KEY_CELLS = ("td.col-title", "td.col-status", "td.col-last-update")
WRAPPER = "xpath=ancestor::div[contains(@class, 'table-scroll')]"


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_no_table_is_wider_than_its_box_and_the_key_columns_show(live_server, real_data, browser, language):
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        try:
            for name, kwargs, table in TABLES:
                url = url_of(live_server, name, kwargs, language)
                page.goto(url)
                wrappers = page.evaluate(
                    "[...document.querySelectorAll('.table-scroll')].map(w => [w.scrollWidth, w.clientWidth])"
                )
                assert wrappers, url
                assert all(scroll <= client for scroll, client in wrappers), (url, width, wrappers)
                box = page.locator(table).locator(WRAPPER).bounding_box()
                for cell in KEY_CELLS:
                    found = page.locator(f"{table} tbody tr >> nth=0 >> {cell}")
                    assert found.is_visible(), (url, width, cell)
                    cell_box = found.bounding_box()
                    assert box["x"] <= cell_box["x"] and cell_box["x"] + cell_box["width"] <= box["x"] + box["width"], (
                        url,
                        width,
                        cell,
                        cell_box,
                        box,
                    )
        finally:
            context.close()
