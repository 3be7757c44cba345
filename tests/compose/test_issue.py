"""Reading an issue file: front matter, sections, the block model, links and images."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.errors import IssueError
from newsletter.issue import load_issue, resolve_issue
from newsletter.markdown import Button, Columns, Greeting, Image, Prose, Signature
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE


def test_sample_issue_fields_and_sections(compose_settings: Settings) -> None:
    issue = load_issue(resolve_issue(SAMPLE, compose_settings), compose_settings)
    assert (issue.slug, issue.subject, issue.title, issue.kicker) == (
        SAMPLE,
        "Tak for et godt 2019",
        "Tak for et godt 2019",
        "Jul i BusinessBallerup",
    )
    assert issue.date == datetime.date(2019, 12, 20)
    assert (issue.template, issue.lang) == ("holiday", "da")
    assert [section.heading for section in issue.sections] == [
        None,
        "KILDEDAL – et nyt erhvervs- og boligområde",
        "Lautrupparken skal fortsat være et attraktivt område",
        "Virksomhedsbesøg",
        "Hvad byder 2020 på?",
    ]
    lines = issue.path.read_text(encoding="utf-8").split("\n")
    for section in issue.sections[1:]:
        assert lines[section.line - 1] == f"## {section.heading}"  # lines point into the file
    assert issue.links == ["https://example.org/businessballerup/PLACEHOLDER-kildedal", "mailto:jrau@balk.dk"]
    kinds = [block.kind for block in issue.blocks()]
    assert kinds.count("button") == 1 and kinds[-2:] == ["greeting", "signature"]
    signature = issue.sections[-1].blocks[-1]
    assert isinstance(signature, Signature)
    assert signature.lines_text == ("Nytårshilsner fra BusinessBallerup", "Jette Rau, Erhvervsudviklingschef")


def test_second_sample_has_lead_image_and_columns(compose_settings: Settings) -> None:
    issue = load_issue(resolve_issue(SECOND_SAMPLE, compose_settings), compose_settings)
    assert isinstance(issue.sections[0].blocks[0], Image)
    columns = next(block for block in issue.blocks() if isinstance(block, Columns))
    assert len(columns.columns) == 2
    assert [type(block) for block in columns.columns[0]] == [Image, Prose]
    assert issue.images[0].alt.startswith("Luftfoto af Lautrupparken")
    assert [path.name for path, _ in issue.assets] == ["lautrupparken.png", "kildedal.png", "moede.png"]


def test_resolve_issue_accepts_path_file_name_and_slug(compose_settings: Settings, project: Path) -> None:
    expected = project / "issues" / f"{SAMPLE}.md"
    for name in (str(expected), f"{SAMPLE}.md", SAMPLE):
        assert resolve_issue(name, compose_settings).resolve() == expected.resolve()
    with pytest.raises(IssueError, match=r"no such issue .* known issues: .*tak-for-et-godt-2019"):
        resolve_issue("2019-12-24-findes-ikke", compose_settings)


def test_elements_of_the_body(compose_settings: Settings, write_issue: Callable[[str, str], Path]) -> None:
    body = """---
subject: Alt
meta_field: ekstra
---

Intro med *kursiv* og **fed**.

```
::: button
ikke en knap, bare kode
```

1. en
2. to
   - indrykket

> Et citat

::: button
[Klik](https://example.org/x?a=1&b=2)
:::

::: greeting
God *weekend*!
:::
"""
    issue = load_issue(write_issue("2020-05-05-alt", body), compose_settings)
    assert issue.meta == {"meta_field": "ekstra"}
    assert issue.date == datetime.date(2020, 5, 5)  # from the file name
    prose, button, greeting = issue.sections[0].blocks
    assert isinstance(prose, Prose) and isinstance(button, Button) and isinstance(greeting, Greeting)
    assert "<em>kursiv</em>" in prose.html and "<strong>fed</strong>" in prose.html
    assert "    ::: button\n    ikke en knap, bare kode" in prose.text  # containers are literal inside code
    assert "1. en\n2. to\n   - indrykket" in prose.text
    assert "> Et citat" in prose.text
    assert (button.label, button.url, button.line) == ("Klik", "https://example.org/x?a=1&b=2", 19)
    assert greeting.text == "God weekend!" and "<em>weekend</em>" in greeting.html


def test_crlf_and_bom_are_accepted(compose_settings: Settings, project: Path) -> None:
    path = project / "issues" / "2020-05-05-windows.md"
    path.write_bytes("\ufeff---\r\nsubject: Fra Windows\r\n---\r\n\r\nGlædelig jul\r\n".encode())
    issue = load_issue(path, compose_settings)
    assert issue.subject == "Fra Windows"
    assert issue.sections[0].blocks[0].line == 5
