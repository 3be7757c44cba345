"""The preview server: its endpoints over real HTTP, and the page in a real browser."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.per_recipient import SamplePerson
from newsletter.preview.app import create_app
from newsletter.preview.sample import recipient_from_store
from newsletter.preview.server import serve_in_thread
from newsletter.preview.snapshot import Builder
from newsletter.template_sources import BUILTIN_TEMPLATES

SAMPLE = "2019-12-20-tak-for-et-godt-2019"
FIRST_SENTENCE = "2019 har givet erhvervsområdet i Ballerup nye muligheder"


@pytest.fixture
def issue_path(settings: Settings) -> Path:
    return settings.issues_dir / f"{SAMPLE}.md"


@pytest.fixture
def preview(issue_path: Path, settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(Builder(issue_path=issue_path, settings=settings))) as url:
        yield url


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def save(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_endpoints_serve_the_merged_issue(preview: str) -> None:
    state = httpx.get(f"{preview}/state.json").json()
    assert state["version"] == 1 and state["error"] == ""
    assert state["subject"] == "Tak for et godt 2019"
    assert state["sender"] == "BusinessBallerup <nyhedsbrev@example.org>"
    assert state["recipient"] == "Jens Hansen <modtager@example.com>"
    assert state["preheader"].startswith("Jul i BusinessBallerup")
    assert FIRST_SENTENCE in state["text"]
    assert state["findings"] == []
    html = httpx.get(f"{preview}/email.html").text
    assert FIRST_SENTENCE in html and "%%nl:" not in html
    assert "/u/" in html  # the unsubscribe link is merged for the sample recipient


def test_saving_the_issue_rebuilds_and_notifies(preview: str, issue_path: Path) -> None:
    versions: list[int] = []

    def listen() -> None:
        with httpx.stream("GET", f"{preview}/events", timeout=15) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    versions.append(json.loads(line[5:])["version"])
                    if len(versions) == 2:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    wait_for(lambda: versions == [1])
    save(issue_path, FIRST_SENTENCE, "Nyt afsnit skrevet i preview-testen")
    listener.join(timeout=10)
    assert versions == [1, 2]
    assert "Nyt afsnit skrevet i preview-testen" in httpx.get(f"{preview}/email.html").text


def test_a_broken_save_shows_the_error_and_keeps_serving(preview: str, issue_path: Path) -> None:
    save(issue_path, "subject: Tak for et godt 2019\n", "")
    wait_for(lambda: httpx.get(f"{preview}/state.json").json()["error"] != "")
    state = httpx.get(f"{preview}/state.json").json()
    assert str(issue_path) in state["error"] and "subject" in state["error"]
    assert FIRST_SENTENCE in httpx.get(f"{preview}/email.html").text  # the last good render stays
    save(issue_path, "---\n", "---\nsubject: Tilbage igen\n")
    wait_for(lambda: httpx.get(f"{preview}/state.json").json()["subject"] == "Tilbage igen")
    assert httpx.get(f"{preview}/state.json").json()["error"] == ""


def test_a_broken_template_shows_template_and_line(preview: str, settings: Settings) -> None:
    # The author copies the built-in layout into templates/ to change it, and breaks it.
    original = (BUILTIN_TEMPLATES / "base.mjml.j2").read_text(encoding="utf-8")
    template = settings.templates_dir / "base.mjml.j2"
    template.write_text("{{ no_such_value.attribute }}\n" + original, encoding="utf-8")
    wait_for(lambda: httpx.get(f"{preview}/state.json").json()["error"] != "")
    error = httpx.get(f"{preview}/state.json").json()["error"]
    assert "templates/base.mjml.j2:1" in error and "no_such_value" in error
    template.write_text(original, encoding="utf-8")
    wait_for(lambda: httpx.get(f"{preview}/state.json").json()["error"] == "")


def test_template_and_settings_changes_rebuild(preview: str, settings: Settings) -> None:
    assert settings.path is not None
    save(settings.path, 'name = "BusinessBallerup"\naddress', 'name = "Erhverv Ballerup"\naddress')
    wait_for(lambda: "Erhverv Ballerup" in httpx.get(f"{preview}/email.html").text)
    # A new override of a built-in the preview has already rendered takes over at once ...
    template = settings.templates_dir / "base.mjml.j2"
    original = (BUILTIN_TEMPLATES / "base.mjml.j2").read_text(encoding="utf-8")
    template.write_text(
        original.replace("</mj-body>", "<mj-raw>Vores eget design</mj-raw></mj-body>"), encoding="utf-8"
    )
    wait_for(lambda: "Vores eget design" in httpx.get(f"{preview}/email.html").text)
    # ... and so does every later save to it.
    save(template, "Vores eget design", "Vores andet design")
    wait_for(lambda: "Vores andet design" in httpx.get(f"{preview}/email.html").text)


def test_preview_as_another_recipient(settings: Settings) -> None:
    person = SamplePerson(email="ida@example.com", name="Ida <Ærø> Hansen")
    greets_by_name = settings.issues_dir / "2020-03-02-nyt-fra-erhvervsservice.md"
    app = create_app(Builder(issue_path=greets_by_name, settings=settings, recipient=person), watch=False)
    with serve_in_thread(app) as url:
        html = httpx.get(f"{url}/email.html").text
        assert "Ida &lt;Ærø&gt; Hansen" in html
        assert "Ida <Ærø> Hansen" in httpx.get(f"{url}/state.json").json()["text"]


@pytest.mark.browser
def test_page_shows_both_widths_and_text_and_follows_saves(preview: str, issue_path: Path) -> None:
    from newsletter.browser import launch

    with launch() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(preview)
        page.wait_for_function("document.body.dataset.version === '1'")
        assert FIRST_SENTENCE in page.inner_text("#text")
        assert page.inner_text("#subject") == "Tak for et godt 2019"
        assert "All checks pass." in page.inner_text("#checks")
        for width in (600, 375):
            box = page.locator(f"#frame-{width}").bounding_box()
            assert box is not None and abs(box["width"] - width) <= 2
            frame = page.frame_locator(f"#frame-{width}")
            assert FIRST_SENTENCE in frame.locator("body").inner_text()

        save(issue_path, FIRST_SENTENCE, "Redigeret mens siden var åben")
        page.wait_for_function(
            "document.getElementById('text').textContent.includes('Redigeret mens siden var åben')",
            timeout=10_000,
        )
        frame = page.frame_locator("#frame-375")
        frame.locator("text=Redigeret mens siden var åben").first.wait_for(timeout=10_000)

        save(issue_path, "subject: Tak for et godt 2019\n", "")
        page.wait_for_selector("#error.shown", timeout=10_000)
        assert str(issue_path) in page.inner_text("#error")

        # Fixing the file brings the email back, still without a manual reload.
        save(issue_path, "---\nkicker:", "---\nsubject: Tak for et rettet 2019\nkicker:")
        page.wait_for_function(
            "document.getElementById('subject').textContent === 'Tak for et rettet 2019'", timeout=10_000
        )
        assert not page.locator("#error").is_visible()
        page.frame_locator("#frame-600").locator("text=Redigeret mens siden var åben").first.wait_for(
            timeout=10_000
        )


def test_recipient_from_the_store(settings: Settings) -> None:
    from newsletter.store import db
    from newsletter.store.lists import create_list
    from newsletter.store.subscribers import add_subscriber

    engine = db.open_engine(settings.database_url)
    with engine.begin() as connection:
        create_list(connection, "erhverv", "Erhvervsnyt")
        row = add_subscriber(connection, "Ida@Example.com", "erhverv", name="Ida Jensen")
    person = recipient_from_store(settings, " ida@example.com ")
    assert (person.email, person.name, person.owner.subscriber_id) == (
        "Ida@example.com",
        "Ida Jensen",
        row.id,
    )
    # Her name, never her working links: a link clicked in a preview acts on nobody.
    assert person.owner.link_key != row.link_key


def test_unknown_store_recipient_is_one_clear_line(settings: Settings) -> None:
    with pytest.raises(NotFound, match=r"--as nobody@example.com: no such subscriber in sqlite:///"):
        recipient_from_store(settings, "nobody@example.com")


def _line_within(stream: IO[str], seconds: float) -> str:
    """The next line of ``stream``, or "" when none comes in time (instead of waiting forever)."""
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else ""


def test_preview_command_serves_until_interrupted(settings: Settings) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from newsletter.cli import main; main()",
            "--config",
            str(settings.path),
            "preview",
            SAMPLE,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"Previewing {settings.issues_dir / SAMPLE}.md at http://127.0.0.1:")
        url = line.split(" at ")[1].split(" ")[0]
        assert httpx.get(f"{url}/state.json", timeout=10).json()["subject"] == "Tak for et godt 2019"
        # A broken save is said in the terminal too (README: "the command line reports the same").
        issue = settings.issues_dir / f"{SAMPLE}.md"
        good = issue.read_text(encoding="utf-8")
        issue.write_text(good.replace("subject: Tak for et godt 2019\n", ""), encoding="utf-8")
        assert process.stderr is not None
        assert _line_within(process.stderr, 15).startswith(f"Error: {issue}:")
        issue.write_text(good, encoding="utf-8")
        assert _line_within(process.stderr, 15) == "Fixed: the preview shows the issue again.\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()


def test_preview_command_port_in_use_is_one_line(settings: Settings) -> None:
    from click.testing import CliRunner

    from newsletter.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["--config", str(settings.path), "preview", SAMPLE, "--port", str(port)]
        )
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"Error: port {port} on 127.0.0.1 is already in use — pick another with --port"
    )


RED_PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def test_local_images_are_served_by_the_preview(settings: Settings) -> None:
    issue = settings.issues_dir / "2020-02-01-billeder.md"
    (settings.issues_dir / issue.stem).mkdir()
    (settings.issues_dir / issue.stem / "roed.png").write_bytes(RED_PIXEL)
    issue.write_text(
        "---\nsubject: Billeder\npreheader: Et billede\n---\n\nTekst.\n\n![Et rødt felt](roed.png)\n",
        encoding="utf-8",
    )
    with serve_in_thread(create_app(Builder(issue_path=issue, settings=settings), watch=False)) as url:
        assert httpx.get(f"{url}/state.json").json()["error"] == ""
        html = httpx.get(f"{url}/email.html").text
        assert 'src="/assets/0"' in html
        assert settings.url(f"/issues/{issue.stem}/roed.png") not in html
        image = httpx.get(f"{url}/assets/0")
        assert image.status_code == 200 and image.content == RED_PIXEL
        assert httpx.get(f"{url}/assets/7").status_code == 404
