"""Signed unsubscribe, preference and confirmation tokens."""

from __future__ import annotations

import itsdangerous
import pytest

from newsletter.errors import ConfigError, TokenError, TokenExpired
from newsletter.tokens import ConfirmClaim, LinkOwner, PreferencesClaim, Signer, UnsubscribeClaim

ANN = LinkOwner(42, "ann-link-key-123")
BO = LinkOwner(9, "bo-link-key-4567")


@pytest.fixture
def signer() -> Signer:
    return Signer()


def test_unsubscribe_round_trip(signer: Signer) -> None:
    token = signer.unsubscribe_token(ANN, 7, "2019-12-20-tak-for-et-godt-2019")
    assert signer.read_unsubscribe(token) == UnsubscribeClaim(
        42, 7, "2019-12-20-tak-for-et-godt-2019", ANN.link_key
    )
    assert signer.read_unsubscribe(signer.unsubscribe_token(ANN, None)) == UnsubscribeClaim(
        42, None, None, ANN.link_key
    )


def test_token_is_url_safe_and_holds_no_address(signer: Signer) -> None:
    token = signer.unsubscribe_token(ANN, 7, "issue")
    assert all(c.isalnum() or c in "-_." for c in token)
    assert "@" not in token


def test_preferences_and_confirm_round_trip(signer: Signer) -> None:
    assert signer.read_preferences(signer.preferences_token(BO)) == PreferencesClaim(9, BO.link_key)
    assert signer.read_confirm(signer.confirm_token(BO, 3), max_age_seconds=60) == ConfirmClaim(
        9, 3, BO.link_key
    )


def test_tampered_token_is_refused(signer: Signer) -> None:
    token = signer.unsubscribe_token(ANN, 7)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(TokenError, match="this link is not valid — copy the whole link"):
        signer.read_unsubscribe(tampered)


def test_token_from_another_key_is_refused(signer: Signer) -> None:
    other = Signer("another-secret-key-0123456789")
    with pytest.raises(TokenError):
        signer.read_unsubscribe(other.unsubscribe_token(ANN, 7))


def test_token_for_another_purpose_is_refused(signer: Signer) -> None:
    with pytest.raises(TokenError):
        signer.read_unsubscribe(signer.preferences_token(ANN))
    with pytest.raises(TokenError):
        signer.read_preferences(signer.unsubscribe_token(ANN, 7))
    with pytest.raises(TokenError):
        signer.read_confirm(signer.unsubscribe_token(ANN, 7), max_age_seconds=60)


def test_expired_confirmation_says_sign_up_again(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    token = signer.confirm_token(BO, 3)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 8 * 86400)
    with pytest.raises(TokenExpired, match="has expired — sign up again"):
        signer.read_confirm(token, max_age_seconds=7 * 86400)


def test_missing_key_names_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    with pytest.raises(ConfigError, match=r"NEWSLETTER_SECRET_KEY is not set — export a long random value"):
        Signer()


def test_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "short-key")
    with pytest.raises(ConfigError, match="too short — use at least 16 characters"):
        Signer()


def test_a_send_derives_the_signing_key_once_not_per_link(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send signs two links per recipient: deriving the HMAC key each time was a third of its CPU."""
    derived: list[object] = []
    original = itsdangerous.Signer.derive_key

    def counting(self: itsdangerous.Signer, secret_key: str | bytes | None = None) -> bytes:
        derived.append(secret_key)
        return original(self, secret_key)

    monkeypatch.setattr(itsdangerous.Signer, "derive_key", counting)
    tokens = [signer.unsubscribe_token(LinkOwner(n, f"key-{n:08d}"), 1, "2019-12-20-tak") for n in range(200)]
    tokens += [signer.preferences_token(LinkOwner(n, f"key-{n:08d}")) for n in range(200)]
    assert len(set(tokens)) == 400
    assert len(derived) <= 2  # once per kind of link
    assert signer.read_unsubscribe(tokens[7]).subscriber_id == 7
