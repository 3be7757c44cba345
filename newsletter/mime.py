"""A complete MIME message (multipart/alternative: text, then HTML) for one recipient, as bytes.

Used by ``newsletter build`` (message.eml for the sample recipient), the outbox and SMTP, so
that what the outbox holds is exactly what a mail client would receive.

What is the same for every recipient of an issue is made once and kept (:func:`_skeleton`):
the From, Reply-To and Subject headers, and each part's text between its merge placeholders,
already quoted-printable encoded. Per recipient only the merge values and the recipient's own
headers are encoded and the pieces joined, so a message costs about as much for a 100 KB issue
as for a 4 KB one. Quoted-printable lets a soft line break (``=`` at the end of a line) stand
anywhere: where the next piece would make a line longer than RFC 2045's 76 characters, one goes
between them. Each part decodes to the merged text with its line breaks made CRLF and a final
one added — what a mail client shows.

Headers are folded by the standard library's ``email`` policy: non-ASCII text as RFC 2047
encoded-words, lines up to RFC 5322's 998 characters — never folded just for length, so a
List-Unsubscribe URL stays a plain ``<https://…>`` for Gmail and Yahoo to find. A recipient's
name and the plain ASCII values most headers hold are written directly, as the policy would
write them (the tests compare the two).

Every header value is checked here once more, whatever validated it before: a control
character or line separator raises :class:`~newsletter.safe_text.UnsafeText` instead of
reaching a mail client (where ``\\r\\nBcc:`` would add a recipient).
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address, HeaderRegistry
from functools import lru_cache

from newsletter.message import Content, Recipient
from newsletter.personalize import compile_content, escape_value_html
from newsletter.safe_text import check_header_text

_POLICY = email.policy.SMTP.clone(max_line_length=998)
_MAX_HEADER_LINE = 998  # RFC 5322
_CRLF = "\r\n"
# RFC 2045: an encoded line holds at most 76 characters, the "=" of a soft line break included.
_LINE_ROOM = 75
_SOFT_BREAK = "=" + _CRLF
_CRLF_BYTES, _SOFT_BREAK_BYTES = _CRLF.encode("ascii"), _SOFT_BREAK.encode("ascii")
# Quoted-printable: printable ASCII but "=", space and tab stay; every other byte becomes =XX
# (the text is turned into one character per byte first, so that table covers every byte).
_QP_TABLE = {
    byte: f"={byte:02X}" for byte in range(256) if not (32 <= byte <= 126 and byte != 61) and byte != 9
}
_WHITESPACE = (" ", "\t")
# Headers the builder writes itself; a recipient's headers may not add a second one.
_OWN_HEADERS = frozenset(
    {"from", "to", "reply-to", "subject", "date", "message-id", "mime-version", "content-type"}
)
# Headers the policy's (default) registry parses as addresses, dates, ids…: always folded by it.
_STRUCTURED = frozenset(HeaderRegistry().registry)
# A header value the policy writes unchanged: printable ASCII words, single spaces, nothing that
# reads as an RFC 2047 encoded-word.
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# RFC 5322 atext without "=" and "?" (no encoded-word look-alikes): a display name of such words
# needs neither quotes nor encoding; the same for an address's local part, and a plain domain.
_ATOM = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+"
_PLAIN_NAME = re.compile(rf"{_ATOM}(?: {_ATOM})*")
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
# RFC 2047: an encoded-word is at most 75 characters; "=?utf-8?b?" and "?=" leave 63 for base64,
# which 45 bytes fill (60 characters). Most names are shorter.
_ENCODED_WORD_BYTES = 45


@dataclass(frozen=True)
class MimeMessage:
    """One recipient's complete message: RFC 5322 bytes with CRLF line ends, and its Message-ID."""

    data: bytes
    message_id: str


def build_message(content: Content, recipient: Recipient) -> MimeMessage:
    """The message ``recipient`` would receive, both parts merged and all headers set."""
    skeleton = _skeleton(content)
    check_header_text(recipient.email, "To address")
    check_header_text(recipient.name or "", "To name")
    message_id = email.utils.make_msgid(domain=skeleton.message_id_domain)
    lines = [
        skeleton.from_line,
        _to_line(recipient.email, recipient.name),
        skeleton.reply_to_and_subject,
        _folded("Date", email.utils.formatdate(localtime=False)),
        _message_id_line(message_id, skeleton.message_id_domain),
    ]
    for name, value in recipient.headers.items():
        check_header_text(name, "a header name")
        check_header_text(value, name)
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"a recipient's headers cannot set {name}: the message builder writes it")
        lines.append(_header_line(name, value))
    # The body is ASCII bytes from here on, joined once: a 40 KB part is copied once per message.
    out = ["".join(lines).encode("utf-8"), skeleton.text_head]
    skeleton.text.encode_into(out, recipient.values)
    out.append(skeleton.html_head)
    skeleton.html.encode_into(out, recipient.values)
    out.append(skeleton.end)
    return MimeMessage(b"".join(out), message_id)


# -- what every recipient of an issue shares ------------------------------------------------------


@dataclass(frozen=True)
class _Skeleton:
    from_line: str
    reply_to_and_subject: str
    message_id_domain: str
    text_head: bytes  # MIME-Version, the multipart Content-Type, and the text part's headers
    text: _Part
    html_head: bytes
    html: _Part
    end: bytes


@lru_cache(maxsize=16)
def _skeleton(content: Content) -> _Skeleton:
    from_line = _address_line("From", content.from_email, content.from_name)
    reply_to = (
        _folded("Reply-To", check_header_text(content.reply_to, "Reply-To")) if content.reply_to else ""
    )
    subject = _folded("Subject", check_header_text(content.subject, "Subject"))
    # "==" never occurs in quoted-printable text (an "=" is followed by two hex digits or a line
    # break), so no line of either part can be taken for this boundary.
    boundary = f"==============={random.randrange(10**18, 10**19)}=="
    part_headers = (
        'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    )
    return _Skeleton(
        from_line=from_line,
        reply_to_and_subject=reply_to + subject,
        message_id_domain=content.from_email.rpartition("@")[2],
        text_head=(
            f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n{part_headers.format('plain')}"
        ).encode("ascii"),
        text=_Part.of(content.text, escape=None),
        html_head=f"\r\n--{boundary}\r\n{part_headers.format('html')}".encode("ascii"),
        html=_Part.of(content.html, escape=escape_value_html),
        end=f"\r\n--{boundary}--\r\n".encode("ascii"),
    )


def _address(email_address: str, name: str | None, what: str) -> Address:
    check_header_text(email_address, f"{what} address")
    check_header_text(name or "", f"{what} name")
    local, _, domain = email_address.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


# -- quoted-printable -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """Text encoded as quoted-printable lines (CRLF, each at most 75 characters before its soft break)."""

    text: bytes
    first: int  # characters on its first line
    last: int  # characters on its last line: 0 after a final line break
    one_line: bool
    # Its text ends in a space or tab, left as is: fine before more text or a soft break, but
    # a line must not end in one (mail servers strip it).
    open_space: bool


_EMPTY = _Piece(b"", 0, 0, True, False)


def _encode(text: str) -> _Piece:
    """``text`` (line breaks ``\\n``) as quoted-printable; whitespace that ends a line is encoded."""
    if not text:
        return _EMPTY
    lines = text.encode("utf-8").decode("latin-1").split("\n")
    chunks_of_lines = []
    for number, line in enumerate(lines):
        encoded = line.translate(_QP_TABLE)
        if encoded.endswith(_WHITESPACE) and number < len(lines) - 1:
            encoded = encoded[:-1] + f"={ord(encoded[-1]):02X}"
        chunks_of_lines.append(_wrap(encoded))
    return _Piece(
        text=_CRLF.join(_SOFT_BREAK.join(chunks) for chunks in chunks_of_lines).encode("ascii"),
        first=len(chunks_of_lines[0][0]),
        last=len(chunks_of_lines[-1][-1]),
        one_line=len(chunks_of_lines) == 1 and len(chunks_of_lines[0]) == 1,
        open_space=lines[-1].endswith(_WHITESPACE),
    )


def _wrap(encoded: str) -> list[str]:
    """One encoded line cut into chunks of at most 75 characters, never inside an ``=XX``."""
    chunks = []
    start = 0
    while len(encoded) - start > _LINE_ROOM:
        stop = start + _LINE_ROOM
        if encoded[stop - 1] == "=":
            stop -= 1
        elif encoded[stop - 2] == "=":
            stop -= 2
        chunks.append(encoded[start:stop])
        start = stop
    chunks.append(encoded[start:])
    return chunks


def _join_into(out: list[bytes], pieces: Iterable[_Piece]) -> None:
    """The pieces as one part body: soft breaks where a line would grow too long, a final CRLF."""
    column = 0
    open_space = False
    empty = True
    for piece in pieces:
        if not piece.text:
            continue
        if column + piece.first > _LINE_ROOM or (open_space and piece.text.startswith(_CRLF_BYTES)):
            out.append(_SOFT_BREAK_BYTES)
            column = 0
        out.append(piece.text)
        column = column + piece.first if piece.one_line else piece.last
        open_space = piece.open_space
        empty = False
    if open_space:  # the text ends in a space: a soft break keeps it off the end of the line
        out.append(_SOFT_BREAK_BYTES)
    if column or open_space or empty:
        out.append(_CRLF_BYTES)


def _normal_line_breaks(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class _Part:
    """One part's content: its literal text encoded once, the names of the values between."""

    source: str
    literals: tuple[_Piece, ...]
    names: tuple[str, ...]
    escape: Callable[[str], str] | None
    # A CR in the content could pair with a LF across a value: merge whole texts instead.
    whole: bool

    @classmethod
    def of(cls, source: str, escape: Callable[[str], str] | None) -> _Part:
        compiled = compile_content(source)
        return cls(
            source=source,
            literals=tuple(_encode(literal) for literal in compiled.parts),
            names=compiled.names,
            escape=escape,
            whole="\r" in source,
        )

    def encode_into(self, out: list[bytes], values: Mapping[str, str]) -> None:
        """Append the part's body for one recipient's ``values`` to ``out``."""
        shown = {}
        for name in self.names:
            value = values.get(name, "")
            shown[name] = self.escape(value) if self.escape else value
        if self.whole or any("\r" in value for value in shown.values()):
            merged = compile_content(self.source).render(values, self.escape)
            _join_into(out, [_encode(_normal_line_breaks(merged))])
            return
        pieces = {name: _encode(value) for name, value in shown.items()}
        _join_into(out, self._in_order(pieces))

    def _in_order(self, pieces: Mapping[str, _Piece]) -> Iterable[_Piece]:
        yield self.literals[0]
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            yield pieces[name]
            yield literal


# -- headers --------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> str:
    """The header line(s) as the policy writes them (the same few values recur: kept)."""
    return _POLICY.fold(*_POLICY.header_store_parse(name, value))


def _address_line(header: str, address: str, name: str | None) -> str:
    return _POLICY.fold(*_POLICY.header_store_parse(header, _address(address, name, header)))


def _header_line(name: str, value: str) -> str:
    if name.lower() not in _STRUCTURED and _HEADER_NAME.fullmatch(name) and _PLAIN_VALUE.fullmatch(value):
        line = f"{name}: {value}\r\n"
        if len(line) - 2 <= _MAX_HEADER_LINE and "=?" not in value:
            return line
    return _folded(name, value)


def _to_line(address: str, name: str | None) -> str:
    """``To:`` written directly for a plain address with a name of plain words or a short name
    beyond ASCII (one encoded-word), else by the policy."""
    if _PLAIN_ADDRESS.fullmatch(address):
        phrase: str | None = None
        if not name:
            phrase = ""
        elif _PLAIN_NAME.fullmatch(name):
            phrase = name
        elif _one_encoded_word(name):
            phrase = f"=?utf-8?b?{base64.b64encode(name.encode('utf-8')).decode('ascii')}?="
        if phrase is not None:
            line = f"To: {phrase} <{address}>\r\n" if phrase else f"To: {address}\r\n"
            if len(line) - 2 <= _MAX_HEADER_LINE:
                return line
    return _address_line("To", address, name)


def _one_encoded_word(name: str) -> bool:
    """A name beyond ASCII that one RFC 2047 encoded-word carries (most do). Several words would
    need the space between them read as nothing, which not every reader does: the policy
    writes those."""
    return (
        not name.isascii()
        and name.isprintable()
        and " ".join(name.split()) == name
        and len(name.encode("utf-8")) <= _ENCODED_WORD_BYTES
    )


def _message_id_line(message_id: str, domain: str) -> str:
    if _PLAIN_DOMAIN.fullmatch(domain):
        return f"Message-ID: {message_id}\r\n"
    return _POLICY.fold(*_POLICY.header_store_parse("Message-ID", message_id))
