"""Official texts of an instrument, one per language: saved only through the service (the admin included), with
their history, and listed on the instrument's page."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from aitracker import services
from aitracker.models import OfficialText

from .factories import make_analyst, make_editor, make_instrument

pytestmark = pytest.mark.django_db

UN_FR = "https://docs.un.org/fr/A/RES/78/265"


def test_an_editor_saves_a_text_and_the_history_says_who_and_why():
    editor = make_editor()
    text = OfficialText(instrument=make_instrument(), language="fr", url=UN_FR)
    services.official_text_save(text=text, user=editor, reason="French text added")
    record = text.history.get()
    assert (record.history_user, record.history_change_reason, record.url) == (editor, "French text added", UN_FR)


def test_an_analyst_may_not_save_a_text():
    text = OfficialText(instrument=make_instrument(), language="fr", url=UN_FR)
    with pytest.raises(PermissionDenied):
        services.official_text_save(text=text, user=make_analyst())
    assert not OfficialText.objects.exists()


@pytest.mark.parametrize(
    ("language", "url", "field"),
    [("fr", "javascript:alert(1)", "url"), ("xx", UN_FR, "language"), ("en", "ftp://docs.un.org/x", "url")],
)
def test_a_bad_text_gets_a_clear_error(language, url, field):
    text = OfficialText(instrument=make_instrument(), language=language, url=url)
    with pytest.raises(ValidationError) as error:
        services.official_text_save(text=text, user=make_editor())
    assert field in error.value.message_dict or "__all__" in error.value.message_dict


def test_one_text_per_language_for_an_instrument():
    editor, instrument = make_editor(), make_instrument()
    services.official_text_save(text=OfficialText(instrument=instrument, language="fr", url=UN_FR), user=editor)
    with pytest.raises(ValidationError, match="already has an official text in this language"):
        services.official_text_save(
            text=OfficialText(instrument=instrument, language="fr", url=UN_FR + "?copy"), user=editor
        )


def test_the_admin_saves_through_the_service_for_an_editor(client):
    editor, instrument = make_editor(), make_instrument()
    client.force_login(editor)
    response = client.post(
        reverse("admin:aitracker_officialtext_add"), {"instrument": instrument.pk, "language": "ar", "url": UN_FR}
    )
    assert response.status_code == 302
    text = OfficialText.objects.get()
    assert text.history.get().history_user == editor


def test_the_admin_refuses_an_analyst(client):
    client.force_login(make_analyst())
    url = reverse("admin:aitracker_officialtext_add")
    assert client.get(url).status_code == 403
    response = client.post(url, {"instrument": make_instrument().pk, "language": "ar", "url": UN_FR})
    assert response.status_code == 403
    assert not OfficialText.objects.exists()


def test_the_instrument_page_lists_its_official_texts(client):
    instrument = make_instrument()
    OfficialText.objects.create(instrument=instrument, language="zh-hans", url="https://docs.un.org/zh/A/RES/78/265")
    OfficialText.objects.create(instrument=instrument, language="en", url="https://docs.un.org/en/A/RES/78/265")
    html = client.get(instrument.get_absolute_url()).content.decode()
    assert "Official texts" in html
    assert 'href="https://docs.un.org/zh/A/RES/78/265" hreflang="zh-hans"' in html
    listed = html[html.index('id="official-texts"') :]
    assert ">Chinese</a>" in listed and ">English</a>" in listed


def test_an_instrument_without_official_texts_shows_no_empty_list(client):
    html = client.get(make_instrument().get_absolute_url()).content.decode()
    assert "Official texts" not in html
