"""One-time set-password links: the link format, only a hash stored, once, 72 hours, voided by a new one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from newsletter.config import Settings
from newsletter.errors import LinkRefused, LoginRefused, PasswordRejected
from newsletter.store.schema import user_tokens
from newsletter.workspace.audit import recent_entries
from newsletter.workspace.links import (
    LINK_LIFETIME,
    PasswordLink,
    check_password_link,
    invite_user,
    issue_password_link,
    redeem_password_link,
    reset_password,
)
from newsletter.workspace.login import log_in
from newsletter.workspace.sessions import create_session, lookup_session
from newsletter.workspace.users import credentials, disable_user, find_user
from tests.workspace.conftest import CLI, NOW, PASSWORD, POLICY, TOTP_SECRET, MakeUser

NEW_PASSWORD = "sommerhus ved vesterhavet"


def test_an_invitation_is_a_link_under_the_base_url_and_only_its_hash_is_kept(
    engine: Engine, settings: Settings
) -> None:
    with engine.begin() as conn:
        link = invite_user(conn, "ann@kommune.dk", "sender", actor=CLI, name="Ann", now=NOW)
        stored = conn.execute(select(user_tokens)).one()
        actions = [entry.action for entry in recent_entries(conn)]
    assert link.url(settings) == f"https://nyhedsbrev.example.org/admin/set-password/{link.token}"
    assert len(link.token) >= 43  # 256 random bits
    assert link.expires_at == NOW + LINK_LIFETIME == NOW + timedelta(hours=72)
    assert link.token not in repr(link)
    assert link.token not in [str(value) for value in stored]
    assert actions == ["user.password_link", "user.created"]
    with engine.connect() as conn:
        assert check_password_link(conn, link.token, now=NOW).email == "ann@kommune.dk"


def test_a_link_sets_the_password_once(engine: Engine) -> None:
    with engine.begin() as conn:
        link = invite_user(conn, "ann@kommune.dk", "editor", actor=CLI, now=NOW)
        user = redeem_password_link(
            conn, link.token, NEW_PASSWORD, ip="10.1.2.3", now=NOW + timedelta(hours=1)
        )
        entry = recent_entries(conn)[0]
    assert user.has_password
    assert (entry.action, entry.user_id, entry.ip) == ("user.password_set", user.id, "10.1.2.3")
    with pytest.raises(LinkRefused) as refused, engine.begin() as conn:
        redeem_password_link(conn, link.token, "et andet godt kodeord", now=NOW + timedelta(hours=2))
    assert refused.value.reason == "used"
    assert str(refused.value).startswith("this set-password link has been used already")
    assert log_in(engine, "ann@kommune.dk", NEW_PASSWORD, POLICY, now=NOW + timedelta(hours=3))


def test_a_weak_password_leaves_the_link_usable(engine: Engine) -> None:
    with engine.begin() as conn:
        link = invite_user(conn, "ann@kommune.dk", "editor", actor=CLI, now=NOW)
    with pytest.raises(PasswordRejected), engine.begin() as conn:
        redeem_password_link(conn, link.token, "ann@kommune.dk", now=NOW)
    with engine.begin() as conn:
        assert redeem_password_link(conn, link.token, NEW_PASSWORD, now=NOW).has_password


@pytest.mark.parametrize(
    ("token_of", "after", "reason"),
    [
        (lambda link: link.token, LINK_LIFETIME, "expired"),
        (lambda link: link.token + "x", timedelta(0), "unknown"),
        (lambda link: "", timedelta(0), "unknown"),
        (lambda link: "a" * 5000, timedelta(0), "unknown"),
    ],
)
def test_expired_and_unknown_links_are_refused(
    engine: Engine, token_of: Callable[[PasswordLink], str], after: timedelta, reason: str
) -> None:
    with engine.begin() as conn:
        link = invite_user(conn, "ann@kommune.dk", "editor", actor=CLI, now=NOW)
    with pytest.raises(LinkRefused) as refused, engine.begin() as conn:
        redeem_password_link(conn, token_of(link), NEW_PASSWORD, now=NOW + after)
    assert refused.value.reason == reason
    with engine.connect() as conn:
        assert not find_user(conn, "ann@kommune.dk").has_password


def test_a_new_link_voids_the_old_one(engine: Engine) -> None:
    with engine.begin() as conn:
        first = invite_user(conn, "ann@kommune.dk", "editor", actor=CLI, now=NOW)
        second = issue_password_link(conn, first.user, actor=CLI, now=NOW)
    with pytest.raises(LinkRefused, match="not valid"), engine.connect() as conn:
        check_password_link(conn, first.token, now=NOW)
    with engine.connect() as conn:
        assert check_password_link(conn, second.token, now=NOW).id == first.user.id


def test_a_disabled_users_link_is_refused(engine: Engine, make_user: MakeUser) -> None:
    make_user("chef@kommune.dk", "admin")
    with engine.begin() as conn:
        link = invite_user(conn, "ann@kommune.dk", "editor", actor=CLI, now=NOW)
        disable_user(conn, link.user, actor=CLI, now=NOW)
    with pytest.raises(LinkRefused) as refused, engine.connect() as conn:
        check_password_link(conn, link.token, now=NOW)
    assert refused.value.reason == "disabled"


def test_a_reset_locks_out_whoever_knew_the_old_password(engine: Engine, make_user: MakeUser) -> None:
    user = make_user(totp_secret=TOTP_SECRET)
    with engine.begin() as conn:
        session = create_session(conn, user, POLICY, now=NOW)
        link = reset_password(conn, user, actor=CLI, now=NOW)
        assert lookup_session(conn, session.token, POLICY, now=NOW) is None
        assert credentials(conn, user.id).password_hash is None
        assert credentials(conn, user.id).totp_secret is not None  # kept unless asked
        entry = recent_entries(conn, action="user.password_reset")[0]
    assert entry.detail == {"second_factor_removed": False}
    with pytest.raises(LoginRefused) as refused:
        log_in(engine, user.email, PASSWORD, POLICY, now=NOW + timedelta(minutes=1))
    assert refused.value.reason == "wrong"
    with engine.begin() as conn:
        redeem_password_link(conn, link.token, NEW_PASSWORD, now=NOW + timedelta(minutes=2))
    pending = log_in(engine, user.email, NEW_PASSWORD, POLICY, now=NOW + timedelta(minutes=3))
    assert pending.session.second_factor_pending  # a link never stands in for the second factor


def test_a_reset_can_remove_the_second_factor(engine: Engine, make_user: MakeUser) -> None:
    user = make_user(totp_secret=TOTP_SECRET)
    with engine.begin() as conn:
        reset_password(conn, user, actor=CLI, remove_totp=True, now=NOW)
        assert credentials(conn, user.id).totp_secret is None
        assert recent_entries(conn, action="user.password_reset")[0].detail == {"second_factor_removed": True}
