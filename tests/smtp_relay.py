"""A real SMTP server on 127.0.0.1 (aiosmtpd) standing in for the organisation's relay, with faults.

It records every message it accepted (the raw bytes as received), counts the
connections made to it, and can refuse an address at RCPT TO with any reply,
or read a message to its end and then drop the connection without answering.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        item = Received(str(envelope.mail_from), list(envelope.rcpt_tos), data)
        if set(envelope.rcpt_tos) & self.drop_after_data:
            with self.lock:
                self.dropped.append(item)
            assert server.transport is not None
            server.transport.abort()  # type: ignore[attr-defined]  # the message is here, no answer leaves
            return "250 OK (never written: the connection is gone)"
        with self.lock:
            self.received.append(item)
        return "250 2.0.0 Ok: queued"

    def count_by_address(self) -> Counter[str]:
        return Counter(address for item in self.received for address in item.recipients)


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
