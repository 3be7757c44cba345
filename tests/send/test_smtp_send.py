"""``newsletter send`` through the SMTP provider to a real relay on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.store.db import open_engine
from tests.send.helpers import addresses, subscribe_many
from tests.smtp_relay import Relay

ISSUE = "2019-12-20-tak-for-et-godt-2019"


def _cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)


@pytest.fixture
def relay() -> Iterator[Relay]:
    with Relay() as running:
        yield running


def test_every_subscriber_gets_exactly_one_message_and_a_bounce_is_rejected(
    configure: Callable[..., Settings], relay: Relay
) -> None:
    settings = configure(
        "smtp", smtp_host="127.0.0.1", smtp_port=relay.port, smtp_security="none", batch_size=10
    )
    people = addresses(25)
    subscribe_many(open_engine(settings.database_url), people)
    relay.handler.rcpt_replies[people[7]] = "550 5.1.1 <person000007@example.com>: Recipient address rejected"

    first = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert first.exit_code == 7, first.output  # "1 failed": the unknown address
    assert "This run: sent 24, failed 1, skipped 0, unknown 0" in first.output
    assert relay.handler.count_by_address() == {address: 1 for address in people if address != people[7]}
    assert relay.connections == 1  # three batches, one kept connection
    raw = relay.handler.received[0].data
    assert b"\r\nList-Unsubscribe: <https://nyhedsbrev.example.org/u/" in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw

    again = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert "This run: sent 0" in again.output, again.output
    assert len(relay.handler.received) == 24
