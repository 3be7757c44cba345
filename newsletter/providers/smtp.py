"""SMTP: the organisation's own relay (Microsoft 365, Postfix, Exchange), through :mod:`smtplib`.

Each recipient gets their own message — exactly the MIME the outbox writes
(:func:`newsletter.mime.build_message`), so List-Unsubscribe and the merge
values are theirs — in its own SMTP transaction: ``MAIL FROM`` (the sender
address), one ``RCPT TO``, ``DATA``. Connections are opened once and kept
between batches (one per worker when ``concurrency`` > 1) and opened again
when the server has dropped them.

What each failure proves, by RFC 5321:

- Nothing is delivered before the server has read the ``<CRLF>.<CRLF>`` that
  ends ``DATA`` (§4.1.1.4: the transaction completes only then). A refusal,
  disconnect or timeout at any step before that sent nothing: retryable. A
  dropped connection there is reopened and the message tried once more.
- Once the terminator has been written, the message may have been accepted
  even if we never read the reply (§4.1.1.4 and §6.1: a server that has
  accepted must deliver). Such a message is ``UNKNOWN``, never "retry".
- A reply code 4yz is transient (§4.2.1): ``RETRY``. 5yz is permanent:
  ``REJECTED``. Whether to also suppress the address: see :func:`_rcpt_result`.

SMTP has no idempotency keys: the provider is not idempotent.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

from newsletter.errors import ConfigError, ProviderError, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.providers._shared import build_each, check_batch_size
from newsletter.providers.base import Outcome, Provider, RecipientResult
from newsletter.providers.settings import ProviderSettings
from newsletter.providers.smtp_declaration import PASSWORD, SECURITY_CHOICES, SmtpDeclaration, SmtpOptions
from newsletter.secrets import redact

# RCPT TO codes that say the address itself is wrong (RFC 5321 §4.2.2/§4.2.3): 550 "mailbox
# unavailable (e.g. not found)", 551 "user not local", 553 "mailbox name not allowed". 550 is also
# used for policy refusals ("5.7.1 relaying denied", a blocked sender): those are about us, not the
# address, so an enhanced status code (RFC 3463) outside 5.1.x (addressing) does not suppress.
_ADDRESS_CODES = frozenset({550, 551, 553})
# RFC 5321 §4.5.3.1.10: 552 (storage exceeded) on RCPT TO is to be treated as the transient 452.
_RCPT_TRANSIENT_5XX = frozenset({552})
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_EOLS = re.compile(rb"\r\n|\n|\r")
# Failures of a socket or TLS stream; smtplib turns most into SMTPServerDisconnected, not all.
_TRANSPORT_ERRORS = (smtplib.SMTPServerDisconnected, OSError)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int = 587
    security: str = "starttls"
    username: str = ""
    timeout: float = 30.0
    ca_file: Path | None = None  # trusted instead of the system's CAs (an organisation's own CA)


class _Dropped(Exception):
    """The connection failed before the message's end was written: provably not sent."""


def _reply(code: int, text: bytes | str) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return redact(f"{code} {' '.join(shown.split())}"[:300])


def _result_for_code(code: int, text: bytes, step: str) -> RecipientResult:
    reason = f"smtp: {step} answered {_reply(code, text)}"
    if 400 <= code < 500:
        return RecipientResult(Outcome.RETRY, reason=reason)
    return RecipientResult(Outcome.REJECTED, reason=reason)


def _rcpt_result(code: int, text: bytes) -> RecipientResult:
    """RCPT TO refused: 4xx (and 552) retry; 5xx rejected, suppressed when it is about the address."""
    if code in _RCPT_TRANSIENT_5XX:
        return RecipientResult(Outcome.RETRY, reason=f"smtp: RCPT TO answered {_reply(code, text)}")
    result = _result_for_code(code, text, "RCPT TO")
    if result.outcome is Outcome.REJECTED and code in _ADDRESS_CODES:
        enhanced = _ENHANCED.match(text.decode("utf-8", "replace"))
        about_address = enhanced is None or enhanced.group(2) == "1"
        return RecipientResult(Outcome.REJECTED, reason=result.reason, suppress=about_address)
    return result


def _data_bytes(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled (§4.5.2), ending in CRLF.

    Counting and ``bytes.replace`` rather than a regular expression over the whole message:
    the MIME builder already ends every line with CRLF, and a scan per message cost more than
    building it."""
    if not message.count(b"\r") == message.count(b"\n") == message.count(b"\r\n"):
        message = _EOLS.sub(b"\r\n", message)
    body = message.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    return body if body.endswith(b"\r\n") else body + b"\r\n"


class SmtpProvider(SmtpDeclaration, Provider):
    idempotent = False

    @classmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> SmtpProvider:
        options = settings.options
        if not isinstance(options, SmtpOptions):
            raise ConfigError(
                '[provider] smtp_host: is required for SMTP — add smtp_host = "smtp.example.dk"'
            )
        server = SmtpServer(
            options.host, options.port, options.security, options.username, settings.timeout_seconds,
            options.ca_file,
        )  # fmt: skip
        # Without a username the relay takes mail unauthenticated (an on-premises relay by IP).
        password = (
            PASSWORD.require(f"the password of smtp_username {options.username!r}")
            if options.username
            else PASSWORD.value()
        )
        return cls(server, password=password)

    def __init__(self, server: SmtpServer, *, password: str | None = None) -> None:
        super().__init__(client=None, base_url=f"smtp://{server.host}:{server.port}")
        if server.security not in SECURITY_CHOICES:
            raise ValueError(f"smtp: security must be one of {SECURITY_CHOICES}, not {server.security!r}")
        self.server = server
        self._password = password
        self._idle: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the password
        s = self.server
        return (
            f"SmtpProvider(host={s.host!r}, port={s.port}, security={s.security!r}, username={s.username!r})"
        )

    # --- connections -------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.server.ca_file
        try:
            return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ProviderPermanent(
                f"smtp: cannot read [provider] smtp_ca_file {ca_file}: {exc} — point it at a PEM file "
                "with your organisation's CA certificate"
            ) from exc

    def _open(self) -> smtplib.SMTP:
        s = self.server
        where = f"{s.host}:{s.port}"
        connection: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                connection = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._tls_context())
            else:
                connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            # The end of DATA goes in its own small write (see _send_one): without TCP_NODELAY it
            # waits for the server's delayed ACK of the message, 40 ms per message.
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.ehlo()
            if s.security == "starttls":
                if not connection.has_extn("starttls"):
                    raise ProviderPermanent(
                        f"smtp: {where} does not offer STARTTLS — check [provider] smtp_host and smtp_port "
                        '(465 needs smtp_security = "tls")'
                    )
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            if s.username:
                self._login(connection, where)
            return connection
        except ProviderError:
            self._discard(connection)
            raise
        except ssl.SSLCertVerificationError as exc:
            self._discard(connection)
            raise ProviderPermanent(
                f"smtp: the certificate of {where} could not be verified ({exc.verify_message}) — check "
                "[provider] smtp_host, or set smtp_ca_file to your organisation's CA certificate"
            ) from exc
        except smtplib.SMTPConnectError as exc:  # a greeting other than 220, e.g. 421 "too busy"
            self._discard(connection)
            raise ProviderRetryable(
                f"smtp: {where} refused the connection: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, dropped, TLS failed
            self._discard(connection)
            raise ProviderRetryable(
                f"smtp: could not connect to {where}: {redact(str(exc)) or type(exc).__name__}"
            ) from exc

    def _login(self, connection: smtplib.SMTP, where: str) -> None:
        s = self.server
        if not self._password:
            raise ProviderPermanent(
                f"smtp: {PASSWORD.name} is not set — export the password of smtp_username {s.username!r}"
            )
        try:
            connection.login(s.username, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ProviderPermanent(
                f"smtp: {where} refused the login of smtp_username {s.username!r} "
                f"({_reply(exc.smtp_code, exc.smtp_error)}) — check [provider] smtp_username and "
                f"{PASSWORD.name}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ProviderPermanent(
                f"smtp: {where} offers no login (AUTH) on this connection — remove [provider] smtp_username, "
                'or use smtp_security = "starttls" or "tls"'
            ) from exc

    @staticmethod
    def _discard(connection: smtplib.SMTP | None) -> None:
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def _take(self) -> smtplib.SMTP:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _give_back(self, connection: smtplib.SMTP) -> None:
        if connection.sock is None:  # smtplib closes a connection that failed
            return
        with self._lock:
            self._idle.append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.quit()
            self._discard(connection)

    # --- sending -----------------------------------------------------------------------------

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        # Every message is built before the first goes out: one that cannot be built sends nothing.
        planned: list[tuple[bytes, str] | RecipientResult] = [
            item if isinstance(item, RecipientResult) else (_data_bytes(item.data), item.message_id)
            for item in build_each(self, batch)
        ]
        sender = batch.content.from_email
        results: list[RecipientResult] = []
        connection: smtplib.SMTP | None = None
        try:
            for recipient, item in zip(batch.recipients, planned, strict=True):
                if isinstance(item, RecipientResult):
                    results.append(item)
                    continue
                data, message_id = item
                try:
                    for attempt in (1, 2):
                        if connection is None:
                            connection = self._take()
                        try:
                            result = self._send_one(connection, sender, recipient.email, data, message_id)
                            break
                        except _Dropped as exc:
                            # Nothing of this message was accepted: a kept connection the server has
                            # closed meanwhile (or a passing drop) gets one fresh connection.
                            self._discard(connection)
                            connection = None
                            if attempt == 2:
                                raise ProviderRetryable(f"smtp: {exc}") from exc
                except ProviderError as exc:
                    if not any(r.outcome in (Outcome.ACCEPTED, Outcome.UNKNOWN) for r in results):
                        raise  # nothing of the batch (maybe) went out: the engine reads the whole batch
                    # Part of the batch (maybe) went out: record it, and this message and the rest by what
                    # the error proves about them (none of them got as far as the end of DATA).
                    outcome = Outcome.REJECTED if isinstance(exc, ProviderPermanent) else Outcome.RETRY
                    rest = planned[len(results) :]
                    failed = RecipientResult(outcome, reason=str(exc), retry_after=exc.retry_after)
                    return results + [r if isinstance(r, RecipientResult) else failed for r in rest]
                results.append(result)
                if result.outcome is Outcome.UNKNOWN:
                    self._discard(connection)  # the conversation died: never reuse it
                    connection = None
            return results
        finally:
            if connection is not None:
                self._give_back(connection)

    def _send_one(
        self, connection: smtplib.SMTP, sender: str, address: str, data: bytes, message_id: str
    ) -> RecipientResult:
        """One transaction. Raises _Dropped when the connection failed before the end of DATA."""
        options: list[str] = []
        if not (sender.isascii() and address.isascii()):
            if not connection.has_extn("smtputf8"):
                return RecipientResult(
                    Outcome.REJECTED,
                    reason=f"smtp: the relay does not accept non-ASCII addresses (SMTPUTF8) such as {address!r}",
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            code, text = connection.mail(sender, options)
            if code != 250:
                self._reset(connection)
                if code >= 500:
                    raise ProviderPermanent(
                        f"smtp: the relay refused the sender {sender!r} ({_reply(code, text)}) — check that "
                        "[sender] email may send through it (Microsoft 365: the mailbox of smtp_username "
                        "needs Send As for it)"
                    )
                return _result_for_code(code, text, "MAIL FROM")
            code, text = connection.rcpt(address)
            if code not in (250, 251):
                self._reset(connection)
                return _rcpt_result(code, text)
            code, text = connection.docmd("DATA")
            if code != 354:
                self._reset(connection)
                return _result_for_code(code, text, "DATA")
            connection.send(data)
        except _TRANSPORT_ERRORS as exc:
            raise _Dropped(f"connection to {self.base_url} lost before the message was sent ({exc})") from exc
        # From here the server may complete the transaction whatever we read or fail to read.
        try:
            connection.send(b".\r\n")
            code, text = connection.getreply()
        except (*_TRANSPORT_ERRORS, smtplib.SMTPException) as exc:
            return RecipientResult(
                Outcome.UNKNOWN,
                reason=f"smtp: the connection ended after the whole message was sent, before the server "
                f"answered ({type(exc).__name__}) — it may have been delivered",
            )
        if code == 250:
            return RecipientResult(Outcome.ACCEPTED, message_id=message_id)
        return _result_for_code(code, text, "end of DATA")

    @staticmethod
    def _reset(connection: smtplib.SMTP) -> None:
        """RSET after a refused step; a connection that fails here is dropped by smtplib itself."""
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.rset()


PROVIDER = SmtpProvider
