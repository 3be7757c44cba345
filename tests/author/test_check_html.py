"""check_html on hand-made final HTML: a clean email passes, each kind of breakage is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.checks import Finding, SourceMap, check_html, check_issue, has_errors, link_problem
from newsletter.config import Settings
from newsletter.issue import load_issue
from newsletter.render import render_issue

UNSUBSCRIBE = "https://nyhedsbrev.example.org/u/abc123"
LIST_ID = {"List-Id": "Erhvervsnyt <erhverv.nyhedsbrev.example.org>"}
GOOD_HEADERS = {
    "List-Unsubscribe": f"<{UNSUBSCRIBE}>, <mailto:afmeld@example.org?subject=unsubscribe>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    **LIST_ID,
    "Feedback-ID": "2019-12-20-tak:erhverv:example-org",
}
ISSUE_SOURCE = """---
subject: Tak for et godt 2019
preheader: Jul i BusinessBallerup
---

Læs mere [om Kildedal](https://example.org/kildedal).

![Borgmesteren på besøg](besoeg.jpg)

Skriv til [Jette](mailto:jrau@balk.dk).
"""


def email_html(
    *,
    lang: str = ' lang="da"',
    body: str = "",
    image: str = '<img src="https://nyhedsbrev.example.org/issues/x/besoeg.jpg" alt="Borgmesteren på besøg" width="600">',
    link: str = '<a href="https://example.org/kildedal">om Kildedal</a>',
    unsubscribe: str = f'<a href="{UNSUBSCRIBE}">Afmeld</a>',
    style: str = "@media (max-width:480px){.col{width:100%!important}}",
) -> str:
    return f"""<!doctype html>
<html{lang}>
<head><style>{style}</style></head>
<body>
<div style="display:none">Jul i BusinessBallerup</div>
<table role="presentation"><tr><td>
<p>Læs mere {link}.</p>
{image}
<p>Skriv til <a href="mailto:jrau@balk.dk">Jette</a>.</p>
{body}
<p>{unsubscribe}</p>
</td></tr></table>
</body>
</html>"""


CLEAN_TEXT = f"""Læs mere om Kildedal (https://example.org/kildedal).
Skriv til Jette (jrau@balk.dk).
Afmeld: {UNSUBSCRIBE}
"""


def run(html: str | None = None, text: str = CLEAN_TEXT, **kwargs: object) -> list[Finding]:
    options: dict[str, object] = {
        "subject": "Tak for et godt 2019",
        "preheader": "Jul i BusinessBallerup",
        "source": SourceMap("issues/2019-12-20-tak.md", ISSUE_SOURCE),
        "lang": "da",
        "unsubscribe_url": UNSUBSCRIBE,
        "headers": GOOD_HEADERS,
    }
    options.update(kwargs)
    return check_html(html if html is not None else email_html(), text, **options)  # type: ignore[arg-type]


def codes(findings: list[Finding]) -> dict[str, str]:
    return {f.code: f.severity for f in findings}


def only(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, findings
    return matching[0]


def test_clean_email_has_no_findings() -> None:
    assert run() == []


def test_size_warns_above_90_kb_and_errors_above_102_kb() -> None:
    filler = "<p>" + "x" * 1000 + "</p>\n"
    assert run(email_html(body=filler * 85)) == []
    warned = only(run(email_html(body=filler * 93)), "html-large")
    assert warned.severity == "warning" and "102 KB" in warned.message
    clipped = only(run(email_html(body=filler * 105)), "html-too-large")
    assert clipped.severity == "error" and "clips" in clipped.message


def test_size_is_measured_in_utf8_bytes_not_characters() -> None:
    # 50,000 'æ' are 100,000 bytes: over the warning line although only 50k characters.
    assert codes(run(email_html(body="<p>" + "æ" * 50_000 + "</p>"))) == {"html-large": "warning"}


def test_image_without_alt_is_an_error_on_its_markdown_line() -> None:
    html = email_html(image='<img src="https://nyhedsbrev.example.org/issues/x/besoeg.jpg" width="600">')
    finding = only(run(html), "image-alt-missing")
    assert finding.severity == "error"
    assert finding.file == "issues/2019-12-20-tak.md"
    assert finding.line == 8  # the ![…](besoeg.jpg) line
    assert str(finding).startswith("issues/2019-12-20-tak.md:8: error: image https://")


def test_image_with_empty_alt_warns_unless_presentational() -> None:
    empty = email_html(image='<img src="https://example.org/a.png" alt="" width="10">')
    assert codes(run(empty)) == {"image-alt-empty": "warning"}
    spacer = email_html(image='<img src="https://example.org/a.png" alt="" role="presentation" width="1">')
    assert run(spacer) == []


def test_image_without_width_is_an_error() -> None:
    html = email_html(image='<img src="https://example.org/a.png" alt="Logo">')
    findings = run(html)
    assert codes(findings) == {"image-width-missing": "error"}
    assert "give the template's <img> a width attribute" in findings[0].message


def test_image_inside_a_paragraph_gets_a_fix_the_author_can_make(
    project_dir: Path, settings: Settings
) -> None:
    path = project_dir / "issues" / "2020-02-03-inline.md"
    path.write_text(
        "---\nsubject: Nyt\npreheader: Kort nyt\n---\n\nSe ![kortet](https://example.org/kort.png) her.\n",
        encoding="utf-8",
    )
    issue = load_issue(path, settings)
    (finding,) = [
        f for f in check_issue(issue, render_issue(issue, settings), settings) if f.severity == "error"
    ]
    assert (finding.code, finding.line) == ("image-width-missing", 6)
    assert "put the image on a line of its own in the issue" in finding.message
    # Done as the message says, the image is laid out with a width and the check passes.
    path.write_text(
        "---\nsubject: Nyt\npreheader: Kort nyt\n---\n\nSe kortet her.\n\n![kortet](https://example.org/kort.png)\n",
        encoding="utf-8",
    )
    issue = load_issue(path, settings)
    assert check_issue(issue, render_issue(issue, settings), settings) == []


def test_http_image_and_link_warn() -> None:
    html = email_html(
        image='<img src="http://example.org/a.png" alt="Logo" width="100">',
        link='<a href="http://example.org/kildedal">om Kildedal</a>',
    )
    text = CLEAN_TEXT.replace("https://example.org/kildedal", "http://example.org/kildedal")
    assert codes(run(html, text)) == {"insecure-image": "warning", "insecure-link": "warning"}


@pytest.mark.parametrize(
    ("href", "says"),
    [
        ("", "is empty"),
        ("#", "'#'"),
        ("#top", "'#'"),
        ("javascript:alert(1)", "javascript:"),
        ("JavaScript:void(0)", "javascript:"),
        ("https://", "no valid host"),
        ("https://exa mple.org/", "spaces"),
        ("https://example.org:99999/", "invalid port"),
        ("/relative/page", "relative"),
        ("ftp://example.org/file", "unsupported scheme"),
        ("mailto:", "empty mailto"),
    ],
)
def test_broken_links_are_errors(href: str, says: str) -> None:
    finding = only(run(email_html(link=f'<a href="{href}">om Kildedal</a>')), "link-invalid")
    assert finding.severity == "error"
    assert says in finding.message


@pytest.mark.parametrize(
    "href",
    ["https://example.org/a?b=1&c=2", "mailto:jrau@balk.dk", "tel:+4544773000", "http://localhost:8000/x"],
)
def test_usable_links_have_no_problem(href: str) -> None:
    assert link_problem(href) is None


def test_link_is_mapped_to_its_markdown_line() -> None:
    text = CLEAN_TEXT.replace("https://example.org/kildedal", "")
    finding = only(run(email_html(), text), "text-link-missing")
    assert finding.line == 6
    assert "https://example.org/kildedal" in finding.message


def test_anchor_without_href_is_not_a_link() -> None:
    assert run(email_html(body='<a name="top"></a>')) == []


@pytest.mark.parametrize(
    ("subject", "code", "severity"),
    [
        ("", "subject-missing", "error"),
        ("x" * 61, "subject-long", "warning"),
        ("x" * 81, "subject-too-long", "error"),
    ],
)
def test_subject_length(subject: str, code: str, severity: str) -> None:
    finding = only(run(subject=subject), code)
    assert finding.severity == severity
    assert finding.line == 2  # the subject: line of the front matter


def test_subject_of_60_and_80_characters() -> None:
    assert run(subject="x" * 60) == []
    assert codes(run(subject="x" * 80)) == {"subject-long": "warning"}


def test_missing_preheader_warns() -> None:
    assert codes(run(preheader="  ")) == {"preheader-missing": "warning"}


def test_preheader_must_reach_the_html() -> None:
    finding = only(run(preheader="Noget helt andet"), "preheader-not-in-html")
    assert finding.severity == "warning" and finding.line == 3
    assert run(preheader="Jul  i\nBusinessBallerup") == []  # whitespace does not matter


def test_layout_table_without_role_warns() -> None:
    finding = only(run(email_html(body="<table><tr><td>x</td></tr></table>")), "table-role-missing")
    assert "HTML line 10" in finding.message


def test_missing_unsubscribe_link_in_body_is_an_error() -> None:
    text = CLEAN_TEXT.replace(UNSUBSCRIBE, "")
    finding = only(run(email_html(unsubscribe=""), text), "unsubscribe-link-missing")
    assert finding.severity == "error"


def test_unsubscribe_link_found_by_shape_when_url_unknown() -> None:
    assert run(unsubscribe_url=None) == []


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", **LIST_ID}, "list-unsubscribe-missing"),
        (
            {
                "List-Unsubscribe": "<mailto:afmeld@example.org>",
                **{"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
                **LIST_ID,
            },
            "list-unsubscribe-missing",
        ),
        ({"List-Unsubscribe": f"<{UNSUBSCRIBE}>", **LIST_ID}, "list-unsubscribe-post-missing"),
    ],
)
def test_list_unsubscribe_headers(headers: dict[str, str], code: str) -> None:
    assert codes(run(headers=headers)) == {code: "error"}


def test_a_missing_list_id_is_an_error() -> None:
    without = {name: value for name, value in GOOD_HEADERS.items() if name != "List-Id"}
    finding = only(run(headers=without), "list-id-missing")
    assert finding.severity == "error" and "List-Id" in finding.message
    assert codes(run(headers={**without, "List-Id": "  "})) == {"list-id-missing": "error"}


@pytest.mark.parametrize(
    "value",
    [
        "Erhvervsnyt",  # no identifier
        "Erhvervsnyt <erhverv>",  # no namespace: RFC 2919 wants label.namespace
        "<erhverv..nyhedsbrev.example.org>",  # an empty dot-atom part
        "<erhverv nyt.nyhedsbrev.example.org>",  # a space is not atext
        "Erhvervsnyt fra Ærø <erhverv.nyhedsbrev.example.org>",  # raw UTF-8: not encoded per RFC 2047
        "<" + "a" * 250 + ".example.org>",  # over RFC 2919's 255 octets
        "<erhverv.nyhedsbrev.example.org> trailing",
    ],
)
def test_a_malformed_list_id_is_an_error(value: str) -> None:
    finding = only(run(headers={**GOOD_HEADERS, "List-Id": value}), "list-id-invalid")
    assert finding.severity == "error" and "RFC 2919" in finding.message


@pytest.mark.parametrize(
    "value",
    [
        "<erhverv.nyhedsbrev.example.org>",  # the phrase is optional
        '"Nyt, fra Kbh." <erhverv.nyhedsbrev.example.org>',
        "=?utf-8?b?RXJodmVydnNueXQgZnJhIMOGcsO4?= <erhverv.nyhedsbrev.example.org>",
        "Erhvervsnyt<erhverv.localhost>",
    ],
)
def test_a_well_formed_list_id_passes(value: str) -> None:
    assert run(headers={**GOOD_HEADERS, "List-Id": value}) == []


def test_header_names_are_case_insensitive() -> None:
    lowered = {name.lower(): value for name, value in GOOD_HEADERS.items()}
    assert run(headers=lowered) == []


def test_html_lang_missing_is_error_and_mismatch_warns() -> None:
    assert codes(run(email_html(lang=""))) == {"html-lang-missing": "error"}
    assert codes(run(email_html(lang=' lang=""'))) == {"html-lang-missing": "error"}
    assert codes(run(email_html(lang=' lang="en"'))) == {"html-lang-mismatch": "warning"}
    assert run(email_html(lang=' lang="da-DK"')) == []


@pytest.mark.parametrize("leftover", ["{{ recipient.name }}", "{% if x %}", "<mj-section>", "%%nl:name%%"])
def test_leftover_template_markers_in_html_are_errors(leftover: str) -> None:
    finding = only(run(email_html(body=f"<p>Hej {leftover}</p>")), "leftover-marker")
    assert finding.severity == "error" and "HTML" in finding.message


def test_leftover_marker_in_text_part_is_an_error() -> None:
    finding = only(run(text=CLEAN_TEXT + "Hej {{ name }}\n"), "leftover-marker")
    assert "plain-text part" in finding.message


def test_escaped_mjml_shown_as_text_is_fine() -> None:
    assert run(email_html(body="<p>Skriv &lt;mj-section&gt; i skabelonen</p>")) == []


def test_empty_text_part_is_an_error() -> None:
    assert codes(run(text="  \n")) == {"text-missing": "error"}


def test_text_part_must_carry_every_link() -> None:
    text = CLEAN_TEXT.replace("(jrau@balk.dk)", "")
    finding = only(run(text=text), "text-link-missing")
    assert "mailto:jrau@balk.dk" in finding.message and finding.line == 10


def test_style_block_over_16_kb_is_an_error() -> None:
    big = ".a{color:red}" * 1300  # ~16.9 KB
    finding = only(run(email_html(style=big)), "style-too-large")
    assert finding.severity == "error" and "16 KB" in finding.message
    assert run(email_html(style=".a{color:red}" * 1200)) == []


def test_has_errors_ignores_warnings() -> None:
    assert not has_errors(run(preheader=""))
    assert has_errors(run(subject=""))


def test_finding_without_line_prints_file_only() -> None:
    finding = Finding("warning", "x", "message", "issues/a.md")
    assert str(finding) == "issues/a.md: warning: message [x]"
    assert finding.to_dict() == {
        "severity": "warning",
        "code": "x",
        "message": "message",
        "file": "issues/a.md",
        "line": None,
    }
