"""Read a subscriber CSV file as people actually have it, row by row.

Encoding: UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text"),
else Windows-1252 (Danish Excel's "CSV (semikolonsepareret)"), checked over
the whole file before the first row is used. Separator: ``sep=X`` on the
first line (Excel's hint), else whichever of ``;`` ``,`` or tab the header row
uses most. Header: an ``email`` column (``e-mail``, ``mail``,
``e-mailadresse`` …), optional ``name`` (``navn``) and ``language``
(``sprog``); every other column is kept as an attribute.

A problem with the whole file raises :class:`ImportFileError` before any row
is yielded; a bad row is recorded with its line number and reason.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.config import LANGUAGES
from newsletter.errors import ImportFileError
from newsletter.store.addresses import InvalidAddress, email_hash, normalise

# Header names are compared with case, spaces, '-' and '_' removed: "E-mail adresse" → "emailadresse".
EMAIL_HEADERS = ("email", "mail", "emailadresse", "emailaddress", "mailadresse", "epost")
NAME_HEADERS = ("name", "navn", "fuldtnavn", "fuldenavn", "fullname", "kontaktperson")
LANGUAGE_HEADERS = ("language", "sprog", "lang")
LANGUAGE_WORDS = {"dansk": "da", "danish": "da", "engelsk": "en", "english": "en"}
DELIMITERS = (";", ",", "\t")
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


@dataclass
class SheetInfo:
    """What reading found out about the file, and the rows it rejected."""

    path: str
    encoding: str = ""
    delimiter: str = ","
    rejected: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class CsvRow:
    line: int
    address: str
    hashed: str
    name: str | None
    language: str | None
    attributes: dict[str, str]


# --- reading the file --------------------------------------------------------------------


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """(line, byte value) of the first byte ``encoding`` cannot decode, or None when it all decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines_before = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # exc.start counts from the decoder's buffered bytes, which end this block.
                position = max(0, exc.start - (len(exc.object) - len(block)))
                return lines_before + block.count(b"\n", 0, position) + 1, block[position]
            lines_before += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines_before + 1, 0
    return None


def detect_encoding(path: Path) -> str:
    """utf-16 (by BOM), utf-8-sig (with or without BOM) or cp1252, checked over the whole file."""
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            candidates: tuple[str, ...] = ("utf-16",)
        else:
            candidates = ("utf-8-sig", "cp1252")
        for encoding in candidates:
            problem = _first_undecodable(path, encoding)
            if problem is None:
                return encoding
    except FileNotFoundError:
        raise ImportFileError(f"{path}: file not found — check the path") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read the file: {exc.strerror}") from exc
    assert problem is not None
    line, byte = problem
    raise ImportFileError(
        f"{path}:{line}: not text in {' or '.join(ENCODING_NAMES[name] for name in candidates)} "
        f"(byte 0x{byte:02x}) — "
        "save the sheet as 'CSV UTF-8' and import again"
    )


def _detect_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _compact(header_cell: str) -> str:
    return re.sub(r"[\s_-]+", "", header_cell.lstrip("\ufeff").lower())


def _column_roles(
    path: Path, header: list[str], header_line: int
) -> tuple[int, int | None, int | None, dict[int, str]]:
    """Positions of the email, name and language columns, and the attribute columns by name."""
    keys = [cell.strip().lstrip("\ufeff").strip() for cell in header]
    seen: set[str] = set()
    for key in keys:
        if key and key.lower() in seen:
            raise ImportFileError(
                f"{path}:{header_line}: column {key!r} appears twice in the header — rename one"
            )
        seen.add(key.lower())
    compact = [_compact(key) for key in keys]

    def find(options: tuple[str, ...]) -> int | None:
        return next((index for index, key in enumerate(compact) if key in options), None)

    email_at = find(EMAIL_HEADERS)
    if email_at is None:
        found = ", ".join(repr(key) for key in keys if key) or "nothing"
        raise ImportFileError(
            f"{path}:{header_line}: no email column in the header row (found {found}) — "
            "name the column with the addresses 'email'"
        )
    name_at, language_at = find(NAME_HEADERS), find(LANGUAGE_HEADERS)
    attributes = {
        index: key for index, key in enumerate(keys) if key and index not in (email_at, name_at, language_at)
    }
    return email_at, name_at, language_at, attributes


def _separator_hint(line: str) -> str | None:
    """Excel understands a first line ``sep=;`` naming the separator; so do we."""
    text = line.strip()
    if len(text) == 5 and text.lower().startswith("sep="):
        return text[4]
    return None


def _parse_language(raw: str) -> str | None:
    value = raw.strip().lower()
    if not value:
        return None
    value = LANGUAGE_WORDS.get(value, value)
    if value not in LANGUAGES:
        raise ValueError(f"language {raw.strip()!r} is not one of: {', '.join(LANGUAGES)}")
    return value


def read_rows(path: Path, summary: SheetInfo) -> Iterator[CsvRow]:
    """Valid rows of the file; invalid ones are recorded in ``summary.rejected``.

    Raises :class:`ImportFileError` (before yielding anything) when the file as a
    whole cannot be used.
    """
    summary.encoding = detect_encoding(path)
    with path.open(encoding=summary.encoding, newline="") as handle:
        start, skipped_lines = 0, 0
        first_line = handle.readline()
        hint = _separator_hint(first_line)
        if hint is not None:
            start, skipped_lines = handle.tell(), 1
            first_line = handle.readline()
        if not first_line.strip():
            raise ImportFileError(f"{path}: the file is empty — the first line must be a header with 'email'")
        summary.delimiter = hint or _detect_delimiter(first_line)
        handle.seek(start)
        reader = csv.reader(handle, delimiter=summary.delimiter)
        try:
            header = next(reader)
        except csv.Error as exc:
            raise ImportFileError(
                f"{path}:{skipped_lines + 1}: the header row is not valid CSV: {exc}"
            ) from None
        email_at, name_at, language_at, attribute_columns = _column_roles(path, header, skipped_lines + 1)
        line = skipped_lines + reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                summary.rejected.append(RowProblem(line + 1, f"not valid CSV: {exc}"))
                line = skipped_lines + reader.line_num
                continue
            row_line, line = line + 1, skipped_lines + reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # Excel leaves blank lines at the end; they are nobody
            candidate = _candidate(
                cells, row_line, len(header), email_at, name_at, language_at, attribute_columns
            )
            if isinstance(candidate, RowProblem):
                summary.rejected.append(candidate)
            else:
                yield candidate


def _candidate(
    cells: list[str],
    line: int,
    width: int,
    email_at: int,
    name_at: int | None,
    language_at: int | None,
    attribute_columns: dict[int, str],
) -> CsvRow | RowProblem:
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        return RowProblem(line, f"has {len(cells)} fields but the header has {width} — check the separators")
    cells = cells + [""] * (width - len(cells))
    raw_email = cells[email_at].strip()
    if not raw_email:
        return RowProblem(line, "missing email address")
    try:
        address = normalise(raw_email)
        language = _parse_language(cells[language_at]) if language_at is not None else None
    except (InvalidAddress, ValueError) as exc:
        return RowProblem(line, str(exc))
    name = cells[name_at].strip() if name_at is not None else ""
    if len(name) > MAX_NAME_LENGTH:
        return RowProblem(line, f"name is longer than {MAX_NAME_LENGTH} characters")
    attributes = {
        key: cells[index].strip() for index, key in attribute_columns.items() if cells[index].strip()
    }
    return CsvRow(line, address, email_hash(address), name or None, language, attributes)
