"""Signed tokens for unsubscribe, preference and confirmation links.

The sender puts them in ``List-Unsubscribe`` and in the body; the web service
verifies them. Tokens are HMAC-SHA256 signed (itsdangerous) with the secret in
``$NEWSLETTER_SECRET_KEY``; each purpose has its own salt, so a token made for
one purpose is refused for another. Unsubscribe and preference tokens never
expire (a link in a years-old email must still work); confirmation tokens
carry a timestamp and expire after ``Settings.confirm_days``.

The payload is compact and holds ids and the person's link key, never an
address. The link key (``subscribers.link_key``, random, made when the person
is created) binds a link to that one person: should their id ever belong to
someone else, the key does not match and the link acts on nobody.
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
from newsletter.secrets import SECRET_KEY_VARIABLE, get_secret

SECRET_KEY_ENV = SECRET_KEY_VARIABLE
_MIN_SECRET_LENGTH = 16

# Version 2 binds every link to the person's link key (``subscribers.link_key``). Version 1
# tokens (id only) are still read, because they sit in emails already delivered; the claim
# then has ``link_key=None`` and the store honours it only for people flagged ``v1_links``.
UNSUBSCRIBE_SALT = "newsletter.unsubscribe.v2"
PREFERENCES_SALT = "newsletter.preferences.v2"
CONFIRM_SALT = "newsletter.confirm.v2"
# A tracked link (``[tracking] clicks``): the issue and the destination, the same for every reader.
LINK_SALT = "newsletter.link.v1"
_UNSUBSCRIBE_V1 = "newsletter.unsubscribe.v1"
_PREFERENCES_V1 = "newsletter.preferences.v1"
_CONFIRM_V1 = "newsletter.confirm.v1"

# Ids are database integers (32-bit on PostgreSQL): a signed token holding anything else names
# nobody, and must be refused as a bad link before it reaches a query (10**30 overflowed there).
MAX_ID = 2**31 - 1
_MAX_KEY_LENGTH = 64
_MAX_ISSUE_LENGTH = 200

_DAMAGED = "this link is damaged — copy the whole link from the email"
_NOT_VALID = "this link is not valid — copy the whole link from the email"


@dataclass(frozen=True)
class LinkOwner:
    """Whom a link is made for: the id finds the row, the key proves it is still that person."""

    subscriber_id: int
    link_key: str


# The owner of sample links (build, preview, checks, screenshots, send --test; see
# newsletter.per_recipient.sample_recipient): an id no row has (ids start at 1) and a key no row has
# (theirs are random), so such a link, even signed with the real secret, acts on nobody. As long
# as a real key, so that a sample email has a real one's size.
SAMPLE_SUBSCRIBER_ID = 0
SAMPLE_OWNER = LinkOwner(SAMPLE_SUBSCRIBER_ID, "sample-not-a-key")


@dataclass(frozen=True)
class UnsubscribeClaim:
    subscriber_id: int
    list_id: int | None  # None: the person's preferences for every list
    issue: str | None = None
    link_key: str | None = None  # None: a version 1 link, made before link keys


@dataclass(frozen=True)
class PreferencesClaim:
    subscriber_id: int
    link_key: str | None = None


@dataclass(frozen=True)
class ConfirmClaim:
    subscriber_id: int
    list_id: int
    link_key: str | None = None


def _id(value: object) -> int:
    # bool is an int to Python but no id; a string or float was never written by us.
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise TokenError(_DAMAGED)
    return value


def _key(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_KEY_LENGTH:
        raise TokenError(_DAMAGED)
    return value


def _issue(value: object) -> str:
    if not isinstance(value, str) or len(value) > _MAX_ISSUE_LENGTH:
        raise TokenError(_DAMAGED)
    return value


def _items(data: object, *sizes: int) -> list[object]:
    if not isinstance(data, list) or len(data) not in sizes:
        raise TokenError(_DAMAGED)
    return data


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

    # itsdangerous reads the signer class from ``default_signer`` (a ``signer`` attribute is
    # overwritten by its __init__).
    default_signer = _KeyCachingSigner

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
        self._unsubscribe = _FastSerializer(key, salt=UNSUBSCRIBE_SALT, **kwargs)
        self._preferences = _FastSerializer(key, salt=PREFERENCES_SALT, **kwargs)
        self._confirm = URLSafeTimedSerializer(key, salt=CONFIRM_SALT, **kwargs)
        self._link = _FastSerializer(key, salt=LINK_SALT, **kwargs)
        self._unsubscribe_v1 = _FastSerializer(key, salt=_UNSUBSCRIBE_V1, **kwargs)
        self._preferences_v1 = _FastSerializer(key, salt=_PREFERENCES_V1, **kwargs)
        self._confirm_v1 = URLSafeTimedSerializer(key, salt=_CONFIRM_V1, **kwargs)

    def unsubscribe_token(self, owner: LinkOwner, list_id: int | None, issue: str | None = None) -> str:
        payload: list[object] = [owner.subscriber_id, owner.link_key, list_id]
        if issue:
            payload.append(issue)
        return self._unsubscribe.dumps(payload)

    def read_unsubscribe(self, token: str) -> UnsubscribeClaim:
        data, version = self._load_either(self._unsubscribe, self._unsubscribe_v1, token)
        if version == 1:
            subscriber_id, list_id, *rest = _items(data, 2, 3)
            key = None
        else:
            subscriber_id, key, list_id, *rest = _items(data, 3, 4)
        return UnsubscribeClaim(
            _id(subscriber_id),
            None if list_id is None else _id(list_id),
            _issue(rest[0]) if rest else None,
            None if key is None else _key(key),
        )

    def preferences_token(self, owner: LinkOwner) -> str:
        return self._preferences.dumps([owner.subscriber_id, owner.link_key])

    def read_preferences(self, token: str) -> PreferencesClaim:
        data, version = self._load_either(self._preferences, self._preferences_v1, token)
        if version == 1:
            return PreferencesClaim(_id(data))
        subscriber_id, key = _items(data, 2)
        return PreferencesClaim(_id(subscriber_id), _key(key))

    def confirm_token(self, owner: LinkOwner, list_id: int) -> str:
        return self._confirm.dumps([owner.subscriber_id, owner.link_key, list_id])

    def read_confirm(self, token: str, max_age_seconds: int) -> ConfirmClaim:
        """The claim of a confirmation link; TokenExpired (a TokenError) when it is too old."""
        try:
            try:
                data = self._confirm.loads(token, max_age=max_age_seconds)
                subscriber_id, key, list_id = _items(data, 3)
            except BadSignature as exc:
                if isinstance(exc, SignatureExpired):
                    raise
                data = self._confirm_v1.loads(token, max_age=max_age_seconds)
                subscriber_id, list_id = _items(data, 2)
                key = None
        except SignatureExpired:
            raise TokenExpired(
                "this confirmation link has expired — sign up again to get a new one"
            ) from None
        except BadSignature:
            raise TokenError(_NOT_VALID) from None
        return ConfirmClaim(_id(subscriber_id), _id(list_id), None if key is None else _key(key))

    def link_token(self, issue: str, url: str) -> str:
        """The token of ``url`` in ``issue``: names no reader, so it is the same in every copy."""
        return self._link.dumps([issue, url])

    def read_link(self, token: str) -> tuple[str, str]:
        """The (issue, destination) a tracked link's token signs; TokenError for anything else."""
        try:
            issue, url = _items(self._link.loads(token), 2)
        except BadSignature:
            raise TokenError(_NOT_VALID) from None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise TokenError(_DAMAGED)
        return _issue(issue), url

    @staticmethod
    def _load_either(current: URLSafeSerializer, v1: URLSafeSerializer, token: str) -> tuple[object, int]:
        """The payload and the version whose signature it carries; TokenError for neither."""
        try:
            return current.loads(token), 2
        except BadSignature:
            pass
        try:
            return v1.loads(token), 1
        except BadSignature:
            raise TokenError(_NOT_VALID) from None
