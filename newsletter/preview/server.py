"""Run the preview app with uvicorn on 127.0.0.1: in the foreground (CLI) or a thread (tests, bench)."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from newsletter.errors import NewsletterError

HOST = "127.0.0.1"


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: any free port); one clear error if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise NewsletterError(
                f"port {port} on {HOST} is already in use — pick another with --port"
            ) from None
        raise NewsletterError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from exc
    sock.listen(64)
    return sock


class _Server(uvicorn.Server):
    """Ends the app's SSE streams first on shutdown: uvicorn waits for open responses."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        super().__init__(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stop_streams = getattr(self.app.state, "stop_streams", None)
        if stop_streams is not None:
            await stop_streams()
        await super().shutdown(sockets=sockets)


def _server(app: Starlette) -> uvicorn.Server:
    return _Server(app)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def serve_forever(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C (a normal way to stop: no traceback, exit status 0)."""
    # uvicorn re-raises the signal it caught once it has shut down cleanly.
    with contextlib.suppress(KeyboardInterrupt):
        _server(app).run(sockets=[sock])


@contextmanager
def serve_in_thread(app: Starlette, port: int = 0) -> Iterator[str]:
    """The app served from a background thread; yields its base URL once it answers."""
    sock = bind(port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise NewsletterError("the preview server did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
