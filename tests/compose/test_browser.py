"""The built email in real headless Chromium: responsive at 375 px, side by side at 600 px."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from newsletter.browser import launch
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE

pytestmark = pytest.mark.browser


def _layout(html_file: Path, width: int) -> dict[str, Any]:
    with launch() as browser:
        page = browser.new_page(viewport={"width": width, "height": 900})
        # Offline: images point at the public site; refuse every request but the file itself.
        page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
        )
        page.goto(html_file.as_uri())
        return page.evaluate(
            """() => ({
                scrollWidth: document.scrollingElement.scrollWidth,
                columns: [...document.querySelectorAll('div.column')].map(c => {
                    const r = c.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width};
                }),
                images: [...document.images].map(i => i.getBoundingClientRect().right),
            })"""
        )


@pytest.fixture
def built(run_cli: Callable[..., Result], project: Path) -> Path:
    result = run_cli("build")
    assert result.exit_code == 0, result.output
    return project / "build"


def test_columns_stack_on_a_phone_and_sit_side_by_side_on_a_desktop(built: Path) -> None:
    html_file = built / SECOND_SAMPLE / "email.html"
    phone = _layout(html_file, 375)
    assert phone["scrollWidth"] <= 375
    columns = phone["columns"]
    assert len(columns) == 2
    assert columns[0]["y"] < columns[1]["y"]  # stacked
    assert all(column["width"] > 300 for column in columns)  # each takes the phone's width
    assert all(right <= 375 for right in phone["images"])

    desktop = _layout(html_file, 600)
    assert desktop["scrollWidth"] <= 600
    left, right = desktop["columns"]
    assert left["y"] == right["y"] and left["x"] < right["x"]  # side by side
    assert left["width"] < 300 and right["width"] < 300


def test_holiday_card_fits_a_phone(built: Path) -> None:
    phone = _layout(built / SAMPLE / "email.html", 375)
    assert phone["scrollWidth"] <= 375
