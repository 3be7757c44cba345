"""The sample issues' HTML and text, diffed against committed output (tests/golden/).

Whitespace between tags and at line ends is normalised, so reformatting a
template does not break the test; any change a reader could see does.
Regenerate after an intended change with:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/compose/test_golden.py
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.issue import load_issue, resolve_issue
from newsletter.render import render_issue
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def normalise_html(html: str) -> str:
    html = re.sub(r">\s+<", "><", html)
    html = re.sub(r"\s+", " ", html)
    return html.replace("><", ">\n<").strip() + "\n"  # one tag per line: readable diffs


def normalise_text(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"


def check(path: Path, actual: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing — create it with UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                "golden",
                "rendered",
                n=2,
            )
        )
        pytest.fail(f"{path.name} differs from the rendering (UPDATE_GOLDEN=1 if intended):\n{diff[:4000]}")


@pytest.mark.parametrize("slug", [SAMPLE, SECOND_SAMPLE])
def test_golden(compose_settings: Settings, slug: str) -> None:
    rendered = render_issue(
        load_issue(resolve_issue(slug, compose_settings), compose_settings), compose_settings
    )
    check(GOLDEN / f"{slug}.html", normalise_html(rendered.html))
    check(GOLDEN / f"{slug}.txt", normalise_text(rendered.text))


def test_normalisation_ignores_only_whitespace() -> None:
    assert normalise_html("<p>a  b</p>\n  <p>c</p>") == normalise_html("<p>a b</p><p>c</p>")
    assert normalise_html("<p>a b</p>") != normalise_html("<p>a c</p>")
    assert normalise_text("x  \ny\n\n") == "x\ny\n"
