"""Importing an Excel workbook (.xlsx): the same rules, counts and line numbers as the same sheet as CSV.

The workbooks are made with openpyxl in the test, as Excel would save them;
where Excel stores a formula's last value (openpyxl does not), the sheet's XML
is given one by hand.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Connection, Engine, func, select

from newsletter.errors import ImportFileError
from newsletter.store.audience import iter_audience
from newsletter.store.imports import import_csv, preview_sheet
from newsletter.store.lists import ListRow
from newsletter.store.schema import consent_log, subscribers
from newsletter.store.subscribers import add_subscriber, get_subscriber, suppress, unsubscribe

HEADER = ["E-mail", "Navn", "Sprog", "Virksomhed", "Postnr"]
PEOPLE: list[list[Any]] = [
    ["jens@firma.dk", "Jens Hansen", "dansk", "Firma ApS", 2750],
    ["ikke-en-adresse", "Bo", "", "", ""],
    ["", "Uden adresse", "", "", ""],
    ["lise@firma.dk", "Lise", "engelsk", "Lises Lager", 2730],
    ["JENS@firma.dk ", "Jens igen", "", "", ""],
    [],  # an empty row between people is nobody
    ["gone@firma.dk", "Gone", "", "", ""],
    ["erased@firma.dk", "Erased", "", "", ""],
    ["bo@firma.dk", "Bo", "klingon", "", ""],
]


def workbook(path: Path, rows: list[list[Any]], *, sheets: tuple[str, ...] = ("Ark1",)) -> Path:
    book = openpyxl.Workbook()
    book.active.title = sheets[0]
    for row in rows:
        book.active.append(row)
    for extra in sheets[1:]:
        book.create_sheet(extra).append(["email"])
    book.save(path)
    return path


def same_as_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, delimiter=";").writerows([[str(cell) for cell in row] for row in rows])
    return path


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(subscribers)).scalar_one())


def outcome(summary: Any) -> tuple[Any, ...]:
    return (
        summary.counts,
        [(problem.line, problem.reason) for problem in summary.rejected],
        [(problem.line, problem.reason) for problem in summary.duplicates],
    )


def test_a_workbook_imports_exactly_like_the_same_sheet_saved_as_csv(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        gone = add_subscriber(conn, "gone@firma.dk", "erhverv")
        unsubscribe(conn, gone.id, erhverv.id, source="one-click")
        suppress(conn, "erased@firma.dk", "erased")
    rows = [HEADER, *PEOPLE]
    as_csv = import_csv(engine, same_as_csv(tmp_path / "kunder.csv", rows), "erhverv", dry_run=True)
    as_xlsx = import_csv(engine, workbook(tmp_path / "kunder.xlsx", rows), "erhverv")

    assert (as_xlsx.kind, as_xlsx.sheet) == ("xlsx", "Ark1")
    assert outcome(as_xlsx) == outcome(as_csv)
    assert as_xlsx.counts == {
        "added": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 3,
        "skipped-suppressed": 1,
        "skipped-unsubscribed": 1,
        "duplicates": 1,
    }
    # The line numbers are the sheet's row numbers, as Excel shows them.
    assert [(problem.line, problem.reason[:28]) for problem in as_xlsx.rejected] == [
        (3, "'ikke-en-adresse' is not a v"),
        (4, "missing email address"),
        (10, "language 'klingon' is not on"),
    ]
    assert as_xlsx.duplicates[0].line == 6
    assert [member.email for member in iter_audience(engine, erhverv.id)] == [
        "jens@firma.dk",
        "lise@firma.dk",
    ]
    with engine.connect() as conn:
        jens = get_subscriber(conn, "jens@firma.dk")
        assert jens is not None
        assert (jens.name, jens.language) == ("Jens Hansen", "da")
        assert jens.attributes == {"Virksomhed": "Firma ApS", "Postnr": "2750"}
        sources = conn.execute(
            select(consent_log.c.source)
            .where(consent_log.c.source.like("import %"))
            .order_by(consent_log.c.id)
        ).scalars()
        assert list(sources) == ["import kunder.xlsx line 2", "import kunder.xlsx line 5"]


def test_numbers_dates_and_formulas_become_the_text_excel_shows(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    rows = [
        ["email", "Postnr", "Telefon", "Rabat", "Medlem siden", "Møde", "Aktiv", "Beregnet"],
        [
            "jens@firma.dk",
            2750.0,
            44556677,
            12.5,
            datetime.datetime(2019, 3, 14),
            datetime.datetime(2020, 1, 2, 9, 30),
            True,
            "=2700+50",
        ],
    ]
    path = workbook(tmp_path / "tal.xlsx", rows)
    # Excel keeps the value it last calculated beside the formula; the import reads that value.
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert b"<f>2700+50</f><v></v>" in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"<f>2700+50</f><v></v>", b"<f>2700+50</f><v>2750</v>")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)

    summary = import_csv(engine, path, "erhverv")
    assert summary.added == 1
    with engine.connect() as conn:
        jens = get_subscriber(conn, "jens@firma.dk")
    assert jens is not None and jens.attributes == {
        "Postnr": "2750",
        "Telefon": "44556677",
        "Rabat": "12.5",
        "Medlem siden": "2019-03-14",
        "Møde": "2020-01-02 09:30",
        "Aktiv": "TRUE",
        "Beregnet": "2750",
    }


def test_content_decides_not_the_name_and_only_the_first_sheet_is_read(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    named_csv = workbook(
        tmp_path / "kunder.csv", [["Mail", "Navn"], ["a@firma.dk", "A"]], sheets=("Ark1", "Ark2")
    )
    named_xlsx = same_as_csv(tmp_path / "kunder.xlsx", [["Mail", "Navn"], ["b@firma.dk", "B"]])
    from_workbook = import_csv(engine, named_csv, "erhverv")
    from_text = import_csv(engine, named_xlsx, "erhverv")
    assert (from_workbook.kind, from_workbook.other_sheets, from_workbook.added) == ("xlsx", ("Ark2",), 1)
    assert (from_text.kind, from_text.delimiter, from_text.added) == ("csv", ";", 1)


def test_a_value_beyond_the_header_is_refused_with_its_column_and_the_header_may_start_lower(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    rows: list[list[Any]] = [
        [],
        ["email", "navn"],
        ["a@firma.dk", "A", None, "ring tilbage"],
        ["b@firma.dk", "B"],
    ]
    summary = import_csv(engine, workbook(tmp_path / "noter.xlsx", rows), "erhverv")
    assert summary.added == 1 and summary.header_line == 2
    [problem] = summary.rejected
    assert problem.line == 3
    assert problem.reason.startswith("has a value in column D, but the header row has no column there")


def _damaged(path: Path) -> Path:
    whole = workbook(tmp := path.with_suffix(".tmp.xlsx"), [["email"], ["a@firma.dk"]]).read_bytes()
    tmp.unlink()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _broken_sheet(path: Path) -> Path:
    """A sound archive whose sheet's XML stops half-way (a program that crashed while saving)."""
    workbook(path, [["email"], ["a@firma.dk"]])
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet[: len(sheet) // 2]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def _other_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return path


def _old_xls(path: Path) -> Path:
    # The compound-file signature: an .xls, and also what Excel wraps a password-protected workbook in.
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504)
    return path


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (
            _old_xls,
            "gammel.xls",
            r"^gammel.xls: this is an old Excel file \(.xls\) or a password-protected workbook",
        ),
        (
            _old_xls,
            "kode.xlsx",
            r"^kode.xlsx: this is an old Excel file \(.xls\) or a password-protected workbook",
        ),
        (_damaged, "halv.xlsx", r"^halv.xlsx: the Excel file is damaged"),
        (_broken_sheet, "brudt.xlsx", r"^brudt.xlsx: the sheet 'Ark1' is damaged \(ExpatError\)"),
        (_other_zip, "brev.xlsx", r"^brev.xlsx: not an Excel workbook that can be read"),
        (lambda path: workbook(path, []), "tom.xlsx", r"^tom.xlsx: the sheet 'Ark1' is empty"),
        (
            lambda path: workbook(path, [["Medlemsliste 2019"], ["email"]]),
            "titel.xlsx",
            r"^titel.xlsx:1: no email column in the header row \(found 'Medlemsliste 2019'\)",
        ),
    ],
)
def test_an_unusable_workbook_is_one_line_saying_what_to_save_it_as_and_writes_nothing(
    engine: Engine, erhverv: ListRow, tmp_path: Path, make: Any, name: str, message: str
) -> None:
    path = make(tmp_path / name)
    with pytest.raises(ImportFileError, match=message) as refused:
        import_csv(engine, path, "erhverv", file_name=name)
    assert "\n" not in str(refused.value)
    if name in (
        "gammel.xls",
        "kode.xlsx",
        "halv.xlsx",
        "brudt.xlsx",
        "brev.xlsx",
    ):  # not a workbook that can be read
        assert "save it as .xlsx or CSV" in str(refused.value)
    with engine.connect() as conn:
        assert count(conn) == 0


def test_preview_shows_columns_and_first_rows_and_writes_nothing(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    preview = preview_sheet(
        workbook(tmp_path / "kunder.xlsx", [HEADER, *PEOPLE]), rows=4, file_name="kunder.xlsx"
    )
    assert [(column.header, column.role) for column in preview.info.columns] == [
        ("E-mail", "email"),
        ("Navn", "name"),
        ("Sprog", "language"),
        ("Virksomhed", "attribute"),
        ("Postnr", "attribute"),
    ]
    assert [(row.line, row.row.address if row.row else row.problem[:20]) for row in preview.first_rows] == [
        (2, "jens@firma.dk"),
        (3, "'ikke-en-adresse' is"),
        (4, "missing email addres"),
        (5, "lise@firma.dk"),
    ]
    # Four distinct addresses would be applied (suppression is for the database to decide, at import).
    assert preview.rows == 4
    assert (len(preview.info.rejected), len(preview.info.duplicates)) == (3, 1)
    with engine.connect() as conn:
        assert count(conn) == 0


def test_preview_of_a_csv_names_encoding_and_separator(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes("E-mail;Navn\nsøren@æblegården.dk;Søren\n".encode("cp1252"))
    preview = preview_sheet(path)
    assert (preview.info.kind, preview.info.encoding, preview.info.delimiter, preview.rows) == (
        "csv",
        "cp1252",
        ";",
        1,
    )


def test_workbook_streams_a_declared_million_rows_quickly(tmp_path: Path) -> None:
    """Some programs declare the whole sheet as used; only rows that exist are read."""
    path = workbook(tmp_path / "stor.xlsx", [["email"], ["a@firma.dk"]])
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        b'<dimension ref="A1:A2"/>', b'<dimension ref="A1:XFD1048576"/>'
    )
    assert parts["xl/worksheets/sheet1.xml"] != sheet
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    assert preview_sheet(path).rows == 1
