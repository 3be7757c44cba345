"""No stack traces to visitors, security headers everywhere, and the service refuses to start without a key."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.tokens import LinkOwner
from newsletter.web import archive, create_app
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


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/subscribe/erhverv", {"content": b"x" * (65 * 1024)}, 413),
        ("GET", "/webhooks/postmark", {}, 405),
        (
            "POST",
            "/subscribe/erhverv",
            {"content": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=xx"}},
            400,
        ),
        ("GET", "/issues/no-such-issue", {}, 404),
    ],
    ids=["413", "405", "400-bad-multipart", "404"],
)
def test_security_headers_on_refusals_too(
    client: AppClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == status
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "Traceback" not in answer.text


def test_error_while_unsubscribing_is_a_plain_500_with_headers(
    app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from newsletter.tokens import Signer
    from newsletter.web import unsubscribe

    def explode(*_args: object) -> bool:
        raise RuntimeError("disk I/O error in /var/lib/secret.db")

    monkeypatch.setattr(unsubscribe, "_unsubscribe", explode)
    client = AppClient(app, raise_app_exceptions=False)
    try:
        answer = client.post(
            f"/u/{Signer().unsubscribe_token(LinkOwner(1, 'k'), 1)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    finally:
        client.close()
    assert answer.status_code == 500
    assert "secret.db" not in answer.text and "RuntimeError" not in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert "secret.db" in caplog.text


def test_serve_on_a_port_in_use_says_so_in_one_line(settings: Settings) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["--config", str(settings.path), "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use — "
        "stop whatever uses it or choose another --port"
    )


def test_serve_on_an_unknown_host_says_so(settings: Settings) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(settings.path), "serve", "--host", "no-such-host.invalid"]
    )
    assert result.exit_code == 2
    assert "Error: --host no-such-host.invalid: not an address of this machine" in result.output
    assert "Traceback" not in result.output
