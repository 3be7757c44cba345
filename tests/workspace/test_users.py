"""Workspace users: one per address, never deleted, every change audited, the last admin kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from newsletter.errors import AccountError, AlreadyExists, NotFound, PasswordRejected
from newsletter.store.schema import users
from newsletter.workspace import passwords
from newsletter.workspace.audit import recent_entries
from newsletter.workspace.sessions import create_session, lookup_session
from newsletter.workspace.users import (
    change_role,
    create_user,
    credentials,
    disable_user,
    enable_user,
    find_user,
    get_user,
    log_out_everywhere,
    set_password,
    update_profile,
)
from tests.workspace.conftest import CLI, NOW, PASSWORD, POLICY, TOTP_SECRET, MakeUser


def test_a_user_is_one_person_whatever_the_case_of_their_address(engine: Engine) -> None:
    with engine.begin() as conn:
        made = create_user(conn, "  Jens@KOMMUNE.dk ", "editor", actor=CLI, name="Jens Hansen", now=NOW)
    assert (made.email, made.role, made.language, made.has_password, made.totp_enabled) == (
        "Jens@kommune.dk",
        "editor",
        "da",
        False,
        False,
    )
    with engine.begin() as conn:
        assert get_user(conn, "jens@kommune.DK") == made
        with pytest.raises(AlreadyExists, match=r"Jens@kommune\.dk is already a workspace user \(editor\)"):
            create_user(conn, "JENS@kommune.dk", "admin", actor=CLI)
        entry = recent_entries(conn)[0]
    assert (entry.action, entry.actor, entry.subject, entry.detail) == (
        "user.created",
        "cli:test",
        "Jens@kommune.dk",
        {"role": "editor", "name": "Jens Hansen"},
    )


@pytest.mark.parametrize(
    ("email", "role", "name", "language", "message"),
    [
        ("jens", "editor", "", "da", "email: "),
        (
            "jens@kommune.dk",
            "boss",
            "",
            "da",
            "role 'boss' is not a workspace role — use editor, sender or admin",
        ),
        ("jens@kommune.dk", "editor", "Jens\nBcc: x", "da", "name holds a line break"),
        ("jens@kommune.dk", "editor", "", "de", "language 'de' is not offered — use da or en"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(
    engine: Engine, email: str, role: str, name: str, language: str, message: str
) -> None:
    with pytest.raises(AccountError) as refused, engine.begin() as conn:
        create_user(conn, email, role, actor=CLI, name=name, language=language)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    with engine.connect() as conn:
        assert conn.execute(select(users)).all() == []


def test_unknown_user_says_how_to_see_who_exists(engine: Engine) -> None:
    with pytest.raises(NotFound) as missing, engine.connect() as conn:
        find_user(conn, "nobody@kommune.dk")
    assert (
        str(missing.value)
        == "no workspace user has the email 'nobody@kommune.dk' — see 'newsletter users list'"
    )


def test_a_row_never_shows_the_password_hash_or_the_second_factor(
    engine: Engine, make_user: MakeUser
) -> None:
    user = make_user(totp_secret=TOTP_SECRET)
    with engine.connect() as conn:
        stored = credentials(conn, user.id)
    assert stored.password_hash and stored.totp_secret
    for shown in (repr(user), repr(stored), str(user)):
        assert stored.password_hash not in shown and stored.totp_secret not in shown
        assert TOTP_SECRET not in shown
    assert user.has_password and user.totp_enabled


def test_a_weak_password_is_refused_and_nothing_is_stored(engine: Engine, make_user: MakeUser) -> None:
    user = make_user(password=None)
    with pytest.raises(PasswordRejected, match="at least 12 characters"), engine.begin() as conn:
        set_password(conn, user, "kort", actor=CLI)
    with pytest.raises(PasswordRejected, match="email address"), engine.begin() as conn:
        set_password(conn, user, "JENS@kommune.dk", actor=CLI)
    with engine.connect() as conn:
        assert credentials(conn, user.id).password_hash is None


def test_setting_a_password_ends_every_session_and_lifts_a_lockout(
    engine: Engine, make_user: MakeUser
) -> None:
    user = make_user()
    with engine.begin() as conn:
        old = create_session(conn, user, POLICY, now=NOW)
        conn.execute(users.update().values(failed_logins=12, locked_until=NOW + timedelta(hours=1)))
        changed = set_password(conn, user, "et helt nyt kodeord", actor=user.actor("10.0.0.7"), now=NOW)
        assert lookup_session(conn, old.token, POLICY, now=NOW) is None
        entry = recent_entries(conn)[0]
    assert (changed.failed_logins, changed.locked_until) == (0, None)
    assert (entry.action, entry.user_id, entry.ip) == ("user.password_set", user.id, "10.0.0.7")
    with engine.connect() as conn:
        stored = credentials(conn, user.id).password_hash
    assert passwords.verify_password(stored, "et helt nyt kodeord")
    assert not passwords.verify_password(stored, PASSWORD)


def test_disabling_ends_every_session_and_enabling_lifts_the_lockout(
    engine: Engine, make_user: MakeUser
) -> None:
    user = make_user()
    with engine.begin() as conn:
        session = create_session(conn, user, POLICY, now=NOW)
        disabled = disable_user(conn, user, actor=CLI, now=NOW)
        assert disabled.disabled
        assert lookup_session(conn, session.token, POLICY, now=NOW) is None
        conn.execute(users.update().values(failed_logins=10, locked_until=NOW + timedelta(minutes=15)))
        enabled = enable_user(conn, find_user(conn, user.email), actor=CLI, now=NOW)
        actions = [entry.action for entry in recent_entries(conn, limit=2)]
    assert (enabled.disabled, enabled.failed_logins, enabled.locked_until) == (False, 0, None)
    assert actions == ["user.enabled", "user.disabled"]


def test_the_last_enabled_admin_cannot_be_disabled_or_demoted(engine: Engine, make_user: MakeUser) -> None:
    boss = make_user("chef@kommune.dk", "admin")
    for change in (
        lambda conn: disable_user(conn, boss, actor=CLI),
        lambda conn: change_role(conn, boss, "sender", actor=CLI),
    ):
        with pytest.raises(AccountError) as refused, engine.begin() as conn:
            change(conn)
        assert refused.value.reason == "last-admin"
        assert "add another admin first: newsletter users add EMAIL --role admin" in str(refused.value)
    make_user("vice@kommune.dk", "admin")
    with engine.begin() as conn:
        demoted = change_role(conn, boss, "sender", actor=CLI, now=NOW)
        entry = recent_entries(conn)[0]
    assert demoted.role == "sender"
    assert (entry.action, entry.detail) == ("user.role_changed", {"from": "admin", "to": "sender"})


def test_log_out_everywhere_ends_every_session(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        phone = create_session(conn, user, POLICY, now=NOW)
        desk = create_session(conn, user, POLICY, now=NOW)
        log_out_everywhere(conn, user, actor=user.actor(), now=NOW + timedelta(minutes=1))
        later = NOW + timedelta(minutes=2)
        assert lookup_session(conn, phone.token, POLICY, now=later) is None
        assert lookup_session(conn, desk.token, POLICY, now=later) is None
        assert recent_entries(conn)[0].action == "logout.everywhere"


def test_profile_changes_are_audited_and_no_change_writes_nothing(
    engine: Engine, make_user: MakeUser
) -> None:
    user = make_user()
    with engine.begin() as conn:
        before = len(recent_entries(conn))
        same = update_profile(conn, user, actor=user.actor(), name="Jens Hansen", language="da")
        assert same == user and len(recent_entries(conn)) == before
        changed = update_profile(conn, user, actor=user.actor(), language="en", now=NOW)
        entry = recent_entries(conn)[0]
    assert changed.language == "en"
    assert (entry.action, entry.detail) == ("user.profile_changed", {"language": "en"})
