"""Readers' suggestions (issue 15, part 3): the public form and its defences against robots, the analysts'
queue, turning a suggestion into a draft that is then published, dismissing one, telling the sender, and a
suggestion never reaching anything public."""

import time
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone, translation

from aitracker import services
from aitracker.forms import SUGGEST_SIGNING_SALT
from aitracker.link_tasks import notify_suggestion_sender
from aitracker.models import ProgressUpdate, Suggestion
from tests.factories import make_analyst, make_commitment, make_editor, make_party, make_update, make_user
from tests.mailbox import run_jobs

pytestmark = pytest.mark.django_db

SECRET_TEXT = "The ministry quietly opened a sandbox for AI start-ups"


@pytest.fixture(autouse=True)
def _empty_rate_limit():
    caches["default"].clear()
    yield
    caches["default"].clear()


def started(seconds_ago=30):
    return signing.dumps(time.time() - seconds_ago, salt=SUGGEST_SIGNING_SALT)


def form_data(**fields):
    return {
        "kind": "new_development",
        "text": SECRET_TEXT,
        "happened_on": (timezone.localdate() - timedelta(days=3)).isoformat(),
        "source_1": "https://gov.example/sandbox",
        "source_2": "",
        "name": "Ada",
        "email": "ada@example.org",
        "website": "",
        "started": started(),
    } | fields


def post(client, data, query="", **extra):
    return client.post(reverse("suggest") + query, data, **extra)


def make_suggestion(**fields):
    values = {
        "kind": "new_development",
        "text": SECRET_TEXT,
        "happened_on": timezone.localdate() - timedelta(days=2),
        "source_urls": ["https://gov.example/sandbox", "https://news.example/sandbox"],
        "email": "ada@example.org",
        "name": "Ada",
    } | fields
    return services.suggestion_submit(**values)


# --- The form --------------------------------------------------------------------------------------------


def test_commitment_and_party_pages_link_to_the_form_and_stay_cacheable(client):
    commitment = make_commitment(title="Open an AI sandbox")
    party = make_party(name="Utopia")
    page = client.get(commitment.get_absolute_url()).content.decode()
    assert f'href="/suggest/?commitment={commitment.slug}"' in page
    assert "csrfmiddlewaretoken" not in page
    party_page = client.get(party.get_absolute_url()).content.decode()
    assert f'href="/suggest/?party={party.slug}"' in party_page
    assert "csrfmiddlewaretoken" not in party_page


def test_the_methodology_page_points_to_the_form(client):
    page = client.get(reverse("methodology")).content.decode()
    assert f'href="{reverse("suggest")}">write to us with a source</a>' in page


def test_the_form_says_what_it_is_about_and_is_never_cached(client):
    commitment = make_commitment(title="Open an AI sandbox")
    response = client.get(reverse("suggest") + f"?commitment={commitment.slug}")
    assert response.status_code == 200
    assert "Open an AI sandbox" in response.content.decode()
    assert "no-cache" in response["Cache-Control"] or "private" in response["Cache-Control"]
    # An unknown or deleted subject gives the general form, not an error.
    assert client.get(reverse("suggest") + "?commitment=nope").status_code == 200
    assert client.get(reverse("suggest") + "?party=" + "x" * 5000).status_code == 200


def test_the_honeypot_is_hidden_from_people_and_screen_readers(client):
    page = client.get(reverse("suggest")).content.decode()
    assert '<div class="trap" aria-hidden="true">' in page
    trap = page.split('<div class="trap" aria-hidden="true">', 1)[1].split("</div>", 1)[0]
    assert 'name="website"' in trap and 'tabindex="-1"' in trap and 'autocomplete="off"' in trap


def test_a_suggestion_is_kept_with_its_subject_sources_and_language(client):
    commitment = make_commitment()
    # Sent from the French form: the address decides the language, which the answer to the sender will use.
    with translation.override("fr"):
        url, thanks = reverse("suggest"), reverse("suggest_thanks")
    response = client.post(f"{url}?commitment={commitment.slug}", form_data(source_2="http://news.example/a"))
    assert response.status_code == 302 and response["Location"] == thanks
    suggestion = Suggestion.objects.get()
    assert suggestion.commitment == commitment and suggestion.party is None
    assert suggestion.source_urls == ["https://gov.example/sandbox", "http://news.example/a"]
    assert suggestion.state == Suggestion.State.NEW
    assert suggestion.language == "fr"
    assert client.get(reverse("suggest_thanks")).status_code == 200


def test_a_party_suggestion_names_the_party(client):
    party = make_party()
    post(client, form_data(), f"?party={party.slug}")
    assert Suggestion.objects.get().party == party


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("text", "", "This field is required."),
        ("text", "x" * 5001, "at most 5000 characters"),
        ("happened_on", (timezone.localdate() + timedelta(days=1)).isoformat(), "cannot be in the future"),
        ("happened_on", "yesterday", "Enter a valid date."),
        ("source_1", "", "This field is required."),
        ("source_1", "ftp://files.example/report.pdf", "starting with http:// or https://"),
        ("source_2", "javascript:alert(1)", "starting with http:// or https://"),
        ("email", "not-an-address", "Enter a valid email address."),
        ("kind", "gossip", "Select a valid choice."),
        ("name", "n" * 121, "at most 120 characters"),
    ],
)
def test_bad_input_is_refused_with_a_field_error_and_nothing_kept(client, field, value, message):
    response = post(client, form_data(**{field: value}))
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "Nothing was saved" in page
    assert not Suggestion.objects.exists()
    # What was typed is kept.
    assert SECRET_TEXT in page or field == "text"


def test_the_honeypot_filled_looks_accepted_but_keeps_nothing(client):
    response = post(client, form_data(website="http://spam.example"))
    assert response.status_code == 302 and response["Location"] == reverse("suggest_thanks")
    assert not Suggestion.objects.exists()


@pytest.mark.parametrize("token", [1, "forged", "", 2 * 24 * 3600], ids=["too fast", "forged", "missing", "old"])
def test_a_form_sent_too_fast_or_with_a_bad_timestamp_is_refused_neutrally(client, token):
    response = post(client, form_data(started=started(seconds_ago=token) if isinstance(token, int) else token))
    assert response.status_code == 400
    assert "please check your suggestion, then send it again" in response.content.decode()
    assert not Suggestion.objects.exists()
    # The re-shown form carries a fresh timestamp: sent again after a moment, it goes through.
    fresh = response.context["form"].data["started"]
    assert signing.loads(fresh, salt=SUGGEST_SIGNING_SALT) > time.time() - 5


def test_one_address_may_send_five_an_hour(client, settings):
    for _ in range(settings.AITRACKER_SUGGEST_PER_HOUR):
        assert post(client, form_data()).status_code == 302
    response = post(client, form_data())
    assert response.status_code == 429
    assert "try again later" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert Suggestion.objects.count() == settings.AITRACKER_SUGGEST_PER_HOUR
    # Another address is not affected.
    assert post(client, form_data(), REMOTE_ADDR="198.51.100.7").status_code == 302


def test_robots_count_towards_the_limit(client, settings):
    for _ in range(settings.AITRACKER_SUGGEST_PER_HOUR):
        post(client, form_data(website="spam"))
    assert post(client, form_data()).status_code == 429


def test_the_service_refuses_what_the_form_would(db):
    with pytest.raises(Exception, match="at least one source"):
        make_suggestion(source_urls=[])
    with pytest.raises(Exception, match="http"):
        make_suggestion(source_urls=["file:///etc/passwd"])
    with pytest.raises(Exception, match="at most 5"):
        make_suggestion(source_urls=[f"https://e.example/{i}" for i in range(6)])
    with pytest.raises(Exception, match="future"):
        make_suggestion(happened_on=timezone.localdate() + timedelta(days=1))
    assert not Suggestion.objects.exists()


# --- Never public ----------------------------------------------------------------------------------------


def test_a_suggestion_appears_on_no_public_page_feed_export_or_sitemap(client):
    commitment = make_commitment()
    party = make_party()
    make_update(commitment=commitment, state="published")
    make_suggestion(commitment=commitment, name="Ada Lovelace", email="ada.lovelace@example.org")
    pages = [
        reverse("dashboard"),
        commitment.get_absolute_url(),
        party.get_absolute_url(),
        reverse("commitment_list"),
        reverse("commitment_list") + "?_export=csv",
        reverse("commitment_list") + "?_export=json",
        reverse("update_list"),
        reverse("update_list") + "?_export=csv",
        reverse("feed_updates"),
        reverse("feed_commitment", kwargs={"slug": commitment.slug}),
        reverse("sitemap"),
        reverse("sitemap_section", kwargs={"section": "commitments"}),
        reverse("robots_txt"),
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode()
        for secret in (SECRET_TEXT, "Ada Lovelace", "ada.lovelace@example.org", "gov.example/sandbox"):
            assert secret not in text, (path, secret)


# --- The analysts' queue ---------------------------------------------------------------------------------


def test_only_analysts_and_editors_see_the_queue(client):
    suggestion = make_suggestion()
    for path in (reverse("suggestion_queue"), suggestion.get_absolute_url()):
        anonymous = client.get(path)
        assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    client.force_login(make_user())
    assert client.get(reverse("suggestion_queue")).status_code == 403
    assert client.get(suggestion.get_absolute_url()).status_code == 403
    assert client.post(suggestion.get_absolute_url(), {"dismiss": "", "reason": "no"}).status_code == 403
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.NEW
    for user in (make_analyst(), make_editor()):
        client.force_login(user)
        page = client.get(reverse("suggestion_queue"))
        assert page.status_code == 200 and SECRET_TEXT in page.content.decode()
        assert page["Cache-Control"] == "no-store, private"


def test_the_staff_navigation_counts_the_waiting_suggestions(client):
    make_suggestion()
    make_suggestion(text="Another one")
    client.force_login(make_analyst())
    page = client.get(reverse("my_updates")).content.decode()
    assert 'Suggestions <span class="nav-count">2 waiting</span>' in page


def test_an_analyst_turns_a_suggestion_into_a_draft_that_an_editor_publishes(
    client, django_capture_on_commit_callbacks
):
    party = make_party(name="Utopia")
    commitment = make_commitment(parties=[party])
    suggestion = make_suggestion(commitment=commitment, party=party, language="fr")
    analyst, editor = make_analyst(), make_editor()
    client.force_login(analyst)
    detail = client.get(suggestion.get_absolute_url())
    assert detail.context["draft_form"].initial["commitment"] == commitment

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            suggestion.get_absolute_url(), {"draft": "", "commitment": commitment.pk, "status": "in_progress"}
        )
    update = ProgressUpdate.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("update_edit", args=[update.pk])
    assert update.state == ProgressUpdate.State.DRAFT and update.author == analyst
    assert update.summary == SECRET_TEXT and update.reported_on == suggestion.happened_on
    assert list(update.parties.all()) == [party]
    assert sorted(update.sources.values_list("url", flat=True)) == sorted(suggestion.source_urls)
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.CONVERTED and suggestion.draft == update
    assert suggestion.handled_by == analyst

    # The sender is told, once (by the worker), and their address is then deleted.
    run_jobs()
    suggestion.refresh_from_db()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.org"]
    # In the language the suggestion was written in.
    assert "brouillon" in message.body and "/fr" + commitment.get_absolute_url() in message.body
    assert suggestion.email == "" and suggestion.name == "" and suggestion.sender_notified_at is not None

    # The analyst submits the draft as usual; an editor publishes it; the public page shows it.
    services.progress_update_submit(update=update, user=analyst)
    with django_capture_on_commit_callbacks(execute=False):
        services.progress_update_publish(update=update, editor=editor)
    public = client.get(commitment.get_absolute_url()).content.decode()
    assert SECRET_TEXT in public


def test_a_suggestion_is_handled_once(client):
    commitment = make_commitment()
    suggestion = make_suggestion(commitment=commitment)
    analyst = make_analyst()
    services.suggestion_to_draft(suggestion=suggestion, analyst=analyst, commitment=commitment, status="achieved")
    client.force_login(analyst)
    response = client.post(suggestion.get_absolute_url(), {"dismiss": "", "reason": "Duplicate"}, follow=True)
    assert "already been handled" in response.content.decode()
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.CONVERTED
    assert ProgressUpdate.objects.count() == 1


def test_dismissing_needs_a_reason_and_tells_the_sender(client, django_capture_on_commit_callbacks):
    suggestion = make_suggestion()
    client.force_login(make_analyst())
    refused = client.post(suggestion.get_absolute_url(), {"dismiss": "", "reason": "  "})
    assert refused.status_code == 400 and "This field is required." in refused.content.decode()
    too_long = client.post(suggestion.get_absolute_url(), {"dismiss": "", "reason": "x" * 2001})
    assert too_long.status_code == 400
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.NEW
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(suggestion.get_absolute_url(), {"dismiss": "", "reason": "The source does not say this."})
    assert done.status_code == 302 and done["Location"] == reverse("suggestion_queue")
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.DISMISSED
    assert suggestion.dismiss_reason == "The source does not say this."
    run_jobs()
    assert len(mail.outbox) == 1 and "The source does not say this." in mail.outbox[0].body
    suggestion.refresh_from_db()
    assert suggestion.name == "" and suggestion.email == ""  # told: the contact details go


def test_a_bad_draft_choice_is_a_field_error(client):
    suggestion = make_suggestion()
    client.force_login(make_analyst())
    response = client.post(suggestion.get_absolute_url(), {"draft": "", "commitment": "999999", "status": "done"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not ProgressUpdate.objects.exists()


def test_the_sender_is_told_once_even_if_the_job_runs_twice(db):
    suggestion = make_suggestion()
    services.suggestion_dismiss(suggestion=suggestion, analyst=make_analyst(), reason="Out of scope.")
    assert notify_suggestion_sender.call(suggestion_id=suggestion.pk) is True
    assert notify_suggestion_sender.call(suggestion_id=suggestion.pk) is False
    assert len(mail.outbox) == 1


def test_no_mail_without_an_address(db, django_capture_on_commit_callbacks):
    suggestion = make_suggestion(email="", name="")
    with django_capture_on_commit_callbacks(execute=True):
        services.suggestion_dismiss(suggestion=suggestion, analyst=make_analyst(), reason="Out of scope.")
    assert mail.outbox == []


@pytest.mark.parametrize("close", ["dismiss", "draft"])
def test_a_name_left_without_an_address_is_forgotten_when_the_suggestion_is_closed(
    db, django_capture_on_commit_callbacks, close
):
    commitment = make_commitment()
    suggestion = make_suggestion(commitment=commitment, email="", name="Ada Lovelace")
    analyst = make_analyst()
    with django_capture_on_commit_callbacks(execute=True):
        if close == "dismiss":
            services.suggestion_dismiss(suggestion=suggestion, analyst=analyst, reason="Out of scope.")
        else:
            services.suggestion_to_draft(
                suggestion=suggestion, analyst=analyst, commitment=commitment, status="in_progress"
            )
    run_jobs()
    suggestion.refresh_from_db()
    assert mail.outbox == [] and suggestion.state != Suggestion.State.NEW
    assert suggestion.name == "" and suggestion.email == ""
    assert suggestion.text == SECRET_TEXT  # the suggestion itself is kept


def test_with_an_address_the_contact_details_stay_until_the_sender_is_told(db, django_capture_on_commit_callbacks):
    suggestion = make_suggestion(name="Ada Lovelace")
    with django_capture_on_commit_callbacks(execute=False):
        services.suggestion_dismiss(suggestion=suggestion, analyst=make_analyst(), reason="Out of scope.")
    suggestion.refresh_from_db()
    assert suggestion.name == "Ada Lovelace" and suggestion.email == "ada@example.org"
    assert notify_suggestion_sender.call(suggestion_id=suggestion.pk) is True
    assert mail.outbox[0].to == ["ada@example.org"]
    suggestion.refresh_from_db()
    assert suggestion.name == "" and suggestion.email == ""


def test_a_failed_send_is_sent_again_by_the_retry(db, monkeypatch):
    suggestion = make_suggestion()
    services.suggestion_dismiss(suggestion=suggestion, analyst=make_analyst(), reason="Out of scope.")

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("aitracker.link_tasks.send_mail", refuse)
    with pytest.raises(ConnectionRefusedError):
        notify_suggestion_sender.call(suggestion_id=suggestion.pk)
    suggestion.refresh_from_db()
    assert suggestion.sender_notified_at is None and suggestion.email
    monkeypatch.undo()
    assert notify_suggestion_sender.call(suggestion_id=suggestion.pk) is True
    assert len(mail.outbox) == 1


def test_a_user_who_is_not_an_analyst_cannot_handle_one_through_the_services(db):
    suggestion = make_suggestion()
    with pytest.raises(Exception, match="Only analysts"):
        services.suggestion_dismiss(suggestion=suggestion, analyst=make_user(), reason="no")
