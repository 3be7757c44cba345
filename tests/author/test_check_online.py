"""--online link checking against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from newsletter.checks import SourceMap, check_online


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _answer(self, body: bool) -> None:
        Handler.seen.append((self.command, self.path))
        path = self.path.split("?")[0]
        if path == "/ok":
            status = 200
        elif path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif path == "/no-head":
            status = 405 if self.command == "HEAD" else 200
        elif path == "/slow":
            time.sleep(2)
            status = 200
        else:
            status = 404
        payload = b"hello"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timeout test hangs up on purpose: a broken pipe is expected


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen = []
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_answering_links_pass(server: str) -> None:
    assert check_online([f"{server}/ok", f"{server}/moved"]) == []


def test_head_refused_falls_back_to_get(server: str) -> None:
    assert check_online([f"{server}/no-head"]) == []
    assert ("HEAD", "/no-head") in Handler.seen and ("GET", "/no-head") in Handler.seen


def test_missing_page_is_an_error_with_its_markdown_line(server: str) -> None:
    source = SourceMap("issues/a.md", f"# Hej\n\n[Læs mere]({server}/gone)\n")
    findings = check_online([f"{server}/ok", f"{server}/gone"], source=source)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity == "error" and finding.code == "link-unreachable"
    assert "HTTP 404" in finding.message and finding.file == "issues/a.md" and finding.line == 3


def test_timeout_and_refused_connection_are_errors(server: str) -> None:
    with httpx.Client(timeout=0.5) as client:
        findings = check_online([f"{server}/slow", "http://127.0.0.1:9/closed"], client=client)
    messages = sorted(f.message for f in findings)
    assert len(messages) == 2
    assert "did not answer in time" in messages[0] or "did not answer in time" in messages[1]
    assert any("is on 127.0.0.1, which refused the connection" in m for m in messages)


def _failing_lookups(request: httpx.Request) -> httpx.Response:
    if request.url.host == "127.0.0.1":
        return httpx.Response(200)
    # What getaddrinfo says on a machine without a network (and, online, for a name that does not exist).
    raise httpx.ConnectError("[Errno -2] Name or service not known")


def test_offline_is_told_apart_from_a_broken_link() -> None:
    """Every name failing to look up means this machine is offline: one finding, not one per link."""
    with httpx.Client(transport=httpx.MockTransport(_failing_lookups)) as client:
        offline = check_online(
            ["https://www.ballerup.dk/erhverv", "https://kildedal.dk/", "https://www.pension.dk/"],
            client=client,
        )
        mistyped = check_online(["http://127.0.0.1/ok", "https://www.balerup.dk/"], client=client)
    assert [(f.code, f.severity) for f in offline] == [("links-not-checked", "error")]
    assert "the 3 link(s) could not be checked: this machine seems to be offline" in offline[0].message
    assert "check --online again" in offline[0].message
    assert [f.message for f in mistyped] == [
        "https://www.balerup.dk/ points at www.balerup.dk, a name that could not be looked up — check the "
        "address (or whether this machine is online)"
    ]


def test_links_are_checked_concurrently_and_once(server: str) -> None:
    urls = [f"{server}/slow"] * 3 + [f"{server}/slow?{n}" for n in range(3)]
    started = time.monotonic()
    assert check_online(urls) == []
    assert time.monotonic() - started < 5  # four 2 s requests in parallel, not 8+ s in a row
    assert len([s for s in Handler.seen if s[0] == "HEAD"]) == 4


def test_mailto_and_tel_are_not_fetched() -> None:
    assert check_online(["mailto:jrau@balk.dk", "tel:+4544773000"]) == []
