"""Who may do what: the role table of issue #11, asked through ``may``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from newsletter.errors import AccountError
from newsletter.workspace.roles import ACTIONS, may, parse_role


@dataclass(frozen=True)
class Someone:
    role: str
    disabled: bool = False


# Written out by hand from the issue, so that a change of the table in the code shows up here.
EXPECTED = {
    "editor": {"issue.draft", "issue.preview", "issue.check", "issue.test_send"},
    "sender": {
        "issue.draft",
        "issue.preview",
        "issue.check",
        "issue.test_send",
        "issue.send",
        "issue.schedule",
        "issue.approve",
    },
    "admin": set(ACTIONS),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_role_table(role: str, action: str) -> None:
    assert may(Someone(role), action) is (action in EXPECTED[role])


def test_an_editor_cannot_send_to_a_list_and_a_sender_cannot_manage_users() -> None:
    assert not may(Someone("editor"), "issue.send")
    assert not may(Someone("sender"), "users.manage")
    assert may(Someone("admin"), "users.manage")


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_nobody_and_disabled_users_may_do_nothing(action: str) -> None:
    assert not may(None, action)
    assert not may(Someone("admin", disabled=True), action)


def test_an_unknown_action_is_a_mistake_not_a_no() -> None:
    with pytest.raises(ValueError, match=r"unknown workspace action 'issue\.sned'"):
        may(Someone("admin"), "issue.sned")


def test_roles_are_read_forgivingly_and_refused_clearly() -> None:
    assert parse_role(" Sender ") == "sender"
    with pytest.raises(AccountError) as refused:
        parse_role("boss")
    assert str(refused.value) == "role 'boss' is not a workspace role — use editor, sender or admin"


def test_the_roles_table_in_the_docs_is_the_one_in_the_code() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "workspace.md").read_text(encoding="utf-8")
    documented: dict[str, set[str]] = {role: set() for role in ("editor", "sender", "admin")}
    for line in page.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0].strip("`") in ACTIONS:
            for role, mark in zip(("editor", "sender", "admin"), cells[2:], strict=True):
                if mark == "✓":
                    documented[role].add(cells[0].strip("`"))
    assert documented == EXPECTED
