"""The lists and subscribers commands, as a user runs them (click's CliRunner, real databases)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner, Result

from newsletter.cli import main
from newsletter.cli.lists import lists_group
from newsletter.cli.subscribers import subscribers_group
from tests.conftest import write_project

DATA = Path(__file__).parent / "data"


class Cli:
    def __init__(self, settings_path: Path) -> None:
        self.settings_path = settings_path
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> Result:
        result = self.runner.invoke(main, ["--config", str(self.settings_path), *args], input=input)
        assert result.exit_code == code, (result.output, result.stderr, result.exception)
        return result


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    return Cli(write_project(tmp_path / "project", database_url))


@pytest.fixture
def with_list(cli: Cli) -> Cli:
    cli("lists", "create", "erhverv", "--title", "Erhvervsnyt", "--consent-text", "Ja tak")
    return cli


def test_lists_create_show_delete(cli: Cli) -> None:
    created = cli("lists", "create", "erhverv", "--title", "Erhvervsnyt", "--description", "Nyt fra kommunen")
    assert "Created list 'erhverv': Erhvervsnyt" in created.stdout
    cli("lists", "create", "kultur", "--title", "Kulturnyt", "--language", "en")
    overview = cli("lists", "show").stdout
    assert "erhverv" in overview and "Kulturnyt" in overview
    detail = cli("lists", "show", "erhverv").stdout
    assert "description:   Nyt fra kommunen" in detail
    assert "0 subscribed (0 mailable)" in detail
    assert "Deleted list 'kultur'." in cli("lists", "delete", "kultur").stdout
    assert "kultur" not in cli("lists", "show").stdout


def test_duplicate_list_is_one_clear_error(with_list: Cli) -> None:
    result = with_list("lists", "create", "erhverv", "--title", "Igen", code=4)
    assert result.stderr.strip().splitlines() == [
        "Error: list 'erhverv' already exists — pick another name or see 'newsletter lists show'"
    ]


def test_unknown_list_names_the_existing_ones(with_list: Cli) -> None:
    result = with_list("subscribers", "add", "jens@firma.dk", "--list", "kutur", code=4)
    assert "Error: list 'kutur' does not exist — existing lists: erhverv" in result.stderr


def test_delete_refuses_with_members_unless_forced(with_list: Cli) -> None:
    with_list("subscribers", "add", "jens@firma.dk")
    refused = with_list("lists", "delete", "erhverv", code=4)
    assert "has 1 member(s)" in refused.stderr and "--force" in refused.stderr
    with_list("lists", "delete", "erhverv", "--force")
    assert "No lists yet" in with_list("lists", "show").stdout


def test_add_show_remove_and_refused_readd(with_list: Cli) -> None:
    added = with_list("subscribers", "add", " Jens@Firma.DK ", "--name", "Jens Hansen", "--lang", "en")
    assert "Subscribed Jens@firma.dk to 'erhverv'." in added.stdout
    again = with_list("subscribers", "add", "jens@firma.dk")
    assert "already subscribed" in again.stdout
    shown = with_list("subscribers", "show", "JENS@firma.dk").stdout
    assert "name:        Jens Hansen" in shown
    assert "language:    en" in shown
    assert "list:        erhverv (subscribed)" in shown
    assert (
        "Unsubscribed Jens@firma.dk from 'erhverv'."
        in with_list("subscribers", "remove", "jens@firma.dk").stdout
    )
    assert "nothing changed" in with_list("subscribers", "remove", "jens@firma.dk").stdout
    refused = with_list("subscribers", "add", "jens@firma.dk", code=4)
    assert "unsubscribed from this list" in refused.stderr and "--resubscribe" in refused.stderr
    with_list("subscribers", "add", "jens@firma.dk", "--resubscribe", "--consent-note", "Mail 3. marts")
    assert "erhverv (subscribed)" in with_list("subscribers", "show", "jens@firma.dk").stdout


def test_bad_address_and_unknown_subscriber(with_list: Cli) -> None:
    bad = with_list("subscribers", "add", "jens.firma.dk", code=2)
    assert "Invalid value for EMAIL" in bad.stderr and "@-sign" in bad.stderr
    missing = with_list("subscribers", "show", "nobody@firma.dk", code=4)
    assert "Error: nobody@firma.dk is not a subscriber" in missing.stderr


def test_import_reports_rows_and_summary(with_list: Cli) -> None:
    result = with_list("subscribers", "import", str(DATA / "garbage_rows.csv"), "--list", "erhverv")
    assert "Read " in result.stdout and "as UTF-8, ','-separated" in result.stdout
    assert "Imported: 2 added, 0 updated, 0 unchanged, 6 rejected" in result.stdout
    assert f"{DATA / 'garbage_rows.csv'}:4: rejected: missing email address" in result.stderr
    again = with_list("subscribers", "import", str(DATA / "garbage_rows.csv"))
    assert "Imported: 0 added, 0 updated, 2 unchanged" in again.stdout


def test_import_danish_excel_and_list_members(with_list: Cli) -> None:
    result = with_list("subscribers", "import", str(DATA / "danish_excel_cp1252.csv"))
    assert "as Windows-1252, ';'-separated" in result.stdout
    listed = with_list("subscribers", "list", "--list", "erhverv").stdout.splitlines()
    assert "ase@aastrup.dk\tsubscribed\tÅse Aastrup" in listed
    assert len(listed) == 4
    assert with_list("subscribers", "list", "--state", "pending").stdout == ""
    counted = with_list("subscribers", "count").stdout
    assert counted.strip() == "erhverv: 0 pending, 4 subscribed, 0 unsubscribed, 4 mailable"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "missing.csv: file not found"),
        ([str(DATA / "no_email_column.csv")], "no email column"),
        ([str(DATA / "utf8_bom.csv"), "--resubscribe"], "--resubscribe needs --consent-note"),
    ],
)
def test_import_bad_input_is_one_line(with_list: Cli, args: list[str], message: str) -> None:
    result = with_list("subscribers", "import", *args, code=4)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "0 subscribed" in with_list("lists", "show", "erhverv").stdout


def _one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_import_of_a_folder_an_empty_or_a_binary_file_is_one_line(with_list: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "kunder.csv"
    folder.mkdir()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x81\x8d\x8f\x90\x9d")
    assert "is a folder" in _one_error_line(with_list("subscribers", "import", str(folder), code=4))
    assert "the file is empty" in _one_error_line(with_list("subscribers", "import", str(empty), code=4))
    assert "not text" in _one_error_line(with_list("subscribers", "import", str(binary), code=4))
    assert "0 subscribed" in with_list("lists", "show", "erhverv").stdout


def test_import_of_an_unreadable_file_is_one_line(
    with_list: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = tmp_path / "locked.csv"
    sheet.write_text("email\njens@firma.dk\n", encoding="utf-8")
    real_open = Path.open

    def locked(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self.name == "locked.csv":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", locked)
    line = _one_error_line(with_list("subscribers", "import", str(sheet), code=4))
    assert "locked.csv: cannot read the file: Permission denied" in line
    assert "0 subscribed" in with_list("lists", "show", "erhverv").stdout


def test_import_an_excel_workbook_reports_sheet_rows_and_columns(with_list: Cli, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Medlemmer"
    for row in (
        ["E-mail", "Navn", "Postnr"],
        ["jens@firma.dk", "Jens", 2750],
        ["jens", "?", None],
        ["lise@firma.dk", "Lise", 2730],
    ):
        book.active.append(row)
    book.create_sheet("Noter")
    sheet = tmp_path / "medlemmer.xlsx"
    book.save(sheet)

    dry = with_list("subscribers", "import", str(sheet), "--dry-run")
    assert (
        f"Read {sheet} as an Excel workbook, sheet 'Medlemmer'; the other sheets ('Noter') are not read."
        in dry.stdout
    )
    assert "Columns: 'E-mail' = email, 'Navn' = name, 'Postnr' kept as an attribute." in dry.stdout
    result = with_list("subscribers", "import", str(sheet))
    assert f"{sheet}:3: rejected: 'jens' is not a valid email address" in result.stderr
    assert "Imported: 2 added, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert with_list("subscribers", "list").stdout.splitlines() == [
        "jens@firma.dk\tsubscribed\tJens",
        "lise@firma.dk\tsubscribed\tLise",
    ]
    old = tmp_path / "medlemmer.xls"
    old.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    line = _one_error_line(with_list("subscribers", "import", str(old), code=4))
    assert (
        "old Excel file (.xls) or a password-protected workbook" in line and "save it as .xlsx or CSV" in line
    )


def test_import_into_a_list_that_does_not_exist_is_one_line_and_saves_nothing(with_list: Cli) -> None:
    line = _one_error_line(
        with_list("subscribers", "import", str(DATA / "utf8_bom.csv"), "--list", "kultur", code=4)
    )
    assert "list 'kultur' does not exist" in line and "erhverv" in line
    assert "0 subscribed" in with_list("subscribers", "count").stdout
    assert with_list("subscribers", "list").stdout == ""


def test_import_dry_run(with_list: Cli) -> None:
    result = with_list("subscribers", "import", str(DATA / "utf8_bom.csv"), "--dry-run")
    assert "dry run, nothing saved: 3 added" in result.stdout
    assert with_list("subscribers", "list").stdout == ""


def test_export_round_trips_through_import(with_list: Cli, tmp_path: Path) -> None:
    with_list("subscribers", "import", str(DATA / "danish_excel_cp1252.csv"))
    out = tmp_path / "erhverv.csv"
    with_list("subscribers", "export", "--list", "erhverv", "--out", str(out), "--excel")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "email;name;language;state;subscribed;Postnr;Virksomhed"
    assert any(line.startswith("soeren@aeblegaarden.dk;Søren Ærø;da;subscribed;") for line in lines)
    stdout_export = with_list("subscribers", "export").stdout
    assert stdout_export.splitlines()[0] == "email,name,language,state,subscribed,Postnr,Virksomhed"
    # A second project imports the export unchanged.
    with_list("lists", "create", "kopi", "--title", "Kopi")
    result = with_list("subscribers", "import", str(out), "--list", "kopi")
    assert "Imported: 4 added" in result.stdout
    assert "Æblegården ApS" in with_list("subscribers", "show", "soeren@aeblegaarden.dk").stdout


def test_export_to_missing_folder_writes_nothing(with_list: Cli, tmp_path: Path) -> None:
    result = with_list("subscribers", "export", "--out", str(tmp_path / "nope" / "x.csv"), code=4)
    assert "does not exist" in result.stderr


def test_export_data_and_erase(with_list: Cli, tmp_path: Path) -> None:
    with_list("subscribers", "add", "jens@firma.dk", "--name", "Jens")
    data = json.loads(with_list("subscribers", "export-data", "jens@firma.dk").stdout)
    assert data["profile"]["name"] == "Jens"
    assert data["consent_log"][0]["consent_text"] == "Ja tak"
    declined = with_list("subscribers", "erase", "jens@firma.dk", input="n\n", code=1)
    assert "Aborted" in declined.stderr
    assert "Jens" in with_list("subscribers", "show", "jens@firma.dk").stdout
    erased = with_list("subscribers", "erase", "jens@firma.dk", input="y\n")
    assert "Erased jens@firma.dk" in erased.stdout
    with_list("subscribers", "show", "jens@firma.dk", code=4)
    after = json.loads(with_list("subscribers", "export-data", "jens@firma.dk").stdout)
    assert after["profile"] is None and after["suppression"]["reason"] == "erased"
    sheet = tmp_path / "old.csv"
    sheet.write_text("email\njens@firma.dk\n", encoding="utf-8")
    assert "1 skipped-suppressed" in with_list("subscribers", "import", str(sheet)).stdout
    assert "nothing erased" in with_list("subscribers", "erase", "other@firma.dk", "--yes", code=4).stderr


def test_database_that_does_not_connect(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:hemmelig@127.0.0.1:9/none"
    cli = Cli(write_project(tmp_path / "project", url))
    result = cli("lists", "show", code=4)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not answer" in lines[0]
    assert "hemmelig" not in result.stderr


def test_an_unsupported_database_is_named_with_the_fix(tmp_path: Path) -> None:
    cli = Cli(write_project(tmp_path / "project", "mysql://nobody:hemmelig@127.0.0.1/nl"))
    result = cli("subscribers", "count", code=4)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mysql is not supported" in lines[0]
    assert "postgresql+psycopg://" in lines[0] and "hemmelig" not in result.stderr


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    cli = Cli(write_project(tmp_path / "project", f"sqlite:///{tmp_path}/missing/nl.db"))
    result = cli("subscribers", "count", code=4)
    assert "does not exist — create it or fix [database] url" in result.stderr


def _commands(group: click.Group) -> list[click.Command]:
    return [group, *group.commands.values()]


@pytest.mark.parametrize(
    "command", [*_commands(lists_group), *_commands(subscribers_group)], ids=lambda c: c.name
)
def test_every_command_has_an_example(command: click.Command) -> None:
    assert "Example:" in (command.help or "")


def test_unexpected_database_failure_is_one_line(with_list: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from newsletter.cli import lists as commands

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO lists …", {}, Exception("database is locked"))

    monkeypatch.setattr(commands, "create_list", locked)
    result = with_list("lists", "create", "kultur", "--title", "Kulturnyt", code=4)
    assert result.stderr.strip().splitlines() == [
        "Error: the database failed: database is locked — this command's changes were rolled back; try again"
    ]


def test_personal_data_leaving_or_erased_on_the_command_line_is_in_the_audit_log(
    with_list: Cli, tmp_path: Path
) -> None:
    """As in the workspace: export-data, a list export and an erasure are recorded, by subscriber id,
    never by address (the log cannot be changed, and an erased person leaves no address in it)."""
    with_list("subscribers", "add", "jens@firma.dk", "--name", "Jens")
    sheet = tmp_path / "messe.csv"
    sheet.write_text("email;navn\nida@firma.dk;Ida\nikke-en-adresse;X\n", encoding="utf-8")
    with_list("subscribers", "import", str(sheet), "--consent-note", "Messen 2019")
    with_list("subscribers", "import", str(sheet), "--dry-run")  # a dry run changes nothing: not recorded
    with_list("subscribers", "export-data", "jens@firma.dk", "--out", str(tmp_path / "jens.json"))
    with_list("subscribers", "export", "--out", str(tmp_path / "erhverv.csv"), "--excel")
    with_list("subscribers", "erase", "jens@firma.dk", "--yes")
    log = with_list("users", "audit").stdout
    lines = [line for line in log.splitlines() if "subscriber" in line]
    assert [line.split()[3] for line in lines] == [
        "subscriber.erased",
        "subscribers.exported",
        "subscriber.data_exported",
        "subscribers.imported",
    ]
    assert "file=messe.csv" in lines[3] and "added=1" in lines[3] and "rejected=1" in lines[3]
    assert all(line.split()[2].startswith("cli:") for line in lines)
    assert "subscriber:1" in lines[0] and "memberships=1" in lines[0]
    assert "erhverv" in lines[1] and "rows=2" in lines[1]  # Jens and Ida
    assert "jens@firma.dk" not in log and "Jens" not in log and "ida@firma.dk" not in log
