from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.store.addresses import InvalidAddress, _full_normalise, email_hash, normalise


def test_normalise_trims_and_lowercases_only_the_domain() -> None:
    assert normalise("  Jens.Hansen@Firma.DK \t") == "Jens.Hansen@firma.dk"


def test_normalise_keeps_danish_letters() -> None:
    assert normalise("Søren@Æblegården.DK") == "Søren@æblegården.dk"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("jens.firma.dk", "@-sign"),
        ("jens@firma", "period"),
        ("jens@@firma.dk", "@-sign"),
        ("jens hansen@firma.dk", "invalid characters"),
    ],
)
def test_normalise_rejects_bad_addresses_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        normalise(raw)


def test_invalid_address_is_a_value_error() -> None:
    assert issubclass(InvalidAddress, ValueError)


def test_hash_ignores_case_of_the_local_part() -> None:
    assert email_hash(normalise("Jens@firma.dk")) == email_hash(normalise(" jens@FIRMA.dk"))
    assert email_hash("jens@firma.dk") == hashlib.sha256(b"jens@firma.dk").hexdigest()
    assert email_hash("jens@firma.dk") != email_hash("jensen@firma.dk")


# The fast path for plain ASCII addresses must agree with email-validator in every case.
ASCII_LOCAL = st.text(alphabet=string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-\"@ ", max_size=70)
LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=0, max_size=66)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
TRICKY = [
    "Postmaster@Firma.DK",
    "INFO@firma.dk",
    "a..b@firma.dk",
    ".a@firma.dk",
    "a.@firma.dk",
    "a@firma.test",
    "a@localhost.localdomain",
    "a@firma.local",
    "a@123.456",
    "a@firma.dk.",
    "a@-firma.dk",
    "a@[127.0.0.1]",
    "x" * 64 + "@firma.dk",
    "x" * 65 + "@firma.dk",
    "a@" + "b" * 63 + ".dk",
    "a@" + "b" * 64 + ".dk",
    "a@" + ".".join(["b" * 60] * 5) + ".dk",
    '"quoted"@firma.dk',
    "a@b@firma.dk",
]


def full_path(raw: str) -> str | None:
    try:
        return _full_normalise(raw.strip())
    except InvalidAddress:
        return None


def either_path(raw: str) -> str | None:
    try:
        return normalise(raw)
    except InvalidAddress:
        return None


@pytest.mark.parametrize("raw", TRICKY)
def test_fast_path_agrees_on_tricky_addresses(raw: str) -> None:
    assert either_path(raw) == full_path(raw)


@settings(max_examples=400, deadline=None)
@given(local=ASCII_LOCAL, domain=DOMAIN)
def test_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    raw = f"{local}@{domain}"
    assert either_path(raw) == full_path(raw)


@settings(max_examples=300, deadline=None)
@given(
    local=st.from_regex(r"[A-Za-z0-9_+-]{1,20}(\.[A-Za-z0-9_+-]{1,10}){0,2}", fullmatch=True),
    labels=st.lists(
        st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True), min_size=1, max_size=3
    ),
    tld=st.sampled_from(["dk", "DK", "com", "org", "test", "local", "io", "onion"]),
)
def test_fast_path_agrees_on_mostly_valid_addresses(local: str, labels: list[str], tld: str) -> None:
    raw = f" {local}@{'.'.join(labels)}.{tld} "
    assert either_path(raw) == full_path(raw)
