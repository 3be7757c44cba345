"""``newsletter serve``: the web service (sign-up, unsubscribe, webhooks, archive, workspace) under uvicorn.

The workspace (/admin) is served beside the public pages, or — when
``[admin] port`` is set — by a second listener of its own on ``[admin] bind``
in the same process, so it can sit on an intranet interface only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import click
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from newsletter.cli.context import settings_of
from newsletter.errors import ConfigError
from newsletter.tokens import secret_key
from newsletter.web import create_app
from newsletter.web.app import WORKSPACE
from newsletter.web.security import SECURITY_HEADERS


def with_secure_errors(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's HTTP protocol) whose own "400 Bad Request" carries the security headers.

    Uvicorn answers a request it cannot parse (bad method, negative
    Content-Length, malformed request line, oversized headers) itself, before
    the application and its middleware ever see it; without this, that answer
    is the one page of the service with no CSP, nosniff or frame denial.
    """

    class SecureErrorProtocol(base):  # type: ignore[valid-type,misc]
        def send_400_response(self, msg: str) -> None:
            body = msg.encode("ascii", "replace")
            head = [
                b"HTTP/1.1 400 Bad Request",
                b"content-type: text/plain; charset=utf-8",
                b"content-length: " + str(len(body)).encode(),
                b"cache-control: no-store",
                b"connection: close",
                *(name + b": " + value for name, value in SECURITY_HEADERS),
            ]
            self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            self.transport.close()

    SecureErrorProtocol.__name__ = SecureErrorProtocol.__qualname__ = f"Secure{base.__name__}"
    return SecureErrorProtocol


def check_can_listen(host: str, port: int) -> None:
    """Raise ConfigError, as one line, when ``host:port`` cannot be listened on (in use, no such address)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"--host {host}: not an address of this machine ({exc.strerror}) — use e.g. 127.0.0.1"
        ) from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror} — stop whatever uses it or choose another --port"
            ) from exc


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log every request (URLs hold personal tokens: off by default).",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, access_log: bool) -> None:
    """Run the web service: sign-up with double opt-in, unsubscribe, webhooks, archive, workspace.

    The workspace is at /admin ([admin] enabled = false turns it off); with
    [admin] port it listens on [admin] bind and that port instead, e.g. an
    intranet address only. Needs NEWSLETTER_SECRET_KEY (the key that signs unsubscribe and
    confirmation links). Webhook endpoints are enabled for the providers
    whose webhook secret is set. Put it behind a TLS-terminating proxy that
    forwards to this host and port, and name that proxy in newsletter.toml
    ([serve] trusted_proxies = ["127.0.0.1"]) so visitors' own addresses are
    seen; X-Forwarded-For from anyone else is ignored.

    Example:

        NEWSLETTER_SECRET_KEY=... newsletter serve --host 127.0.0.1 --port 8000
    """
    secret_key()  # refuse to start without a usable signing key, before binding the port
    settings = settings_of(ctx)
    check_can_listen(host, port)
    admin = settings.admin
    apart = admin.enabled and admin.port is not None
    if apart:
        check_can_listen(admin.bind, admin.port or 0)
    app = create_app(settings)
    logging.getLogger("newsletter").setLevel(logging.INFO)
    click.echo(f"Serving {settings.base_url} on http://{host}:{port} (Ctrl-C stops)", err=True)
    public = uvicorn.Server(_config(app, host, port, access_log))
    if not apart:
        if admin.enabled:
            click.echo(f"Workspace: {settings.url('admin/')}", err=True)
        public.run()
        return
    workspace_app = create_app(settings, parts=(WORKSPACE,))
    click.echo(f"Workspace on http://{admin.bind}:{admin.port}/admin/ ([admin] bind and port)", err=True)
    workspace = _Companion(_config(workspace_app, admin.bind, admin.port or 0, access_log))
    asyncio.run(_serve_both(public, workspace))


def _config(app: Starlette, host: str, port: int, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        server_header=False,
        # Forwarded headers are the application's business ([serve] trusted_proxies, see
        # newsletter.web.app): uvicorn would otherwise believe them from 127.0.0.1 by default,
        # or from whatever FORWARDED_ALLOW_IPS says.
        proxy_headers=False,
        http=with_secure_errors(AutoHTTPProtocol),
    )


class _Companion(uvicorn.Server):
    """The workspace's own listener, in the same process: the public one takes Ctrl-C and stops both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_both(public: uvicorn.Server, workspace: uvicorn.Server) -> None:
    companion = asyncio.create_task(workspace.serve())
    try:
        await public.serve()
    finally:
        workspace.should_exit = True
        await companion
