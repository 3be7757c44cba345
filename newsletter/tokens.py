"""Signed tokens for unsubscribe, preference and confirmation links.

The sender puts them in ``List-Unsubscribe`` and in the body; the web service
verifies them. Tokens are HMAC-SHA256 signed (itsdangerous) with the secret in
``$NEWSLETTER_SECRET_KEY``; each purpose has its own salt, so a token made for
one purpose is refused for another. Unsubscribe and preference tokens never
expire (a link in a years-old email must still work); confirmation tokens
carry a timestamp and expire after ``Settings.confirm_days``.

The payload is compact and holds ids only, never an address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous import Signer as _ItsSigner
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer as _PlainSerializer

from newsletter.errors import ConfigError, TokenError, TokenExpired
from newsletter.secrets import get_secret

SECRET_KEY_ENV = "NEWSLETTER_SECRET_KEY"
_MIN_SECRET_LENGTH = 16

_UNSUBSCRIBE = "newsletter.unsubscribe.v1"
_PREFERENCES = "newsletter.preferences.v1"
_CONFIRM = "newsletter.confirm.v1"


@dataclass(frozen=True)
class UnsubscribeClaim:
    subscriber_id: int
    list_id: int | None  # None: the person's preferences for every list
    issue: str | None = None


@dataclass(frozen=True)
class ConfirmClaim:
    subscriber_id: int
    list_id: int


def secret_key(explicit: str | None = None) -> str:
    """The signing secret, from ``explicit`` or the environment; refuses a missing or short one."""
    key = explicit or get_secret(SECRET_KEY_ENV)
    if not key:
        raise ConfigError(
            f"{SECRET_KEY_ENV} is not set — export a long random value, e.g. "
            f"export {SECRET_KEY_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(key) < _MIN_SECRET_LENGTH:
        raise ConfigError(f"{SECRET_KEY_ENV} is too short — use at least {_MIN_SECRET_LENGTH} characters")
    return key


class _KeyCachingSigner(_ItsSigner):
    """Derives the HMAC key once instead of on every signature (a send signs two tokens per recipient)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache_key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        derived = self._derived.get(cache_key)
        if derived is None:
            derived = self._derived[cache_key] = super().derive_key(secret_key)
        return derived


class _FastSerializer(URLSafeSerializer):
    """URL-safe tokens with one cached signer per salt and no zlib attempt.

    Our payloads are a few ids: compressing them never pays, and trying costs
    more than the signature itself.
    """

    signer = _KeyCachingSigner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signers: dict[str | bytes | None, _ItsSigner] = {}

    def make_signer(self, salt: str | bytes | None = None) -> _ItsSigner:
        signer = self._signers.get(salt)
        if signer is None:
            signer = self._signers[salt] = super().make_signer(salt)
        return signer

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(_PlainSerializer.dump_payload(self, obj))


class Signer:
    """Makes and checks the project's tokens with one secret."""

    def __init__(self, key: str | None = None) -> None:
        key = secret_key(key)
        kwargs: dict[str, Any] = {"signer_kwargs": {"digest_method": hashlib.sha256}}
        self._unsubscribe = _FastSerializer(key, salt=_UNSUBSCRIBE, **kwargs)
        self._preferences = _FastSerializer(key, salt=_PREFERENCES, **kwargs)
        self._confirm = URLSafeTimedSerializer(key, salt=_CONFIRM, **kwargs)

    def unsubscribe_token(self, subscriber_id: int, list_id: int | None, issue: str | None = None) -> str:
        payload: list[object] = [subscriber_id, list_id]
        if issue:
            payload.append(issue)
        return self._unsubscribe.dumps(payload)

    def read_unsubscribe(self, token: str) -> UnsubscribeClaim:
        data = self._load(self._unsubscribe, token)
        if not isinstance(data, list) or len(data) not in (2, 3):
            raise TokenError("this link is damaged — copy the whole link from the email")
        try:
            subscriber_id, list_id, *rest = data
            return UnsubscribeClaim(
                int(subscriber_id),
                None if list_id is None else int(list_id),
                str(rest[0]) if rest else None,
            )
        except (TypeError, ValueError):
            raise TokenError("this link is damaged — copy the whole link from the email") from None

    def preferences_token(self, subscriber_id: int) -> str:
        return self._preferences.dumps(subscriber_id)

    def read_preferences(self, token: str) -> int:
        data = self._load(self._preferences, token)
        if not isinstance(data, int):
            raise TokenError("this link is damaged — copy the whole link from the email")
        return data

    def confirm_token(self, subscriber_id: int, list_id: int) -> str:
        return self._confirm.dumps([subscriber_id, list_id])

    def read_confirm(self, token: str, max_age_seconds: int) -> ConfirmClaim:
        try:
            data = self._confirm.loads(token, max_age=max_age_seconds)
        except SignatureExpired:
            raise TokenExpired(
                "this confirmation link has expired — sign up again to get a new one"
            ) from None
        except BadSignature:
            raise TokenError("this link is not valid — copy the whole link from the email") from None
        try:
            subscriber_id, list_id = data
            return ConfirmClaim(int(subscriber_id), int(list_id))
        except (TypeError, ValueError):
            raise TokenError("this link is damaged — copy the whole link from the email") from None

    @staticmethod
    def _load(serializer: URLSafeSerializer, token: str) -> object:
        try:
            return serializer.loads(token)
        except BadSignature:
            raise TokenError("this link is not valid — copy the whole link from the email") from None
