"""Find an email address in stored provider payloads however they spell it, and replace it.

Providers quote the recipient in many forms: plain, in another case, URL-encoded
in a link (``jens%40firma.dk``, or twice: ``%2540``), JSON-escaped
(``s\\u00f8ren@…``), HTML-escaped (``&#64;``) or base64-encoded in a tracking
token. Webhook ingest replaces every one of them by :func:`placeholder` (the
address's hash, so the event can still be found for an art. 15 export or an
erase); erase and export find older payloads by :func:`mentions`, after a
cheap database pre-filter on :func:`needles`.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from email_validator import EmailNotValidError, validate_email

# Runs of base64 (standard or URL-safe alphabet) long enough to hold an address.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_ENTITIES = {"@": ("&#64;", "&#x40;", "&commat;"), ".": ("&#46;", "&period;")}


def placeholder(hashed: str) -> str:
    """What stands for the recipient's address in a stored payload: its SHA-256, never the text."""
    return f"[recipient sha256:{hashed}]"


def _spellings(address: str) -> list[str]:
    """The address as normalised, and its ASCII (IDNA) form when the domain is international."""
    forms = [address]
    if address.isascii():
        return forms
    try:
        validated = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return forms
    ascii_form = f"{validated.local_part}@{validated.ascii_domain}"
    if ascii_form.lower() != address.lower():
        forms.append(ascii_form)
    return forms


def _char_pattern(char: str) -> str:
    percent = "".join(f"%(?:25)?{byte:02X}" for byte in char.encode("utf-8"))
    options = [re.escape(char), percent]
    if not char.isascii():
        options += [re.escape(json.dumps(char)[1:-1]), f"&#{ord(char)};", f"&#x{ord(char):x};"]
    options += _ENTITIES.get(char, ())
    if char == " ":
        options.append(r"\+")
    return "(?:" + "|".join(options) + ")"


@lru_cache(maxsize=256)
def address_pattern(address: str) -> re.Pattern[str]:
    """A case-blind pattern for ``address`` in any of the spellings above (not base64)."""
    forms = ["".join(_char_pattern(char) for char in form) for form in _spellings(address)]
    return re.compile("|".join(forms), re.IGNORECASE)


def _decodings(run: str) -> Iterator[str]:
    """``run`` decoded from each of its four possible alignments (it may start mid-blob)."""
    for skip in range(4):
        text = run[skip:].rstrip("=")
        text = text[: len(text) - 1] if len(text) % 4 == 1 else text
        padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
        try:
            yield base64.b64decode(padded, validate=True).decode("utf-8", errors="ignore")
        except (binascii.Error, ValueError):
            continue


@lru_cache(maxsize=256)
def _cores(address: str) -> tuple[str, ...]:
    return tuple(
        {
            core
            for form in _spellings(address)
            for text in {form, form.lower()}
            for core in _base64_cores(text)
        }
    )


def _base64_holds(run: str, address: str, pattern: re.Pattern[str]) -> bool:
    """True when ``run`` is base64 of text holding ``address`` (as normalised, or in lower case).

    A substring test against the few encodings of the address decides first: decoding every
    run of a payload (ids, tokens, hashes) at four alignments cost most of a webhook's time.
    """
    if not any(core in run for core in _cores(address)):
        return False
    return any(pattern.search(decoded) for decoded in _decodings(run))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def mentions(value: Any, address: str) -> bool:
    """True when any string in ``value`` (keys too) holds ``address`` in any spelling."""
    pattern = address_pattern(address)
    for text in _strings(value):
        if pattern.search(text):
            return True
        if any(_base64_holds(run, address, pattern) for run in _BASE64_RUN.findall(text)):
            return True
    return False


def redact(value: Any, address: str, replacement: str) -> Any:
    """A copy of ``value`` with every spelling of ``address`` replaced by ``replacement``.

    Runs for every webhook event, each about another address, so it builds no per-address
    pattern (compiling :func:`address_pattern` cost about 2 ms an event): plain spellings, in any
    case, are replaced where they stand; a string that holds the address only once decoded
    (URL-, HTML- or JSON-escaped) is replaced whole, and so is a base64 run that holds it.
    """
    targets = _targets(address)
    if isinstance(value, dict | list):
        # The usual payload holds the address only plainly: replaced in its JSON text, with no
        # escape, percent sign, entity or base64 of it left, it needs no walk string by string.
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = None
        if text is not None:
            for target in targets:
                text = _replace_any_case(text, target, replacement)
            if not _may_hide_it(text, address):
                return json.loads(text)
    return _redact_value(value, address, targets, replacement)


def _may_hide_it(text: str, address: str) -> bool:
    """Whether ``text`` could still hold ``address`` escaped or encoded (a cheap, safe over-guess)."""
    return "%" in text or "&" in text or "\\" in text or any(core in text for core in _cores(address))


def _redact_value(value: Any, address: str, targets: tuple[str, ...], replacement: str) -> Any:
    if isinstance(value, str):
        return _redact_string(value, address, targets, replacement)
    if isinstance(value, dict):
        return {
            _redact_string(str(key), address, targets, replacement): _redact_value(
                item, address, targets, replacement
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(item, address, targets, replacement) for item in value]
    return value


@lru_cache(maxsize=256)
def _targets(address: str) -> tuple[str, ...]:
    return tuple({form.lower() for form in _spellings(address)})


def _replace_any_case(text: str, target: str, replacement: str) -> str:
    lowered = text.lower()
    if target not in lowered:
        return text
    if len(lowered) != len(text):  # a letter whose lower case is longer: positions would not match
        return re.sub(re.escape(target), lambda _: replacement, text, flags=re.IGNORECASE)
    pieces, start = [], 0
    while (found := lowered.find(target, start)) >= 0:
        pieces += [text[start:found], replacement]
        start = found + len(target)
    return "".join(pieces) + text[start:]


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _decoded_views(text: str) -> Iterator[str]:
    """``text`` as it reads once its URL, HTML or JSON escapes are undone (each way on its own)."""
    if "%" in text or "+" in text:
        once = unquote_plus(text)
        yield once
        yield unquote_plus(once)
    if "&" in text:
        yield html.unescape(text)
    if "\\" in text:
        yield _JSON_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


def _redact_string(text: str, address: str, targets: tuple[str, ...], replacement: str) -> str:
    for target in targets:
        text = _replace_any_case(text, target, replacement)
    if any(target in view.lower() for view in _decoded_views(text) for target in targets):
        return replacement

    cores = _cores(address)
    if not any(core in text for core in cores):  # no run of this string can hold it
        return text

    def base64_run(match: re.Match[str]) -> str:
        run = match.group(0)
        if not any(core in run for core in cores):
            return run
        decoded = " ".join(_decodings(run)).lower()
        return replacement if any(target in decoded for target in targets) else run

    return _BASE64_RUN.sub(base64_run, text)


def _base64_cores(text: str) -> Iterator[str]:
    """Substrings every base64 encoding of ``text`` contains, whatever its offset in the blob."""
    data = text.encode("utf-8")
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        # The first group mixes in the bytes before the address, the last one those after it.
        core = encoded[4 if offset else 0 : (len(encoded) // 4 - 1) * 4]
        if len(core) >= 8:
            yield core
            yield core.replace("+", "-").replace("/", "_")


def needles(address: str) -> set[str]:
    """Substrings one of which a stored spelling of ``address`` contains (a pre-filter: confirm
    with :func:`mentions`). Matched case-blind. Covered: plain, JSON- and HTML-escaped, URL-encoded
    by the usual rules, entirely or twice (``%2540``); base64 only of the address as normalised
    or in lower case. A hand-mixed percent-encoding (some letters encoded, others not) is beyond
    a pre-filter; new rows hold none of these, only the hash."""
    found: set[str] = set()
    for form in _spellings(address):
        for text in {form, form.lower()}:
            found |= {
                text,
                json.dumps(text)[1:-1],
                quote(text, safe=""),
                quote(text, safe="@"),
                quote_plus(text),
                text.replace("@", "%40"),
                text.replace("@", "%2540"),
                "".join(f"%{byte:02X}" for byte in text.encode("utf-8")),
                *(text.replace("@", entity) for entity in _ENTITIES["@"]),
            }
            found |= set(_base64_cores(text))
    return found
