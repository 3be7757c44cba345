"""The users commands, as an operator runs them (click's CliRunner, real databases)."""

from __future__ import annotations

import csv
import getpass
import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine

from newsletter.store import db
from newsletter.store.lists import utcnow
from newsletter.workspace.audit import recent_entries
from newsletter.workspace.links import check_password_link, redeem_password_link
from newsletter.workspace.login import complete_second_factor, log_in
from newsletter.workspace.sessions import lookup_session
from newsletter.workspace.users import enable_totp, find_user
from tests.conftest import write_project
from tests.store.test_cli import Cli
from tests.workspace.conftest import PASSWORD, POLICY, TOTP_SECRET, code_at

LINK = re.compile(r"^https://nyhedsbrev\.example\.org/admin/set-password/([A-Za-z0-9_-]{43})$", re.MULTILINE)
CLI_ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    return Cli(write_project(tmp_path / "project", database_url))


@pytest.fixture
def engine(database_url: str) -> Engine:
    return db.open_engine(database_url)


def token_of(result: Result) -> str:
    found = LINK.search(result.stdout)
    assert found, result.stdout
    return found.group(1)


def one_error_line(result: Result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def with_password(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        redeem_password_link(conn, token, PASSWORD)


def test_add_prints_a_one_time_link_that_lets_the_person_choose_a_password(cli: Cli, engine: Engine) -> None:
    added = cli(
        "users", "add", "Jens@Ballerup.DK", "--role", "editor", "--name", "Jens Hansen", "--language", "en"
    )
    assert added.stdout.startswith("Added Jens@ballerup.dk as editor.\n")
    assert "it works once, until " in added.stdout
    token = token_of(added)
    with engine.begin() as conn:
        user = check_password_link(conn, token)
        assert (user.email, user.name, user.role, user.language) == (
            "Jens@ballerup.dk",
            "Jens Hansen",
            "editor",
            "en",
        )
        entries = recent_entries(conn)
    assert [(entry.action, entry.actor) for entry in entries] == [
        ("user.password_link", CLI_ACTOR),
        ("user.created", CLI_ACTOR),
    ]
    assert token not in str(entries)
    with_password(engine, token)
    assert log_in(engine, "jens@ballerup.dk", PASSWORD, POLICY)


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("jens", "--role", "editor"), 10, "Error: email: 'jens' is not a valid email address"),
        (
            ("jens@ballerup.dk", "--role", "boss"),
            10,
            "Error: role 'boss' is not a workspace role — use editor, sender or admin",
        ),
        (
            ("jens@ballerup.dk", "--role", "editor", "--language", "de"),
            10,
            "Error: language 'de' is not offered — use da or en",
        ),
        (("jens@ballerup.dk",), 2, "Error: Missing option '--role'."),
    ],
)
def test_bad_input_is_one_error_line_naming_the_field(
    cli: Cli, args: tuple[str, ...], code: int, expected: str
) -> None:
    result = cli("users", "add", *args, code=code)
    assert one_error_line(result).startswith(expected)
    assert "set-password" not in result.stdout
    assert "No workspace users yet" in cli("users", "list").stdout


def test_adding_someone_twice_says_how_to_get_them_a_new_link(cli: Cli) -> None:
    cli("users", "add", "jens@ballerup.dk", "--role", "editor")
    again = cli("users", "add", "JENS@ballerup.dk", "--role", "admin", code=4)
    assert one_error_line(again) == (
        "Error: jens@ballerup.dk is already a workspace user (editor) — see 'newsletter users list'; "
        "a new set-password link: 'newsletter users reset jens@ballerup.dk'"
    )


def test_list_shows_role_second_factor_last_login_and_disabled(cli: Cli, engine: Engine) -> None:
    with_password(
        engine, token_of(cli("users", "add", "jens@ballerup.dk", "--role", "sender", "--name", "Jens Hansen"))
    )
    cli("users", "add", "chef@ballerup.dk", "--role", "admin")
    with engine.begin() as conn:
        jens = find_user(conn, "jens@ballerup.dk")
        # The app's code of a minute ago enrols it; a fresh one signs in.
        earlier = utcnow() - timedelta(minutes=1)
        enable_totp(conn, jens, TOTP_SECRET, code_at(TOTP_SECRET, earlier), actor=jens.actor(), now=earlier)
    later = utcnow()
    pending = log_in(engine, "jens@ballerup.dk", PASSWORD, POLICY, now=later)
    complete_second_factor(engine, pending.token, code_at(TOTP_SECRET, later), POLICY, now=later)
    cli("users", "disable", "jens@ballerup.dk")
    lines = cli("users", "list").stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["email", "name", "role", "2FA", "last login (UTC)", "disabled"]
    assert re.split(r"\s{2,}", lines[1].strip()) == ["chef@ballerup.dk", "admin", "off", "never", "no"]
    assert re.split(r"\s{2,}", lines[2]) == [
        "jens@ballerup.dk",
        "Jens Hansen",
        "sender",
        "on",
        f"{later:%Y-%m-%d %H:%M}",
        "yes",
    ]


def test_disable_signs_the_user_out_and_enable_lets_them_back(cli: Cli, engine: Engine) -> None:
    cli("users", "add", "chef@ballerup.dk", "--role", "admin")
    with_password(engine, token_of(cli("users", "add", "jens@ballerup.dk", "--role", "editor")))
    session = log_in(engine, "jens@ballerup.dk", PASSWORD, POLICY)
    disabled = cli("users", "disable", "jens@ballerup.dk")
    assert disabled.stdout == "Disabled jens@ballerup.dk: signed out everywhere, and cannot sign in.\n"
    with engine.begin() as conn:
        assert lookup_session(conn, session.token, POLICY) is None
    enabled = cli("users", "enable", "jens@ballerup.dk")
    assert enabled.stdout == "Enabled jens@ballerup.dk: they can sign in again.\n"
    assert log_in(engine, "jens@ballerup.dk", PASSWORD, POLICY)
    with engine.connect() as conn:
        assert [entry.action for entry in recent_entries(conn, limit=3)][1:] == [
            "user.enabled",
            "user.disabled",
        ]


def test_reset_voids_the_old_password_sessions_and_link(cli: Cli, engine: Engine) -> None:
    first = token_of(cli("users", "add", "jens@ballerup.dk", "--role", "editor"))
    with_password(engine, first)
    session = log_in(engine, "jens@ballerup.dk", PASSWORD, POLICY)
    reset = cli("users", "reset", "jens@ballerup.dk", "--remove-2fa")
    assert "the old password no longer works, and they are signed out everywhere" in reset.stdout
    second = token_of(reset)
    with engine.begin() as conn:
        assert lookup_session(conn, session.token, POLICY) is None
        assert check_password_link(conn, second).email == "jens@ballerup.dk"
        assert not find_user(conn, "jens@ballerup.dk").has_password


def test_role_changes_and_the_last_admin_is_kept(cli: Cli) -> None:
    cli("users", "add", "chef@ballerup.dk", "--role", "admin")
    cli("users", "add", "jens@ballerup.dk", "--role", "editor")
    assert (
        cli("users", "role", "jens@ballerup.dk", "sender").stdout
        == "jens@ballerup.dk is now sender (was editor).\n"
    )
    refused = cli("users", "role", "chef@ballerup.dk", "editor", code=10)
    assert "add another admin first: newsletter users add EMAIL --role admin" in one_error_line(refused)
    bad = cli("users", "role", "jens@ballerup.dk", "chef", code=10)
    assert one_error_line(bad) == "Error: role 'chef' is not a workspace role — use editor, sender or admin"


@pytest.mark.parametrize("command", ["disable", "enable", "reset"])
def test_an_unknown_user_is_one_error_line(cli: Cli, command: str) -> None:
    result = cli("users", command, "nobody@ballerup.dk", code=4)
    assert one_error_line(result) == (
        "Error: no workspace user has the email 'nobody@ballerup.dk' — see 'newsletter users list'"
    )


def test_audit_shows_the_log_and_exports_it_for_excel(cli: Cli, tmp_path: Path) -> None:
    cli("users", "add", "=cmd|' /C calc'!A0@ballerup.dk", "--role", "editor", code=10)  # not an address
    cli("users", "add", "jens@ballerup.dk", "--role", "editor", "--name", '=HYPERLINK("http://x")')
    shown = cli("users", "audit").stdout.splitlines()
    assert f"{CLI_ACTOR}  user.password_link  jens@ballerup.dk" in shown[0]
    out = tmp_path / "revision.csv"
    written = cli("users", "audit", "--out", str(out), "--excel")
    assert written.stdout == f"Wrote 2 audit entries to {out}.\n"
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0] == ["id", "at (UTC)", "user id", "actor", "action", "subject", "detail", "ip"]
    created = rows[1]
    assert created[4] == "user.created"
    assert created[6] == '{"name": "=HYPERLINK(\\"http://x\\")", "role": "editor"}'  # JSON: starts with {
    assert "audit.exported" in cli("users", "audit", "--limit", "1").stdout


def test_add_says_when_the_workspace_is_turned_off(tmp_path: Path, database_url: str) -> None:
    off = Cli(write_project(tmp_path / "off", database_url, extra="\n[admin]\nenabled = false\n"))
    added = off("users", "add", "jens@ballerup.dk", "--role", "editor")
    assert token_of(added)
    assert added.stderr == (
        "Note: the workspace is turned off ([admin] enabled = false in newsletter.toml); "
        "turn it on for the link to open.\n"
    )
