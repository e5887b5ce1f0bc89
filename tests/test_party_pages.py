"""The pages of issue 11's core: a party's own scorecard, a commitment's bound parties, checks in the timeline,
the staff form for checks and named parties, the methodology. (Status rules: tests/test_party_status.py.)"""

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from aitracker.models import Endorsement, Instrument, ProgressUpdate
from tests import factories

pytestmark = pytest.mark.django_db


def get_ok(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def section(html, heading_id):
    """The HTML of the <section> whose heading has this id."""
    return html.split(f'id="{heading_id}"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def paris(db):
    """A summit statement signed by France and China, one commitment binding both; France has delivered it,
    China has not been assessed; India attended without signing."""
    instrument = factories.make_instrument(short_title="Paris statement")
    france = factories.make_party(slug="france", name="France")
    china = factories.make_party(slug="china", name="China")
    india = factories.make_party(slug="india", name="India")
    factories.make_endorsement(instrument=instrument, party=france)
    factories.make_endorsement(instrument=instrument, party=china, relation=Endorsement.Relation.JOINED_LATER)
    factories.make_endorsement(instrument=instrument, party=india, relation="attended_without_signing")
    commitment = factories.make_commitment(instrument=instrument, title="Open public compute")
    factories.make_update(
        commitment=commitment,
        state="published",
        status="achieved",
        parties=[france],
        summary="FRANCE-DELIVERED the compute.",
        reported_on=date(2025, 5, 1),
    )
    factories.make_update(commitment=commitment, state="published", status="in_progress", summary="OVERALL-STEP taken.")
    return {"instrument": instrument, "france": france, "china": china, "india": india, "commitment": commitment}


def test_two_parties_with_different_records_have_different_scorecards(client, paris):
    france = get_ok(client, paris["france"].get_absolute_url())
    china = get_ok(client, paris["china"].get_absolute_url())
    assert france.replace("France", "X") != china.replace("China", "X")
    france_row = section(france, "commitments")
    china_row = section(china, "commitments")
    assert "Open public compute" in france_row and "Open public compute" in china_row
    assert "status-achieved" in france_row and "status-achieved" not in china_row
    assert "status-not_assessed" in china_row
    # Its own updates only.
    assert "FRANCE-DELIVERED" in france and "FRANCE-DELIVERED" not in china
    assert "OVERALL-STEP" not in france
    # Counts per status for it alone.
    assert re.search(r"1 achieved", section(france, "scorecard"))
    assert re.search(r"1 not yet assessed", section(china, "scorecard"))
    # Its relation, with date, source and confidence.
    assert "Joined later" in section(china, "instruments") and "Signed" in section(france, "instruments")
    assert reverse("feed_party", args=["france"]) in france


def test_a_party_that_did_not_sign_is_bound_by_nothing(client, paris):
    html = get_ok(client, paris["india"].get_absolute_url())
    assert "Attended without signing" in html
    assert "Open public compute" not in html
    assert "No commitment binds India yet." in section(html, "scorecard")


def test_the_united_states_page_shows_it_led_78_265_and_is_bound_by_it(client, db):
    resolution = factories.make_instrument(
        slug="unga-78-265",
        short_title="UNGA 78/265",
        kind=Instrument.Kind.UN_RESOLUTION,
        adoption=Instrument.Adoption.WITHOUT_VOTE,
    )
    usa = factories.make_party(slug="united-states", name="United States", kind="country", country="US", un_member=True)
    kenya = factories.make_party(slug="kenya", name="Kenya", kind="country", country="KE", un_member=True)
    factories.make_endorsement(instrument=resolution, party=usa, relation=Endorsement.Relation.LEAD_SPONSOR)
    factories.make_commitment(instrument=resolution, title="Safe, secure and trustworthy AI")

    html = get_ok(client, usa.get_absolute_url())
    assert "Lead sponsor" in section(html, "instruments")
    assert "Adopted without a vote: binds every UN member state." in html
    assert "Safe, secure and trustworthy AI" in section(html, "commitments")
    assert "1 commitment binds United States." in html

    # A member state with no recorded relation is bound too, and says why.
    html = get_ok(client, kenya.get_absolute_url())
    assert "Bound as a UN member state" in html and "UNGA 78/265" in html
    assert "Safe, secure and trustworthy AI" in section(html, "commitments")

    instrument_page = get_ok(client, resolution.get_absolute_url())
    assert "Adopted without a vote: it binds every UN member state (2 recorded here)" in instrument_page
    assert "Lead sponsor" in instrument_page

    page = get_ok(client, resolution.commitments.get().get_absolute_url())
    assert "Every UN member state (adopted without a vote)" in page
    assert "United States" in section(page, "parties") and "Kenya" in section(page, "parties")


def test_the_commitment_page_lists_every_bound_party_with_its_own_status(client, paris):
    url = paris["commitment"].get_absolute_url()
    html = get_ok(client, url)
    parties = section(html, "parties")
    assert "France" in parties and "China" in parties and "India" not in parties
    assert 'id="party-france"' in parties and "status-achieved" in parties
    assert "Who has acted: 1 of 2 bound parties assessed." in html
    # The overall status beside it.
    assert "status-in_progress" in section(html, "current-status")

    achieved = section(get_ok(client, url + "?party_status=achieved"), "parties")
    assert "France" in achieved and "China" not in achieved
    assert '<option value="achieved" selected>' in achieved
    none = section(get_ok(client, url + "?party_status=reversed"), "parties")
    assert "No bound party has this status." in none

    bogus = get_ok(client, url + "?party_status=%3Cscript%3E")
    assert "Unknown status in the filter: showing every party." in bogus
    assert "France" in section(bogus, "parties") and "China" in section(bogus, "parties")


def test_every_update_shows_the_date_of_the_event_and_of_publication_and_checks_show(client, paris, editor):
    published = timezone.now() - timedelta(days=3)
    factories.make_update(
        commitment=paris["commitment"],
        state="published",
        kind="check",
        parties=[paris["china"]],
        reported_on=timezone.localdate() - timedelta(days=2),
        published_at=published,
    )
    html = get_ok(client, paris["commitment"].get_absolute_url())
    timeline = section(html, "timeline")
    assert "Checked, nothing new" in timeline and "Checked for:" in timeline
    assert "Event:" in timeline and "Published:" in timeline and "Searched on" in timeline
    assert timezone.localdate(published).isoformat() in timeline
    # The check keeps China's status.
    assert "status-not_assessed" in section(html, "parties").split('id="party-china"', 1)[1].split("</tr>", 1)[0]
    feed = get_ok(client, reverse("feed_party", args=["china"]))
    assert "Checked, nothing new" in feed and "FRANCE-DELIVERED" not in feed


def form_data(**fields):
    return {
        "kind": "assessment",
        "reported_on": "2025-05-01",
        "status": "in_progress",
        "progress": "",
        "confidence": "confirmed",
        "summary": "Looked at it.",
        "sources-TOTAL_FORMS": "1",
        "sources-INITIAL_FORMS": "0",
        "sources-MIN_NUM_FORMS": "1",
        "sources-MAX_NUM_FORMS": "1000",
        "sources-0-url": "https://example.org/searched",
        "sources-0-title": "Where we looked",
        "save": "1",
    } | fields


def test_staff_log_a_check_for_chosen_parties_without_a_status(analyst_client, paris):
    url = reverse("update_create", args=[paris["commitment"].slug])
    form = analyst_client.get(url).content.decode()
    assert 'name="kind"' in form and 'name="parties"' in form and "multiple" in form
    response = analyst_client.post(
        url, form_data(kind="check", status="", parties=[paris["france"].pk, paris["china"].pk])
    )
    assert response.status_code == 302
    update = ProgressUpdate.objects.get(summary="Looked at it.")
    assert (update.kind, update.status, update.progress) == ("check", "", None)
    assert set(update.parties.values_list("slug", flat=True)) == {"france", "china"}


def test_staff_an_assessment_needs_a_status_and_a_check_drops_one(analyst_client, paris):
    url = reverse("update_create", args=[paris["commitment"].slug])
    response = analyst_client.post(url, form_data(status=""))
    assert response.status_code == 400
    assert "An assessment must say the status it finds." in response.content.decode()
    assert not ProgressUpdate.objects.filter(summary="Looked at it.").exists()
    # A status typed on a check is not part of it: a check keeps every status.
    analyst_client.post(url, form_data(kind="check", status="achieved", progress="50"))
    assert ProgressUpdate.objects.get(summary="Looked at it.").status == ""


def test_the_methodology_explains_overall_and_party_status_checks_and_staleness(client, settings):
    settings.AITRACKER_STALE_AFTER_DAYS = 90
    html = get_ok(client, reverse("methodology"))
    assert "Overall status and each party's status" in html
    assert "Checks: searched, nothing new" in html
    assert "in the last 90 days" in html
    assert "adopted without a vote" in html


def test_the_staleness_wording_carries_the_setting(client, paris, settings):
    settings.AITRACKER_STALE_AFTER_DAYS = 30
    old = factories.make_commitment(instrument=paris["instrument"])
    factories.make_update(commitment=old, state="published", published_at=timezone.now() - timedelta(days=40))
    assert "Not reviewed in the last 30 days." in get_ok(client, old.get_absolute_url())
    assert "not reviewed in the last 30 days" in get_ok(client, reverse("dashboard"))
    table = get_ok(client, reverse("commitment_list") + "?stale=yes")
    assert "Stale only (not reviewed in the last 30 days)" in table


def test_a_party_bound_by_nothing_says_so_once_and_links_to_no_empty_table(client):
    factories.make_party(slug="nowhere", name="Nowhereland")
    html = get_ok(client, reverse("party_detail", args=["nowhere"]))
    assert "Open them in the commitments table" not in html
    assert reverse("commitment_list") + "?party=nowhere" not in html
    assert html.count("No commitment binds Nowhereland yet.") == 1
    assert "No commitment binds this party yet." not in html
    assert "0 commitments bind" not in html
    assert "<table" not in section(html, "scorecard")


def test_a_bound_party_still_links_to_its_rows(client, paris):
    html = get_ok(client, paris["france"].get_absolute_url())
    assert "Open them in the commitments table" in section(html, "scorecard")
    assert "No commitment binds" not in html


def test_an_empty_theme_says_so_once_and_links_to_no_empty_table(client):
    theme = factories.make_theme(slug="empty-theme", name="Quiet matters")
    html = get_ok(client, theme.get_absolute_url())
    assert "Open them in the commitments table" not in html
    assert reverse("commitment_list") + "?theme=empty-theme" not in html
    assert html.count("No commitment is filed under this theme yet.") == 1
    assert "No commitments recorded yet." not in html
    assert "No commitments yet" not in html


def test_a_theme_with_commitments_links_to_them(client):
    theme = factories.make_theme(slug="busy-theme", name="Busy matters")
    factories.make_commitment(title="Something on it", themes=[theme])
    html = get_ok(client, theme.get_absolute_url())
    assert "Open them in the commitments table" in html and "?theme=busy-theme" in html
    assert "No commitment is filed under this theme yet." not in html


def test_an_instrument_without_commitments_says_so_once(client):
    instrument = factories.make_instrument(short_title="Bare statement")
    html = get_ok(client, instrument.get_absolute_url())
    assert "Open them in the commitments table" not in html
    assert html.count("This instrument has no commitment recorded yet.") == 1
    assert "No commitments recorded yet." not in html
