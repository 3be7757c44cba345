"""JSON request bodies from pre-encoded bytes: an issue's content is escaped once, not once per recipient.

An API that takes each recipient's fully merged message as JSON (Postmark, Resend, Brevo,
Amazon SES) would have ``json.dumps`` re-escape the same 40 KB of HTML and text for every
recipient: at 500 messages a request that was more than half of a send's time. JSON escaping
goes character by character, so the escape of a concatenation is the concatenation of the
escapes (and so is UTF-8). :func:`merged_html` and :func:`merged_text` therefore split the
content at its merge placeholders (:func:`newsletter.personalize.compile_content`), escape and
encode its literal parts once per content (cached, like the split), and per recipient escape
only the recipient's own values — HTML-escaped first in the HTML part, exactly as
:func:`newsletter.personalize.merge_html` does.

A body is a list of byte chunks (:data:`Chunks`) that share the cached parts;
:func:`json_object` writes an object whose small fields go through :func:`json.dumps` and whose
large ones are spliced in as chunks. A batch of 500 messages of a 40 KB issue is a 21 MB
document; :class:`Body` posts it from its chunks in writes of :data:`WRITE_SIZE` rather than as
one joined copy, so a send holds the issue once, not once per message in flight.
The bytes are compact UTF-8 JSON, as httpx's ``json=`` writes it, and parse to the very message
``json.dumps`` of the merged fields would give.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache

from newsletter.personalize import compile_content, escape_value_html

# Pieces of one JSON document, in order: b"".join(chunks) is the document.
Chunks = list[bytes]


# What httpx's ``json=`` writes: compact, UTF-8 rather than \u escapes, no NaN. Made once: a send
# encodes a few small values per recipient, and ``json.dumps`` with options makes an encoder each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON (what httpx's ``json=`` sends)."""
    return _ENCODER.encode(value).encode("utf-8")


# ``json.dumps`` of one string as httpx's ``json=`` writes it (non-ASCII kept): the C encoder, no
# encoder object per call. For text assembled field by field, encoded to UTF-8 once at the end.
json_string: Callable[[str], str] = json.encoder.encode_basestring


def _escaped(text: str) -> bytes:
    """``text`` as it stands inside a JSON string: escaped, UTF-8, without the quotes."""
    return encode(text)[1:-1]


@lru_cache(maxsize=64)
def _encoded_parts(content: str) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    """The content's literal parts escaped (the quotes included) and the placeholder names between them."""
    compiled = compile_content(content)
    parts = [_escaped(part) for part in compiled.parts]
    parts[0] = b'"' + parts[0]
    parts[-1] = parts[-1] + b'"'
    return tuple(parts), compiled.names


def _merged(content: str, values: Mapping[str, str], escape: Callable[[str], str] | None) -> Chunks:
    parts, names = _encoded_parts(content)
    chunks = [parts[0]]
    for name, literal in zip(names, parts[1:], strict=True):
        value = values.get(name, "")
        chunks.append(_escaped(escape(value) if escape else value))
        chunks.append(literal)
    return chunks


def merged_html(content: str, values: Mapping[str, str]) -> Chunks:
    """The JSON string of ``content`` (HTML) merged for one recipient, its values HTML-escaped."""
    return _merged(content, values, escape_value_html)


def merged_text(content: str, values: Mapping[str, str]) -> Chunks:
    """The JSON string of ``content`` (plain text) merged for one recipient, its values as they are."""
    return _merged(content, values, None)


def fixed_string(content: str) -> Chunks:
    """The JSON string of ``content`` sent as it is (a provider merges it), encoded once per content."""
    parts, names = _encoded_parts(content)
    if names:
        raise ValueError(f"content still has merge placeholders: {', '.join(sorted(set(names)))}")
    return list(parts)


def json_object(fields: Mapping[str, object], spliced: Mapping[str, Chunks]) -> Chunks:
    """The object ``{**fields, **spliced}``: ``fields`` through ``json.dumps``, ``spliced`` as given."""
    head = encode(fields)
    chunks = [head[:-1]]  # without its closing brace
    separator = b"," if fields else b""
    for name, value in spliced.items():
        if name in fields:
            raise ValueError(f"{name!r} is both a field and spliced: it would appear twice")
        chunks.append(separator + encode(name) + b":")
        chunks += value
        separator = b","
    chunks.append(b"}")
    return chunks


def json_array(items: Iterable[Chunks]) -> Chunks:
    """The array of ``items``, each given as chunks."""
    chunks = [b"["]
    for number, item in enumerate(items):
        if number:
            chunks.append(b",")
        chunks += item
    chunks.append(b"]")
    return chunks


# What an adapter posts with a body built here (``content=`` bytes carry no type of their own).
CONTENT_TYPE = {"Content-Type": "application/json"}

# The size of each write of a :class:`Body`: large enough that a 21 MB batch is a few dozen
# socket writes, small enough that no copy of the batch is ever made.
WRITE_SIZE = 256 * 1024


class Body:
    """A JSON document posted from its chunks (``content=body``, ``headers=body.headers``).

    It can be iterated more than once (a request posted again sends it again) and knows its
    length, so the request carries ``Content-Length`` rather than being chunked.
    """

    def __init__(self, chunks: Chunks) -> None:
        self.chunks = chunks
        self.length = sum(map(len, chunks))

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks)

    def __iter__(self) -> Iterator[bytes]:
        group: list[bytes] = []
        size = 0
        for chunk in self.chunks:
            group.append(chunk)
            size += len(chunk)
            if size >= WRITE_SIZE:
                yield b"".join(group)
                group, size = [], 0
        if group:
            yield b"".join(group)

    @property
    def headers(self) -> dict[str, str]:
        """``Content-Type`` and ``Content-Length`` of the document."""
        return {**CONTENT_TYPE, "Content-Length": str(self.length)}
