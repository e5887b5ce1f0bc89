"""Every page in French and in Chinese (issue 13): its language declared right, and no English left on it
outside the fragments marked `lang="en"` (proper names, content not yet translated). These need the catalogues
(locale/, from the fr and zh branches): without them every page is English and these tests fail, as they must."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import translation

from aitracker.models import ProgressUpdate

pytestmark = pytest.mark.django_db

LANGUAGES = ["fr", "zh-hans"]
TAGS = {"fr": "fr", "zh-hans": "zh-Hans"}
# Interface words that must not be left in English. French shares some ("Instruments", "Sources", "Parties",
# "Documents"), which are therefore checked on Chinese pages only.
ENGLISH_WORDS = [
    "Commitments",
    "Commitment",
    "Status",
    "Download",
    "Methodology",
    "Search",
    "Not yet assessed",
    "Updates",
    "Published",
    "Dashboard",
    "Themes",
    "Progress",
    "Filter",
    "Latest",
    "Skip to main content",
    "not yet translated",
    "commitments",
    "updates",
    "published",
    # Common interface words (none of them French too).
    "Next",
    "Previous",
    "Follow",
    "Unfollow",
    "Unsubscribe",
    "Search results",
    "Read more",
    "Show",
    "Save",
    "Cancel",
    "Delete",
    "Undo",
    "Restore",
    "Edit",
    "Submit",
    "Confirm",
    "History",
    "Back",
    "Log in",
    "Log out",
    "Password",
    "Deleted items",
    "Language",
]
ENGLISH_ONLY_ON_CHINESE = ["Sources", "Parties", "Instruments", "Date", "Notes", "Documents", "Suggestions"]

COMMITMENT = "paris-2025-1-ai-accessibility"
PUBLIC_PAGES = [
    ("dashboard", {}, ""),
    ("commitment_list", {}, ""),
    ("commitment_list", {}, "?status=achieved&q=AI"),
    ("commitment_detail", {"slug": COMMITMENT}, ""),
    ("instrument_list", {}, ""),
    ("instrument_detail", {"slug": "paris-2025"}, ""),
    ("instrument_detail", {"slug": "unga-78-265"}, ""),
    ("party_list", {}, ""),
    ("party_detail", {"slug": "china"}, ""),
    ("theme_list", {}, ""),
    ("theme_detail", {"slug": "global-south-cyber-capacity"}, ""),
    ("compare", {}, "?parties=china,france"),
    ("update_list", {}, ""),
    ("methodology", {}, ""),
    ("search", {}, "?q=energy"),
    ("suggest", {}, ""),
    ("suggest_thanks", {}, ""),
    ("data", {}, ""),
    ("privacy", {}, ""),
    ("follow", {}, "?theme=global-south-cyber-capacity"),
    ("follow_sent", {}, ""),
]
# Not pages a visitor reads as HTML: files for machines. (The follow pages reached through a token sent by
# e-mail are pages a visitor reads: TOKEN_PAGES below.)
NOT_PAGES = {"datapackage", "data_download", "feed_stylesheet"}
TOKEN_PAGES = {"follow_confirm", "follow_unsubscribe", "follow_manage"}
FEEDS = [
    ("feed_updates", {}),
    ("feed_commitment", {"slug": COMMITMENT}),
    ("feed_party", {"slug": "china"}),
]


def localized(name, kwargs, language):
    with translation.override(language):
        return reverse(name, kwargs=kwargs)


class VisibleText(HTMLParser):
    """The text a reader meets outside the elements marked lang="en" (and outside scripts and styles): element
    text and the attributes a screen reader says (aria-label, title, alt, placeholder)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    SPOKEN = {"aria-label", "title", "alt", "placeholder"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # (tag, english or hidden)
        self.parts = []

    def _outside_english(self):
        return not any(hidden for _tag, hidden in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        hidden = tag in {"script", "style"} or (attrs.get("lang") or "").lower().startswith("en")
        if self._outside_english() and not hidden:
            self.parts += [value for key, value in attrs.items() if key in self.SPOKEN and value]
        if tag not in self.VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if self._outside_english():
            self.parts.append(data)


def english_left(html, language):
    parser = VisibleText()
    parser.feed(html)
    # Addresses shown as text (a citation's permalink) are not words of the interface.
    text = re.sub(r"https?://\S+", " ", " ".join(parser.parts))
    words = ENGLISH_WORDS + (ENGLISH_ONLY_ON_CHINESE if language == "zh-hans" else [])
    return sorted({word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)})


def assert_in_language(response, language):
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert response["Content-Language"] == TAGS[language]
    assert re.search(rf'<html lang="{TAGS[language]}"', html), html[:200]
    left = english_left(html, language)
    assert not left, f"English interface words on a {language} page: {left}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("name", "kwargs", "query"), PUBLIC_PAGES, ids=[f"{p[0]}{p[2]}" for p in PUBLIC_PAGES])
def test_every_public_page_is_in_the_language_of_its_address(client, real_data, language, name, kwargs, query):
    assert_in_language(client.get(localized(name, kwargs, language) + query), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_not_found_is_in_the_language_of_its_address(client, real_data, language):
    response = client.get(f"/{language}/no-such-page/")
    assert response.status_code == 404
    response.status_code = 200  # the same checks as any page
    assert_in_language(response, language)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("name", "kwargs"), FEEDS, ids=[f[0] for f in FEEDS])
def test_feeds_are_in_the_language_of_their_address(client, real_data, language, name, kwargs):
    response = client.get(localized(name, kwargs, language))
    xml = response.content.decode()
    assert f'xml:lang="{TAGS[language]}"' in xml
    titles = " ".join(re.findall(r"<title>([^<]*)</title>", xml))
    assert "progress updates" not in titles and "updates on" not in titles, titles


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_follow_pages_reached_from_an_e_mail_are_in_the_language_of_their_address(client, real_data, language):
    """The confirmation, unsubscribe and manage pages, with the valid tokens a subscriber's messages carry."""
    from aitracker import alerts, services
    from aitracker.models import Commitment

    commitment = Commitment.objects.get(slug=COMMITMENT)
    subscription = services.subscription_request(email="lecteur@example.org", target=commitment,
                                                 frequency="immediate", language=language)  # fmt: skip
    subscriber = subscription.subscriber
    confirm = client.get(localized("follow_confirm", {"token": alerts.confirm_token(subscription, "immediate")},
                                   language))  # fmt: skip
    assert_in_language(confirm, language)
    subscription.refresh_from_db()
    assert subscription.confirmed_at is not None
    manage = client.get(localized("follow_manage", {"token": alerts.manage_token(subscriber)}, language))
    assert_in_language(manage, language)
    unsubscribe_url = localized("follow_unsubscribe", {"token": alerts.unsubscribe_token(subscriber,
                                                                                          [subscription.pk])},
                                language)  # fmt: skip
    assert_in_language(client.get(unsubscribe_url), language)
    assert_in_language(client.post(unsubscribe_url), language)  # done: the answer too
    assert_in_language(client.post(unsubscribe_url), language)  # and the answer to a second click


@pytest.fixture
def editor_client(client, real_data):
    from tests.factories import make_editor

    client.force_login(make_editor(username="edith"))
    return client


def staff_pages():
    update = ProgressUpdate.objects.public().order_by("pk").first()
    return [
        ("review_queue", {}),
        ("my_updates", {}),
        ("deleted_items", {}),
        ("update_create", {"slug": COMMITMENT}),
        ("update_correct", {"pk": update.pk}),
        ("update_history", {"pk": update.pk}),
        ("commitment_history", {"slug": COMMITMENT}),
        ("password_change", {}),
        ("password_change_done", {}),
        ("suggestion_queue", {}),
        ("staff_jobs", {}),
        ("link_problems", {}),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_staff_pages_are_in_the_language_of_their_address(editor_client, language):
    for name, kwargs in staff_pages():
        response = editor_client.get(localized(name, kwargs, language))
        assert_in_language(response, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_suggestion_and_an_unpublished_update_are_in_the_language_of_their_address(editor_client, language):
    import datetime

    from aitracker import services
    from aitracker.models import Commitment
    from tests.factories import make_update

    suggestion = services.suggestion_submit(
        kind="new_development", text="A new law was passed.", happened_on=datetime.date(2025, 6, 1),
        source_urls=["https://gov.example/law"], email="ada@example.org", name="Ada", language=language,
    )  # fmt: skip
    assert_in_language(editor_client.get(localized("suggestion_detail", {"pk": suggestion.pk}, language)), language)
    draft = make_update(commitment=Commitment.objects.get(slug=COMMITMENT), state="submitted")
    assert_in_language(editor_client.get(localized("update_edit", {"pk": draft.pk}, language)), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_delete_undo_and_restore_confirmations_are_in_the_language_of_their_address(editor_client, language):
    """Each button's answer: the page it leads back to, with its message, in the language of the address."""
    from aitracker import services
    from aitracker.history import version_token
    from aitracker.models import Commitment
    from tests.factories import make_editor

    def done(name, kwargs, data=None):
        response = editor_client.post(localized(name, kwargs, language), data or {}, follow=True)
        assert response.redirect_chain and response.redirect_chain[-1][0].startswith(f"/{language}/"), name
        assert_in_language(response, language)
        messages = re.findall(r'<li class="message message-(\w+)">', response.content.decode())
        assert messages == ["success"], (name, messages)

    update = ProgressUpdate.objects.public().order_by("pk").first()
    done("update_delete", {"pk": update.pk})
    done("update_undelete", {"pk": update.pk})
    commitment = Commitment.objects.get(slug=COMMITMENT)
    done("commitment_delete", {"slug": COMMITMENT})
    done("commitment_undelete", {"slug": COMMITMENT})

    update = ProgressUpdate.objects.get(pk=update.pk)
    earlier = update.history.order_by("-history_date", "-history_id").first().history_id
    services.progress_update_correct(update=update, editor=make_editor(), summary="Corrected summary.",
                                     note="A correction.")  # fmt: skip
    update = ProgressUpdate.objects.get(pk=update.pk)
    done("update_restore", {"pk": update.pk, "history_id": earlier}, {"version": version_token(update)})
    commitment = Commitment.objects.get(slug=COMMITMENT)
    earlier = commitment.history.order_by("-history_date", "-history_id")[1].history_id
    done("commitment_restore", {"slug": COMMITMENT, "history_id": earlier}, {"version": version_token(commitment)})


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_login_page_is_in_the_language_of_its_address(client, real_data, language):
    assert_in_language(client.get(localized("login", {}, language)), language)


# The English of our models and admin (verbose names, column headers, list filters, help texts, actions), per
# language: "Instruments", "Parties", "Sources", "Date", "Notes", "Place" and "Confidence" are French words too.
ADMIN_ENGLISH = [
    "Progress updates", "Progress update", "progress update", "Commitments", "Commitment", "Endorsements",
    "Official texts", "Themes", "Data entry", "Translations", "Submit the selected updates for review",
    "Publish the selected updates", "Kind", "State", "Status", "Date of the event", "Published at", "Author",
    "Summary", "Review note", "Correction note", "Short title", "Adopted on", "Confidence in the date", "Region",
    "UN member state", "Name", "Country", "Optional, from 0 to 100.", "What happened, in plain words.",
    "For a check, the day the search was made.", "Required for an assessment; a check has none.",
    "Empty for global bodies.", "Our own summary, in plain words.", "Save and continue editing", "Search",
]  # fmt: skip
ADMIN_ENGLISH_ONLY_ON_CHINESE = ["Instruments", "Instrument", "Parties", "Sources", "Date", "Notes", "Place",
                                 "Confidence"]  # fmt: skip


def admin_english_left(html, language):
    # A textarea holds a record's text (the English summary among the translations), not the interface.
    html = re.sub(r"(<textarea[^>]*>).*?(</textarea>)", r"\1\2", html, flags=re.S)
    parser = VisibleText()
    parser.feed(html)
    text = re.sub(r"https?://\S+", " ", " ".join(parser.parts))
    words = ADMIN_ENGLISH + (ADMIN_ENGLISH_ONLY_ON_CHINESE if language == "zh-hans" else [])
    return sorted({word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)})


@pytest.mark.parametrize("language", LANGUAGES)
def test_admin_pages_are_in_the_language_of_their_address(admin_client, real_data, language):
    update = ProgressUpdate.objects.public().order_by("pk").first()
    paths = [
        "/admin/",
        "/admin/aitracker/commitment/",
        "/admin/aitracker/commitment/1/change/",
        "/admin/aitracker/progressupdate/",
        f"/admin/aitracker/progressupdate/{update.pk}/change/",
        "/admin/aitracker/party/",
        "/admin/aitracker/instrument/",
    ]
    for path in paths:
        response = admin_client.get(f"/{language}{path}")
        assert response.status_code == 200, path
        assert response["Content-Language"] == TAGS[language]
        # The admin's own strings come from Django's catalogues; ours are the models' names and help texts.
        html = response.content.decode()
        assert not admin_english_left(html, language), (path, admin_english_left(html, language))
        if path in ("/admin/", "/admin/aitracker/commitment/"):  # the pages that name the commitments
            assert ("Engagements" if language == "fr" else "承诺") in html, path


@pytest.mark.parametrize("language", ["en", *LANGUAGES])
@pytest.mark.parametrize(("name", "kwargs", "query"), PUBLIC_PAGES, ids=[f"{p[0]}{p[2]}" for p in PUBLIC_PAGES])
def test_every_public_page_has_a_switch_and_hreflang_links_to_pages_that_exist(
    client, real_data, settings, language, name, kwargs, query
):
    site = settings.AITRACKER_SITE_URL
    response = client.get(localized(name, kwargs, language) + query)
    assert response.status_code == 200
    html = response.content.decode()
    alternates = dict(re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)"', html))
    assert set(alternates) == {"en", "fr", "zh-Hans", "x-default"}, alternates
    switch = re.search(r'<nav class="language-switch".*?</nav>', html, re.S)
    assert switch, "no language switch"
    links = dict(re.findall(r'<a href="([^"]+)" lang="([^"]+)"', switch.group(0)))
    assert set(links.values()) == {"en", "fr", "zh-Hans"}, links
    for href in [*alternates.values(), *links]:
        assert href.startswith((site, "/")), href
        answer = client.get(href.removeprefix(site).replace("&amp;", "&"))
        assert answer.status_code == 200, (href, answer.status_code)


def test_every_public_url_pattern_is_checked():
    """A page added later is added here too: every named pattern under the language prefixes is listed."""
    checked = {name for name, _kwargs, _query in PUBLIC_PAGES} | {name for name, _kwargs in FEEDS} | TOKEN_PAGES
    staff = {
        "login",
        "logout",
        "password_change",
        "password_change_done",
        "update_create",
        "my_updates",
        "update_edit",
        "update_submit",
        "review_queue",
        "update_publish",
        "update_return",
        "update_correct",
        "update_delete",
        "update_undelete",
        "update_history",
        "update_restore",
        "commitment_history",
        "commitment_restore",
        "commitment_delete",
        "commitment_undelete",
        "deleted_items",
        "staff_home",
        "staff_jobs",
        "suggestion_queue",
        "suggestion_detail",
        "link_problems",
    }
    from aitracker.urls import localized_patterns

    def names(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                if getattr(pattern, "namespace", None) != "admin":
                    yield from names(pattern.url_patterns)
            elif pattern.name:
                yield pattern.name

    localized_names = set(names(localized_patterns))
    public = {name for name in localized_names if not name.startswith("admin") and name not in staff}
    assert public - checked - NOT_PAGES == set()
