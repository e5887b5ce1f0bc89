"""Who may do what: anonymous visitors are sent to log in, the wrong role gets a 403, and the services refuse
too (so a forgotten check in a view cannot open a door)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from aitracker import services
from aitracker.models import Commitment, ProgressUpdate
from tests.factories import (
    PASSWORD,
    make_analyst,
    make_commitment,
    make_editor,
    make_endorsement,
    make_update,
    make_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(db):
    commitment = make_commitment(slug="c")
    others = make_analyst(username="someone-else")
    return {
        "commitment": commitment,
        "draft": make_update(commitment=commitment, author=others, state="draft"),
        "submitted": make_update(commitment=commitment, author=others, state="submitted"),
        "published": make_update(commitment=commitment, author=others, state="published"),
    }


def urls(objects):
    """(method, url) of every staff page and action."""
    c, draft, submitted, published = (objects[k] for k in ("commitment", "draft", "submitted", "published"))
    history_id = published.history.latest().history_id
    commitment_history_id = c.history.latest().history_id
    return {
        "log": ("get", reverse("update_create", args=[c.slug])),
        "my_updates": ("get", reverse("my_updates")),
        "edit": ("get", reverse("update_edit", args=[draft.pk])),
        "submit": ("post", reverse("update_submit", args=[draft.pk])),
        "review_queue": ("get", reverse("review_queue")),
        "publish": ("post", reverse("update_publish", args=[submitted.pk])),
        "return": ("post", reverse("update_return", args=[submitted.pk])),
        "correct": ("get", reverse("update_correct", args=[published.pk])),
        "update_history": ("get", reverse("update_history", args=[published.pk])),
        "update_restore": ("post", reverse("update_restore", args=[published.pk, history_id])),
        "update_delete": ("post", reverse("update_delete", args=[published.pk])),
        "update_undelete": ("post", reverse("update_undelete", args=[published.pk])),
        "commitment_history": ("get", reverse("commitment_history", args=[c.slug])),
        "commitment_restore": ("post", reverse("commitment_restore", args=[c.slug, commitment_history_id])),
        "commitment_delete": ("post", reverse("commitment_delete", args=[c.slug])),
        "commitment_undelete": ("post", reverse("commitment_undelete", args=[c.slug])),
        "deleted_items": ("get", reverse("deleted_items")),
        "password_change": ("get", reverse("password_change")),
    }


EVERY_PAGE = [
    "log",
    "my_updates",
    "edit",
    "submit",
    "review_queue",
    "publish",
    "return",
    "correct",
    "update_history",
    "update_restore",
    "update_delete",
    "update_undelete",
    "commitment_history",
    "commitment_restore",
    "commitment_delete",
    "commitment_undelete",
    "deleted_items",
    "password_change",
]
EDITORS_ONLY = [
    "review_queue",
    "publish",
    "return",
    "correct",
    "update_history",
    "update_restore",
    "update_delete",
    "update_undelete",
    "commitment_history",
    "commitment_restore",
    "commitment_delete",
    "commitment_undelete",
    "deleted_items",
]


def state_of(objects):
    return {
        key: ProgressUpdate.objects.values_list("state", "deleted_at").get(pk=obj.pk)
        for key, obj in objects.items()
        if key != "commitment"
    } | {"commitment": Commitment.objects.values_list("deleted_at", "title").get(pk=objects["commitment"].pk)}


@pytest.mark.parametrize("name", EVERY_PAGE)
def test_anonymous_visitors_are_sent_to_the_login_page(client, objects, name):
    before = state_of(objects)
    method, url = urls(objects)[name]
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")
    assert state_of(objects) == before


@pytest.mark.parametrize("name", EDITORS_ONLY)
def test_analysts_get_403_on_editors_pages_and_actions(analyst_client, objects, name):
    before = state_of(objects)
    method, url = urls(objects)[name]
    response = getattr(analyst_client, method)(url, {"note": "x", "version": ""} if method == "post" else None)
    assert response.status_code == 403
    assert state_of(objects) == before


@pytest.mark.parametrize("name", ["log", "my_updates", "edit", "submit", "review_queue", "publish"])
def test_a_logged_in_user_without_a_role_gets_403(client, objects, name):
    client.force_login(make_user(username="visitor"))
    method, url = urls(objects)[name]
    assert getattr(client, method)(url).status_code == 403


def test_an_analyst_cannot_edit_or_submit_someone_elses_update(analyst_client, objects):
    draft = objects["draft"]
    assert analyst_client.get(reverse("update_edit", args=[draft.pk])).status_code == 403
    assert analyst_client.post(reverse("update_edit", args=[draft.pk]), {"summary": "Mine now"}).status_code == 403
    assert analyst_client.post(reverse("update_submit", args=[draft.pk])).status_code == 403
    draft.refresh_from_db()
    assert draft.summary == "Something happened." and draft.state == "draft"


def test_an_analyst_sees_only_their_own_updates_in_my_updates(analyst, analyst_client, objects):
    make_update(commitment=objects["commitment"], author=analyst, summary="Mine.")
    page = analyst_client.get(reverse("my_updates")).content.decode()
    assert "Mine." in page and "Something happened." not in page


def test_editors_reach_every_page(editor_client, objects):
    for name in ["log", "my_updates", "edit", "review_queue", "correct", "update_history", "commitment_history"]:
        method, url = urls(objects)[name]
        assert getattr(editor_client, method)(url).status_code == 200, name
    assert editor_client.get(reverse("deleted_items")).status_code == 200


def test_staff_pages_are_not_cached(analyst_client):
    response = analyst_client.get(reverse("my_updates"))
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


# --- The services refuse on their own --------------------------------------------------------------------


def test_the_services_refuse_analysts_what_only_editors_may_do(analyst, objects):
    submitted, published = objects["submitted"], objects["published"]
    refused = [
        lambda: services.progress_update_publish(update=submitted, editor=analyst),
        lambda: services.progress_update_return(update=submitted, editor=analyst, note="x"),
        lambda: services.progress_update_correct(update=published, editor=analyst, note="x", summary="y"),
        lambda: services.progress_update_restore(
            update=published, history_id=published.history.latest().history_id, editor=analyst
        ),
        lambda: services.progress_update_delete(update=published, editor=analyst),
        lambda: services.progress_update_undelete(update=published, editor=analyst),
        lambda: services.commitment_delete(commitment=objects["commitment"], editor=analyst),
        lambda: services.commitment_undelete(commitment=objects["commitment"], editor=analyst),
        lambda: services.commitment_restore(
            commitment=objects["commitment"],
            history_id=objects["commitment"].history.latest().history_id,
            editor=analyst,
        ),
        lambda: services.progress_update_edit(update=objects["draft"], user=analyst, summary="Mine now"),
        lambda: services.progress_update_submit(update=objects["draft"], user=analyst),
    ]
    before = state_of(objects)
    for attempt in refused:
        with pytest.raises(PermissionDenied):
            attempt()
    assert state_of(objects) == before


def test_an_analyst_cannot_change_their_own_update_once_submitted(analyst, objects):
    mine = make_update(commitment=objects["commitment"], author=analyst, state="submitted")
    with pytest.raises(PermissionDenied):
        services.progress_update_edit(update=mine, user=analyst, summary="Sneaky")


def test_a_user_without_a_role_cannot_log_an_update(objects):
    with pytest.raises(PermissionDenied):
        services.progress_update_create(
            commitment=objects["commitment"],
            author=make_user(),
            reported_on="2025-01-01",
            status="achieved",
            summary="x",
        )


# --- Login, logout, password ----------------------------------------------------------------------------


def test_login_with_the_site_look_then_back_to_where_you_were(objects):
    make_analyst(username="lena")
    client = Client()
    target = reverse("update_create", args=[objects["commitment"].slug])
    page = client.get(reverse("login") + f"?next={target}")
    assert page.status_code == 200 and "Staff login" in page.content.decode() and "site-header" in page.content.decode()
    response = client.post(reverse("login"), {"username": "lena", "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response.url == target
    assert client.get(target).status_code == 200


def test_a_wrong_password_is_refused_with_a_message(objects):
    make_analyst(username="lena")
    response = Client().post(reverse("login"), {"username": "lena", "password": "not it"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_logout_is_a_post(analyst_client):
    page = analyst_client.get(reverse("my_updates")).content.decode()
    assert f'action="{reverse("logout")}"' in page and 'method="post"' in page
    assert analyst_client.get(reverse("logout")).status_code == 405
    response = analyst_client.post(reverse("logout"))
    assert response.status_code == 302
    assert analyst_client.get(reverse("my_updates")).status_code == 302


def test_password_change(analyst, analyst_client):
    new = "a much longer new passphrase"
    response = analyst_client.post(
        reverse("password_change"), {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302 and response.url == reverse("password_change_done")
    analyst.refresh_from_db()
    assert analyst.check_password(new)


def test_the_staff_links_follow_the_role(client, objects):
    page = objects["commitment"].get_absolute_url()
    anonymous = client.get(page).content.decode()
    assert "Staff login" in anonymous and "Log a progress update" not in anonymous

    client.force_login(make_analyst())
    as_analyst = client.get(page).content.decode()
    assert "Log a progress update" in as_analyst and "My updates" in as_analyst
    assert "Review queue" not in as_analyst

    client.force_login(make_editor())
    as_editor = client.get(page).content.decode()
    assert "Review queue" in as_editor and "Log a progress update" in as_editor


# --- The admin: no hard delete, imports for editors only -------------------------------------------------


def test_analysts_cannot_import_export_or_delete_in_the_admin(analyst, analyst_client):
    mine = make_update(author=analyst)
    assert analyst_client.get(reverse("admin:aitracker_progressupdate_import")).status_code == 403
    assert analyst_client.get(reverse("admin:aitracker_progressupdate_export")).status_code == 403
    assert (
        analyst_client.post(
            reverse("admin:aitracker_progressupdate_delete", args=[mine.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert ProgressUpdate.objects.filter(pk=mine.pk, deleted_at__isnull=True).exists()


@pytest.mark.parametrize("model", ["instrument", "party", "endorsement", "theme", "source"])
def test_editors_cannot_hard_delete_reference_data_in_the_admin(editor_client, model):
    endorsement = make_endorsement()
    update = make_update()
    obj = {
        "instrument": endorsement.instrument,
        "party": endorsement.party,
        "endorsement": endorsement,
        "theme": make_commitment().themes.create(slug="t", name="T"),
        "source": update.sources.get(),
    }[model]
    response = editor_client.post(reverse(f"admin:aitracker_{model}_delete", args=[obj.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()
