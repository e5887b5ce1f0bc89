"""E-mail alerts (issue 15, part 2), through a real SMTP server (aiosmtpd, the `mailbox` fixture): follow a
commitment, party, instrument or theme; double opt-in; alerts and digests of published changes only; one-click
unsubscribe (RFC 8058) and the page to manage one's subscriptions; every bad link answered in words, never a 500."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.core import signing
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from aitracker import alerts, services
from aitracker.management.commands.backup import backup_models
from aitracker.models import AlertDelivery, Commitment, ProgressUpdate, Subscriber, Subscription
from tests import factories
from tests.mailbox import html_part, run_jobs, text_part

pytestmark = pytest.mark.django_db
SITE = "https://aitracker.example.org"
LINK = re.compile(r"https://aitracker\.example\.org(/[^\s\"<>]+)")


@pytest.fixture(autouse=True)
def _site(settings):
    """Links as production makes them (https), and a fresh rate limit (kept in the cache) for each test."""
    from django.core.cache import cache

    settings.AITRACKER_SITE_URL = SITE
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def commitment(db):
    theme = factories.make_theme()
    return factories.make_commitment(themes=[theme])


def links(message) -> list[str]:
    """The site's addresses in a message's plain-text part, as paths."""
    return LINK.findall(text_part(message))


def follow(client, commitment, email="reader@example.org", frequency="immediate", **extra):
    url = reverse("follow") + f"?commitment={commitment.slug}"
    return client.post(url, {"email": email, "frequency": frequency}, **extra)


def submitted_update(commitment, analyst, **fields):
    update = factories.make_update(commitment=commitment, author=analyst, state="submitted", **fields)
    return update


def subscribe_and_confirm(client, mailbox, commitment, django_capture_on_commit_callbacks, **kwargs):
    received = len(mailbox.messages)  # counted before the worker runs, which may deliver at once
    with django_capture_on_commit_callbacks(execute=True):
        follow(client, commitment, **kwargs)
    run_jobs()
    confirmation = mailbox.wait_for(received + 1)[-1][1]
    response = client.get(next(path for path in links(confirmation) if "/follow/confirm/" in path))
    assert response.status_code == 200
    return confirmation


def publish(update, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.progress_update_publish(update=update, editor=editor)
    run_jobs()


def test_the_commitment_page_links_to_a_follow_form_that_links_to_the_privacy_page(client, commitment):
    page = client.get(commitment.get_absolute_url()).content.decode()
    assert f"{reverse('follow')}?commitment={commitment.slug}" in page
    assert "csrfmiddlewaretoken" not in page  # the cached page stays cacheable: a link, not a form
    form = client.get(reverse("follow") + f"?commitment={commitment.slug}")
    assert form.status_code == 200
    assert reverse("privacy") in form.content.decode()
    assert form["Cache-Control"].startswith("no-store") or "no-cache" in form["Cache-Control"]
    assert client.get(reverse("follow") + "?commitment=no-such-thing").status_code == 404
    assert client.get(reverse("follow")).status_code == 404


def test_the_confirmation_arrives_and_nothing_else_until_its_link_is_followed(
    client, commitment, analyst, editor, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = follow(client, commitment)
    assert response.status_code == 302
    assert len(mailbox.messages) == 0  # sent by the worker, not by the request
    run_jobs()
    (recipient, confirmation), *_ = mailbox.wait_for(1)
    assert recipient == "reader@example.org"
    assert commitment.title in " ".join(str(confirmation["Subject"]).split())  # a long subject is folded
    assert "List-Unsubscribe" not in confirmation
    assert "/follow/confirm/" in html_part(confirmation)

    publish(submitted_update(commitment, analyst), editor, django_capture_on_commit_callbacks)
    assert len(mailbox.messages) == 1  # not confirmed: no alert

    confirm_path = next(path for path in links(confirmation) if "/follow/confirm/" in path)
    done = client.get(confirm_path)
    assert done.status_code == 200 and "you now follow" in done.content.decode()
    again = client.get(confirm_path)
    assert again.status_code == 200 and "already used" in again.content.decode()

    publish(submitted_update(commitment, analyst, summary="The *second* update."), editor,
            django_capture_on_commit_callbacks)  # fmt: skip
    _, alert = mailbox.wait_for(2)[1]
    assert "second" in text_part(alert) and "<em>second</em>" in html_part(alert)
    assert "reader@example.org" not in text_part(alert)


def test_every_alert_has_one_click_unsubscribe_headers_and_links_that_work(
    client, commitment, analyst, editor, mailbox, django_capture_on_commit_callbacks, settings
):
    settings.AITRACKER_UNSUBSCRIBE_MAILTO = "unsubscribe@aitracker.example.org"
    subscribe_and_confirm(client, mailbox, commitment, django_capture_on_commit_callbacks)
    publish(submitted_update(commitment, analyst), editor, django_capture_on_commit_callbacks)
    _, alert = mailbox.wait_for(2)[1]

    header = alert["List-Unsubscribe"]
    https_url, mailto = re.findall(r"<([^>]+)>", header)
    assert https_url.startswith(SITE + "/follow/unsubscribe/")
    assert mailto.startswith("mailto:unsubscribe@aitracker.example.org")
    assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert https_url in text_part(alert)
    manage_path = next(path for path in links(alert) if "/follow/manage/" in path)
    manage = client.get(manage_path).content.decode()
    assert commitment.title in manage and "reader@example.org" not in manage

    # A link prefetcher's GET changes nothing; the mail client's one-click POST needs no CSRF token.
    path = urlsplit(https_url).path
    assert "Unsubscribe" in client.get(path).content.decode()
    assert Subscription.objects.count() == 1
    one_click = Client(enforce_csrf_checks=True)
    response = one_click.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "no more messages" in response.content.decode()
    assert not Subscriber.objects.exists()  # the address goes with its last subscription
    assert not AlertDelivery.objects.exists()
    twice = one_click.post(path, {"List-Unsubscribe": "One-Click"})
    assert twice.status_code == 200 and "already unsubscribed" in twice.content.decode()
    assert client.get(path).status_code == 410


def test_a_one_click_unsubscribe_with_a_bad_token_says_the_link_is_not_valid_not_already_unsubscribed(
    client, commitment
):
    subscription = services.subscription_request(
        email="reader@example.org", target=commitment, frequency="daily", language="en"
    )
    subscriber = subscription.subscriber
    token = alerts.unsubscribe_token(subscriber, [subscription.pk])
    confirm = alerts.confirm_token(subscription, "daily")
    for bad in (token[:-3] + "abc", "not-a-token", "x" * 2000, confirm, signing.dumps([1, 2], salt="x")):
        response = client.post(reverse("follow_unsubscribe", args=[bad]), {"List-Unsubscribe": "One-Click"})
        page = response.content.decode()
        assert response.status_code == 410, bad
        assert "not valid" in page and "already unsubscribed" not in page.lower()
    assert Subscription.objects.filter(pk=subscription.pk).exists()  # nothing was ended

    # A real link, used twice: the second time says so.
    assert "no more messages" in client.post(reverse("follow_unsubscribe", args=[token])).content.decode()
    twice = client.post(reverse("follow_unsubscribe", args=[token]))
    assert twice.status_code == 200 and "already unsubscribed" in twice.content.decode()
    assert "not valid" not in twice.content.decode()


def test_a_correction_is_an_alert_and_a_withdrawn_update_is_told_to_nobody(
    client, commitment, analyst, editor, mailbox, django_capture_on_commit_callbacks
):
    subscribe_and_confirm(client, mailbox, commitment, django_capture_on_commit_callbacks)
    update = submitted_update(commitment, analyst)
    publish(update, editor, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.progress_update_correct(update=ProgressUpdate.objects.get(pk=update.pk), editor=editor,
                                         note="The date was wrong.")  # fmt: skip
    run_jobs()
    _, correction = mailbox.wait_for(3)[2]
    assert correction["Subject"].startswith("Corrected")
    assert "The date was wrong." in text_part(correction)

    other = submitted_update(commitment, analyst)
    with django_capture_on_commit_callbacks(execute=True):
        services.progress_update_publish(update=other, editor=editor)
    services.progress_update_unpublish(update=other, editor=editor, note="Published by mistake.")
    run_jobs()  # the job finds the update no longer public
    assert len(mailbox.messages) == 3


def test_a_party_theme_or_instrument_follower_hears_of_what_concerns_it_once(
    client, analyst, editor, mailbox, django_capture_on_commit_callbacks
):
    theme, party = factories.make_theme(), factories.make_party()
    commitment = factories.make_commitment(themes=[theme])
    for kind, target in (("theme", theme), ("party", party), ("instrument", commitment.instrument)):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                reverse("follow") + f"?{kind}={target.slug}", {"email": "all@example.org", "frequency": "immediate"}
            )
    run_jobs()
    for _, confirmation in mailbox.wait_for(3):
        client.get(next(path for path in links(confirmation) if "/follow/confirm/" in path))
    assert Subscription.objects.filter(confirmed_at__isnull=False).count() == 3
    publish(submitted_update(commitment, analyst, parties=[party]), editor, django_capture_on_commit_callbacks)
    alerts_received = mailbox.wait_for(4)[3:]
    assert len(alerts_received) == 1  # one message, however many follows it concerns
    assert run_jobs() == 0


def test_the_daily_digest_gathers_a_days_publications_and_is_sent_once(
    client, commitment, analyst, editor, mailbox, django_capture_on_commit_callbacks
):
    subscribe_and_confirm(client, mailbox, commitment, django_capture_on_commit_callbacks, frequency="daily")
    yesterday = timezone.now() - datetime.timedelta(days=1)
    for title in ("First news", "Second news"):
        update = submitted_update(commitment, analyst, summary=title)
        with django_capture_on_commit_callbacks(execute=True):
            services.progress_update_publish(update=update, editor=editor, now=yesterday)
    run_jobs()
    assert len(mailbox.messages) == 1  # a daily subscriber gets no alert as it happens
    call_command("send_digests", verbosity=0)
    call_command("send_digests", verbosity=0)
    run_jobs()
    _, digest = mailbox.wait_for(2)[1]
    assert "First news" in text_part(digest) and "Second news" in text_part(digest)
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(mailbox.messages) == 2


def test_bad_links_and_bad_addresses_get_a_clear_answer(
    client, commitment, mailbox, django_capture_on_commit_callbacks, settings
):
    bad = follow(client, commitment, email="not-an-address")
    assert bad.status_code == 400 and "valid email" in bad.content.decode().lower()
    with django_capture_on_commit_callbacks(execute=True):
        follow(client, commitment)
    run_jobs()
    (_, confirmation), *_ = mailbox.wait_for(1)
    path = next(path for path in links(confirmation) if "/follow/confirm/" in path)
    token = path.split("/")[-2]

    tampered = client.get(reverse("follow_confirm", args=[token[:-3] + "abc"]))
    assert tampered.status_code == 410 and "not valid" in tampered.content.decode()
    # A token for another address: the signature covers the subscriber it names.
    subscriber = Subscriber.objects.get()
    other = Subscriber.objects.create(email="other@example.org", key="k")
    forged = signing.dumps({"s": other.pk, "k": subscriber.key, "i": 1, "f": "daily"}, salt="wrong salt")
    assert client.get(reverse("follow_confirm", args=[forged])).status_code == 410
    # An unsubscribe token cannot confirm, nor a confirmation token unsubscribe.
    assert client.post(reverse("follow_unsubscribe", args=[token])).status_code == 410
    assert Subscription.objects.count() == 1
    assert client.get(reverse("follow_confirm", args=["x" * 2000])).status_code == 410

    settings.AITRACKER_CONFIRM_DAYS = 0
    expired = client.get(path)
    assert expired.status_code == 410 and "expired" in expired.content.decode()


def test_a_correctly_signed_link_of_one_address_does_nothing_to_another(client, commitment):
    """A token is signed (its salt says which kind of link it is) and names its subscriber by id and by a key
    of its own: a genuine token of A, or one naming B with A's key, neither confirms, ends nor shows B's."""
    other = factories.make_commitment()
    mine = services.subscription_request(email="a@example.org", target=commitment, frequency="daily", language="en")
    theirs = services.subscription_request(email="b@example.org", target=other, frequency="daily", language="en")
    a, b = mine.subscriber, theirs.subscriber
    assert a.key != b.key

    def sign(payload, salt):
        return signing.dumps(payload, salt=salt, compress=True)

    confirms = [
        sign({"s": a.pk, "k": a.key, "i": theirs.pk, "f": "daily"}, alerts.CONFIRM_SALT),  # A's, naming B's
        sign({"s": b.pk, "k": a.key, "i": theirs.pk, "f": "daily"}, alerts.CONFIRM_SALT),  # B's id, A's key
    ]
    for token in confirms:
        assert client.get(reverse("follow_confirm", args=[token])).status_code == 410
    theirs.refresh_from_db()
    assert theirs.confirmed_at is None

    unsubscribes = [
        sign({"s": a.pk, "k": a.key, "i": [theirs.pk]}, alerts.UNSUBSCRIBE_SALT),
        sign({"s": b.pk, "k": a.key, "i": [theirs.pk]}, alerts.UNSUBSCRIBE_SALT),
    ]
    for token in unsubscribes:
        assert "b@example.org" not in client.get(reverse("follow_unsubscribe", args=[token])).content.decode()
        assert other.title not in client.get(reverse("follow_unsubscribe", args=[token])).content.decode()
        client.post(reverse("follow_unsubscribe", args=[token]), {"List-Unsubscribe": "One-Click"})
    assert Subscription.objects.filter(pk=theirs.pk).exists()

    manage_a = reverse("follow_manage", args=[alerts.manage_token(a)])
    page = client.get(manage_a).content.decode()
    assert commitment.title in page and other.title not in page
    client.post(manage_a, {"subscription": theirs.pk})
    assert Subscription.objects.filter(pk=theirs.pk).exists()
    forged_manage = reverse("follow_manage", args=[sign({"s": b.pk, "k": a.key}, alerts.MANAGE_SALT)])
    assert client.get(forged_manage).status_code == 410
    assert client.post(forged_manage, {"subscription": "all"}).status_code == 410
    assert Subscription.objects.filter(pk=theirs.pk).exists() and Subscriber.objects.filter(pk=b.pk).exists()


def test_subscription_requests_are_rate_limited_per_address_and_per_email(client, commitment, settings):
    from django.core.cache import cache

    settings.AITRACKER_FOLLOW_RATE_PER_HOUR = 2
    assert follow(client, commitment, email="a@example.org").status_code == 302
    assert follow(client, commitment, email="b@example.org").status_code == 302
    assert follow(client, commitment, email="c@example.org").status_code == 429
    # Another visitor, the same e-mail too often.
    cache.clear()
    for _ in range(2):
        assert follow(client, commitment, email="d@example.org", REMOTE_ADDR="203.0.113.9").status_code == 302
    assert follow(client, commitment, email="d@example.org", REMOTE_ADDR="203.0.113.10").status_code == 429


def test_the_subscribers_language_is_kept_and_the_address_is_shown_nowhere(client, commitment):
    # The address decides the language (/fr/follow/), whatever the browser asks for.
    with translation.override("fr"):
        follow(client, commitment, HTTP_ACCEPT_LANGUAGE="en")
    assert Subscriber.objects.get().language == "fr"
    assert Subscriber not in admin.site._registry and Subscription not in admin.site._registry


def test_the_manage_page_ends_one_or_every_subscription(
    client, commitment, mailbox, django_capture_on_commit_callbacks
):
    confirmation = subscribe_and_confirm(client, mailbox, commitment, django_capture_on_commit_callbacks)
    subscriber = Subscriber.objects.get()
    other = factories.make_commitment()
    services.subscription_request(email=subscriber.email, target=other, frequency="daily", language="en")
    manage_path = reverse("follow_manage", args=[alerts.manage_token(subscriber)])
    page = client.get(manage_path).content.decode()
    assert commitment.title in page and other.title in page and subscriber.email not in page
    first = Subscription.objects.get(commitment=commitment)
    assert client.post(manage_path, {"subscription": first.pk}).status_code == 302
    assert list(Subscription.objects.values_list("commitment", flat=True)) == [other.pk]
    done = client.post(manage_path, {"subscription": "all"})
    assert "deleted" in done.content.decode() and not Subscriber.objects.exists()
    assert client.get(manage_path).status_code == 410
    assert confirmation  # the manage link in the confirmation's page led here too


def test_unconfirmed_addresses_are_deleted_after_the_confirmation_period(commitment):
    services.subscription_request(email="late@example.org", target=commitment, frequency="daily", language="en")
    services.subscription_request(email="kept@example.org", target=commitment, frequency="daily", language="en")
    Subscription.objects.filter(subscriber__email="kept@example.org").update(confirmed_at=timezone.now())
    Subscriber.objects.update(created_at=timezone.now() - datetime.timedelta(days=8))
    Subscription.objects.update(created_at=timezone.now() - datetime.timedelta(days=8))
    call_command("send_digests", verbosity=0)
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["kept@example.org"]


def test_backups_leave_subscribers_out(commitment, tmp_path):
    services.subscription_request(email="private@example.org", target=commitment, frequency="daily", language="en")
    assert not {Subscriber, Subscription, AlertDelivery} & set(backup_models())
    path = tmp_path / "backup.json"
    call_command("backup", str(path), verbosity=0)
    text = path.read_text()
    assert "private@example.org" not in text and "aitracker.subscriber" not in text


def test_the_privacy_page_says_what_is_kept_and_is_linked_from_the_footer(client, settings):
    settings.AITRACKER_CONTACT_EMAIL = "privacy@aitracker.example.org"
    page = client.get(reverse("privacy"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "7 days" in text and "privacy@aitracker.example.org" in text and "not the subscribers" in text
    assert "suggestions are written to it without their senders" in text
    assert reverse("privacy") in client.get(reverse("methodology")).content.decode()


# --- Every kind of message in the subscriber's language (issue 13) ------------------------------------------

MESSAGE_LANGUAGES = {"fr": ("fr", "Engagement"), "zh-hans": ("zh-Hans", "承诺")}


def assert_message_in(message, language):
    """The subject and both parts in the language (no English interface words), the HTML part saying it, and
    every link to the site under the language's prefix."""
    from tests.test_i18n_pages import english_left

    tag, _word = MESSAGE_LANGUAGES[language]
    subject, text, html = str(message["Subject"]), text_part(message), html_part(message)
    for part in (subject, text, html):
        assert not english_left(part, language), (part, english_left(part, language))
    assert f'<html lang="{tag}"' in html
    paths = links(message) + LINK.findall(html)
    assert paths and all(path.startswith(f"/{language}/") for path in paths), paths
    return subject, text, html


@pytest.mark.parametrize("language", ["fr", "zh-hans"])
def test_every_message_is_in_the_subscribers_language_with_links_in_it(
    client, real_data, analyst, editor, mailbox, django_capture_on_commit_callbacks, language
):
    commitment = Commitment.objects.get(slug="paris-2025-1-ai-accessibility")
    for email, frequency in (("now@example.org", "immediate"), ("daily@example.org", "daily")):
        with translation.override(language):
            confirmation = subscribe_and_confirm(client, mailbox, commitment, django_capture_on_commit_callbacks,
                                                 email=email, frequency=frequency)  # fmt: skip
        assert_message_in(confirmation, language)
        with translation.override(language):
            assert commitment.title in " ".join(str(confirmation["Subject"]).split())  # a long subject is folded
    assert set(Subscriber.objects.values_list("language", flat=True)) == {language}

    yesterday = timezone.now() - datetime.timedelta(days=1)
    french, chinese = "Il s\u2019est passé quelque chose.", "发生了一件事。"
    update = submitted_update(commitment, analyst, summary="Something happened.", summary_fr=french,
                              summary_html_fr=f"<p>{french}</p>", summary_zh_hans=chinese,
                              summary_html_zh_hans=f"<p>{chinese}</p>")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.progress_update_publish(update=update, editor=editor, now=yesterday)
    run_jobs()
    (alert,) = mailbox.wait_for(3) and mailbox.to("now@example.org")[1:]
    _subject, text, _html = assert_message_in(alert, language)
    assert "Something happened." not in text
    unsubscribe = re.findall(r"<([^>]+)>", alert["List-Unsubscribe"])[0]
    assert unsubscribe.startswith(f"{SITE}/{language}/follow/unsubscribe/")

    call_command("send_digests", verbosity=0)
    run_jobs()
    mailbox.wait_for(4)
    (digest,) = mailbox.to("daily@example.org")[1:]
    assert_message_in(digest, language)
    assert re.findall(r"<([^>]+)>", digest["List-Unsubscribe"])[0].startswith(f"{SITE}/{language}/follow/")


@pytest.mark.parametrize("language", ["fr", "zh-hans"])
def test_a_suggestions_sender_is_told_in_the_language_they_wrote_in(
    real_data, analyst, mailbox, django_capture_on_commit_callbacks, language
):
    from aitracker.link_tasks import notify_suggestion_sender

    suggestion = services.suggestion_submit(
        kind="new_development", text="Une loi a été votée.", happened_on=datetime.date(2025, 6, 1),
        source_urls=["https://gov.example/loi"], email="ada@example.org", name="Ada", language=language,
    )  # fmt: skip
    services.suggestion_dismiss(suggestion=suggestion, analyst=analyst, reason="Hors du champ · 范围之外")
    assert notify_suggestion_sender.call(suggestion_id=suggestion.pk) is True
    ((_, message),) = mailbox.wait_for(1)
    from tests.test_i18n_pages import english_left

    subject, text = str(message["Subject"]), text_part(message)
    assert not english_left(subject, language) and not english_left(text, language), (subject, text)
    assert "Hors du champ" in text
    paths = LINK.findall(text)
    assert paths and all(path.startswith(f"/{language}/") for path in paths), paths
