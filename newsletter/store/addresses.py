"""Email addresses as the store keeps them: normalised once, hashed for suppression.

An address is trimmed, validated for syntax only (no DNS lookups: the store
must work offline and tests must not touch the network) and its domain is
lower-cased. The local part keeps its case, because RFC 5321 lets a mailbox
be case-sensitive; identity however is case-insensitive in practice, so the
hash that keys subscribers and the suppression list is taken over the fully
lower-cased address. ``Jens@Firma.DK`` and ``jens@firma.dk`` are one person.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
    LOCAL_PART_MAX_LENGTH,
)

from newsletter.wording import Texts, Wording

ADDRESS_TEXTS = Texts(
    {
        "address-empty": "the email address is empty",
        # ``problem`` is email-validator's own (English) sentence.
        "address-invalid": "{address!r} is not a valid email address: {problem}",
    }
)


class InvalidAddress(ValueError):
    """An address that is not a valid email address; the message (and ``wording``) says why."""

    def __init__(self, wording: Wording) -> None:
        super().__init__(wording.english)
        self.wording = wording


# Imports validate 100,000 addresses at a time; most are plain ASCII and share a few
# thousand domains. For those, the local part is checked with email-validator's own
# dot-atom pattern and the (costly, IDNA-aware) domain check is cached per domain.
# Anything else goes through email-validator whole; a test checks both paths agree.
_PLAIN_LOCAL_PART = re.compile(DOT_ATOM_TEXT.pattern)
_CASE_INSENSITIVE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


@lru_cache(maxsize=65_536)
def _plain_domain(domain: str) -> str | None:
    """The normalised form of an ASCII domain, or None when email-validator rejects it."""
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def _fast_normalise(candidate: str) -> str | None:
    """The normalised address for the common plain-ASCII case, or None to take the full path."""
    if not candidate.isascii() or len(candidate) > EMAIL_MAX_LENGTH:
        return None
    local, at, domain = candidate.rpartition("@")
    if not at or len(local) > LOCAL_PART_MAX_LENGTH or not _PLAIN_LOCAL_PART.match(local):
        return None
    if local.lower() in _CASE_INSENSITIVE_NAMES:
        return None
    normalised_domain = _plain_domain(domain)
    if normalised_domain is None:
        return None
    address = f"{local}@{normalised_domain}"
    return address if len(address) <= EMAIL_MAX_LENGTH else None


def normalise(email: str) -> str:
    """The normalised form of ``email``; raises :class:`InvalidAddress` with the reason."""
    candidate = (email or "").strip()
    if not candidate:
        raise InvalidAddress(ADDRESS_TEXTS("address-empty"))
    fast = _fast_normalise(candidate)
    if fast is not None:
        return fast
    return _full_normalise(candidate)


def _full_normalise(candidate: str) -> str:
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(ADDRESS_TEXTS("address-invalid", address=candidate, problem=str(exc))) from None
    # email-validator lower-cases (and IDNA-normalises) the domain but keeps the local part.
    return validated.normalized


def email_hash(normalised: str) -> str:
    """SHA-256 hex of the fully lower-cased normalised address: the suppression key."""
    return hashlib.sha256(normalised.lower().encode("utf-8")).hexdigest()


def hash_of(email: str) -> str:
    """Normalise ``email`` and hash it in one step."""
    return email_hash(normalise(email))
