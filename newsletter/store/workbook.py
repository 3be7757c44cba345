"""The first sheet of an Excel workbook (.xlsx) as numbered rows of text, for the subscriber import.

This module only turns a sheet into ``(row number, [cell text, …])``; the
header, the columns and every rule about a row are :mod:`.csv_reader`'s, the
same for a workbook as for a CSV file.

- **What a file is** is decided by its first bytes, not its name: a ZIP
  archive is read as a workbook; the compound-file signature is an old
  ``.xls`` or a password-protected workbook (Excel encrypts a workbook inside
  that container), which cannot be read and are refused with one line; every
  other file is CSV.
- **Values, not formulas**: a formula cell gives the value Excel last
  calculated and saved with it.
- **Cells become text** as a person would type them: whole numbers without
  ``.0`` (a postcode 2750 stays ``2750``), other numbers in their shortest
  exact form, dates as ``2019-03-14`` (with ``09:30`` when they have a time),
  ``TRUE``/``FALSE``.
- **Row numbers** are the sheet's own, so a problem on row 7 is row 7 in Excel.

The sheet is read in openpyxl's read-only mode (streamed, not held in
memory), and checked whole before any row is handed on (:func:`open_sheet`):
a damaged sheet fails as a whole before anything is imported, like an
undecodable CSV file.
"""

from __future__ import annotations

import datetime
import pyexpat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from newsletter.errors import ImportFileError
from newsletter.wording import Texts

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # an archive, and an empty one
COMPOUND_FILE_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")  # .xls, and password-protected workbooks
CSV, XLSX = "csv", "xlsx"
SAVE_AS = "save it as .xlsx or CSV and import again"
# Why a workbook cannot be read; each names the file (and the row, where there is one).
WORKBOOK_TEXTS = Texts(
    {
        "workbook-old-or-locked": "{file}: this is an old Excel file (.xls) or a password-protected workbook, "
        f"which cannot be read — open it in Excel, remove any password, and {SAVE_AS}",
        "workbook-damaged-after-row": "{file}:{line}: the sheet '{sheet}' cannot be read after row {last} "
        f"({{error}}); the file is damaged — {SAVE_AS} (rows already imported count as unchanged)",
        "workbook-without-sheets": f"{{file}}: the workbook has no sheet with rows — {SAVE_AS}",
        "workbook-sheet-damaged": f"{{file}}: the sheet '{{sheet}}' is damaged ({{error}}) — {SAVE_AS}",
        "workbook-unreadable": "{file}: cannot read the file: {error}",
        "workbook-incomplete": f"{{file}}: the Excel file is damaged (not a complete .xlsx) — {SAVE_AS}",
        "workbook-not-excel": f"{{file}}: not an Excel workbook that can be read ({{error}}) — {SAVE_AS}",
    }
)


def file_kind(start: bytes, name: str) -> str:
    """:data:`XLSX` or :data:`CSV` for a file beginning with ``start``; refuses .xls and encrypted workbooks."""
    if start.startswith(COMPOUND_FILE_SIGNATURE):
        raise ImportFileError(WORKBOOK_TEXTS("workbook-old-or-locked", file=name))
    return XLSX if start.startswith(ZIP_SIGNATURES) else CSV


def cell_text(value: Any) -> str:
    """The text of a cell's value, as a person would have typed it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)  # the shortest text that is exactly this number
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    return str(value)


@dataclass(frozen=True)
class Sheet:
    """The sheet a workbook is imported from: its name, the workbook's other sheets, and its rows."""

    title: str
    other_sheets: tuple[str, ...]
    path: Path
    name: str  # how messages name the file

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Every row from row 1 on, numbered as in Excel, its cells as text (trailing empty cells dropped)."""
        with _opened(self.path, self.name) as workbook:
            sheet = workbook.worksheets[0]
            # Some programs declare a used range of a million rows: read the rows that exist instead.
            sheet.reset_dimensions()
            values_of = sheet.iter_rows(values_only=True)
            number = 0
            while True:
                try:
                    values = next(values_of, None)
                except Exception as exc:  # a sheet whose XML is sound but whose cells openpyxl refuses
                    raise self._damaged(number, exc) from exc
                if values is None:
                    return
                number += 1
                cells = [cell_text(value) for value in values]
                while cells and not cells[-1]:
                    cells.pop()
                yield number, cells

    def _damaged(self, last: int, exc: Exception) -> ImportFileError:
        damaged = WORKBOOK_TEXTS(
            "workbook-damaged-after-row",
            file=self.name,
            line=last + 1,
            sheet=self.title,
            last=last,
            error=type(exc).__name__,
        )
        return ImportFileError(damaged)


def open_sheet(path: Path, name: str) -> Sheet:
    """The first sheet of the workbook at ``path``, checked whole so a damaged one fails here.

    The check is the cheap one that catches what damage looks like — every
    byte of the sheet against the archive's checksum, and its XML parsed
    without building anything (half a second for 100,000 rows, where reading
    the cells takes seconds). Raises :class:`ImportFileError` naming ``name``
    when the file is not a workbook openpyxl can read.
    """
    with _opened(path, name) as workbook:
        if not workbook.worksheets:
            raise ImportFileError(WORKBOOK_TEXTS("workbook-without-sheets", file=name))
        titles = tuple(sheet.title for sheet in workbook.worksheets)
        member = getattr(workbook.worksheets[0], "_worksheet_path", None)
    sheet = Sheet(titles[0], titles[1:], path, name)
    try:
        if member is not None:
            _check_xml(path, member)
        else:  # an openpyxl that no longer names the part: read the cells through instead
            for _row in sheet.rows():
                pass
    except ImportFileError:
        raise
    except Exception as exc:  # a bad checksum, broken XML, a missing part: each means a damaged file
        damaged = WORKBOOK_TEXTS(
            "workbook-sheet-damaged", file=name, sheet=titles[0], error=type(exc).__name__
        )
        raise ImportFileError(damaged) from exc
    return sheet


def _check_xml(path: Path, member: str) -> None:
    """Read the sheet's part whole: zipfile checks its CRC at the end, expat that it is well-formed XML."""
    parser = pyexpat.ParserCreate()
    with zipfile.ZipFile(path) as archive, archive.open(member) as part:
        while block := part.read(1 << 20):
            parser.Parse(block, False)
    parser.Parse(b"", True)


@contextmanager
def _opened(path: Path, name: str) -> Iterator[Any]:
    """The workbook, opened read-only; openpyxl is given the open file so it judges the content, not the name."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFileError(
            WORKBOOK_TEXTS("workbook-unreadable", file=name, error=str(exc.strerror or exc))
        ) from exc
    with handle:
        try:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True, keep_links=False)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise ImportFileError(WORKBOOK_TEXTS("workbook-incomplete", file=name)) from exc
        except Exception as exc:  # a ZIP holding another kind of document (.docx, .ods), or a broken workbook
            not_excel = WORKBOOK_TEXTS("workbook-not-excel", file=name, error=type(exc).__name__)
            raise ImportFileError(not_excel) from exc
        try:
            yield workbook
        finally:
            workbook.close()
