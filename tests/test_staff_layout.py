"""Staff pages share one frame (templates/aitracker/staff/base.html): the staff style sheet once, in the head."""

import pytest
from django.urls import reverse


def _head_and_body(html):
    head, _sep, body = html.partition("</head>")
    return head, body


@pytest.mark.parametrize("url_name", ["review_queue", "my_updates", "deleted_items"])
def test_staff_pages_link_the_staff_style_sheet_once_in_the_head(editor_client, url_name):
    html = editor_client.get(reverse(url_name)).content.decode()
    head, body = _head_and_body(html)
    assert head.count("css/staff.css") == 1
    assert "css/staff.css" not in body


def test_the_login_page_has_the_staff_style_sheet(client, db):
    head, body = _head_and_body(client.get(reverse("login")).content.decode())
    assert head.count("css/staff.css") == 1
    assert "css/staff.css" not in body


def test_staff_see_the_staff_style_sheet_on_public_pages_and_visitors_do_not(client, editor_client):
    head, body = _head_and_body(editor_client.get(reverse("dashboard")).content.decode())
    assert head.count("css/staff.css") == 1
    assert "css/staff.css" not in body
    client.logout()
    assert "css/staff.css" not in client.get(reverse("methodology")).content.decode()
