"""Who may do what in the workspace: one table, asked through one function, :func:`may`.

The roles build on each other: an **editor** drafts, previews, checks and sends
tests to themselves; a **sender** also sends to lists, schedules and approves
another sender's send (the four-eyes rule, ``[admin] four_eyes``); an
**admin** also manages lists, subscribers and users and sees the audit log.
A disabled user may do nothing.
"""

from __future__ import annotations

from typing import Protocol

from newsletter.errors import AccountError
from newsletter.store.schema import USER_ROLES

ROLES = USER_ROLES

# Every action a workspace page may ask about, with what it means (for the docs and the admin pages).
ACTIONS: dict[str, str] = {
    "issue.draft": "create and edit issues",
    "issue.preview": "preview an issue",
    "issue.check": "run the checks on an issue",
    "issue.test_send": "send a test copy of an issue to oneself",
    "issue.send": "send an issue to a list",
    "issue.schedule": "schedule a send to a list",
    "issue.approve": "approve another sender's send to a list (four-eyes)",
    "lists.manage": "create, change and delete lists",
    "subscribers.manage": "search, add, unsubscribe, erase, import and export subscribers",
    "users.manage": "add, disable, enable and reset users and change their roles",
    "audit.view": "see and export the audit log",
}

_EDITOR = frozenset({"issue.draft", "issue.preview", "issue.check", "issue.test_send"})
_SENDER = _EDITOR | {"issue.send", "issue.schedule", "issue.approve"}
_ADMIN = _SENDER | {"lists.manage", "subscribers.manage", "users.manage", "audit.view"}
PERMISSIONS: dict[str, frozenset[str]] = {"editor": _EDITOR, "sender": _SENDER, "admin": _ADMIN}


class HasRole(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def disabled(self) -> bool: ...


def may(user: HasRole | None, action: str) -> bool:
    """Whether ``user`` may do ``action`` (a key of :data:`ACTIONS`); nobody (None) and disabled users may not.

    An action that is not in the table is a programming mistake, not a "no": it raises ValueError,
    so a misspelt check fails loudly in tests instead of quietly refusing (or allowing) a page.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown workspace action {action!r} — use one of: {', '.join(ACTIONS)}")
    if user is None or user.disabled:
        return False
    return action in PERMISSIONS.get(user.role, frozenset())


def parse_role(value: str) -> str:
    """``value`` as a role name; :class:`AccountError` naming the roles otherwise."""
    role = (value or "").strip().lower()
    if role not in ROLES:
        raise AccountError(
            f"role {value!r} is not a workspace role — use editor, sender or admin", reason="bad-role"
        )
    return role
