"""`newsletter screenshot`: full-page PNGs at 600 and 375 px in real Chromium."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.screenshot import screenshot_html

SAMPLE = "2019-12-20-tak-for-et-godt-2019"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def pixel_rows(path: Path) -> list[bytes]:
    """The decoded RGB(A) rows of a PNG (8-bit, non-interlaced, as Chromium writes them)."""
    data = path.read_bytes()
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        if data[position + 4 : position + 8] == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    width, height = png_size(path)
    channels = {2: 3, 6: 4}[data[25]]
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for number in range(height):
        kind = raw[number * (stride + 1)]
        line = bytearray(raw[number * (stride + 1) + 1 : (number + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def pixel(rows: list[bytes], x: int, y: int, channels: int) -> tuple[int, int, int]:
    start = x * channels
    red, green, blue = rows[y][start : start + 3]
    return red, green, blue


@pytest.mark.browser
def test_screenshot_command_writes_both_widths(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "shots"
    result = CliRunner().invoke(
        main, ["--config", str(settings.path), "screenshot", SAMPLE, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in paths] == [f"{SAMPLE}-600.png", f"{SAMPLE}-375.png"]
    for path, expected_width in zip(paths, (600, 375), strict=True):
        width, height = png_size(path)
        assert width == expected_width
        assert height > 1000  # full page: the whole issue, not just the first screen
        assert path.stat().st_size > 20_000
        assert len(set(pixel_rows(path))) > 100  # text and layout, not a blank page
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)  # no partial files


@pytest.mark.browser
def test_screenshot_at_twice_the_pixels_for_modern_screens(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "sharp"
    result = CliRunner().invoke(
        main, ["--config", str(settings.path), "screenshot", SAMPLE, "--out", str(out), "--scale", "2"]
    )
    assert result.exit_code == 0, result.output
    sizes = [png_size(out / f"{SAMPLE}-{width}.png") for width in (600, 375)]
    assert [width for width, _height in sizes] == [1200, 750]
    bad = CliRunner().invoke(main, ["--config", str(settings.path), "screenshot", SAMPLE, "--scale", "4"])
    assert bad.exit_code == 2 and "--scale" in bad.output


@pytest.mark.browser
def test_local_images_are_shown_and_remote_requests_refused(tmp_path: Path) -> None:
    picture = tmp_path / "red.png"
    # A 1×1 red PNG, scaled to 300 px wide by the page.
    picture.write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
            "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
        )
    )
    html = (
        '<html lang="da"><body style="margin:0;background:#fff">'
        '<img src="https://nyhedsbrev.example.org/issues/x/red.png" width="300" height="300" alt="rød">'
        '<img src="https://tracker.example.com/pixel.gif" width="1" height="1" alt="">'
        "</body></html>"
    )
    [path] = screenshot_html(
        html,
        tmp_path / "out",
        "x",
        widths=(375,),
        assets=[("https://nyhedsbrev.example.org/issues/x/red.png", picture)],
    )
    assert png_size(path)[0] == 375
    rows = pixel_rows(path)
    channels = len(rows[0]) // 375
    assert pixel(rows, 10, 10, channels) == (255, 0, 0)  # the local image was drawn, 300 px wide
    assert pixel(rows, 350, 10, channels) == (255, 255, 255)
    assert pixel(rows, 10, 310, channels) == (255, 255, 255)


def test_unknown_issue_is_one_line(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["--config", str(settings.path), "screenshot", "nope"])
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: nope: no such issue")
