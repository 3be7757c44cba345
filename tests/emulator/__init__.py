"""A local stand-in for the providers' send APIs, on a real socket on 127.0.0.1.

It speaks Postmark ``POST /email/batch``, SendGrid ``POST /v3/mail/send``,
Mailgun ``POST /v3/{domain}/messages``, Resend ``POST /emails/batch``,
Brevo ``POST /v3/smtp/email`` (one message a request, ``idempotencyKey`` refused when repeated)
and Amazon SES ``POST /v2/email/outbound-emails`` (one message a request, the SigV4
signature recomputed with botocore, the body checked against SES's API model:
:mod:`tests.emulator.aws`) closely enough to catch an adapter's mistakes — auth
headers, batch limits, required fields, per-message errors, idempotency keys —
records what it accepted, and injects faults on demand.

Keys (``keys=`` / ``--key PROVIDER=KEY``) make it refuse any other key; SES's is
``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` (``--key ses=AKIA…:secret``). Without one, any
key is taken (SES: any well-formed signature scoped to ``ses``).

In a test::

    with Emulator() as emulator:
        settings_base_url = emulator.url
        emulator.inject("rate_limit", provider="postmark", retry_after=2)
        ...
        assert emulator.count_by_address()["a@example.com"] == 1

As a process (for kill-and-resume tests and benchmarks)::

    python -m tests.emulator --port 8025          # prints http://127.0.0.1:8025
    curl http://127.0.0.1:8025/_emulator/accepted  # [[provider, email, id, key], ...]

and :class:`RemoteEmulator` gives the same small API over HTTP
(``with running_emulator(keys=...) as emulator`` starts one and stops it).

Faults (``inject(name, provider=None, times=1, **params)``), each used by the
next ``times`` matching send requests:

=====================  ===========================================================
``rate_limit``         429 with ``Retry-After: retry_after`` (default 1); nothing accepted
``server_error``       ``status`` (default 500; 503 too); nothing accepted
``slow``               accept and record, then wait ``seconds`` (default 2) before answering
``drop_before``        close the connection before reading the body; nothing accepted
``drop_after``         accept and record, then close the connection without answering
``message_error``      Postmark: ``code`` (default 406) and ``message`` for ``address``
                       (or every message) inside a 200 answer; SES: a 400 ``code``
                       (default ``MessageRejected``, the sandbox's "not verified" naming
                       the recipient) for ``address`` (or the next message)
``idempotency_conflict`` Resend: 409 ``invalid_idempotent_request``; nothing accepted
``processed_then_error`` accept and record, then answer ``status`` (default 502) as a
                       gateway would: the batch went out, the answer says error
``unreadable_ok``      accept and record, then answer 200 with a body the adapter cannot
                       read; ``shape``: ``ok_strings`` (Postmark ``["OK", …]``),
                       ``not_json``, ``truncated``, ``wrong_length``, ``missing_ids``
``search_error``       a log search (not a send) answers ``status`` (default 500; 429 with
                       ``retry_after``; 403 as SendGrid without its Email Activity add-on)
``huge_retry_after``   429 with ``Retry-After: 99999999999999`` (``retry_after``) and
                       ``X-RateLimit-Reset`` in epoch milliseconds (``reset_ms``); nothing accepted
=====================  ===========================================================

Log searches (:mod:`tests.emulator.search`): Postmark ``GET /messages/outbound``,
Mailgun ``GET /v3/{domain}/events``, SendGrid ``GET /v3/messages`` find what was
accepted by recipient and correlation ids, ``set_log_delay(seconds)`` after it was
accepted (``POST /_emulator/log {"delay": s}``, ``--log-delay``).

Any fault takes ``every=N``: only every N-th matching request gets it (the
others go on to the next fault in line), so rare faults mix with a steady one.

Persistent behaviour: addresses in ``inactive_addresses`` get Postmark's 406;
addresses in ``invalid_addresses`` (and any that fail a simple syntax check)
are refused the way each provider refuses bad addresses (Postmark 300 per
message, SendGrid 400 naming the field, Mailgun 400 for the whole request
without naming the address, Resend 422 for the whole batch, SES 400
``BadRequestException`` "Illegal address"). SES takes inactive addresses: the
real one accepts them and reports a bounce later.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.emulator.server import Server
from tests.emulator.state import (
    FAULTS,
    PROVIDERS,
    RECORD_MODES,
    Accepted,
    RecordedRequest,
    State,
    inject_fault,
)

__all__ = [
    "FAULTS",
    "PROVIDERS",
    "Accepted",
    "Emulator",
    "RecordedRequest",
    "RemoteEmulator",
    "main",
    "running_emulator",
]
REPO = Path(__file__).resolve().parents[2]


# -- the public API -----------------------------------------------------------
class Emulator:
    """The emulator in a background thread of this process; a context manager."""

    def __init__(self, *, keys: dict[str, str] | None = None, record: str = "all", port: int = 0) -> None:
        self._state = State(keys, record)
        self._server = Server(("127.0.0.1", port), self._state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._state.lock:
            connections = list(self._state.connections)
        for connection in connections:  # end keep-alive connections too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what it saw
    @property
    def accepted(self) -> list[Accepted]:
        with self._state.lock:
            return list(self._state.accepted)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def count_by_address(self) -> Counter[str]:
        return Counter(a.email.lower() for a in self.accepted)

    def accepted_count(self, provider: str | None = None) -> int:
        with self._state.lock:
            counts = self._state.counts
            return counts[provider] if provider else sum(counts.values())

    # how it behaves
    @property
    def inactive_addresses(self) -> set[str]:
        return self._state.inactive_addresses

    @property
    def invalid_addresses(self) -> set[str]:
        return self._state.invalid_addresses

    def mark_inactive(self, *addresses: str) -> None:
        self._state.inactive_addresses.update(a.lower() for a in addresses)

    def mark_invalid(self, *addresses: str) -> None:
        self._state.invalid_addresses.update(a.lower() for a in addresses)

    def inject(self, fault: str, provider: str | None = None, times: int = 1, **params: Any) -> None:
        inject_fault(self._state, fault, provider, times, params)

    def set_log_delay(self, seconds: float) -> None:
        """Accepted messages show in the log searches only ``seconds`` after they were accepted."""
        self._state.log_delay = seconds

    def reset(self) -> None:
        """Forget accepted messages, requests, faults and idempotency keys."""
        self._state.reset()


class RemoteEmulator:
    """The same small API for an emulator running as another process."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=10)

    @property
    def accepted(self) -> list[Accepted]:
        rows = self._http.get("/_emulator/accepted").raise_for_status().json()
        return [Accepted(*row) for row in rows]

    def count_by_address(self) -> Counter[str]:
        return Counter(a.email.lower() for a in self.accepted)

    def accepted_count(self, provider: str | None = None) -> int:
        counts = self._http.get("/_emulator/counts").raise_for_status().json()["by_provider"]
        return int(counts.get(provider, 0)) if provider else int(sum(counts.values()))

    def faults_left(self) -> list[str]:
        """Names of the injected faults not used up yet."""
        return [f["fault"] for f in self._http.get("/_emulator/faults").raise_for_status().json()]

    def inject(self, fault: str, provider: str | None = None, times: int = 1, **params: Any) -> None:
        payload = {"fault": fault, "provider": provider, "times": times, "params": params}
        self._http.post("/_emulator/faults", json=payload).raise_for_status()

    def mark_inactive(self, *addresses: str) -> None:
        self._http.post("/_emulator/addresses", json={"inactive": list(addresses)}).raise_for_status()

    def mark_invalid(self, *addresses: str) -> None:
        self._http.post("/_emulator/addresses", json={"invalid": list(addresses)}).raise_for_status()

    def set_log_delay(self, seconds: float) -> None:
        self._http.post("/_emulator/log", json={"delay": seconds}).raise_for_status()

    def reset(self) -> None:
        self._http.post("/_emulator/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def running_emulator(
    *, keys: dict[str, str] | None = None, record: str = "accepted"
) -> Iterator[RemoteEmulator]:
    """The emulator as its own process (as a provider would be: it shares no GIL and survives kills)."""
    options = [f"--key={provider}={key}" for provider, key in (keys or {}).items()]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--record", record, *options],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"the emulator did not start: {url!r}"
        remote = RemoteEmulator(url)
        try:
            yield remote
        finally:
            remote.close()
    finally:
        process.kill()
        process.wait()


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator",
        description="Serve the provider emulator on 127.0.0.1 until interrupted; prints its URL.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--record", choices=RECORD_MODES, default="accepted")
    parser.add_argument(
        "--key", action="append", default=[], metavar="PROVIDER=KEY", help="require this API key"
    )
    parser.add_argument(
        "--log-delay", type=float, default=0.0, metavar="SECONDS", help="lag of the log searches"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    keys = dict(item.split("=", 1) for item in args.key)
    emulator = Emulator(keys=keys, record=args.record, port=args.port)
    emulator.set_log_delay(args.log_delay)
    print(emulator.url, flush=True)
    try:
        emulator._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator._server.server_close()


if __name__ == "__main__":
    main()
