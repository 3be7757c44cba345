"""``find_accepted``: each searchable provider finds, in its own log, what it accepted — by the row's ids.

Against the emulator's log searches (Postmark message search, Mailgun events, SendGrid email
activity): a message it took is found with the id the send recorded, one it never took is not,
and a refused key, a 429 or a 5xx is an error (the row stays unknown), the key never in its text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous, ProviderError, ProviderPermanent, ProviderRetryable
from newsletter.providers import catalogue
from newsletter.providers.base import AcceptedQuery, Outcome, Provider
from newsletter.providers.registry import make_provider
from tests.emulator import Emulator
from tests.providers.conftest import KEYS, make_batch, settings_for

SEARCHABLE = ("postmark", "mailgun", "sendgrid")
ISSUE = "2019-12-20-tak-for-et-godt-2019"


def _query(number: int, email: str | None = "") -> AcceptedQuery:
    return AcceptedQuery(
        delivery_id=5000 + number,
        issue=ISSUE,
        email=f"modtager{number}@example.com" if email == "" else email,
        since=datetime.now(UTC) - timedelta(minutes=5),
    )


def _adapter(name: str, base_url: str) -> Provider:
    return make_provider(settings_for(name, base_url).provider)


def test_the_catalogue_says_which_providers_can_settle_unknown_rows() -> None:
    can = {name for name in catalogue.names() if catalogue.declaration(name).log_search is not None}
    assert can == set(SEARCHABLE)
    for name in SEARCHABLE:
        search = catalogue.declaration(name).log_search
        assert search is not None and search.consistent_after > timedelta(0) < search.kept_for


@pytest.mark.parametrize("name", SEARCHABLE)
def test_a_sent_message_is_found_with_the_id_the_send_recorded(
    name: str, emulator: Emulator, provider_keys: dict[str, str]
) -> None:
    provider = _adapter(name, emulator.url)
    results = provider.send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    for number, result in enumerate(results):
        assert provider.find_accepted(_query(number)) == result.message_id
    # Without the address (the person was erased since): found by the ids alone.
    assert provider.find_accepted(_query(1, email=None)) == results[1].message_id


@pytest.mark.parametrize("name", SEARCHABLE)
def test_a_message_never_accepted_is_not_found(
    name: str, emulator: Emulator, provider_keys: dict[str, str]
) -> None:
    provider = _adapter(name, emulator.url)
    provider.send_batch(make_batch(2))
    assert provider.find_accepted(_query(7)) is None  # never sent
    # Another row's id with this address, or this row's id with another address: not this message.
    assert provider.find_accepted(_query(0, email="modtager1@example.com")) is None


@pytest.mark.parametrize("name", SEARCHABLE)
def test_a_message_is_not_found_before_the_log_shows_it(
    name: str, emulator: Emulator, provider_keys: dict[str, str]
) -> None:
    emulator.set_log_delay(60)
    provider = _adapter(name, emulator.url)
    [result] = provider.send_batch(make_batch(1))
    assert result.outcome is Outcome.ACCEPTED
    # Why reconcile must not take "not found" as "not sent" until the log is complete for that time.
    assert provider.find_accepted(_query(0)) is None
    emulator.set_log_delay(0)
    assert provider.find_accepted(_query(0)) == result.message_id


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, ProviderRetryable), (500, ProviderAmbiguous), (503, ProviderAmbiguous), (403, ProviderPermanent)],
)
@pytest.mark.parametrize("name", SEARCHABLE)
def test_a_search_the_provider_refuses_is_an_error_not_an_answer(
    name: str, status: int, error: type[ProviderError], emulator: Emulator, provider_keys: dict[str, str]
) -> None:
    provider = _adapter(name, emulator.url)
    provider.send_batch(make_batch(1))
    emulator.inject("search_error", provider=name, status=status, retry_after=7)
    with pytest.raises(error) as raised:
        provider.find_accepted(_query(0))
    assert KEYS[provider.credential.name] not in str(raised.value)  # type: ignore[union-attr]
    if status == 429:
        assert raised.value.retry_after == 7
    if name == "sendgrid" and status == 403:
        assert "Email Activity" in str(raised.value) and "add-on" in str(raised.value)


@pytest.mark.parametrize("name", SEARCHABLE)
def test_a_refused_key_is_permanent_and_never_shown(
    name: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = catalogue.declaration(name).credential
    assert variable is not None
    monkeypatch.setenv(variable.name, "wrong-SECRET-key-123")
    with pytest.raises(ProviderPermanent, match="refused") as raised:
        _adapter(name, emulator.url).find_accepted(_query(0))
    assert "wrong-SECRET-key-123" not in str(raised.value)


@pytest.mark.parametrize("name", SEARCHABLE)
def test_an_answer_that_is_not_the_apis_is_ambiguous(name: str, provider_keys: dict[str, str]) -> None:
    page = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>Welcome</html>"))
    provider = make_provider(
        settings_for(name, "https://api.example.test").provider, client=httpx.Client(transport=page)
    )
    with pytest.raises(ProviderAmbiguous):
        provider.find_accepted(_query(0))


def test_postmark_asks_for_the_rows_metadata_and_recipient(provider_keys: dict[str, str]) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"TotalCount": 0, "Messages": []})

    provider = make_provider(
        settings_for("postmark", "https://api.example.test").provider,
        client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    assert provider.find_accepted(_query(3)) is None
    [request] = seen
    assert request.url.path == "/messages/outbound"
    assert dict(request.url.params) == {
        "count": "50",
        "offset": "0",
        "metadata_nl_delivery": "5003",
        "metadata_nl_issue": ISSUE,
        "recipient": "modtager3@example.com",
    }
    assert request.headers["X-Postmark-Server-Token"] == KEYS["NEWSLETTER_POSTMARK_TOKEN"]


def test_mailgun_reads_every_page_and_stays_on_its_own_host(provider_keys: dict[str, str]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "user-variables" in request.url.params:
            assert json.loads(request.url.params["user-variables"]) == {"nl_delivery": "5000"}
            other = {
                "event": "accepted",
                "recipient": "x@example.com",
                "user-variables": {"nl_delivery": "1"},
            }
            return httpx.Response(
                200, json={"items": [other], "paging": {"next": "https://evil.example.test/v3/page2"}}
            )
        raise AssertionError("followed a link to another host")

    provider = make_provider(
        settings_for("mailgun", "https://api.example.test").provider,
        client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    with pytest.raises(ProviderAmbiguous, match="another address"):
        provider.find_accepted(_query(0))


def test_mailgun_takes_a_rejected_event_as_not_accepted(provider_keys: dict[str, str]) -> None:
    rejected = {
        "event": "rejected",
        "recipient": "modtager0@example.com",
        "user-variables": {"nl_delivery": "5000", "nl_issue": ISSUE},
        "message": {"headers": {"message-id": "abc@mg.example.org"}},
    }
    pages = iter([[rejected], []])

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "items": next(pages),
                "paging": {"next": "https://api.example.test/v3/mg.example.org/events/p2"},
            },
        )

    provider = make_provider(
        settings_for("mailgun", "https://api.example.test").provider,
        client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    assert provider.find_accepted(_query(0)) is None


@pytest.mark.parametrize("name", ["resend", "brevo", "ses", "outbox"])
def test_providers_without_a_searchable_log_say_so(
    name: str, provider_keys: dict[str, str], tmp_path: object
) -> None:
    declaration = catalogue.declaration(name)
    assert declaration.log_search is None
