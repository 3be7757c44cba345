"""Workspace passwords: the policy, and argon2id hashing that takes as long for nobody as for somebody.

The policy follows NIST SP 800-63B: at least :data:`MIN_LENGTH` characters,
not the person's own email address (nor its part before the @), and no
composition rules (no "one digit, one capital"): length is what makes a
password strong, and a few unrelated words are easy to type and remember.
Passwords are NFKC-normalised first, so ``æ`` typed on a Mac (two code points)
and on Windows (one) is the same password.

Hashes are argon2id with argon2-cffi's defaults (RFC 9106's low-memory
profile: 3 passes over 64 MiB, 4 lanes). :func:`verify_password` checks
against a dummy hash when there is no real one (unknown address, password not
set yet), so the answer takes as long either way and does not tell whether an
address has an account. :func:`needs_rehash` says when a stored hash was made
with other parameters; the login upgrades it with the password it just verified.
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from newsletter.errors import PasswordRejected

MIN_LENGTH = 12
# argon2 pre-hashes any length cheaply; the cap only keeps absurd form posts out.
MAX_LENGTH = 1024
POLICY = (
    f"a password needs at least {MIN_LENGTH} characters and must not be the email address — "
    "a few unrelated words make a good one"
)

HASHER = PasswordHasher()


def normalised(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, email: str) -> str:
    """The password to hash (normalised); :class:`PasswordRejected` with :data:`POLICY` otherwise."""
    candidate = normalised(password or "")
    if len(candidate) > MAX_LENGTH:
        raise PasswordRejected(
            f"the password is {len(candidate)} characters long; at most {MAX_LENGTH} are accepted — {POLICY}",
            reason="too-long",
        )
    if len(candidate) < MIN_LENGTH:
        raise PasswordRejected(POLICY, reason="too-short")
    folded = candidate.strip().casefold()
    address = email.strip().casefold()
    if folded in (address, address.rpartition("@")[0]):
        raise PasswordRejected(POLICY, reason="is-email")
    return candidate


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (normalised), as argon2's encoded string."""
    return HASHER.hash(normalised(password))


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of nothing anyone knows, with ``hasher``'s parameters: checking it costs what a real one does."""
    return hasher.hash(secrets.token_urlsafe(24))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; with no hash, as slow a False."""
    if len(password) > MAX_LENGTH:
        return False
    candidate = normalised(password)
    try:
        if stored_hash is None:
            HASHER.verify(_dummy_hash(HASHER), candidate)
            return False
        return HASHER.verify(stored_hash, candidate)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with other parameters than :data:`HASHER`'s."""
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
