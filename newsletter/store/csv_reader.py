"""Read a subscriber file — CSV, or an Excel workbook (.xlsx) — as people actually have it, row by row.

What the file is, is decided by its content (:func:`newsletter.store.workbook.file_kind`):
a workbook's first sheet is read by :mod:`newsletter.store.workbook` into
rows of text and then goes through the very same header and row rules as a
CSV file, with the sheet's row numbers as line numbers.

CSV encoding: UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text"),
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
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from newsletter.dates import LANGUAGES
from newsletter.errors import ImportFileError
from newsletter.safe_text import (
    header_text_fault,
    stored_text_fault,
    unescape_spreadsheet_cell,
)
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.workbook import CSV, XLSX, file_kind, open_sheet
from newsletter.wording import Texts, Wording

# Header names are compared with case, spaces, '-' and '_' removed: "E-mail adresse" → "emailadresse".
EMAIL_HEADERS = ("email", "mail", "emailadresse", "emailaddress", "mailadresse", "epost")
NAME_HEADERS = ("name", "navn", "fuldtnavn", "fuldenavn", "fullname", "kontaktperson")
LANGUAGE_HEADERS = ("language", "sprog", "lang")
LANGUAGE_WORDS = {"dansk": "da", "danish": "da", "engelsk": "en", "english": "en"}
DELIMITERS = (";", ",", "\t")
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}
MAX_NAME_LENGTH = 200
# Positions of the email, name and language columns, and the attribute columns by name.
_Roles = tuple[int, int | None, int | None, dict[int, str]]


# Why a file cannot be imported at all; each names the file (and the line, where there is one).
FILE_TEXTS = Texts(
    {
        "file-not-found": "{file}: file not found — check the path",
        "file-is-folder": "{file}: is a folder, not a CSV file or an Excel workbook",
        "file-cannot-be-read": "{file}: cannot read the file: {error}",
        "file-not-text": "{file}:{line}: not text in {encodings} (byte 0x{byte:02x}), and not an Excel "
        "workbook either — save the sheet as 'CSV UTF-8' or as .xlsx and import again",
        "header-column-twice": "{file}:{line}: column {column!r} appears twice in the header — rename one",
        "header-without-email": "{file}:{line}: no email column in the header row (found {found}) — "
        "name the column with the addresses 'email'",
        "header-empty": "nothing",
        "sheet-empty": "{file}: the sheet '{sheet}' is empty — its first row must be a header with 'email'",
        "file-empty": "{file}: the file is empty — the first line must be a header with 'email'",
        "header-not-csv": "{file}:{line}: the header row is not valid CSV: {problem}",
        "header-not-utf8": "{file}:{line}: the header holds byte 0x{byte:02x}, which is not UTF-8 like the "
        "rest of the file — save the sheet as 'CSV UTF-8' and import again",
        "header-unsafe": "{file}:{line}: column {column!r} {problem} — rename the column",
    }
)
# Why a row is left out (the CLI prints "line N: <text>"; the workspace words the code).
ROW_TEXTS = Texts(
    {
        "value-beyond-header": "has a value in column {column}, but the header row has no column there — "
        "give column {column} a header in row {header_line}, or clear the value",
        "row-not-csv": "not valid CSV: {problem}",
        "row-too-many-fields": "has {fields} fields but the header has {width} — check the separators",
        "quote-not-closed": 'a quote (") opens a value on this line and is not closed on it, so lines '
        "{first}–{last} were read into that value — remove the stray quote or add the closing one and "
        "import again; this row was skipped, the lines after it are read as rows of their own",
        "row-not-utf8": "holds byte 0x{byte:02x}, which is not UTF-8 like the rest of the file — retype this "
        "line's special letters (æ, ø, å …) or save the sheet as 'CSV UTF-8', then import again",
        "email-missing": "missing email address",
        "language-unknown": "language {language!r} is not one of: {languages}",
        "name-too-long": "name is longer than {most} characters",
        "name-unsafe": "the name {problem} — delete it (it is often invisible) and import again",
        "value-unsafe": "column {column!r} {problem} — delete it (it is often invisible) and import again",
        "same-address": "same address as line {first} ({address}) — skipped",
    }
)


@dataclass(frozen=True)
class RowProblem:
    """Why the row on ``line`` is left out: ``reason`` in English, ``wording`` as a code and values."""

    line: int
    reason: str
    wording: Wording | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, line: int, wording: Wording) -> RowProblem:
        return cls(line, wording.english, wording)


class _UnknownLanguage(ValueError):
    def __init__(self, wording: Wording) -> None:
        super().__init__(wording.english)
        self.wording = wording


# What each column of the header row becomes.
EMAIL, NAME, LANGUAGE, ATTRIBUTE, IGNORED = "email", "name", "language", "attribute", "ignored"


@dataclass(frozen=True)
class Column:
    """A column of the header row and what it becomes: :data:`EMAIL`, :data:`NAME`, :data:`LANGUAGE`,
    :data:`ATTRIBUTE` (kept under its header) or :data:`IGNORED` (no header)."""

    header: str
    role: str


@dataclass
class SheetInfo:
    """What reading found out about the file, and the rows it rejected."""

    path: str  # how messages name the file
    encoding: str = ""  # CSV only
    delimiter: str = ","  # CSV only
    rejected: list[RowProblem] = field(default_factory=list)
    kind: str = CSV  # CSV or XLSX, by content
    sheet: str = ""  # XLSX: the sheet that is read (the first)
    other_sheets: tuple[str, ...] = ()  # XLSX: the sheets that are not read
    header_line: int = 0
    columns: list[Column] = field(default_factory=list)


@dataclass(frozen=True)
class CsvRow:
    line: int
    address: str
    hashed: str
    name: str | None
    language: str | None
    attributes: dict[str, str]


# --- reading the file --------------------------------------------------------------------

# After decoding with surrogateescape: a byte that was not UTF-8, and a character that took
# a valid multi-byte UTF-8 sequence.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_MULTIBYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")


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


@dataclass(frozen=True)
class _Utf8Survey:
    multibyte: bool  # at least one valid multi-byte sequence: somebody saved this as UTF-8
    bad_bytes: int  # bytes that are not UTF-8


def _survey_utf8(path: Path) -> _Utf8Survey:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    multibyte, bad_bytes = False, 0
    with path.open("rb") as handle:
        while True:
            block = handle.read(1 << 20)
            text = decoder.decode(block, final=not block)
            multibyte = multibyte or _MULTIBYTE.search(text) is not None
            bad_bytes += len(_NOT_UTF8.findall(text))
            if not block:
                return _Utf8Survey(multibyte, bad_bytes)


def _file_error(name: str, exc: OSError) -> ImportFileError:
    if isinstance(exc, FileNotFoundError):
        return ImportFileError(FILE_TEXTS("file-not-found", file=name))
    if isinstance(exc, IsADirectoryError):
        return ImportFileError(FILE_TEXTS("file-is-folder", file=name))
    return ImportFileError(FILE_TEXTS("file-cannot-be-read", file=name, error=str(exc.strerror)))


def detect_encoding(path: Path, name: str | None = None) -> str:
    """utf-16 (by BOM), utf-8-sig (with or without BOM) or cp1252, decided for the whole file.

    A file with valid UTF-8 multi-byte sequences is UTF-8 even when a few bytes
    are not: reading it as Windows-1252 would turn every 'æ' into 'Ã¦' without
    a word. Those bytes are reported by line instead (:func:`read_rows`).
    Windows-1252 is chosen only for a file with no UTF-8 sequence at all.
    """
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            candidates: tuple[str, ...] = ("utf-16",)
        else:
            survey = _survey_utf8(path)
            if not survey.bad_bytes or survey.multibyte:
                return "utf-8-sig"
            candidates = ("utf-8-sig", "cp1252")
        problem = _first_undecodable(path, candidates[-1])
        if problem is None:
            return candidates[-1]
    except OSError as exc:
        raise _file_error(name or str(path), exc) from exc
    line, byte = problem
    encodings = " or ".join(ENCODING_NAMES[encoding] for encoding in candidates)
    raise ImportFileError(
        FILE_TEXTS("file-not-text", file=name or str(path), line=line, encodings=encodings, byte=byte)
    )


def _detect_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _compact(header_cell: str) -> str:
    return re.sub(r"[\s_-]+", "", header_cell.lstrip("\ufeff").lower())


def _column_roles(path: str, header: list[str], header_line: int) -> _Roles:
    """Positions of the email, name and language columns, and the attribute columns by name."""
    keys = [cell.strip().lstrip("\ufeff").strip() for cell in header]
    seen: set[str] = set()
    for key in keys:
        if key and key.lower() in seen:
            raise ImportFileError(FILE_TEXTS("header-column-twice", file=path, line=header_line, column=key))
        seen.add(key.lower())
    compact = [_compact(key) for key in keys]

    def find(options: tuple[str, ...]) -> int | None:
        return next((index for index, key in enumerate(compact) if key in options), None)

    email_at = find(EMAIL_HEADERS)
    if email_at is None:
        found = ", ".join(repr(key) for key in keys if key) or FILE_TEXTS("header-empty")
        raise ImportFileError(FILE_TEXTS("header-without-email", file=path, line=header_line, found=found))
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
        unknown = ROW_TEXTS("language-unknown", language=raw.strip(), languages=", ".join(LANGUAGES))
        raise _UnknownLanguage(unknown)
    return value


class _NumberedLines:
    """The file's physical lines for :mod:`csv`, numbered, with a way to read some of them again.

    ``taken`` holds the lines the current row was parsed from, so a row is
    reported at the line it starts on, and the lines a stray quote swallowed can
    be handed back and read as the rows they are.
    """

    def __init__(self, handle: IO[str], first_number: int) -> None:
        self.handle = handle
        self.next_number = first_number
        self.pending: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _NumberedLines:
        return self

    def __next__(self) -> str:
        if self.pending:
            numbered = self.pending.popleft()
        else:
            text = self.handle.readline()
            if not text:
                raise StopIteration
            numbered = (self.next_number, text)
            self.next_number += 1
        self.taken.append(numbered)
        return numbered[1]

    def read_again(self, lines: list[tuple[int, str]]) -> None:
        self.pending.extendleft(reversed(lines))


def _columns(header: list[str], roles: _Roles) -> list[Column]:
    email_at, name_at, language_at, attributes = roles
    named = {email_at: EMAIL, name_at: NAME, language_at: LANGUAGE}
    return [
        Column(
            cell.strip().lstrip("\ufeff").strip(),
            named.get(index) or (ATTRIBUTE if index in attributes else IGNORED),
        )
        for index, cell in enumerate(header)
    ]


def _header(name: str, header: list[str], line: int, summary: SheetInfo) -> _Roles:
    """The columns' roles; the file is refused here when its header row cannot be used."""
    _check_header_text(name, header, line)
    roles = _column_roles(name, header, line)
    summary.header_line, summary.columns = line, _columns(header, roles)
    return roles


def read_rows(path: Path, summary: SheetInfo) -> Iterator[CsvRow]:
    """Valid rows of the file (CSV or .xlsx); invalid ones are recorded in ``summary.rejected``.

    Raises :class:`ImportFileError` (before yielding anything) when the file as a
    whole cannot be used; its messages name the file as ``summary.path``. No
    valid row is ever dropped without a line in ``summary.rejected`` saying why.
    """
    name = summary.path or str(path)
    try:
        with path.open("rb") as handle:
            start = handle.read(8)
    except OSError as exc:
        raise _file_error(name, exc) from exc
    summary.kind = file_kind(start, name)
    if summary.kind == XLSX:
        yield from _workbook_rows(path, name, summary)
    else:
        yield from _csv_rows(path, name, summary)


def _workbook_rows(path: Path, name: str, summary: SheetInfo) -> Iterator[CsvRow]:
    """The first sheet's rows; its first row that is not empty is the header."""
    sheet = open_sheet(path, name)
    summary.sheet, summary.other_sheets, summary.encoding, summary.delimiter = (
        sheet.title,
        sheet.other_sheets,
        "",
        "",
    )
    rows = sheet.rows()
    found = next(((line, cells) for line, cells in rows if any(cell.strip() for cell in cells)), None)
    if found is None:
        raise ImportFileError(FILE_TEXTS("sheet-empty", file=name, sheet=sheet.title))
    header_line, header = found
    roles = _header(name, [unescape_spreadsheet_cell(cell) for cell in header], header_line, summary)
    width = len(header)
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # an empty row between blocks of people is nobody
        beyond = next((index for index in range(width, len(cells)) if cells[index].strip()), None)
        if beyond is not None:
            column = _column_letter(beyond + 1)
            outcome: CsvRow | RowProblem = RowProblem.of(
                line, ROW_TEXTS("value-beyond-header", column=column, header_line=header_line)
            )
        else:
            outcome = _candidate(cells, line, width, *roles)
        if isinstance(outcome, RowProblem):
            summary.rejected.append(outcome)
        else:
            yield outcome


def _column_letter(number: int) -> str:
    """Excel's name for the column at 1-based ``number``: 1 → A, 27 → AA."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _csv_rows(path: Path, name: str, summary: SheetInfo) -> Iterator[CsvRow]:
    summary.encoding = detect_encoding(path, name)
    # surrogateescape: a stray non-UTF-8 byte is kept as a marker and reported on its own row.
    errors = "surrogateescape" if summary.encoding == "utf-8-sig" else "strict"
    with path.open(encoding=summary.encoding, errors=errors, newline="") as handle:
        start, skipped_lines = 0, 0
        first_line = handle.readline()
        hint = _separator_hint(first_line)
        if hint is not None:
            start, skipped_lines = handle.tell(), 1
            first_line = handle.readline()
        if not first_line.strip():
            raise ImportFileError(FILE_TEXTS("file-empty", file=name))
        summary.delimiter = hint or _detect_delimiter(first_line)
        handle.seek(start)
        lines = _NumberedLines(handle, skipped_lines + 1)
        reader = csv.reader(lines, delimiter=summary.delimiter)
        try:
            header = [unescape_spreadsheet_cell(cell) for cell in next(reader)]
        except csv.Error as exc:
            not_csv = FILE_TEXTS("header-not-csv", file=name, line=skipped_lines + 1, problem=str(exc))
            raise ImportFileError(not_csv) from None
        except StopIteration:
            raise ImportFileError(FILE_TEXTS("file-empty", file=name)) from None
        roles = _header(name, header, skipped_lines + 1, summary)
        yield from _data_rows(reader, lines, roles, len(header), summary)


def _data_rows(
    reader: Any, lines: _NumberedLines, roles: _Roles, width: int, summary: SheetInfo
) -> Iterator[CsvRow]:
    email_at = roles[0]
    while True:
        lines.taken = []
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            taken = lines.taken
            if len(taken) > 1:  # e.g. "field larger than field limit": a quote that never closed
                summary.rejected.append(_open_quote(taken))
                lines.read_again(taken[1:])
            else:
                not_csv = ROW_TEXTS("row-not-csv", problem=str(exc))
                summary.rejected.append(RowProblem.of(taken[0][0] if taken else 0, not_csv))
            continue
        taken = lines.taken
        if len(taken) > 1 and _swallowed_rows(taken[1:], reader.dialect.delimiter, email_at, width):
            # A quoted value may span lines (a postal address), but not lines that are rows themselves.
            summary.rejected.append(_open_quote(taken))
            lines.read_again(taken[1:])
            continue
        if not any(cell.strip() for cell in cells):
            continue  # Excel leaves blank lines at the end; they are nobody
        line = taken[0][0]
        if len(cells) > width and any(cell.strip() for cell in cells[width:]):
            candidate: CsvRow | RowProblem = RowProblem.of(
                line, ROW_TEXTS("row-too-many-fields", fields=len(cells), width=width)
            )
        else:
            candidate = _candidate(cells, line, width, *roles)
        if isinstance(candidate, RowProblem):
            summary.rejected.append(candidate)
        else:
            yield candidate


def _open_quote(taken: list[tuple[int, str]]) -> RowProblem:
    first, last = taken[0][0], taken[-1][0]
    return RowProblem.of(first, ROW_TEXTS("quote-not-closed", first=first + 1, last=last))


def _swallowed_rows(following: list[tuple[int, str]], delimiter: str, email_at: int, width: int) -> bool:
    """Whether any of these lines, read on its own, is a row with an email address."""
    for _number, text in following:
        try:
            cells = next(csv.reader([text], delimiter=delimiter), [])
        except csv.Error:
            continue
        if email_at < len(cells) <= width:
            try:
                normalise(unescape_spreadsheet_cell(cells[email_at].strip()))
            except InvalidAddress:
                continue
            return True
    return False


def _check_header_text(path: str, header: list[str], line: int) -> None:
    for cell in header:
        undecodable = _NOT_UTF8.search(cell)
        if undecodable is not None:
            byte = ord(undecodable.group()) - 0xDC00
            raise ImportFileError(FILE_TEXTS("header-not-utf8", file=path, line=line, byte=byte))
        problem = stored_text_fault(cell)
        if problem is not None:
            raise ImportFileError(
                FILE_TEXTS("header-unsafe", file=path, line=line, column=cell, problem=problem)
            )


def _candidate(
    cells: list[str],
    line: int,
    width: int,
    email_at: int,
    name_at: int | None,
    language_at: int | None,
    attribute_columns: dict[int, str],
) -> CsvRow | RowProblem:
    # Most rows hold only printable text and no "'": one look at the whole row says so, and
    # then no cell needs the checks below one by one (a byte that was not UTF-8, kept by
    # surrogateescape, and every character the text checks refuse, are unprintable).
    whole = "".join(cells)
    printable = whole.isprintable()
    if not printable:
        undecodable = _undecodable_byte(whole)
        if undecodable is not None:
            return RowProblem.of(line, ROW_TEXTS("row-not-utf8", byte=undecodable))
    if "'" in whole:
        # An exported file marks formula-like cells with a leading "'": take exactly that mark off again.
        cells = [unescape_spreadsheet_cell(cell.strip()) for cell in cells[:width]]
    else:
        cells = [cell.strip() for cell in cells[:width]]
    cells += [""] * (width - len(cells))
    raw_email = cells[email_at]
    if not raw_email:
        return RowProblem.of(line, ROW_TEXTS("email-missing"))
    try:
        address = normalise(raw_email)
        language = _parse_language(cells[language_at]) if language_at is not None else None
    except (InvalidAddress, _UnknownLanguage) as exc:
        return RowProblem.of(line, exc.wording)
    name = cells[name_at] if name_at is not None else ""
    if len(name) > MAX_NAME_LENGTH:
        return RowProblem.of(line, ROW_TEXTS("name-too-long", most=MAX_NAME_LENGTH))
    attributes = {key: cells[index] for index, key in attribute_columns.items() if cells[index]}
    if not printable:
        # The name becomes the To: header's display name; a NUL or line break must not get that far.
        problem = header_text_fault(name)
        if problem is not None:
            return RowProblem.of(line, ROW_TEXTS("name-unsafe", problem=problem))
        for key, value in attributes.items():
            problem = stored_text_fault(value)
            if problem is not None:
                return RowProblem.of(line, ROW_TEXTS("value-unsafe", column=key, problem=problem))
    return CsvRow(line, address, email_hash(address), name or None, language, attributes)


def _undecodable_byte(row: str) -> int | None:
    """The first byte of the row's text that was not UTF-8 (kept by surrogateescape), or None."""
    found = _NOT_UTF8.search(row)
    return None if found is None else ord(found.group()) - 0xDC00
