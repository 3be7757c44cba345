"""``newsletter reconcile`` and the reconciliation ``send`` runs first, as a user meets them.

The emulator plays Postmark: a gateway's 502 after it took a batch (those people got it) and a
connection closed before the request was read (those did not) leave ten rows ``unknown``. Its
message search then says which is which — once its log is complete for the moment they were sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.providers.registry import make_provider
from newsletter.send.plan import find_list_id, get_send
from newsletter.send.reconcile import reconcile_send
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, subscribers
from tests.emulator import Emulator
from tests.send.conftest import KEYS
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"
PEOPLE = addresses(15)


def _cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)


def _states(settings: Settings) -> dict[str, tuple[str, str | None]]:
    with open_engine(settings.database_url).connect() as conn:
        rows = conn.execute(
            select(subscribers.c.email, deliveries.c.state, deliveries.c.error).join(
                subscribers, subscribers.c.id == deliveries.c.subscriber_id
            )
        )
        return {email: (state, error) for email, state, error in rows}


def _later(settings: Settings, minutes: float) -> None:
    """As if ``minutes`` had passed since the rows became unknown (the provider's log has caught up)."""
    with open_engine(settings.database_url).begin() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.updated_at).where(deliveries.c.state == "unknown")
        )
        for delivery_id, moment in rows.all():
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(updated_at=moment - timedelta(minutes=minutes))
            )


@pytest.fixture
def interrupted(configure: Callable[..., Settings], emulator: Emulator) -> Settings:
    """A Postmark send of 15 that left 10 unknown: 5 Postmark took (502 after), 5 it never read."""
    settings = configure("postmark", emulator.url, batch_size=5)
    subscribe_many(open_engine(settings.database_url), PEOPLE)
    emulator.inject("processed_then_error", provider="postmark", status=502)
    emulator.inject("drop_before", provider="postmark")
    sent = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert sent.exit_code == 7, sent.output
    states = [state for state, _error in _states(settings).values()]
    assert states.count("unknown") == 10 and states.count("sent") == 5
    return settings


def test_reconcile_settles_what_the_log_proves_and_the_next_send_delivers_the_rest_once(
    interrupted: Settings, emulator: Emulator
) -> None:
    taken = {a.email for a in emulator.accepted}
    assert len(taken) == 10  # the 502 batch went out; the dropped one did not

    # At once: the 5 Postmark took are found; the others are not there *yet* as far as we may know.
    first = _cli(interrupted, "reconcile", ISSUE, "--list", "erhverv")
    assert first.exit_code == 7, first.output
    assert "looked up 10 unknown message(s) in Postmark's records" in first.output
    assert "5 found there: now recorded as sent" in first.output
    assert "5 still unknown: not in Postmark's log yet, but it can take 5 minutes" in first.output
    assert "Error: 5 message(s) of 2019-12-20-tak-for-et-godt-2019 are still unknown" in first.output
    assert "run newsletter reconcile" in first.output and "again after" in first.output
    states = _states(interrupted)
    assert {p for p in PEOPLE if states[p][0] == "sent"} == taken
    assert all(
        "not in Postmark's log yet" in (error or "") for state, error in states.values() if state == "unknown"
    )

    # Later: the log is complete for that moment, so "not there" is proof: queued again.
    _later(interrupted, 6)
    second = _cli(interrupted, "reconcile", ISSUE)
    assert second.exit_code == 0, second.output
    assert (
        f"5 not there: queued again, to be delivered once by newsletter send {ISSUE} --list erhverv"
        in second.output
    )
    assert {state for state, _error in _states(interrupted).values()} == {"sent", "queued"}

    resumed = _cli(interrupted, "send", ISSUE, "--list", "erhverv", "--yes")
    assert resumed.exit_code == 0, resumed.output
    received = emulator.count_by_address()
    assert all(received[p] == 1 for p in PEOPLE)  # everyone once: nobody twice, nobody left out
    assert {state for state, _error in _states(interrupted).values()} == {"sent"}


def test_send_reconciles_first_and_says_what_it_settled(interrupted: Settings, emulator: Emulator) -> None:
    _later(interrupted, 6)
    resumed = _cli(interrupted, "send", ISSUE, "--list", "erhverv", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "looked up 10 unknown message(s) in Postmark's records" in resumed.output
    assert "5 found there: now recorded as sent" in resumed.output
    assert "5 not there: queued again" in resumed.output
    assert all(emulator.count_by_address()[p] == 1 for p in PEOPLE)
    with open_engine(interrupted.database_url).connect() as conn:
        ids = (
            conn.execute(select(deliveries.c.message_id).where(deliveries.c.state == "sent")).scalars().all()
        )
    assert set(ids) == {a.message_id for a in emulator.accepted}  # Postmark's own ids, found or answered


def test_the_log_lagging_behind_keeps_rows_unknown_until_it_caught_up(
    interrupted: Settings, emulator: Emulator
) -> None:
    emulator.set_log_delay(2)  # Postmark shows a message 2 s after it took it (the documented delay, shrunk)
    db = open_engine(interrupted.database_url)
    with db.connect() as conn:
        send = get_send(conn, ISSUE, find_list_id(conn, "erhverv"))
    assert send is not None
    provider = make_provider(interrupted.provider)
    early = reconcile_send(db, send, provider, consistent_after=timedelta(seconds=2))
    # Nothing in the log yet — and too early for that to prove anything: nobody is queued again.
    assert (early.sent, early.requeued, early.still_unknown) == (0, 0, 10)
    emulator.set_log_delay(0)
    _later(interrupted, 1)
    settled = reconcile_send(db, send, provider, consistent_after=timedelta(seconds=2))
    assert (settled.sent, settled.requeued, settled.still_unknown) == (5, 5, 0)


def test_a_refused_key_or_a_rate_limit_leaves_every_row_unknown_with_the_reason(
    interrupted: Settings, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _later(interrupted, 6)
    monkeypatch.setenv("NEWSLETTER_POSTMARK_TOKEN", "pm-wrong-SECRET-999")
    refused = _cli(interrupted, "reconcile", ISSUE, "--list", "erhverv")
    assert refused.exit_code == 7
    assert "10 still unknown: could not look it up in Postmark's log" in refused.output
    assert "API key was refused" in refused.output and "pm-wrong-SECRET-999" not in refused.output
    assert [s for s, _e in _states(interrupted).values()].count("unknown") == 10
    assert emulator.count_by_address().total() == 10  # asking never sends

    monkeypatch.setenv("NEWSLETTER_POSTMARK_TOKEN", KEYS["postmark"])
    emulator.inject("search_error", provider="postmark", status=429, retry_after=30)
    limited = _cli(interrupted, "reconcile", ISSUE, "--list", "erhverv")
    assert limited.exit_code == 7 and "HTTP 429" in limited.output
    assert [s for s, _e in _states(interrupted).values()].count("unknown") == 10  # it stopped asking

    emulator.inject("search_error", provider="postmark", status=503)
    flaky = _cli(interrupted, "reconcile", ISSUE, "--list", "erhverv")
    assert flaky.exit_code == 7 and "1 still unknown: could not look it up" in flaky.output
    # Only the row asked during the 503 stays unknown (the first: one Postmark took); the rest settle.
    assert "HTTP 503" in flaky.output and "4 found there" in flaky.output and "5 not there" in flaky.output


def test_reconcile_says_plainly_when_there_is_nothing_to_do_or_it_cannot(
    configure: Callable[..., Settings], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure("postmark", emulator.url, batch_size=5)
    subscribe_many(open_engine(settings.database_url), PEOPLE[:3])
    never = _cli(settings, "reconcile", ISSUE, "--list", "erhverv")
    assert never.exit_code == 4 and "has not been sent to list 'erhverv'" in never.output
    no_list = _cli(settings, "reconcile", ISSUE, "--list", "nope")
    assert no_list.exit_code == 4 and "list 'nope' does not exist" in no_list.output

    assert _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes").exit_code == 0
    nothing = _cli(settings, "reconcile", ISSUE)
    assert nothing.exit_code == 0 and "no unknown messages, nothing to look up" in nothing.output

    monkeypatch.delenv("NEWSLETTER_POSTMARK_TOKEN")
    missing = _cli(settings, "reconcile", ISSUE)
    assert missing.exit_code == 2 and "NEWSLETTER_POSTMARK_TOKEN is not set" in missing.output


def test_a_provider_without_a_searchable_log_leaves_unknown_rows_and_says_why(
    configure: Callable[..., Settings], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BREVO_API_KEY", "xkeysib-SECRET-brevo")
    settings = configure("brevo", emulator.url, batch_size=5)
    subscribe_many(open_engine(settings.database_url), PEOPLE[:3])
    emulator.inject("processed_then_error", provider="brevo", status=502)
    assert _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes").exit_code == 7
    result = _cli(settings, "reconcile", ISSUE, "--list", "erhverv")
    assert result.exit_code == 7
    assert "1 still unknown: Brevo keeps no log that newsletter can search" in result.output
    assert emulator.count_by_address().total() == 3
