"""``newsletter send`` through Amazon SES — the emulator's SES endpoint, which recomputes each
request's SigV4 signature and checks it against SES's API model — and what a user sees."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries
from tests.emulator import Emulator
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"
KEY_ID = "AKIASENDTESTSES00001"
SECRET = "ses-send-SECRET-access-key-4b3c2d"


def _cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setenv("NEWSLETTER_SES_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("NEWSLETTER_SES_SECRET_ACCESS_KEY", SECRET)
    with Emulator(keys={"ses": f"{KEY_ID}:{SECRET}"}) as running:
        yield running


def _message_ids(settings: Settings) -> dict[str, str | None]:
    with open_engine(settings.database_url).connect() as conn:
        return {
            row.state: row.message_id
            for row in conn.execute(select(deliveries.c.state, deliveries.c.message_id))
        }


def test_every_subscriber_gets_one_signed_message_and_the_ledger_holds_ses_ids(
    configure: Callable[..., Settings], ses: Emulator
) -> None:
    settings = configure("ses", ses.url, batch_size=10, concurrency=2)
    people = addresses(25)
    subscribe_many(open_engine(settings.database_url), people)
    first = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert first.exit_code == 0, first.output
    assert "This run: sent 25, failed 0, skipped 0, unknown 0" in first.output
    assert ses.count_by_address() == {address: 1 for address in people}
    with open_engine(settings.database_url).connect() as conn:
        recorded = set(conn.execute(select(deliveries.c.message_id)).scalars())
    assert recorded == {a.message_id for a in ses.accepted}
    body = ses.requests[0].body
    assert body["Content"]["Simple"]["Headers"][0]["Name"] == "List-Unsubscribe"
    assert {t["Name"] for t in body["EmailTags"]} >= {"nl_issue", "nl_subscriber", "nl_delivery"}
    again = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert "This run: sent 0" in again.output, again.output
    assert len(ses.accepted) == 25


def test_a_gateway_error_midway_leaves_one_message_unknown_and_nobody_gets_two(
    configure: Callable[..., Settings], ses: Emulator
) -> None:
    settings = configure("ses", ses.url, batch_size=5)
    people = addresses(12)
    subscribe_many(open_engine(settings.database_url), people)
    ses.inject("processed_then_error", provider="ses", status=502, times=1, every=3)  # the third request
    first = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    # One passing gateway error costs the message it hid; the send goes on for everyone else.
    assert "This run: sent 11, failed 0, skipped 0, unknown 1" in first.output, first.output
    assert "stopped so that" not in first.output
    second = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert "Ledger:   queued 0, sending 0, sent 11, failed 0, skipped 0, unknown 1" in second.output
    assert "--resend-unknown" in second.output  # the unknown one is the user's call, never resent by itself
    assert ses.count_by_address() == {address: 1 for address in people}  # the gateway hid a success


def test_a_wrong_secret_stops_the_send_in_one_line_and_sends_nothing(
    configure: Callable[..., Settings], ses: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure("ses", ses.url)
    subscribe_many(open_engine(settings.database_url), addresses(3))
    monkeypatch.setenv("NEWSLETTER_SES_SECRET_ACCESS_KEY", "WRONG-ses-secret-123456")
    result = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert result.exit_code != 0
    assert (
        "InvalidSignatureException" in result.output and "NEWSLETTER_SES_SECRET_ACCESS_KEY" in result.output
    )
    assert "WRONG-ses-secret-123456" not in result.output and SECRET not in result.output
    assert ses.accepted_count() == 0
    assert set(_message_ids(settings)) == {"queued"}
