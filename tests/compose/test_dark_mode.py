"""Every email in real Chromium, light and dark: every visible text is readable (WCAG contrast).

Each email is rendered as it is sent — the sample issues as ``newsletter build`` writes them, the
sign-up confirmation as the web service renders it — and opened with ``prefers-color-scheme``
emulated as light and as dark. For every visible element with text of its own, the text colour
and the colour behind it (the nearest ancestor with a background colour; an element over a
background image is skipped: its contrast cannot be read from CSS) give the WCAG contrast ratio:
at least 4.5:1, or 3:1 for large text (24 px, or bold from 18.66 px).

Ornaments hidden from screen readers (aria-hidden, like the holiday card's ✶ ✶ ✶) are pure
decoration, which WCAG 1.4.3 exempts; the test makes sure nothing with a letter or digit in it
hides there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, Route

from newsletter.browser import launch
from newsletter.config import Settings
from newsletter.issue import load_issue, resolve_issue
from newsletter.per_recipient import merge_values
from newsletter.personalize import merge
from newsletter.render import Rendered, render_issue
from newsletter.sample_message import sample_parts
from newsletter.store.lists import ListRow
from newsletter.web.confirm_mail import render_confirmation
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE

pytestmark = pytest.mark.browser

EMAILS = (SAMPLE, SECOND_SAMPLE, "confirm")
NORMAL_TEXT, LARGE_TEXT = 4.5, 3.0
Scheme = Literal["light", "dark"]

# The DOM facts; the arithmetic is done in Python below. Colours come back as [r, g, b, a].
# `layers` are the background colours from the element up to the first opaque one (the canvas
# colour when none is); null when a background image lies behind the text.
TEXTS_JS = """() => {
    const rgba = (css) => {
        const parts = css.match(/[\\d.]+/g).map(Number);
        return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
    };
    const canvas = (() => {
        const probe = document.createElement('i');
        probe.style.backgroundColor = 'Canvas';
        document.documentElement.appendChild(probe);
        const colour = rgba(getComputedStyle(probe).backgroundColor);
        probe.remove();
        return colour;
    })();
    const layers = (element) => {
        const found = [];
        for (let at = element; at; at = at.parentElement) {
            const style = getComputedStyle(at);
            if (style.backgroundImage !== 'none') return null;
            const colour = rgba(style.backgroundColor);
            if (colour[3] > 0) found.push(colour);
            if (colour[3] >= 1) return found;
        }
        found.push(canvas);
        return found;
    };
    const texts = [];
    for (const element of document.body.querySelectorAll('*')) {
        const own = [...element.childNodes]
            .filter((node) => node.nodeType === Node.TEXT_NODE)
            .map((node) => node.textContent).join('').trim();
        if (!own || !element.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
        const box = element.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        const style = getComputedStyle(element);
        texts.push({
            text: own.slice(0, 40),
            tag: element.tagName.toLowerCase(),
            colour: rgba(style.color),
            layers: layers(element),
            size: parseFloat(style.fontSize),
            bold: parseInt(style.fontWeight, 10) >= 700,
            decorative: element.closest('[aria-hidden="true"]') !== null,
        });
    }
    return {texts, page: rgba(getComputedStyle(document.body).backgroundColor)};
}"""


@dataclass(frozen=True)
class Measured:
    text: str
    tag: str
    ratio: float
    needed: float
    colour: str
    background: str
    background_luminance: float


def _over(top: list[float], below: tuple[float, float, float]) -> tuple[float, float, float]:
    alpha = top[3]
    return (
        top[0] * alpha + below[0] * (1 - alpha),
        top[1] * alpha + below[1] * (1 - alpha),
        top[2] * alpha + below[2] * (1 - alpha),
    )


def _composite(layers: list[list[float]]) -> tuple[float, float, float]:
    """Background layers (nearest first, ending with an opaque one) as the colour one sees."""
    colour = (layers[-1][0], layers[-1][1], layers[-1][2])
    for layer in reversed(layers[:-1]):
        colour = _over(layer, colour)
    return colour


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0–255 channels)."""

    def linear(channel: float) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(channel):02x}" for channel in rgb)


def measure(found: dict[str, Any]) -> list[Measured]:
    """Contrast of every text the page reported; texts over a background image are left out."""
    measured = []
    for text in found["texts"]:
        if text["layers"] is None or text["decorative"]:
            continue
        background = _composite(text["layers"])
        colour = _over(text["colour"], background)
        large = text["size"] >= 24 or (text["bold"] and text["size"] >= 18.66)
        measured.append(
            Measured(
                text=text["text"],
                tag=text["tag"],
                ratio=round(contrast(colour, background), 2),
                needed=LARGE_TEXT if large else NORMAL_TEXT,
                colour=_hex(colour),
                background=_hex(background),
                background_luminance=luminance(background),
            )
        )
    return measured


def email_html(name: str, settings: Settings) -> tuple[str, list[tuple[str, Path]]]:
    """The email called ``name`` merged for a sample reader, and its images (public URL, local file)."""
    if name == "confirm":
        the_list = ListRow(
            id=1,
            name="erhverv",
            title="Erhvervsnyt",
            description="Nyheder fra BusinessBallerup",
            language="da",
            consent_text="Jeg vil gerne modtage Erhvervsnyt. Jeg kan altid framelde mig.",
            created_at=datetime.now(UTC),
        )
        rendered: Rendered = render_confirmation(settings, the_list, "da")
        values = merge_values(
            settings,
            email="modtager@example.com",
            name="Jens Hansen",
            lang="da",
            confirm_url=f"{settings.base_url}/confirm/TOKEN",
        )
        return merge(rendered.html, rendered.text, values)[0], []
    rendered = render_issue(load_issue(resolve_issue(name, settings), settings), settings)
    return sample_parts(rendered, settings)[0], [(url, source) for source, url in rendered.assets]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as running:
        yield running


def open_email(
    browser: Browser, html: str, images: list[tuple[str, Path]], folder: Path, *, scheme: Scheme, width: int
) -> Page:
    """A page showing ``html`` from a file; the issue's images served from disk, nothing from the network."""
    page_file = folder / "email.html"
    page_file.write_text(html, encoding="utf-8")
    local = dict(images)
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)

    def serve(route: Route) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        elif url in local:
            route.fulfill(path=local[url])
        else:
            route.abort()

    page.route("**/*", serve)
    page.goto(page_file.as_uri(), wait_until="load")
    return page


def read_texts(
    browser: Browser, name: str, settings: Settings, folder: Path, scheme: Scheme
) -> tuple[list[Measured], list[float]]:
    html, images = email_html(name, settings)
    page = open_email(browser, html, images, folder, scheme=scheme, width=600)
    try:
        found = page.evaluate(TEXTS_JS)
    finally:
        page.close()
    hidden = [text["text"] for text in found["texts"] if text["decorative"]]
    assert not any(character.isalnum() for text in hidden for character in text), (
        f"{name}: text a reader needs is hidden from screen readers: {hidden}"
    )
    return measure(found), found["page"]


def _worst(measured: list[Measured], count: int = 8) -> str:
    return "\n".join(
        f"  {m.ratio:.2f}:1 (needs {m.needed}) {m.colour} on {m.background} <{m.tag}> {m.text!r}"
        for m in sorted(measured, key=lambda m: m.ratio / m.needed)[:count]
    )


def _body_copy_background(measured: list[Measured]) -> float:
    """The luminance of the background behind most of the texts: the email's body copy."""
    counts: dict[float, int] = {}
    for item in measured:
        key = round(item.background_luminance, 3)
        counts[key] = counts.get(key, 0) + 1
    return max(counts, key=lambda key: counts[key])


@pytest.mark.parametrize("name", EMAILS)
def test_every_text_is_readable_in_light_and_in_dark(
    browser: Browser, compose_settings: Settings, tmp_path: Path, name: str
) -> None:
    light, light_page = read_texts(browser, name, compose_settings, tmp_path, "light")
    dark, dark_page = read_texts(browser, name, compose_settings, tmp_path, "dark")
    assert len(light) > 5 and len(dark) == len(light)  # the same texts, all measured
    for scheme, measured in (("light", light), ("dark", dark)):
        failing = [m for m in measured if m.ratio < m.needed]
        assert not failing, (
            f"{name}, {scheme}: {len(failing)} text(s) below the WCAG contrast minimum; worst first:\n"
            + _worst(failing)
        )
    # Dark mode is really on: the page turns dark, and the body copy stands on a dark background.
    assert dark_page != light_page, f"{name}: the page background is the same in dark mode"
    assert _body_copy_background(light) > 0.5, f"{name}: the body copy is not on a light background"
    assert _body_copy_background(dark) < 0.05, (
        f"{name}: in dark mode the body copy is still on a light background:\n" + _worst(dark)
    )
