"""Fixtures for the provider adapters: a running emulator, API keys in the environment, batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from newsletter.config import Settings, settings_from_dict
from newsletter.errors import ProviderAmbiguous
from newsletter.message import Batch, Content, Recipient
from newsletter.personalize import placeholder
from newsletter.providers.base import Outcome, Provider
from tests.emulator import Emulator

# Recognisable values: tests assert they never leak into errors or logs.
KEYS = {
    "NEWSLETTER_POSTMARK_TOKEN": "pm-SECRET-token-7f3a9c",
    "NEWSLETTER_SENDGRID_API_KEY": "SG.SECRET-key-51bd0e",
    "NEWSLETTER_MAILGUN_API_KEY": "mg-SECRET-key-a8e2d4",
    "NEWSLETTER_RESEND_API_KEY": "re_SECRET_key_c0ffee",
    "NEWSLETTER_BREVO_API_KEY": "xkeysib-SECRET-key-b7e5f0",
    "NEWSLETTER_SES_ACCESS_KEY_ID": "AKIAEMULATORSES7F3A9C",
    "NEWSLETTER_SES_SECRET_ACCESS_KEY": "ses-SECRET-access-key-5e5a11",
}
EMULATOR_KEYS = {
    "postmark": KEYS["NEWSLETTER_POSTMARK_TOKEN"],
    "sendgrid": KEYS["NEWSLETTER_SENDGRID_API_KEY"],
    "mailgun": KEYS["NEWSLETTER_MAILGUN_API_KEY"],
    "resend": KEYS["NEWSLETTER_RESEND_API_KEY"],
    "brevo": KEYS["NEWSLETTER_BREVO_API_KEY"],
    # SES signs with a key pair: the emulator recomputes the signature with the secret half.
    "ses": f"{KEYS['NEWSLETTER_SES_ACCESS_KEY_ID']}:{KEYS['NEWSLETTER_SES_SECRET_ACCESS_KEY']}",
}

HTML = (
    "<html><body><p>Kære {name},</p><p>Nyt fra Ballerup: æøå &amp; mere.</p>"
    '<p><a href="{unsubscribe_url}">Afmeld</a> · <a href="{web_url}">Web</a></p></body></html>'
).format(
    name=placeholder("name"),
    unsubscribe_url=placeholder("unsubscribe_url"),
    web_url=placeholder("web_url"),
)
TEXT = "Kære {name},\n\nNyt fra Ballerup: æøå & mere.\n\nAfmeld: {unsubscribe_url}\n".format(
    name=placeholder("name"), unsubscribe_url=placeholder("unsubscribe_url")
)


# What newsletter.per_recipient.list_headers gives a send of the issue to "erhverv", titled
# "Erhvervsnyt fra Ærø" (tests/foundation/test_list_headers.py holds the builder to it): the same
# for every recipient, and ASCII however Danish the title (RFC 2047), as SES requires of headers.
LIST_HEADERS = {
    "List-Id": "=?utf-8?b?RXJodmVydnNueXQgZnJhIMOGcsO4?= <erhverv.nyhedsbrev.example.org>",
    "Feedback-ID": "2019-12-20-tak-for-et-godt-2019:erhverv:example-org",
}
LIST_TITLE = "Erhvervsnyt fra Ærø"


def make_content(**overrides: object) -> Content:
    fields: dict[str, object] = {
        "subject": "Nyhedsbrev: Tak for et godt år — æøå",
        "html": HTML,
        "text": TEXT,
        "from_email": "nyhedsbrev@example.org",
        "from_name": "BusinessBallerup",
        "reply_to": "jrau@balk.dk",
        "issue": "2019-12-20-tak-for-et-godt-2019",
    }
    fields.update(overrides)
    return Content(**fields)  # type: ignore[arg-type]


def make_recipient(number: int, email: str | None = None, name: str | None = None) -> Recipient:
    address = email or f"modtager{number}@example.com"
    unsubscribe = f"https://nyhedsbrev.example.org/u/token{number}"
    return Recipient(
        email=address,
        name=name if name is not None else f"Jens Hansen {number}",
        values={
            "name": name if name is not None else f"Jens Hansen {number}",
            "email": address,
            "unsubscribe_url": unsubscribe,
            "web_url": "https://nyhedsbrev.example.org/issues/2019-12-20-tak-for-et-godt-2019",
        },
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>, <mailto:afmeld@example.org?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            **LIST_HEADERS,
        },
        metadata={
            "nl_issue": "2019-12-20-tak-for-et-godt-2019",
            "nl_subscriber": str(1000 + number),
            "nl_delivery": str(5000 + number),
        },
    )


def make_batch(count: int = 3, key: str | None = "send-1-batch-1", **content: object) -> Batch:
    return Batch(make_content(**content), [make_recipient(i) for i in range(count)], idempotency_key=key)


@pytest.fixture
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return KEYS


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(keys=EMULATOR_KEYS) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def settings_for(provider: str, base_url: str = "", root: Path | None = None, **fields: object) -> Settings:
    """Settings with only what the providers read, for ``provider`` at ``base_url``."""
    section: dict[str, object] = {"name": provider, **fields}
    if base_url:
        section["base_url"] = base_url
    if provider == "mailgun":
        section.setdefault("mailgun_domain", "mg.example.org")
    data = {
        "organisation": {"name": "BusinessBallerup", "address": "Hold-An Vej 7, 2750 Ballerup"},
        "sender": {"name": "BusinessBallerup", "email": "nyhedsbrev@example.org"},
        "site": {"base_url": "https://nyhedsbrev.example.org"},
        "provider": section,
    }
    return settings_from_dict(data, root=root or Path.cwd())


class Ambiguity(NamedTuple):
    reason: str
    maybe_sent: int  # how many of the batch's messages may have gone
    raised: ProviderAmbiguous | None  # the error, when the adapter raised it for the whole batch


def ambiguous_outcome(provider: Provider, batch: Batch) -> Ambiguity:
    """Send ``batch``, whose answer must leave it unclear whether it went.

    An adapter raises ProviderAmbiguous for the whole batch, or reports per message: the messages
    whose answer was lost ``UNKNOWN``, and those never posted after them (one request per
    message: Brevo, SES) ``RETRY``. Never "accepted" and never "provably not sent" for the ones
    that may have gone.
    """
    try:
        results = provider.send_batch(batch)
    except ProviderAmbiguous as exc:
        return Ambiguity(str(exc), len(batch.recipients), exc)
    outcomes = [r.outcome for r in results]
    unknown = outcomes.count(Outcome.UNKNOWN)
    assert unknown >= 1 and outcomes == [Outcome.UNKNOWN] * unknown + [Outcome.RETRY] * (
        len(outcomes) - unknown
    )
    return Ambiguity(results[0].reason, unknown, None)
