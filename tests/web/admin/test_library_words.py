"""The library's messages in the workspace: every code has its Danish, and the Danish fits the English.

The codes are found in the library's own tables (every :class:`Texts` in the
``newsletter`` package), not listed here, so a message added to the library
without its Danish fails ``test_every_library_code_has_danish_and_english``
— and, until it has it, is shown to a Danish user in English, not left out.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import string
from pathlib import Path

import pytest

import newsletter
from newsletter.checks import check_html
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.config import Settings
from newsletter.errors import IssueError
from newsletter.issue import parse_issue
from newsletter.store.imports import preview_sheet
from newsletter.web.admin.library_words import LIBRARY_DANISH, danish, library_text
from newsletter.wording import Texts, Wording, placeholders

DOCS = Path(__file__).resolve().parents[3] / "docs"


def library_tables() -> dict[str, Texts]:
    """Every table of texts in the package, by the name it has where it is defined."""
    found: dict[int, tuple[str, Texts]] = {}
    for module in pkgutil.walk_packages(newsletter.__path__, "newsletter."):
        for name, value in vars(importlib.import_module(module.name)).items():
            if isinstance(value, Texts):
                found.setdefault(id(value), (f"{module.name}.{name}", value))
    return dict(found.values())


def english_texts() -> dict[str, str]:
    codes: dict[str, str] = {}
    for table in library_tables().values():
        codes.update(table)
    return codes


def sample_values(template: str) -> dict[str, str | int | float]:
    """A value for each placeholder of ``template`` that its format spec accepts."""
    values: dict[str, str | int | float] = {}
    for _text, name, spec, _conversion in string.Formatter().parse(template):
        if name:
            values[name] = (
                12.25 if (spec or "").endswith("f") else 10 if (spec or "").endswith(("x", "X")) else "x"
            )
    return values


def test_the_tables_are_found_and_no_code_is_in_two() -> None:
    tables = library_tables()
    assert {"newsletter.checks.core.CHECK_TEXTS", "newsletter.issue.ISSUE_TEXTS"} <= set(tables)
    seen: dict[str, str] = {}
    for where, table in tables.items():
        for code in table:
            assert code not in seen, f"{code} is in {seen[code]} and {where}: one code, one message"
            seen[code] = where


def test_every_library_code_has_danish_and_english() -> None:
    english = english_texts()
    missing = sorted(set(english) - set(LIBRARY_DANISH))
    assert missing == [], f"add the Danish for these codes to LIBRARY_DANISH (library_words.py): {missing}"
    stale = sorted(set(LIBRARY_DANISH) - set(english))
    assert stale == [], f"LIBRARY_DANISH has words for codes no library table has: {stale}"
    assert all(english[code].strip() and LIBRARY_DANISH[code].strip() for code in english)


def test_the_danish_uses_only_the_values_the_english_is_made_with() -> None:
    for code, english in english_texts().items():
        extra = placeholders(LIBRARY_DANISH[code]) - placeholders(english)
        assert not extra, f"{code}: the Danish names {extra}, which the library does not give"
        # Both fill in without an error, with values of the kinds their format specs expect.
        values = sample_values(english)
        assert Wording(code, english, values).english
        assert LIBRARY_DANISH[code].format(**values)


def test_every_documented_check_is_worded_in_both_languages() -> None:
    table = (DOCS / "checks.md").read_text(encoding="utf-8").split("## The checks", 1)[1].split("\n\n")[1]
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.MULTILINE))
    assert {"subject-too-long", "link-invalid", "unfinished-text"} <= documented
    # issue-invalid is worded by the issue file's own problem (newsletter.issue, newsletter.markdown).
    unworded = sorted(documented - set(CHECK_TEXTS) - {"issue-invalid"})
    assert unworded == [], f"give these checks their English in newsletter/checks/texts.py: {unworded}"


def test_a_finding_is_danish_for_a_danish_user_and_as_the_cli_says_it_in_english() -> None:
    findings = check_html(
        '<html lang="da"><body><a href="#top">Til toppen</a><img src="x.png" alt=""></body></html>',
        "Til toppen",
        subject="x" * 92,
        preheader="",
        headers={},
    )
    by_code = {finding.code: finding for finding in findings}
    invalid = by_code["link-invalid"]
    assert (
        invalid.message
        == "link '#top' (HTML line 1) points to '#' (nowhere in an email) — give it a real address"
    )
    da, en = library_text("da"), library_text("en")
    assert da(invalid.wording, invalid.message) == (
        "Linket '#top' (HTML-linje 1) peger på '#', som ikke fører nogen steder hen i en e-mail – "
        "giv det en rigtig adresse"
    )
    assert en(invalid.wording, invalid.message) == invalid.message
    long = by_code["subject-too-long"]
    assert da(long.wording, long.message) == (
        "Emnet er 92 tegn langt. Indbakker skærer det af efter omkring 80 tegn – gør det kortere"
    )
    # Every finding of this broken page has its wording, and its Danish is not the English.
    assert all(f.wording is not None and da(f.wording, f.message) != f.message for f in findings)


def test_danish_numbers_have_a_decimal_comma() -> None:
    assert danish(CHECK_TEXTS("html-large", kb=95.26)).startswith("E-mailen fylder 95,3 KB")
    assert CHECK_TEXTS("html-large", kb=95.26).english.startswith("the HTML is 95.3 KB")


@pytest.mark.parametrize("lang", ["da", "en"])
def test_a_code_without_danish_or_a_message_without_wording_shows_the_english(lang: str) -> None:
    text = library_text(lang)
    new_check = Texts({"a-check-added-later": "no List-Id header — set [sender] list_id"})(
        "a-check-added-later"
    )
    assert text(new_check, new_check.english) == "no List-Id header — set [sender] list_id"
    assert text(None, "an older finding without a wording") == "an older finding without a wording"
    # A known sentence holding a phrase without Danish is English whole, never half Danish.
    mixed = CHECK_TEXTS("link-invalid", href="x", html_line=1, problem=new_check)
    assert text(mixed, mixed.english) == mixed.english


# Issue files with every kind of problem a file can have, one pass of parse_issue each.
BROKEN_ISSUES = [
    "Ingen felter øverst\n",
    "---\nsubject: Hej\n",
    "---\nsubject: Nyt: fra kommunen\n---\nTekst\n",
    "---\nsubject: 'Hej\npreheader: x\n---\nTekst\n",
    "---\n- en liste\n---\nTekst\n",
    "---\nsubject: Hej\x07\n---\nTekst\n",
    '---\nsubject: "Hej\\nBcc: x"\n---\nTekst\n',
    "---\nsubject: Hej\n---\n",
    "---\nkicker: x\nlang: fr\ntemplate: Jul!\nsalutation: måske\ndate: 2020-13-45\ntitle: [a, b]\n---\n"
    "# Titel\n\n![](foto.jpg)\n\n![Et foto](mappe/foto.jpg)\n\n![Et foto](ftp://x/y.png)\n\n"
    "![Et foto](tegning.svg)\n\n[Til toppen](#top) og [klik](javascript:alert(1))\n\n"
    "::: button\nIngen link\n:::\n\n::: button\n[](https://example.dk)\n:::\n\n::: greeting\n:::\n\n"
    "::: signature\n:::\n\n::: column\nEn\n:::\n\n::: column\n## Afsnit\n:::\n\n::: column\n:::\n",
    "---\nsubject: Hej\n---\n:::\n",
    "---\nsubject: Hej\n---\n::: knap\n:::\n",
    "---\nsubject: Hej\n---\n::: greeting\n::: signature\n:::\n",
    "---\nsubject: Hej\n---\n::: button\n",
    "---\nsubject: Hej\n---\n::: column\nEn\n:::\n",
    "---\nsubject: Hej\n---\n::: column\nEn\n:::\n::: column\n:::\n",
    '---\nsubject: Hej\nkicker: "a\\eb"\n---\nTekst\n',
]


def test_every_problem_of_a_broken_issue_file_is_worded_in_danish(settings: Settings) -> None:
    path = settings.issues_dir / "2020-05-01-fejl.md"
    (settings.issues_dir / "2020-05-01-fejl").mkdir()
    (settings.issues_dir / "2020-05-01-fejl" / "tegning.svg").write_text("<svg/>", encoding="utf-8")
    codes: set[str] = set()
    for text in BROKEN_ISSUES:
        with pytest.raises(IssueError) as raised:
            parse_issue(path, text, settings)
        for problem in raised.value.every:
            assert problem.wording is not None, problem.detail
            assert problem.wording.english == problem.detail
            assert danish(problem.wording) != problem.detail
            codes.add(problem.wording.code)
    # The problems above are many kinds, not one repeated.
    assert len(codes) >= 32, " ".join(sorted(codes))
    with pytest.raises(IssueError) as wrong_name:
        parse_issue(settings.issues_dir / "Nyt fra os.md", "---\nsubject: Hej\n---\nTekst\n", settings)
    assert wrong_name.value.wording is not None
    assert danish(wrong_name.value.wording).startswith("Filnavnet skal have formen ÅÅÅÅ-MM-DD-navn.md")


def test_every_rejected_import_row_is_worded_in_danish(tmp_path: Path) -> None:
    rows = [
        "email;navn;sprog;note",
        "jens@firma.dk;Jens;da;",
        ";Ingen adresse;;",
        "bo;Bo;;",
        "mette@firma.dk;Mette;fransk;",
        f"lang@firma.dk;{'x' * 201};;",
        "nul@firma.dk;Nul\x00Navn;;",
        "note@firma.dk;Note;;a\x1bb",
        "mange@firma.dk;Mange;;;ekstra",
        "JENS@firma.dk;Jens igen;;",
    ]
    csv_file = tmp_path / "medlemmer.csv"
    csv_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    preview = preview_sheet(csv_file, rows=20)
    problems = preview.info.rejected + preview.info.duplicates
    assert len(problems) == 8
    for problem in problems:
        assert problem.wording is not None and problem.wording.english == problem.reason
        assert danish(problem.wording) != problem.reason
    danish_reasons = {problem.line: danish(problem.wording) for problem in problems if problem.wording}
    assert danish_reasons[3] == "e-mailadressen mangler"
    assert danish_reasons[4] == "'bo' er ikke en gyldig e-mailadresse – ret den i filen"
    assert danish_reasons[5] == "sproget 'fransk' kan ikke bruges – skriv et af: da, en"
    assert danish_reasons[7].startswith("navnet indeholder et NUL-tegn (U+0000) ved tegn nummer 4")
    assert danish_reasons[10] == "samme adresse som række 2 (JENS@firma.dk) – sprunget over"
