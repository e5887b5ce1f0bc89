"""Staff pages that guide (issue 17): an editor lands where the work waits, the log form asks for a judgement
instead of assuming one, a published update offers "Correct" and "History" to editors, the history names
people, and the admin's update list shows what an editor sorts the work by."""

import re
from datetime import date

import pytest
from django.urls import reverse

from aitracker import services
from tests import factories
from tests.test_workflow import form_data

pytestmark = pytest.mark.django_db


def login(client, user):
    return client.post(reverse("login"), {"username": user.username, "password": factories.PASSWORD}, follow=True)


def test_an_editor_lands_on_the_review_queue_and_an_analyst_on_their_updates(client):
    editor, analyst = factories.make_editor(), factories.make_analyst()
    assert login(client, editor).redirect_chain[-1][0] == reverse("review_queue")
    client.logout()
    assert login(client, analyst).redirect_chain[-1][0] == reverse("my_updates")


def test_a_login_with_a_destination_still_goes_there(client):
    editor = factories.make_editor()
    response = client.post(
        reverse("login") + "?next=/my/updates/",
        {"username": editor.username, "password": factories.PASSWORD, "next": "/my/updates/"},
    )
    assert response.url == "/my/updates/"


def test_the_navigation_tells_an_editor_how_many_updates_wait(client):
    editor = factories.make_editor()
    for _ in range(2):
        factories.make_update(state="submitted")
    factories.make_update(state="draft")
    client.force_login(editor)
    html = client.get(reverse("my_updates")).content.decode()
    assert re.search(r"Review queue <span class=\"nav-count\">2 waiting</span>", html)
    analyst = factories.make_analyst()
    client.force_login(analyst)
    assert "nav-count" not in client.get(reverse("my_updates")).content.decode()


def test_the_log_form_makes_the_analyst_choose_a_confidence(client):
    analyst = factories.make_analyst()
    commitment = factories.make_commitment()
    client.force_login(analyst)
    url = reverse("update_create", kwargs={"slug": commitment.slug})
    html = client.get(url).content.decode()
    select = re.search(r'<select name="confidence".*?</select>', html, re.S).group(0)
    assert "selected" not in select.replace('<option value="" selected>', "")
    assert '<option value="" selected>' in select
    response = client.post(url, form_data(confidence="") | {"action": "save"})
    assert response.status_code == 400  # the form again, with what was typed and the error
    assert "Choose how sure the sources make you." in response.content.decode()
    assert not commitment.updates.exists()


def test_a_published_update_offers_correct_and_history_to_editors_only(client):
    update = factories.make_update(state="published", summary="Published news.")
    page = update.commitment.get_absolute_url()
    correct = reverse("update_correct", kwargs={"pk": update.pk})
    history = reverse("update_history", kwargs={"pk": update.pk})
    assert correct not in client.get(page).content.decode()
    client.force_login(factories.make_analyst())
    assert correct not in client.get(page).content.decode()
    client.force_login(factories.make_editor())
    html = client.get(page).content.decode()
    assert correct in html and history in html
    assert client.get(correct).status_code == 200


def test_the_history_names_people_and_never_a_missing_one(client):
    analyst = factories.make_analyst(first_name="Ada", last_name="Lovelace")
    editor = factories.make_editor(first_name="Grace", last_name="Hopper")
    update = factories.make_update(state="draft", author=analyst, reported_on=date(2025, 2, 1))
    services.progress_update_submit(update=update, user=analyst)
    services.progress_update_publish(update=update, editor=editor)
    client.force_login(editor)
    html = client.get(reverse("update_history", kwargs={"pk": update.pk})).content.decode()
    assert "Grace Hopper" in html and "Ada Lovelace" in html
    assert "Deleted user" not in html and "pk=None" not in html


def test_the_admins_update_list_shows_what_an_editor_sorts_the_work_by(client):
    party = factories.make_party(name="Freedonia")
    commitment = factories.make_commitment(title="A very long commitment title " * 6)
    factories.make_update(commitment=commitment, state="published", parties=[party])
    client.force_login(factories.make_editor())
    html = client.get(reverse("admin:aitracker_progressupdate_changelist")).content.decode()
    header = re.search(r"<thead>.*?</thead>", html, re.S).group(0)
    for column in ("Commitment", "State", "Status", "Parties", "Date of the event", "Published"):
        assert column.lower() in header.lower(), column
    assert "Freedonia" in html
    assert ("A very long commitment title " * 6).strip() not in html  # cut short, so the columns fit
