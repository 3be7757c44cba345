"""[admin] in newsletter.toml: defaults, and each bad field as one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.workspace.sessions import SessionPolicy
from newsletter.workspace.settings import AdminSettings
from tests.foundation.test_config import GOOD, error_for, write


def test_without_an_admin_table_the_workspace_runs_beside_the_public_pages(tmp_path: Path) -> None:
    admin = load_settings(write(tmp_path, GOOD)).admin
    assert admin == AdminSettings(
        enabled=True, session_idle_minutes=60, session_max_hours=12, four_eyes=False, bind="", port=None
    )
    policy = SessionPolicy.from_settings(admin)
    assert (policy.idle.total_seconds(), policy.absolute.total_seconds()) == (3600, 12 * 3600)


def test_every_setting_is_read(tmp_path: Path) -> None:
    admin = load_settings(
        write(
            tmp_path,
            GOOD
            + "\n[admin]\nenabled = false\nsession_idle_minutes = 20\nsession_max_hours = 9\n"
            + 'four_eyes = true\nbind = "10.0.0.5"\nport = 8001\n',
        )
    ).admin
    assert admin == AdminSettings(False, 20, 9, True, "10.0.0.5", 8001)


def test_a_port_alone_listens_on_this_machine_only(tmp_path: Path) -> None:
    admin = load_settings(write(tmp_path, GOOD + "\n[admin]\nport = 8001\n")).admin
    assert (admin.bind, admin.port) == ("127.0.0.1", 8001)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('enabled = "yes"', "[admin] enabled: must be true or false (without quotes), not 'yes'"),
        ("session_idle_minutes = 2", "[admin] session_idle_minutes: 2 is out of range — use 5 to 1440"),
        ("session_max_hours = 0", "[admin] session_max_hours: 0 is out of range — use 1 to 720"),
        (
            "session_idle_minutes = 120\nsession_max_hours = 1",
            "[admin] session_idle_minutes: 120 minutes is longer than session_max_hours (1 h), so it "
            "would never apply — make it at most 60",
        ),
        ("four_eyes = 1", "[admin] four_eyes: must be true or false (without quotes), not 1"),
        ('bind = "intranet"\nport = 8001', "[admin] bind: 'intranet' is not an IP address of this machine"),
        ('bind = "10.0.0.5"', "[admin] bind: needs a port of its own — add port = 8001 under [admin]"),
        ("port = 70000", "[admin] port: 70000 is out of range — use 1 to 65535"),
    ],
)
def test_bad_admin_settings_are_one_line_naming_the_field(tmp_path: Path, table: str, expected: str) -> None:
    assert expected in error_for(tmp_path, GOOD + "\n[admin]\n" + table + "\n")


def test_the_test_group_is_a_list_of_addresses(tmp_path: Path) -> None:
    admin = load_settings(
        write(
            tmp_path,
            GOOD + '\n[admin]\ntest_group = ["jens@Kommune.DK", " lise@kommune.dk", "jens@kommune.dk"]\n',
        )
    ).admin
    assert admin.test_group == ("jens@kommune.dk", "lise@kommune.dk")
    assert load_settings(write(tmp_path, GOOD)).admin.test_group == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '"jens@kommune.dk"',
            "[admin] test_group: must be a list of addresses in quotes, not 'jens@kommune.dk'",
        ),
        ('["jens@kommune.dk", "lise"]', "[admin] test_group: 'lise' is not a valid email address"),
    ],
)
def test_a_bad_test_group_is_one_line_naming_it(tmp_path: Path, value: str, expected: str) -> None:
    message = error_for(tmp_path, GOOD + f"\n[admin]\ntest_group = {value}\n")
    assert expected in message
    assert 'write e.g. test_group = ["jens@kommune.dk", "lise@kommune.dk"] under [admin]' in message
