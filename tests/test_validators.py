"""The pages and feeds as the web's own validators read them: the Nu HTML Checker (vnu, the W3C's checker, run
locally from its jar) on every kind of public page, and the rules of RFC 4287 on
every kind of Atom feed, the author included."""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
from django.urls import reverse

from tests.test_public_pages import REAL_PAGES, body

ATOM = "{http://www.w3.org/2005/Atom}"
# RFC 3339 date-time, as RFC 4287 section 3.3 requires.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ABSOLUTE_IRI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")


VNU_VERSION = "26.9.27"  # the npm package vnu-jar, which .ci/run installs; java comes from Debian


def vnu_jar() -> Path | None:
    """The checker's jar: AITRACKER_VNU_JAR, or where `npm install vnu-jar` puts it in this folder."""
    candidates = [os.environ.get("AITRACKER_VNU_JAR", ""), "node_modules/vnu-jar/build/dist/vnu.jar"]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if not path.is_absolute():
            path = Path(__file__).resolve().parent.parent / path
        if path.exists():
            return path
    return None


@pytest.fixture(scope="module")
def vnu():
    jar, java = vnu_jar(), shutil.which("java")
    if jar is None or java is None:
        reason = (
            f"the Nu HTML Checker needs java and its jar (`npm install --no-save vnu-jar@{VNU_VERSION}` here, or "
            "AITRACKER_VNU_JAR)"
        )
        if os.environ.get("AITRACKER_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return [java, "-Xss8m", "-jar", str(jar)]


def nu_messages(vnu, files):
    result = subprocess.run(
        [*vnu, "--format", "json", "--stdout", *map(str, files)], capture_output=True, text=True, timeout=300
    )
    return json.loads(result.stdout)["messages"]


@pytest.mark.django_db
def test_every_kind_of_public_page_passes_the_nu_html_checker(client, real_data, tmp_path, vnu):
    urls = {reverse(name, kwargs=kwargs) for name, kwargs, _ in REAL_PAGES}
    urls |= {"/no-such-page/", reverse("commitment_list") + "?status=in_progress&sort=-last_update_on"}
    # The pages outside the record's own: downloads, privacy, the two forms, the API's documentation; and the
    # record as of a day (its banner, and the hidden date the filter forms keep).
    urls |= {reverse(name) for name in ("data", "privacy", "suggest", "api:docs")}
    urls.add(reverse("follow") + "?commitment=cn-fr-2024-2-address-ai-risks")
    urls |= {
        reverse("commitment_detail", kwargs={"slug": "cn-fr-2024-2-address-ai-risks"}) + "?as_of=2025-06-01",
        reverse("commitment_list") + "?as_of=2025-06-01&status=in_progress",
        reverse("party_list") + "?as_of=2025-06-01",
    }
    files = []
    for number, url in enumerate(sorted(urls)):
        path = tmp_path / f"page-{number}.html"
        path.write_text(body(client.get(url)), encoding="utf-8")
        files.append(path)
    # By file name: vnu writes "file:/tmp/…" where Path.as_uri() writes "file:///tmp/…".
    pages = {path.name: url for path, url in zip(files, sorted(urls), strict=True)}
    problems = [
        (
            pages.get(message.get("url", "").rsplit("/", 1)[-1], message.get("url")),
            message.get("lastLine"),
            message["message"],
        )
        for message in nu_messages(vnu, files)
        if message["type"] == "error" or message.get("subType") == "warning"
    ]
    assert problems == [], "\n".join(map(str, problems))


def test_the_nu_checker_does_find_errors(tmp_path, vnu):
    """The check above would pass on a checker that reads nothing: this page is wrong in two ways."""
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html lang="en"><title>x</title><p><div id=a></div><span id=a></span>')
    assert len([m for m in nu_messages(vnu, [page]) if m["type"] == "error"]) >= 1


def atom_problems(xml: str) -> list[str]:
    """What RFC 4287 requires of a feed document and its entries (sections 4.1.1, 4.1.2, 4.2, 3.3)."""
    problems = []
    root = ET.fromstring(xml.encode())
    if root.tag != f"{ATOM}feed":
        return [f"root is {root.tag}, not atom:feed"]

    def one(element, name, where):
        found = element.findall(f"{ATOM}{name}")
        if len(found) != 1:
            problems.append(f"{where} has {len(found)} atom:{name}, must have exactly one")
        return found[0] if found else None

    def check_date(element, where):
        if element is not None and not RFC3339.match((element.text or "").strip()):
            problems.append(f"{where}: {element.text!r} is not an RFC 3339 date")

    def check_id(element, where):
        if element is not None and not ABSOLUTE_IRI.match((element.text or "").strip()):
            problems.append(f"{where}: atom:id {element.text!r} is not an absolute IRI")

    def check_people(element, where):
        for person in element.findall(f"{ATOM}author"):
            name = person.find(f"{ATOM}name")
            if name is None or not (name.text or "").strip():
                problems.append(f"{where}: an atom:author without atom:name")

    def check_links(element, where):
        alternates = set()
        for link in element.findall(f"{ATOM}link"):
            if not link.get("href"):
                problems.append(f"{where}: atom:link without href")
            if link.get("rel", "alternate") == "alternate":
                key = (link.get("type"), link.get("hreflang"))
                if key in alternates:
                    problems.append(f"{where}: two alternate links with the same type and hreflang")
                alternates.add(key)
        return alternates

    one(root, "title", "feed")
    check_id(one(root, "id", "feed"), "feed")
    check_date(one(root, "updated", "feed"), "feed")
    check_people(root, "feed")
    check_links(root, "feed")
    if not any(link.get("rel") == "self" for link in root.findall(f"{ATOM}link")):
        problems.append("feed has no rel=self link (RFC 4287 section 4.2.7.2: SHOULD)")
    feed_has_author = root.find(f"{ATOM}author") is not None
    ids = []
    for number, entry in enumerate(root.findall(f"{ATOM}entry"), 1):
        where = f"entry {number}"
        entry_id = one(entry, "id", where)
        check_id(entry_id, where)
        ids.append(entry_id.text if entry_id is not None else None)
        one(entry, "title", where)
        check_date(one(entry, "updated", where), where)
        for published in entry.findall(f"{ATOM}published"):
            check_date(published, where)
        check_people(entry, where)
        if not feed_has_author and entry.find(f"{ATOM}author") is None:
            problems.append(f"{where} has no atom:author and neither has the feed (section 4.1.1)")
        alternates = check_links(entry, where)
        content = entry.find(f"{ATOM}content")
        if content is None and not alternates:
            problems.append(f"{where} has neither atom:content nor an alternate link (section 4.1.2)")
        if content is not None and content.get("src") and entry.find(f"{ATOM}summary") is None:
            problems.append(f"{where} has out-of-line content and no atom:summary")
        for text in entry.findall(f"{ATOM}summary") + entry.findall(f"{ATOM}title"):
            if text.get("type", "text") not in {"text", "html", "xhtml"}:
                problems.append(f"{where}: text construct of type {text.get('type')!r}")
    if len(ids) != len(set(ids)):
        problems.append("two entries share an atom:id")
    return problems


def test_the_atom_check_does_find_what_rfc_4287_forbids():
    broken = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>not an iri</id><updated>yesterday</updated>'
        "<entry><id>urn:x:1</id><title>a</title><updated>2025-01-01T00:00:00Z</updated></entry></feed>"
    )
    problems = atom_problems(broken)
    assert any("absolute IRI" in p for p in problems)
    assert any("RFC 3339" in p for p in problems)
    assert any("no atom:author" in p for p in problems)
    assert any("neither atom:content nor an alternate link" in p for p in problems)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("feed_updates", {}),
        ("feed_commitment", {"slug": "unga-79-325-global-dialogue"}),
        ("feed_commitment", {"slug": "cn-fr-2024-7-global-south-cyber-capacity"}),
        ("feed_party", {"slug": "india"}),
        ("feed_party", {"slug": "tuvalu"}),
    ],
)
def test_every_kind_of_feed_is_valid_atom_with_an_author(client, real_data, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    xml = body(response)
    assert atom_problems(xml) == []
    root = ET.fromstring(xml.encode())
    assert root.find(f"{ATOM}author/{ATOM}name").text.strip()
    for entry in root.findall(f"{ATOM}entry"):
        datetime.fromisoformat(entry.find(f"{ATOM}updated").text)
