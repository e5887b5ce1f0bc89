"""The Markdown filter: analysts' text is rendered, and whatever it holds, nothing executable comes out."""

from datetime import date

import pytest
from django.template import Context, Template

from aitracker.templatetags.aitracker_tags import display_date, http_url, render_markdown, status_bar, time_tag


def test_markdown_is_rendered():
    html = render_markdown("A **bold** step, *quickly*.\n\n- one\n- two\n\n> quoted\n\n`code`")
    assert "<strong>bold</strong>" in html
    assert "<em>quickly</em>" in html
    assert "<ul>\n<li>one</li>" in html
    assert "<blockquote>" in html
    assert "<code>code</code>" in html


def test_http_links_get_nofollow_noopener():
    html = render_markdown("[the law](https://example.org/law) and [plain](http://example.org/)")
    assert '<a href="https://example.org/law" rel="nofollow noopener">the law</a>' in html
    assert '<a href="http://example.org/" rel="nofollow noopener">plain</a>' in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src=x onerror="alert(1)">',
        "<svg onload=alert(1)>",
        '<iframe src="https://evil.example"></iframe>',
        "<style>body{display:none}</style>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="  javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](vbscript:msgbox(1))",
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<p onclick="alert(1)">x</p>',
        '<div style="background:url(javascript:alert(1))">x</div>',
        '<form action="https://evil.example"><input name=x></form>',
        "<object data=x></object><embed src=x>",
        "<<script>script>alert(1)<</script>/script>",
        '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<!-- <script>alert(1)</script> -->",
        "<b><i>unclosed <a href='javascript:alert(1)'>",
    ],
)
def test_hostile_input_comes_out_inert(hostile):
    html = render_markdown(hostile).lower()
    for bad in ("<script", "javascript:", "vbscript:", "data:", "onerror", "onload", "onclick", "onmouseover"):
        assert bad not in html, (hostile, html)
    for tag in ("<img", "<svg", "<iframe", "<style", "<form", "<input", "<object", "<embed", "<math"):
        assert tag not in html, (hostile, html)
    assert " style=" not in html


def test_relative_and_protocol_relative_links_lose_their_address():
    html = render_markdown("[a](/admin/) [b](//evil.example/) [c](../x)")
    assert "href" not in html
    assert "a" in html and "b" in html


def test_broken_html_is_balanced():
    html = render_markdown("<div><p>open <b>bold <i>both")
    assert html.count("<b>") == html.count("</b>")
    assert html.count("<i>") == html.count("</i>")
    assert "<div" not in html


def test_headings_cannot_compete_with_the_page_title():
    html = render_markdown("# Big\n\n## Less\n\n### Fine")
    assert "<h1" not in html and "<h2" not in html
    assert "<h3>Fine</h3>" in html
    assert "Big" in html


def test_empty_summary_renders_nothing():
    assert render_markdown("") == ""
    assert render_markdown(None) == ""


def test_the_filter_marks_its_output_safe_and_nothing_else():
    out = Template("{% load aitracker_tags %}{{ text|markdown }}").render(
        Context({"text": "**ok** <script>x</script>"})
    )
    assert out.strip() == "<p><strong>ok</strong> </p>"


def test_one_date_format_everywhere():
    assert display_date(date(2025, 2, 11)) == "11 Feb 2025"
    assert display_date(None) == ""
    assert time_tag(date(2025, 2, 1)) == '<time datetime="2025-02-01">1 Feb 2025</time>'


def test_status_bar_widths_add_up_and_skip_empty_statuses():
    context = status_bar({"achieved": 1, "in_progress": 3, "stalled": 0})
    assert context["total"] == 4
    assert [(s["status"], s["x"], s["width"]) for s in context["segments"]] == [
        ("in_progress", "0.000", "75.000"),
        ("achieved", "75.000", "25.000"),
    ]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("https://example.org/a?b=c", "https://example.org/a?b=c"),
        ("HTTP://EXAMPLE.ORG/", "HTTP://EXAMPLE.ORG/"),
        (" https://example.org/ ", "https://example.org/"),
        ("javascript:alert(1)", ""),
        ("data:text/html,x", ""),
        ("//evil.example/", ""),
        ("/admin/", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_outbound_links_must_be_http(address, expected):
    assert http_url(address) == expected
