"""The built email in real headless Chromium: responsive at 375 px, side by side at 600 px."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from playwright.sync_api import Route

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


def _column_widths(html_file: Path, widths: tuple[int, ...]) -> dict[int, list[dict[str, float]]]:
    """Per window width, per column of the email: the image's and the first paragraph's box width."""

    def serve(route: Route) -> None:  # the images from the build folder, nothing from the network
        local = html_file.parent / route.request.url.rsplit("/", 1)[-1]
        if route.request.url.startswith("file:"):
            route.continue_()
        elif local.is_file():
            route.fulfill(path=local)
        else:
            route.abort()

    measured = {}
    with launch() as browser:
        for width in widths:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.route("**/*", serve)
            page.goto(html_file.as_uri())
            measured[width] = page.evaluate(
                """() => [...document.querySelectorAll('div.column')].map(column => ({
                    image: column.querySelector('img').getBoundingClientRect().width,
                    text: column.querySelector('p').getBoundingClientRect().width,
                }))"""
            )
            page.close()
    return measured


@pytest.mark.parametrize("count", [2, 3])
def test_an_image_in_a_column_is_as_wide_as_the_columns_text(
    run_cli: Callable[..., Result], project: Path, count: int
) -> None:
    slug = SECOND_SAMPLE
    if count != 2:
        slug = "2020-04-01-tre-spalter"
        (project / "issues" / slug).mkdir()
        shutil.copy(project / "issues" / SECOND_SAMPLE / "kildedal.png", project / "issues" / slug)
        column = "::: column\n![Byggepladsen i KILDEDAL](kildedal.png)\n\nTekst i en spalte.\n:::\n\n"
        (project / "issues" / f"{slug}.md").write_text(
            f"---\nsubject: Tre spalter\n---\n\n{column * count}", encoding="utf-8"
        )
    result = run_cli("build", slug)
    assert result.exit_code == 0, result.output
    for width, columns in _column_widths(project / "build" / slug / "email.html", (600, 375)).items():
        assert len(columns) == count
        for column in columns:
            assert abs(column["image"] - column["text"]) <= 1, (width, columns)


def test_screen_readers_skip_the_holiday_cards_ornaments(built: Path) -> None:
    html_file = built / SAMPLE / "email.html"
    assert html_file.read_text(encoding="utf-8").count('<span aria-hidden="true">✶ ✶ ✶</span>') == 2
    with launch() as browser:
        page = browser.new_page()
        page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
        )
        page.goto(html_file.as_uri())
        read_aloud = page.locator("body").aria_snapshot()
    assert "Tak for et godt 2019" in read_aloud  # the accessibility tree is there …
    assert "✶" not in read_aloud  # … without the ornaments
