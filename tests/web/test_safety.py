"""No stack traces to visitors, security headers everywhere, and the service refuses to start without a key."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.web import archive, create_app
from newsletter.web.security import SlidingWindowLimiter
from tests.web.conftest import AppClient


def test_unexpected_error_shows_plain_500_and_logs_it(
    app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(_context: object) -> list[object]:
        raise RuntimeError("database password is hunter2 at /srv/secret/path.py")

    monkeypatch.setattr(archive, "archived_issues", explode)
    client = AppClient(app, raise_app_exceptions=False)
    try:
        page = client.get("/")
    finally:
        client.close()
    assert page.status_code == 500
    assert "Noget gik galt" in page.text
    assert "hunter2" not in page.text and "Traceback" not in page.text and "RuntimeError" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "hunter2" in caplog.text  # the operator still sees what happened


@pytest.mark.parametrize("path", ["/", "/subscribe/erhverv", "/u/bad", "/feed.xml", "/nowhere"])
def test_security_headers_on_every_page(client: AppClient, path: str) -> None:
    headers = client.get(path).headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "img-src 'self' https:" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_lying_content_length_is_refused(client: AppClient) -> None:
    answer = client.post("/subscribe/erhverv", headers={"content-length": "999999999"}, content=b"")
    assert answer.status_code == 413


def test_app_refuses_to_start_without_secret_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY is not set"):
        create_app(settings)


def test_serve_refuses_to_start_without_secret_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    result = CliRunner().invoke(main, ["--config", str(settings.path), "serve", "--port", "8765"])
    assert result.exit_code == 2
    assert "Error: NEWSLETTER_SECRET_KEY is not set — export" in result.output
    assert "Traceback" not in result.output


def test_serve_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "newsletter serve" in result.output


def test_sliding_window_forgets_old_hits() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(2, 60, clock=lambda: now[0])
    assert limiter.hit("k") and limiter.hit("k")
    assert not limiter.hit("k")
    now[0] += 61
    assert limiter.hit("k")
    assert limiter.hit("other")
