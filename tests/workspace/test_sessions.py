"""Server-side sessions: only a hash stored, idle and absolute ends, rotation, revocation, CSRF."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select, update

from newsletter.store.schema import sessions, users
from newsletter.workspace.audit import recent_entries
from newsletter.workspace.sessions import (
    SECOND_FACTOR_WINDOW,
    SessionPolicy,
    create_session,
    csrf_matches,
    end_session,
    lookup_pending_login,
    lookup_session,
    prune_sessions,
    rotate_session,
    sessions_of,
)
from newsletter.workspace.settings import AdminSettings
from newsletter.workspace.users import disable_user
from tests.workspace.conftest import CLI, NOW, POLICY, MakeUser


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sessions)).scalar_one())


def test_the_cookie_value_is_given_once_and_only_its_hash_is_stored(
    engine: Engine, make_user: MakeUser
) -> None:
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, POLICY, ip="10.0.0.7", user_agent="Firefox " * 100, now=NOW)
        row = conn.execute(select(sessions)).one()
    assert len(new.token) >= 43
    assert new.token not in [str(value) for value in row]
    assert new.token not in repr(new) and new.session.csrf_secret not in repr(new)
    assert (row.ip, len(row.user_agent)) == ("10.0.0.7", 300)
    with engine.begin() as conn:
        found = lookup_session(conn, new.token, POLICY, now=NOW)
    assert found is not None and found.user.id == user.id and found.session.id == new.session.id


def test_unknown_and_absurd_ids_find_nothing(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    with engine.begin() as conn:
        for token in (None, "", "nope", "x" * 10_000):
            assert lookup_session(conn, token, POLICY, now=NOW) is None


def test_a_session_ends_after_the_idle_time_and_is_deleted(engine: Engine, make_user: MakeUser) -> None:
    policy = SessionPolicy.from_settings(AdminSettings(session_idle_minutes=30, session_max_hours=8))
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, policy, now=NOW)
        assert lookup_session(conn, new.token, policy, now=NOW + timedelta(minutes=29)) is not None
        # That visit counted: 29 more minutes are fine, 30 after it are not.
        assert lookup_session(conn, new.token, policy, now=NOW + timedelta(minutes=58)) is not None
        assert lookup_session(conn, new.token, policy, now=NOW + timedelta(minutes=88)) is None
    assert _count(engine) == 0


def test_a_busy_session_still_ends_at_its_absolute_end(engine: Engine, make_user: MakeUser) -> None:
    policy = SessionPolicy.from_settings(AdminSettings(session_idle_minutes=30, session_max_hours=2))
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, policy, now=NOW)
        for minutes in range(0, 120, 20):
            assert lookup_session(conn, new.token, policy, now=NOW + timedelta(minutes=minutes)) is not None
        assert lookup_session(conn, new.token, policy, now=NOW + timedelta(minutes=120)) is None


def test_visits_are_written_at_most_once_a_minute(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, POLICY, now=NOW)
        lookup_session(conn, new.token, POLICY, now=NOW + timedelta(seconds=30))
        assert sessions_of(conn, user)[0].last_seen_at == NOW
        seen = lookup_session(conn, new.token, POLICY, now=NOW + timedelta(seconds=61))
        assert seen is not None and seen.session.last_seen_at == NOW + timedelta(seconds=61)
        assert sessions_of(conn, user)[0].last_seen_at == NOW + timedelta(seconds=61)


def test_a_disabled_users_session_is_refused(engine: Engine, make_user: MakeUser) -> None:
    make_user("chef@kommune.dk", "admin")
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, POLICY, now=NOW)
        # Even a session row that somehow survived the disabling opens nothing.
        conn.execute(update(users).where(users.c.id == user.id).values(disabled=True))
        assert lookup_session(conn, new.token, POLICY, now=NOW) is None
        conn.execute(update(users).where(users.c.id == user.id).values(disabled=False))
        again = create_session(conn, user, POLICY, now=NOW)
        disable_user(conn, user, actor=CLI, now=NOW)
        assert lookup_session(conn, again.token, POLICY, now=NOW) is None
    assert _count(engine) == 0


def test_a_session_older_than_log_out_everywhere_is_refused(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, POLICY, now=NOW)
        conn.execute(
            update(users).where(users.c.id == user.id).values(sessions_valid_after=NOW + timedelta(seconds=1))
        )
        assert lookup_session(conn, new.token, POLICY, now=NOW + timedelta(seconds=2)) is None


def test_rotation_gives_a_new_id_and_csrf_secret_and_voids_the_old(
    engine: Engine, make_user: MakeUser
) -> None:
    user = make_user()
    with engine.begin() as conn:
        old = create_session(conn, user, POLICY, now=NOW)
        new = rotate_session(conn, old.token, POLICY, now=NOW + timedelta(minutes=1))
        assert new is not None and new.token != old.token
        assert new.session.id == old.session.id
        assert new.session.csrf_secret != old.session.csrf_secret
        assert new.session.expires_at == old.session.expires_at  # rotation does not extend the session
        assert lookup_session(conn, old.token, POLICY, now=NOW + timedelta(minutes=2)) is None
        assert lookup_session(conn, new.token, POLICY, now=NOW + timedelta(minutes=2)) is not None
        assert rotate_session(conn, old.token, POLICY, now=NOW) is None


def test_a_pending_session_opens_no_page_and_lasts_five_minutes(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        pending = create_session(conn, user, POLICY, second_factor_pending=True, now=NOW)
        assert pending.session.expires_at == NOW + SECOND_FACTOR_WINDOW
        assert lookup_session(conn, pending.token, POLICY, now=NOW) is None
        found = lookup_pending_login(conn, pending.token, now=NOW + timedelta(minutes=4))
        assert found is not None and found.user.id == user.id
        assert lookup_pending_login(conn, pending.token, now=NOW + timedelta(minutes=5)) is None
        full = create_session(conn, user, POLICY, now=NOW)
        assert lookup_pending_login(conn, full.token, now=NOW) is None


def test_signing_out_ends_the_session_and_is_audited(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        new = create_session(conn, user, POLICY, now=NOW)
        assert end_session(conn, new.token, ip="10.0.0.7", now=NOW)
        assert not end_session(conn, new.token, now=NOW)
        assert lookup_session(conn, new.token, POLICY, now=NOW) is None
        entry = recent_entries(conn)[0]
    assert (entry.action, entry.user_id, entry.ip) == ("logout", user.id, "10.0.0.7")


def test_prune_deletes_only_dead_sessions(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        create_session(conn, user, POLICY, now=NOW - timedelta(days=2))
        idle = create_session(conn, user, POLICY, now=NOW - POLICY.idle - timedelta(seconds=1))
        alive = create_session(conn, user, POLICY, now=NOW)
        assert prune_sessions(conn, POLICY, now=NOW) == 2
        assert [row.id for row in sessions_of(conn, user)] == [alive.session.id]
        assert idle.session.id != alive.session.id


def test_csrf_secret_must_match_exactly(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    with engine.begin() as conn:
        mine = create_session(conn, user, POLICY, now=NOW).session
        theirs = create_session(conn, user, POLICY, now=NOW).session
    assert csrf_matches(mine, mine.csrf_secret)
    for wrong in (None, "", theirs.csrf_secret, mine.csrf_secret[:-1], mine.csrf_secret + "x"):
        assert not csrf_matches(mine, wrong)
