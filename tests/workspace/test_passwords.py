"""The password policy (NIST 800-63B: length, not the email, no composition rules) and argon2id hashing."""

from __future__ import annotations

import unicodedata
from typing import Literal

import pytest
from argon2 import PasswordHasher, Type
from argon2.profiles import RFC_9106_LOW_MEMORY

from newsletter.errors import PasswordRejected
from newsletter.workspace import passwords
from tests.workspace.conftest import PRODUCTION_HASHER, QUICK_HASHER

EMAIL = "Jens.Hansen.Ballerup@kommune.dk"


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        ("elleve tegn", "too-short"),  # 11 characters
        ("", "too-short"),
        ("jens.hansen.ballerup@KOMMUNE.dk", "is-email"),
        ("  Jens.Hansen.Ballerup  ", "is-email"),  # the part before the @
        ("x" * 1025, "too-long"),
    ],
)
def test_refused_passwords_say_the_whole_rule_in_one_line(candidate: str, reason: str) -> None:
    with pytest.raises(PasswordRejected) as refused:
        passwords.check_policy(candidate, EMAIL)
    assert refused.value.reason == reason
    message = str(refused.value)
    assert "\n" not in message
    assert "at least 12 characters" in message and "email address" in message


@pytest.mark.parametrize(
    "candidate",
    [
        "tolv tegn ok",  # exactly 12
        "aaaaaaaaaaaa",  # no composition rules: no digit, capital or symbol needed
        "hest batteri hæfteklamme korrekt",
        "Jens.Hansen.Ballerup@kommune.dk!",  # contains the address but is not it
    ],
)
def test_long_enough_passwords_are_accepted_whatever_they_are_made_of(candidate: str) -> None:
    assert passwords.check_policy(candidate, EMAIL) == candidate


def test_the_same_danish_password_typed_on_a_mac_or_on_windows_matches() -> None:
    composed = unicodedata.normalize("NFC", "blåbærgrød med fløde")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    stored = passwords.hash_password(composed)
    assert passwords.verify_password(stored, decomposed)
    assert not passwords.verify_password(stored, "blåbærgrød med flødeskum")


def test_hashes_are_argon2id_and_never_the_password() -> None:
    stored = passwords.hash_password("hest batteri hæfteklamme korrekt")
    assert stored.startswith("$argon2id$")
    assert "hest" not in stored
    assert passwords.hash_password("hest batteri hæfteklamme korrekt") != stored  # salted


def test_a_missing_or_damaged_hash_verifies_as_false() -> None:
    assert not passwords.verify_password(None, "hest batteri hæfteklamme korrekt")
    assert not passwords.verify_password("not-a-hash", "hest batteri hæfteklamme korrekt")
    assert not passwords.verify_password(passwords.hash_password("x" * 12), "x" * 2000)


def test_no_hash_still_costs_an_argon2_check(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []

    class Spy(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            checked.append(str(hash))
            return super().verify(hash, password)

    spy = Spy(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", spy)
    assert not passwords.verify_password(None, "some guess at a password")
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")


def test_production_hashes_use_rfc_9106_low_memory_parameters() -> None:
    assert PRODUCTION_HASHER.type is Type.ID
    assert (PRODUCTION_HASHER.time_cost, PRODUCTION_HASHER.memory_cost, PRODUCTION_HASHER.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    assert PRODUCTION_HASHER.memory_cost == 64 * 1024  # KiB


def test_a_hash_made_with_other_parameters_needs_a_rehash(monkeypatch: pytest.MonkeyPatch) -> None:
    old = QUICK_HASHER.hash("hest batteri hæfteklamme korrekt")
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.hash_password("hest batteri hæfteklamme korrekt"))
    assert passwords.needs_rehash("garbage")
