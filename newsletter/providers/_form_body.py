"""``application/x-www-form-urlencoded`` bodies, byte for byte what :func:`urllib.parse.urlencode` writes.

Mailgun takes a batch of 1,000 readers as one form whose ``recipient-variables`` field is
a JSON document of about a megabyte. ``urlencode`` percent-encodes it with a Python list
comprehension over every byte; :func:`form_value` does the same mapping with one
``str.translate`` over the UTF-8 bytes (read as Latin-1, so each byte is one character)
through a table indexed by byte: twice as fast, and the same text (a test compares both).
"""

from __future__ import annotations

from collections.abc import Iterable

# What quote_plus(…, safe="") leaves as it is; a space becomes "+", every other byte %XX.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_BY_BYTE = [
    chr(byte) if byte in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}" for byte in range(256)
]


def form_value(text: str) -> str:
    """``text`` percent-encoded for a form, as ``urllib.parse.quote_plus(text, safe="")``."""
    return text.encode("utf-8").decode("latin-1").translate(_BY_BYTE)


def form_fields(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``name=value&…`` of ``pairs``, as ``urllib.parse.urlencode(pairs).encode("ascii")``."""
    return "&".join([form_value(name) + "=" + form_value(value) for name, value in pairs]).encode("ascii")
