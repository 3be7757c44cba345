"""The optional second factor: TOTP codes (RFC 6238, 6 digits every 30 s) from an authenticator app.

A code is accepted for its own 30-second step and the one before and after
(pyotp's ``valid_window=1``: a phone clock a little off still works), and
:func:`matching_step` says *which* step it matched, so that the caller can
refuse a code whose step is not newer than the last one accepted: a code
seen over a shoulder or in a proxy log cannot be used again.

The secret is a password-equivalent, so it is stored encrypted (AES-256-GCM)
with a key derived from ``NEWSLETTER_SECRET_KEY`` (HKDF-SHA256, its own
purpose label) and bound to the user's id, so a copy of the database alone
cannot produce codes, and one user's ciphertext cannot be moved onto another
user. Changing ``NEWSLETTER_SECRET_KEY`` therefore makes every enrolled
second factor unreadable: those users are given a new start with
``newsletter users reset EMAIL --remove-2fa``. The secret is never logged or
printed; the web page shows it once, as a QR code, while the user enrols.
"""

from __future__ import annotations

import base64
import hmac
import os
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from newsletter.errors import AccountError
from newsletter.tokens import SECRET_KEY_ENV, secret_key

DIGITS = 6
STEP_SECONDS = 30
VALID_WINDOW = 1
_FORMAT = "v1:"
_KEY_PURPOSE = b"newsletter.workspace.totp-secret.v1"
_NONCE_BYTES = 12


def new_secret() -> str:
    """A new random secret (160 bits, base32), for the user to enrol in their app."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=issuer
    )


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (now's, or one either side), or None when it matches none."""
    typed = "".join((code or "").split())  # "123 456" as some apps show it
    if len(typed) != DIGITS or not typed.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        # Every candidate is compared, in constant time, whatever matched before.
        if hmac.compare_digest(totp.generate_otp(step), typed):
            found = step
    return found


def _cipher() -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(
        secret_key().encode()
    )
    return AESGCM(key)


def _bound_to(user_id: int) -> bytes:
    return f"user:{user_id}".encode()


def encrypt_secret(secret: str, user_id: int) -> str:
    """``secret`` encrypted for storage in ``users.totp_secret`` of user ``user_id``."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher().encrypt(nonce, secret.encode(), _bound_to(user_id))
    return _FORMAT + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(stored: str, user_id: int, email: str) -> str:
    """The secret out of ``users.totp_secret``; :class:`AccountError` when this key cannot open it."""
    try:
        if not stored.startswith(_FORMAT):
            raise ValueError("unknown format")
        raw = base64.urlsafe_b64decode(stored[len(_FORMAT) :])
        opened = _cipher().decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound_to(user_id))
    except (InvalidTag, ValueError):
        raise AccountError(
            f"the two-factor secret of {email} cannot be read with this {SECRET_KEY_ENV} (was the key "
            f"changed?) — run 'newsletter users reset {email} --remove-2fa' and let them enrol again",
            reason="totp-unreadable",
        ) from None
    return opened.decode()
