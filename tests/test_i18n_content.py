"""The site in three languages (issue 13), what holds without the catalogues: the address decides the language,
the switch and hreflang links, caches keyed by language, content translations and their visible fallback, dates,
search, sorting, downloads, feeds, official texts, the loader and the data check."""

import csv
import io
import json
import re
import shutil
from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from aitracker import cache as page_cache
from aitracker import services
from aitracker.data_checks import check_data, translation_counts
from aitracker.links import slug_url
from aitracker.models import Commitment, Instrument, OfficialText, Party, ProgressUpdate
from aitracker.templatetags.aitracker_tags import display_date, display_datetime

from .factories import make_commitment, make_editor, make_update

pytestmark = pytest.mark.django_db

COMMITMENT = "paris-2025-1-ai-accessibility"
SITE = settings.AITRACKER_SITE_URL


def localized(name, language, **kwargs):
    with translation.override(language):
        return reverse(name, kwargs=kwargs or None)


def translate(language, label, pk, **fields):
    return services.content_translations_load(language=language, data={label: {str(pk): fields}})


def html_of(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize(("prefix", "tag"), [("", "en"), ("/fr", "fr"), ("/zh-hans", "zh-Hans")])
def test_the_address_decides_the_language_and_nothing_else_does(client, real_data, prefix, tag):
    client.cookies["django_language"] = "zh-hans" if tag != "zh-Hans" else "fr"
    response = client.get(f"{prefix}/", headers={"accept-language": "fr;q=1, zh-hans;q=0.9"})
    assert response.status_code == 200  # never a redirect to another language
    assert response["Content-Language"] == tag
    assert f'<html lang="{tag}"' in response.content.decode()
    assert "Accept-Language" not in response.get("Vary", "")


def test_machines_addresses_are_not_prefixed(client, real_data):
    for path in ("/healthz", "/readyz", "/robots.txt", "/sitemap.xml", "/sitemap-pages.xml"):
        assert client.get(path).status_code == 200, path
        assert client.get(f"/fr{path}").status_code == 404, path


@pytest.mark.parametrize("language", ["en", "fr", "zh-hans"])
def test_the_switch_and_the_hreflang_links_lead_to_the_same_page_in_each_language(client, real_data, language):
    url = localized("commitment_list", language) + "?status=achieved&sort=title"
    html = html_of(client, url)
    alternates = dict(re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', html))
    assert set(alternates) == {"en", "fr", "zh-Hans", "x-default"}
    assert alternates["x-default"] == alternates["en"] == f"{SITE}/commitments/"
    assert alternates["fr"] == f"{SITE}/fr/commitments/"
    for href in alternates.values():
        assert href.startswith(SITE)
        assert client.get(href.removeprefix(SITE)).status_code == 200
    switch = re.search(r'<nav class="language-switch".*?</nav>', html, re.S).group(0)
    links = dict(re.findall(r'<a href="([^"]+)" lang="([^"]+)"', switch))
    assert set(links.values()) == {"en", "fr", "zh-Hans"}
    assert "<script" not in switch and "<form" not in switch
    for href, tag in links.items():
        assert href.endswith(("?status=achieved&amp;sort=title", "?status=achieved&sort=title"))
        response = client.get(href.replace("&amp;", "&"))
        assert response.status_code == 200 and response["Content-Language"] == tag


def test_the_switch_and_hreflang_on_a_detail_page_and_the_page_not_found(client, real_data):
    html = html_of(client, localized("party_detail", "zh-hans", slug="china"))
    assert f'hreflang="fr" href="{SITE}/fr/parties/china/"' in html
    assert 'href="/parties/china/" lang="en"' in html
    missing = client.get("/fr/no-such-page/")
    assert missing.status_code == 404 and 'href="/zh-hans/no-such-page/"' in missing.content.decode()


def test_a_cached_french_page_is_never_served_at_the_english_address_and_back(client, real_data, cache_on):
    english, french = localized("dashboard", "en"), localized("dashboard", "fr")
    assert client.get(french)["Content-Language"] == "fr"
    assert client.get(french)["X-Page-Cache"] == "hit"
    response = client.get(english)
    assert response["Content-Language"] == "en" and '<html lang="en"' in response.content.decode()
    assert client.get(english)["X-Page-Cache"] == "hit"
    again = client.get(french)
    assert again["X-Page-Cache"] == "hit" and '<html lang="fr"' in again.content.decode()


def test_kept_counts_and_cached_addresses_are_keyed_by_language(real_data, cache_on, rf):
    values = {}
    for language in ("en", "fr"):
        with translation.override(language):
            values[language] = page_cache.cached_summary("which-language", translation.get_language)
    assert values == {"en": "en", "fr": "fr"}
    with translation.override("fr"):
        assert slug_url("party_detail", "china") == "/fr/parties/china/"
    assert slug_url("party_detail", "china") == "/parties/china/"
    with translation.override("zh-hans"):
        assert Party.objects.get(slug="china").get_absolute_url() == "/zh-hans/parties/china/"


def test_an_untranslated_field_shows_its_english_marked_and_a_translated_one_its_translation(client, real_data):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    # The real data is translated: an empty text clears the French title and text, and the English shows, marked.
    translate("fr", "aitracker.commitment", commitment.pk, title="", text=" ")
    commitment.refresh_from_db()
    assert commitment.title_fr is None and commitment.text_fr is None
    html = html_of(client, localized("commitment_detail", "fr", slug=COMMITMENT))
    assert f'<span lang="en">{commitment.title_en}</span>' in html.replace("&#x27;", "'")
    assert 'class="untranslated"' in html
    translate("fr", "aitracker.commitment", commitment.pk, title="Rendre l IA accessible", text="Un texte.")
    html = html_of(client, localized("commitment_detail", "fr", slug=COMMITMENT))
    assert "<h1>Rendre l IA accessible</h1>" in html
    assert '<div class="pledge-text"><p>Un texte.</p></div>' in html
    # The English page is unchanged, and shows no marker.
    english = html_of(client, localized("commitment_detail", "en", slug=COMMITMENT))
    assert f"<h1>{commitment.title_en}</h1>" in english.replace("&#x27;", "'")
    assert 'class="untranslated"' not in english


def test_a_translated_summary_is_rendered_from_its_own_markdown(client, real_data):
    update = ProgressUpdate.objects.public().order_by("pk").first()
    translate("zh-hans", "aitracker.progressupdate", update.pk, summary="已**发布** [来源](https://example.org/)")
    update.refresh_from_db()
    assert (
        update.summary_html_zh_hans
        == '<p>已<strong>发布</strong> <a href="https://example.org/" rel="nofollow noopener noreferrer">来源</a></p>'
        or "<strong>发布</strong>" in update.summary_html_zh_hans
    )
    assert update.summary_html_en and "发布" not in update.summary_html_en
    html = html_of(client, localized("commitment_detail", "zh-hans", slug=update.commitment.slug))
    assert "<strong>发布</strong>" in html


def test_dates_follow_each_language(client, real_data):
    day = date(2025, 2, 11)
    expected = {"en": "11 Feb 2025", "fr": "11 février 2025", "zh-hans": "2025年2月11日"}
    for language, text in expected.items():
        with translation.override(language):
            assert display_date(day) == text
        html = html_of(client, localized("instrument_detail", language, slug="paris-2025"))
        assert f'<time datetime="2025-02-11">{text}</time>' in html
    first = {"en": "1 Dec 2026", "fr": "1er décembre 2026", "zh-hans": "2026年12月1日"}
    for language, text in first.items():
        with translation.override(language):
            assert display_date(date(2026, 12, 1)) == text
            # Staff pages, the history and e-mails date and time the same way.
            assert display_datetime(datetime(2026, 12, 1, 6, 52, tzinfo=UTC)).startswith(text.replace(" 2026", ""))


def test_labels_are_followed_by_the_colon_of_the_page_language(client, real_data):
    """French puts a (narrow) no-break space before a colon; Chinese uses the full-width colon."""
    marks = {"en": r"\w: <strong>", "fr": "\u202f: <strong>", "zh-hans": "\uff1a<strong>"}
    for language, mark in marks.items():
        html = html_of(client, localized("instrument_detail", language, slug="paris-2025"))
        legend = re.search(r'<ul class="map-legend".*?</ul>', html, re.S).group(0)
        assert re.search(mark, legend), (language, legend[:300])


def test_a_chinese_substring_finds_chinese_text(client, real_data):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    translate(
        "zh-hans",
        "aitracker.commitment",
        commitment.pk,
        title="让人工智能惠及所有人",
        text="各国承诺推动包容的人工智能。",
    )
    # Substrings of the new texts, with no word boundary (most commitments mention 人工智能 itself).
    for query in ("惠及所有", "推动包容"):
        html = html_of(client, localized("commitment_list", "zh-hans") + f"?q={query}")
        assert commitment.get_absolute_url() in html or f"/zh-hans/commitments/{COMMITMENT}/" in html, query
    # The English page's search does not look at the Chinese text.
    assert f"/commitments/{COMMITMENT}/" not in html_of(client, "/commitments/?q=惠及所有")


def test_a_french_party_search_finds_a_country_by_its_french_name(client, real_data):
    html = html_of(client, localized("party_list", "fr") + "?q=Allemagne")
    assert "/fr/parties/germany/" in html


def test_the_parties_are_sorted_by_the_names_the_page_shows(client, real_data):
    html = html_of(client, localized("party_list", "fr"))
    names = re.findall(r'href="/fr/parties/[a-z0-9-]+/">([^<]+)</a>', html)
    assert "Allemagne" in names and "Afrique du Sud" in names
    assert names.index("Afrique du Sud") < names.index("Allemagne") < names.index("Chine")


def test_downloads_are_in_the_page_language_with_a_code_beside_every_label(client, real_data):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    translate("fr", "aitracker.commitment", commitment.pk, title="Titre en français")
    response = client.get(localized("commitment_list", "fr") + "?_export=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header = list(rows[0])
    assert header[:12] == [
        "instrument", "instrument_title", "reference", "slug", "title", "text", "themes", "status",
        "status_label", "progress", "last_update_on", "url",
    ]  # fmt: skip
    for column in ("status", "status_label", "confidence", "confidence_label", "language"):
        assert column in header
    row = next(row for row in rows if row["slug"] == COMMITMENT)
    assert row["title"] == "Titre en français" and row["language"] == "fr"
    assert row["url"] == f"{SITE}/fr/commitments/{COMMITMENT}/"
    assert row["status"] in {"not_assessed", "in_progress", "achieved", "partly_achieved", "not_started"}
    assert row["status_label"] and row["status_label"] != row["status"]
    updates = json.loads(b"".join(client.get(localized("update_list", "zh-hans") + "?_export=json").streaming_content))
    first = updates[0] if isinstance(updates, list) else updates["updates"][0]
    assert {"kind", "kind_label", "confidence", "confidence_label", "status", "status_label"} <= set(first)
    assert first["language"] == "zh-Hans"
    parties = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get("/fr/parties/?_export=csv").streaming_content).decode("utf-8-sig"))
        )
    )
    germany = next(row for row in parties if row["slug"] == "germany")
    assert germany["name"] == "Allemagne" and germany["kind"] == "country" and germany["kind_label"]


def test_feeds_say_their_language(client, real_data):
    for language, tag in (("en", "en"), ("fr", "fr"), ("zh-hans", "zh-Hans")):
        xml = client.get(localized("feed_updates", language)).content.decode()
        assert f'xml:lang="{tag}"' in xml
        assert f'href="{SITE}{localized("update_list", language)}"' in xml


def test_the_instrument_page_links_to_the_official_text_in_its_language_first(client, real_data):
    for language in ("fr", "zh-hans", "en"):
        html = html_of(client, localized("instrument_detail", language, slug="unga-78-265"))
        texts = re.search(r'<ul class="official-texts".*?</ul>', html, re.S).group(0)
        assert re.findall(r'hreflang="([^"]+)"', texts)[0] == language
    assert OfficialText.objects.filter(instrument__slug="unga-78-265").count() == 6


def test_staff_pages_in_french_are_private_and_robots_keep_out(client, real_data):
    response = client.get(localized("login", "fr"))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    robots = client.get("/robots.txt").content.decode()
    for path in ("/admin/", "/fr/admin/", "/zh-hans/review/"):
        assert f"Disallow: {path}" in robots


def test_the_sitemap_lists_every_page_in_every_language_with_alternates(client, real_data):
    xml = client.get("/sitemap-pages.xml").content.decode()
    assert f"<loc>{SITE}/fr/methodology/</loc>" in xml and f"<loc>{SITE}/zh-hans/methodology/</loc>" in xml
    assert f'hreflang="x-default" href="{SITE}/methodology/"' in xml
    assert f'hreflang="zh-hans" href="{SITE}/zh-hans/commitments/"' in xml


def test_staff_writes_go_to_the_english_record_whatever_the_page_language(real_data):
    editor = make_editor(username="edie")
    commitment = make_commitment()
    update = make_update(commitment=commitment, author=editor)
    with translation.override("fr"):
        services.progress_update_edit(update=update, user=editor, summary="Written from the French page.")
    update.refresh_from_db()
    assert update.summary_en == "Written from the French page." and update.summary_fr is None
    assert update.summary_html_en and update.summary_html_fr is None
    services.progress_update_translate(update=update, editor=editor, language="fr", summary="Écrit en **français**.")
    update.refresh_from_db()
    assert (
        "<strong>français</strong>" in update.summary_html_fr and update.summary_en == "Written from the French page."
    )
    # The history records the English.
    assert update.history.first().summary == "Written from the French page."


def test_an_editor_saves_a_commitments_translation_through_the_service(real_data):
    editor = make_editor(username="edmond")
    commitment = Commitment.objects.get(slug=COMMITMENT)
    commitment.title_fr = "Titre révisé"
    services.commitment_save(commitment=commitment, editor=editor)
    commitment.refresh_from_db()
    assert commitment.title_fr == "Titre révisé" and commitment.title_en.startswith(commitment.title_en[:5])


def test_the_admin_edits_each_language(admin_client, real_data):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    html = html_of(admin_client, f"/fr/admin/aitracker/commitment/{commitment.pk}/change/")
    for name in ("title", "title_fr", "title_zh_hans", "text_fr"):
        assert f'name="{name}"' in html
    # The usual field holds the English record, on the French admin too.
    assert re.search(r'name="title"[^>]*value="' + re.escape(commitment.title_en[:20]), html.replace("&#x27;", "'"))
    assert '<script src="http' not in html


def test_the_loader_applies_the_translation_files_and_refuses_a_wrong_one(real_data, settings, tmp_path):
    shutil.copytree(
        settings.BASE_DIR / "fixtures", tmp_path / "fixtures", ignore=shutil.ignore_patterns("translations")
    )
    (tmp_path / "fixtures" / "translations").mkdir()
    settings.BASE_DIR = tmp_path
    instrument = Instrument.objects.get(slug="paris-2025")
    good = {"aitracker.instrument": {str(instrument.pk): {"title": "Déclaration de Paris", "short_title": "Paris"}}}
    (tmp_path / "fixtures" / "translations" / "fr.json").write_text(json.dumps(good, ensure_ascii=False))
    out = StringIO()
    call_command("load_real_data", "--force", stdout=out)  # zh-hans.json missing: tolerated
    assert "2 translated fields" in out.getvalue()
    instrument.refresh_from_db()
    assert instrument.title_fr == "Déclaration de Paris" and instrument.title_zh_hans is None
    for bad, message in (
        ({"aitracker.nothing": {}}, "aitracker.nothing: no such model"),
        ({"aitracker.instrument": {"999999": {"title": "x"}}}, "no record with primary key 999999"),
        ({"aitracker.instrument": {str(instrument.pk): {"slug": "x"}}}, "not a translated field: slug"),
    ):
        (tmp_path / "fixtures" / "translations" / "zh-hans.json").write_text(json.dumps(bad))
        with pytest.raises(CommandError, match=re.escape(message)):
            call_command("load_real_data", "--force", stdout=StringIO())


def test_the_data_check_counts_and_names_what_is_not_translated(real_data):
    counts = translation_counts()
    assert set(counts) == {"fr", "zh-hans"}
    done, total = counts["fr"]
    assert total > 100 and done == total  # the real data ships fully translated
    assert not [problem for problem in check_data() if problem.record.endswith("translation")]
    commitment = Commitment.objects.get(slug=COMMITMENT)
    translate("fr", "aitracker.commitment", commitment.pk, title="")
    assert translation_counts()["fr"] == (done - 1, total)
    problems = [str(problem) for problem in check_data() if problem.record.endswith("translation")]
    assert any("commitment.title" in problem and "French" in problem for problem in problems)
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_data", stdout=out, stderr=StringIO())
    assert "French (fr):" in out.getvalue() and "translatable texts translated" in out.getvalue()


def test_parties_are_named_and_ordered_in_the_page_language_everywhere(client, real_data):
    """The party filter, the map's "not on the map" list, the signatories and the citation use the names the page
    shows (a country's from django-countries), in their order, not the English ones."""
    table = html_of(client, localized("commitment_list", "fr"))
    select = re.search(r'<select name="party".*?</select>', table, re.S).group(0)
    names = re.findall(r'<option value="[^"]+">([^<]+)</option>', select)
    assert "Allemagne" in names and "Germany" not in names and "Union européenne" in names
    assert (
        names.index("Afrique du Sud")
        < names.index("Allemagne")
        < names.index("Chine")
        < names.index("Union européenne")
    )
    paris = html_of(client, localized("instrument_detail", "fr", slug="paris-2025"))
    side = re.search(r'<div class="map-side">.*?</div>', paris, re.S).group(0)
    assert "Union européenne" in side and "European Union" not in side
    signatories = re.findall(r'href="/fr/parties/[a-z0-9-]+/">([^<]+)</a>', paris.split('id="parties"', 1)[1])
    assert signatories.index("Allemagne") < signatories.index("Chine") < signatories.index("Union européenne")
    chinese = html_of(client, localized("party_detail", "zh-hans", slug="france"))
    assert "法国\uff1a记分卡" in chinese and "France\uff1a" not in chinese


def test_lists_of_names_use_the_separator_of_the_page_language(client, real_data):
    from django.db.models import Count

    commitment = Commitment.objects.public().annotate(n=Count("themes")).filter(n__gte=2).order_by("pk").first()
    chinese = html_of(client, localized("commitment_detail", "zh-hans", slug=commitment.slug))
    assert '</a>、<a href="/zh-hans/themes/' in chinese
    english = html_of(client, localized("commitment_detail", "en", slug=commitment.slug))
    assert '</a>, <a href="/themes/' in english


def test_each_status_has_one_french_name_on_the_pages_in_the_feed_and_in_the_downloads(client, real_data):
    """A status is named the same way wherever a French reader meets it: the methodology's definitions, the Atom
    feed's entries and the CSV downloads of commitments and updates."""
    from html import unescape

    from aitracker.feeds import FEED_ITEMS, UpdatesFeed
    from aitracker.models import Status

    page = html_of(client, localized("methodology", "fr"))
    section = re.search(r'<h2 id="statuses">.*?</section>', page, re.S).group(0)
    named = {code: unescape(label) for code, label in re.findall(r'<span class="badge status-(\w+)">([^<]+)</span>',
                                                                    section)}  # fmt: skip
    assert set(named) == set(Status.values)
    with translation.override("fr"):
        assert named == {status.value: str(status.label) for status in Status}
    assert named["achieved"] != "Achieved"  # in French

    def rows(name):
        response = client.get(localized(name, "fr") + "?_export=csv")
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))

    seen = set()
    for name in ("commitment_list", "update_list"):
        for row in rows(name):
            if row["status"]:
                assert row["status_label"] == named[row["status"]], (name, row["status"], row["status_label"])
                seen.add(row["status"])
    assert len(seen) >= 3, seen

    xml = client.get(localized("feed_updates", "fr")).content.decode()
    titles = [unescape(title) for title in re.findall(r"<entry>.*?<title>([^<]*)</title>", xml, re.S)]
    with translation.override("fr"):
        updates = list(UpdatesFeed().updates()[:FEED_ITEMS])
    assert len(titles) == len(updates) and any(update.status for update in updates)
    for title, update in zip(titles, updates, strict=True):
        if update.status:
            label = named[update.status]
            assert title.endswith(label) or f"{label} (" in title, (update.status, title)


# A commitment's reference is our label, translated like its title; its English stays the identifier.
REFERENCES = {"en": "§3, priority 1", "fr": "§3, priorité 1", "zh-hans": "第3段，优先事项1"}  # noqa: RUF001


@pytest.mark.parametrize("language", ["fr", "zh-hans"])
def test_a_commitments_reference_is_shown_in_the_page_language(client, real_data, language):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    make_update(commitment=commitment, state="published")  # listed by the dashboard's "what changed"
    english, translated = REFERENCES["en"], REFERENCES[language]
    pages = {
        "commitment": localized("commitment_detail", language, slug=COMMITMENT),
        "table": localized("commitment_list", language) + "?instrument=paris-2025",
        "dashboard": localized("dashboard", language),
    }
    for name, url in pages.items():
        html = html_of(client, url)
        assert translated in html, name
        assert english not in html, name
    detail = html_of(client, pages["commitment"])
    assert f'<span aria-current="page">{translated}</span>' in detail  # the breadcrumb
    assert re.search(rf"<title>[^<]*{re.escape(translated)}", detail)
    assert re.search(rf'col-reference"[^>]*>{re.escape(translated)}</td>', html_of(client, pages["table"]))


def test_the_english_pages_keep_the_english_reference(client, real_data):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    make_update(commitment=commitment, state="published")
    for url in (
        localized("commitment_detail", "en", slug=COMMITMENT),
        localized("commitment_list", "en") + "?instrument=paris-2025",
        localized("dashboard", "en"),
    ):
        html = html_of(client, url)
        assert REFERENCES["en"] in html and REFERENCES["fr"] not in html, url
    assert '<span aria-current="page">§3, priority 1</span>' in html_of(
        client, localized("commitment_detail", "en", slug=COMMITMENT)
    )


def test_a_reference_without_its_french_shows_the_english_marked(client, real_data):
    commitment = Commitment.objects.get(slug=COMMITMENT)
    make_update(commitment=commitment, state="published")
    translate("fr", "aitracker.commitment", commitment.pk, reference="")
    marked = '<span lang="en">§3, priority 1</span>'
    for url in (
        localized("commitment_detail", "fr", slug=COMMITMENT),
        localized("commitment_list", "fr") + "?instrument=paris-2025",
        localized("dashboard", "fr"),
    ):
        assert marked in html_of(client, url), url
    # The Chinese still has its own.
    assert REFERENCES["zh-hans"] in html_of(client, localized("commitment_detail", "zh-hans", slug=COMMITMENT))


def test_downloads_keep_the_english_reference_beside_the_translated_label(client, real_data):
    response = client.get(localized("commitment_list", "fr") + "?_export=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    row = next(row for row in rows if row["slug"] == COMMITMENT)
    assert (row["reference"], row["reference_label"]) == (REFERENCES["en"], REFERENCES["fr"])
    # The API is in English (its address has no language): the reference is the English identifier.
    assert client.get(f"/api/v1/commitments/{COMMITMENT}/").json()["reference"] == REFERENCES["en"]
    # Lookups by the English reference work whatever the language.
    with translation.override("fr"):
        assert Commitment.objects.filter(reference_en=REFERENCES["en"]).get().slug == COMMITMENT
        assert Commitment.objects.get(slug=COMMITMENT).reference == REFERENCES["fr"]


def test_every_shipped_reference_is_translated(real_data):
    for language in ("fr", "zh-hans"):
        column = f"reference_{language.replace('-', '_')}"
        assert not Commitment.objects.filter(**{f"{column}__isnull": True}).exists(), language
    assert Commitment.objects.get(instrument__slug="unga-78-311", reference="OP, SG report").reference_zh_hans == (
        "执行段落，秘书长报告"  # noqa: RUF001
    )


def test_a_translation_file_that_breaks_a_rule_is_refused_whole(real_data):
    from aitracker.services import TranslationFileError

    first, second = Commitment.objects.filter(instrument__slug="paris-2025").order_by("pk")[:2]
    before = Commitment.objects.get(pk=first.pk).title_fr
    same = {"aitracker.commitment": {str(first.pk): {"reference": "§ même"}, str(second.pk): {"reference": "§ même"}}}
    too_long = {"aitracker.commitment": {str(first.pk): {"title": "Titre", "reference": "x" * 300}}}
    odd_keys = [{"aitracker.commitment": {"²": {"title": "x"}}}, {"aitracker.commitment": {"007": {}}}]
    for data in (same, too_long, *odd_keys):
        with pytest.raises(TranslationFileError):
            services.content_translations_load(language="fr", data=data)
    assert Commitment.objects.get(pk=first.pk).title_fr == before


def test_the_follow_pages_canonical_address_keeps_only_what_names_it(client, real_data):
    html = html_of(client, reverse("follow") + "?theme=inclusive-ai&utm_source=newsletter")
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', html).group(1)
    assert canonical.endswith("/follow/?theme=inclusive-ai"), canonical
    assert "utm_source" not in "".join(re.findall(r'hreflang="[^"]+" href="([^"]+)"', html))
