"""``newsletter serve``: the web service (sign-up, unsubscribe, webhooks, archive) under uvicorn."""

from __future__ import annotations

import logging
import socket

import click

from newsletter.cli import settings_of
from newsletter.errors import ConfigError
from newsletter.tokens import secret_key


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
    """Run the web service: sign-up with double opt-in, unsubscribe, webhooks, archive.

    Needs NEWSLETTER_SECRET_KEY (the key that signs unsubscribe and
    confirmation links). Webhook endpoints are enabled for the providers
    whose webhook secret is set. Put it behind a TLS-terminating proxy that
    forwards to this host and port.

    Example:

        NEWSLETTER_SECRET_KEY=... newsletter serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from newsletter.web import create_app

    secret_key()  # refuse to start without a usable signing key, before binding the port
    settings = settings_of(ctx)
    check_can_listen(host, port)
    app = create_app(settings)
    logging.getLogger("newsletter").setLevel(logging.INFO)
    click.echo(f"Serving {settings.base_url} on http://{host}:{port} (Ctrl-C stops)", err=True)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info", server_header=False)


def register(main: click.Group) -> None:
    """Add this area's commands to the ``newsletter`` group."""
    main.add_command(serve)
