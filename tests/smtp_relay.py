"""A real SMTP server on 127.0.0.1 (aiosmtpd) standing in for the organisation's relay, with faults.

It records every message it accepted (the raw bytes as received) and counts
them per address, counts the connections made to it, and can refuse an address
at RCPT TO with any reply, or read a message to its end and then drop the
connection without answering.

Faults can also be queued, as the provider emulator's are (``inject(name,
times=1, every=1, **params)``): each is taken by the next ``times`` SMTP
transactions (only every N-th one with ``every=N``; the others go on to the
next fault in line), chosen at RCPT TO:

==============  ===============================================================
``slow``        accept and record the message, then wait ``seconds`` (default 2)
                before answering the end of DATA
``drop_after``  accept and record the message, then drop the connection without
                answering: the client cannot know it was delivered
``transient``   answer RCPT TO with ``reply`` (default ``451 4.3.0 …``); nothing accepted
``closing``     answer RCPT TO ``421 4.3.2 …`` and close the connection (a relay
                shutting down or shedding load); nothing accepted
==============  ===============================================================

As a process (kill-and-resume tests, benchmarks): ``python -m tests.smtp_relay``
prints ``127.0.0.1:PORT`` and takes one JSON command a line on its stdin;
:func:`running_relay` starts it and hands back a :class:`RemoteRelay`. It keeps
only the counts per address, not the messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import email
import email.policy
import ipaddress
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.emulator.state import Fault, take_fault

REPO = Path(__file__).resolve().parent.parent
RELAY_FAULTS = ("slow", "drop_after", "transient", "closing")
TRANSIENT_REPLY = "451 4.3.0 Temporary server error, try again later"
CLOSING_REPLY = "421 4.3.2 Service not available, closing transmission channel"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RelayHandler:
    received: list[Received] = field(default_factory=list)
    # address → the reply to its RCPT TO, e.g. "550 5.1.1 User unknown"
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    # addresses whose message is read to its end, then the connection is dropped unanswered
    drop_after_data: set[str] = field(default_factory=set)
    dropped: list[Received] = field(default_factory=list)
    # False: count the messages accepted per address, keep none of them (a relay under load)
    keep_messages: bool = True
    accepted_by_address: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The queued fault each session's transaction took at RCPT TO, acted on at the end of DATA.
    _pending: dict[int, Fault | None] = field(default_factory=dict)

    def inject(self, fault: str, times: int = 1, **params: Any) -> None:
        if fault not in RELAY_FAULTS:
            raise ValueError(f"unknown relay fault {fault!r}; known: {', '.join(RELAY_FAULTS)}")
        with self.lock:
            self.faults.append(Fault(fault, None, max(1, times), dict(params)))

    def faults_left(self) -> list[str]:
        with self.lock:
            return [fault.name for fault in self.faults]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        with self.lock:
            fault = take_fault(self.faults, "smtp")
        if fault is not None and fault.name == "transient":
            return str(fault.params.get("reply", TRANSIENT_REPLY))
        if fault is not None and fault.name == "closing":
            assert server.transport is not None
            # Closed once the reply has been written (the transport flushes it first).
            asyncio.get_running_loop().call_soon(server.transport.close)
            return CLOSING_REPLY
        self._pending[id(session)] = fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        item = Received(str(envelope.mail_from), list(envelope.rcpt_tos), data)
        fault = self._pending.pop(id(session), None)
        if set(envelope.rcpt_tos) & self.drop_after_data:
            with self.lock:
                self.dropped.append(item)
            return self._drop(server)
        with self.lock:
            self.accepted_by_address.update(item.recipients)
            if self.keep_messages:
                self.received.append(item)
        if fault is not None and fault.name == "drop_after":
            return self._drop(server)
        if fault is not None and fault.name == "slow":
            await asyncio.sleep(float(fault.params.get("seconds", 2.0)))
        return "250 2.0.0 Ok: queued"

    @staticmethod
    def _drop(server: SMTP) -> str:
        assert server.transport is not None
        server.transport.abort()  # type: ignore[attr-defined]  # the message is here, no answer leaves
        return "250 OK (never written: the connection is gone)"

    def count_by_address(self) -> Counter[str]:
        with self.lock:
            return Counter(self.accepted_by_address)


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username.encode(), password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword) and data.login == self.username and data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Relay:
    """``with Relay() as relay``: relay.port, relay.handler.received, relay.connections."""

    def __init__(
        self,
        *,
        port: int | None = None,
        handler: RelayHandler | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.handler = handler or RelayHandler()
        self.connections = 0
        self._tls = tls
        self._implicit = implicit_tls
        self._auth = auth
        self._controller: Controller | None = None

    def start(self) -> Relay:
        relay = self
        kwargs: dict[str, Any] = {}
        if self._tls is not None and not self._implicit:
            kwargs.update(tls_context=self._tls, require_starttls=True)
        if self._auth is not None:
            kwargs.update(authenticator=_Authenticator(*self._auth), auth_required=True)

        class Counting(Controller):
            def factory(self) -> SMTP:
                relay.connections += 1
                return super().factory()

        self._controller = Counting(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=self._tls if self._implicit else None,
            server_hostname="localhost" if self._implicit else None,
            **kwargs,
        )
        self._controller.start()
        self.connections = 0  # the controller's own start-up probe is not a client
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate for localhost/127.0.0.1, and its PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test relay CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "relay-ca.pem"
    key_file = folder / "relay-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


# -- as a process -------------------------------------------------------------
def _answer(handler: RelayHandler, command: dict[str, Any]) -> dict[str, Any]:
    """One command of the control protocol on stdin: inject, counts or faults."""
    if "inject" in command:
        fault = command["inject"]
        handler.inject(fault["fault"], int(fault.get("times", 1)), **fault.get("params", {}))
        return {"ok": True}
    if "counts" in command:
        return {"counts": dict(handler.count_by_address())}
    if "faults" in command:
        return {"faults": handler.faults_left()}
    raise ValueError(f"unknown command {command!r}: use inject, counts or faults")


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.smtp_relay",
        description="Serve the SMTP relay on 127.0.0.1 until stdin closes; prints 127.0.0.1:PORT. "
        'Commands on stdin, one JSON object a line: {"inject": {"fault": …, "times": …, "params": {…}}}, '
        '{"counts": {}}, {"faults": {}}; each is answered with one JSON line.',
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    # Clients killed mid-conversation are this relay's daily bread, not news for the log.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    handler = RelayHandler(keep_messages=False)
    relay = Relay(port=args.port or None, handler=handler).start()
    print(f"127.0.0.1:{relay.port}", flush=True)
    try:
        for line in sys.stdin:
            try:
                answer = _answer(handler, json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"error": str(exc)}
            print(json.dumps(answer), flush=True)
    finally:
        relay.stop()


class RemoteRelay:
    """The relay running as its own process, driven through its stdin and stdout."""

    def __init__(self, address: str, commands: IO[str], answers: IO[str]) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self._commands, self._answers = commands, answers

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self._commands.write(json.dumps(command) + "\n")
        self._commands.flush()
        answer: dict[str, Any] = json.loads(self._answers.readline())
        if "error" in answer:
            raise ValueError(f"relay: {answer['error']}")
        return answer

    def inject(self, fault: str, times: int = 1, **params: Any) -> None:
        self._ask({"inject": {"fault": fault, "times": times, "params": params}})

    def count_by_address(self) -> Counter[str]:
        return Counter(self._ask({"counts": {}})["counts"])

    def faults_left(self) -> list[str]:
        return list(self._ask({"faults": {}})["faults"])


@contextlib.contextmanager
def running_relay() -> Iterator[RemoteRelay]:
    """The relay as its own process (as the organisation's would be: it survives the client's kills)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.smtp_relay"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        address = process.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), f"the relay did not start: {address!r}"
        yield RemoteRelay(address, process.stdin, process.stdout)
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
