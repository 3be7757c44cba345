"""The second factor: enrolment proves the app has the secret; the secret is stored encrypted, bound to its user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from newsletter.errors import AccountError
from newsletter.store.schema import users
from newsletter.workspace import totp
from newsletter.workspace.audit import recent_entries
from newsletter.workspace.users import accept_totp_code, credentials, enable_totp, find_user, remove_totp
from tests.conftest import TEST_SECRET_KEY
from tests.workspace.conftest import CLI, NOW, TOTP_SECRET, MakeUser, code_at


def test_enrolment_needs_a_code_from_the_app(engine: Engine, make_user: MakeUser) -> None:
    user = make_user()
    assert len(totp.new_secret()) == 32  # base32: 160 bits
    an_hour_old = code_at(TOTP_SECRET, NOW - timedelta(hours=1))
    with pytest.raises(AccountError) as refused, engine.begin() as conn:
        enable_totp(conn, user, TOTP_SECRET, an_hour_old, actor=user.actor(), now=NOW)
    assert refused.value.reason == "wrong-code" and "phone's clock" in str(refused.value)
    code = code_at(TOTP_SECRET, NOW)
    with engine.begin() as conn:
        assert not find_user(conn, user.email).totp_enabled
        enrolled = enable_totp(conn, user, TOTP_SECRET, f"{code[:3]} {code[3:]}", actor=user.actor(), now=NOW)
        assert recent_entries(conn)[0].action == "user.totp_enabled"
    assert enrolled.totp_enabled


def test_the_code_used_to_enrol_cannot_sign_in(engine: Engine, make_user: MakeUser) -> None:
    user = make_user(totp_secret=TOTP_SECRET)  # enrolled with the code of a day ago
    enrolled_at = NOW - timedelta(days=1)
    with engine.begin() as conn:
        assert not accept_totp_code(conn, user, code_at(TOTP_SECRET, enrolled_at), now=enrolled_at)
        assert accept_totp_code(conn, user, code_at(TOTP_SECRET, NOW), now=NOW)


def test_the_secret_is_stored_encrypted_and_bound_to_its_user(engine: Engine, make_user: MakeUser) -> None:
    jens = make_user(totp_secret=TOTP_SECRET)
    ann = make_user("ann@kommune.dk", totp_secret=totp.new_secret())
    with engine.connect() as conn:
        stored = credentials(conn, jens.id).totp_secret
        everything = [str(value) for row in conn.execute(select(users)) for value in row]
    assert stored is not None and stored.startswith("v1:")
    assert not any(TOTP_SECRET in value for value in everything)
    assert totp.decrypt_secret(stored, jens.id, jens.email) == TOTP_SECRET
    # Copied onto another user, the ciphertext opens nothing.
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == ann.id).values(totp_secret=stored))
        with pytest.raises(AccountError) as refused:
            accept_totp_code(conn, ann, code_at(TOTP_SECRET, NOW), now=NOW)
    assert refused.value.reason == "totp-unreadable"


def test_another_secret_key_cannot_read_it_and_the_error_says_what_to_do(
    engine: Engine, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(totp_secret=TOTP_SECRET)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", TEST_SECRET_KEY + "-rotated")
    with pytest.raises(AccountError) as refused, engine.begin() as conn:
        accept_totp_code(conn, user, code_at(TOTP_SECRET, NOW), now=NOW)
    message = str(refused.value)
    assert "newsletter users reset jens@kommune.dk --remove-2fa" in message
    assert TOTP_SECRET not in message and "\n" not in message


def test_removing_the_second_factor(engine: Engine, make_user: MakeUser) -> None:
    user = make_user(totp_secret=TOTP_SECRET)
    with engine.begin() as conn:
        removed = remove_totp(conn, user, actor=CLI, now=NOW)
        assert credentials(conn, user.id).totp_secret is None
        assert not accept_totp_code(conn, removed, code_at(TOTP_SECRET, NOW), now=NOW)
        assert recent_entries(conn)[0].action == "user.totp_removed"


def test_codes_that_are_not_six_digits_match_nothing() -> None:
    for typed in ("", "12345", "1234567", "abcdef", "12 34 5"):
        assert totp.matching_step(TOTP_SECRET, typed, NOW) is None


def test_the_enrolment_uri_names_the_user_and_the_organisation() -> None:
    uri = totp.provisioning_uri(TOTP_SECRET, "jens@kommune.dk", "BusinessBallerup")
    assert uri.startswith("otpauth://totp/BusinessBallerup:jens%40kommune.dk?")
    assert f"secret={TOTP_SECRET}" in uri and "issuer=BusinessBallerup" in uri
