"""A send through the provider emulator (SendGrid) followed by a scripted mix of webhook events.

:func:`scripted_send` is what the report tests read: twelve people on three domains — a webmail
(gmail.com), a Danish one (outlook.dk) and the municipality's own (balk.dk) — sent the sample
issue through the emulator, the ledger moved five days back to a known minute, then the events
of :data:`SCRIPT` posted, signed, to ``/webhooks/sendgrid``, with replays, a late event and one
for a message no ledger row knows. The expected figures are written out beside the script.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from newsletter.cli import main
from newsletter.config import Settings, load_settings
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, subscribers
from newsletter.web import create_app
from tests.emulator import Emulator
from tests.send.conftest import KEY_VARS, KEYS, write_settings
from tests.send.helpers import subscribe_many
from tests.web.conftest import AppClient
from tests.web.webhook_signing import SendGridKeys, set_webhook_secrets

ISSUE = "2019-12-20-tak-for-et-godt-2019"
OTHER_ISSUE = "2020-03-02-nyt-fra-erhvervsservice"
PEOPLE = {
    "g": [f"g{i}@gmail.com" for i in range(5)],
    "o": [f"o{i}@outlook.dk" for i in range(4)],
    "b": [f"b{i}@balk.dk" for i in range(3)],
}
EVERYONE = [address for group in PEOPLE.values() for address in group]
# The send "happened" at this minute (the ledger is moved there after the real send).
T0 = (datetime.now(UTC) - timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
# Rows left "unknown" as by a crash: b2 the provider later reports on (so it was sent), o3 never.
UNKNOWN_WITH_EVENTS = "b2@balk.dk"
UNKNOWN_SILENT = "o3@outlook.dk"

# (minutes after T0, address, SendGrid event, extra fields). Every event has its own sg_event_id.
SCRIPT: list[tuple[int, str, str, dict[str, Any]]] = [
    *[
        (10, address, "delivered", {})
        for address in ("g0@gmail.com", "g1@gmail.com", "g2@gmail.com", "g3@gmail.com", "o0@outlook.dk")
    ],
    (10, "o1@outlook.dk", "delivered", {}),
    (10, "b0@balk.dk", "delivered", {}),
    (12, UNKNOWN_WITH_EVENTS, "delivered", {}),
    (40, "o2@outlook.dk", "deferred", {"response": "421 try again later"}),
    (65, "g4@gmail.com", "bounce", {"type": "bounce", "reason": "550 5.1.1 user unknown"}),
    (70, "o2@outlook.dk", "bounce", {"type": "blocked", "reason": "452 4.2.2 mailbox full"}),
    (75, "b1@balk.dk", "bounce", {"type": "blocked", "reason": "451 greylisted"}),
    (125, "b1@balk.dk", "bounce", {"type": "bounce", "reason": "550 5.1.1 no such user"}),
    (130, "g2@gmail.com", "open", {}),
    (131, "g2@gmail.com", "click", {"url": "https://example.org/businessballerup"}),
    (180, "o2@outlook.dk", "delivered", {}),
    (300, "g1@gmail.com", "unsubscribe", {}),
    (1800, "g0@gmail.com", "spamreport", {}),
    # Late: after the events timeline's 72 hours, still counted.
    (6000, "g3@gmail.com", "unsubscribe", {}),
]
# What the script implies (tracking off: opens and clicks are not measured).
EXPECTED_COUNTS = {
    "sent": 11,  # 12 rows; o3 left unknown with no word from the provider
    "delivered": 9,  # 8 on the first pass (b2 included), o2 after its soft bounce
    "deferred": 1,
    "bounced": 3,
    "bounced_hard": 2,  # g4; b1 soft-bounced first, then hard
    "bounced_soft": 1,  # o2
    "complained": 1,
    "unsubscribed": 2,
    "opened": None,
    "clicked": None,
}
EXPECTED_DOMAINS = {
    "gmail.com": {"sent": 5, "delivered": 4, "bounced": 1, "complained": 1, "unsubscribed": 2},
    "outlook.dk": {"sent": 3, "delivered": 3, "deferred": 1, "bounced": 1},
    "balk.dk": {"sent": 3, "delivered": 2, "bounced": 1},
}


@dataclass
class ScriptedSend:
    settings: Settings
    client: AppClient
    keys: SendGridKeys
    delivery_ids: dict[str, int]
    posted: list[dict[str, Any]]

    def cli(self, *args: str, settings: Settings | None = None) -> Result:
        path = (settings or self.settings).path
        return CliRunner().invoke(main, ["--config", str(path), *args])

    def post(self, events: list[dict[str, Any]]) -> int:
        body = json.dumps(events).encode()
        return self.client.post(
            "/webhooks/sendgrid", content=body, headers=self.keys.headers(body)
        ).status_code

    def event(self, minutes: int, address: str, name: str, **extra: Any) -> dict[str, Any]:
        number = len(self.posted)
        event = {
            "email": address,
            "event": name,
            "timestamp": int((T0 + timedelta(minutes=minutes)).timestamp()),
            "sg_event_id": f"ev-{number:04d}-{name}",
            "sg_message_id": f"unknown-{number}.filter",
            **extra,
        }
        if address in self.delivery_ids:
            event["nl_delivery"] = str(self.delivery_ids[address])
            event["nl_issue"] = ISSUE
        self.posted.append(event)
        return event


def _send(settings: Settings, issue: str) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(settings.path), "send", issue, "--list", "erhverv", "--yes"]
    )
    assert result.exit_code == 0, result.output


def _move_ledger(settings: Settings, issue: str) -> dict[str, int]:
    """Put the issue's rows at T0 and T0 + 1 min (six each), two of them unknown; their ids by address."""
    engine = open_engine(settings.database_url)
    with engine.begin() as conn:
        rows = conn.execute(
            select(deliveries.c.id, subscribers.c.email)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.issue == issue)
            .order_by(deliveries.c.id)
        ).all()
        ids = {email: delivery_id for delivery_id, email in rows}
        for index, (delivery_id, email) in enumerate(rows):
            unknown = email in (UNKNOWN_WITH_EVENTS, UNKNOWN_SILENT)
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    state="unknown" if unknown else "sent",
                    sent_at=None if unknown else T0 + timedelta(minutes=index // 6, seconds=index % 6),
                )
            )
    return ids


@pytest.fixture
def scripted_send(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., ScriptedSend]]:
    """The send and the script; ``scripted_send(tracking=True)`` turns [tracking] on first,
    ``also_other_issue=True`` sends :data:`OTHER_ISSUE` too (no events: for ``--compare``)."""
    clients: list[AppClient] = []

    def run(*, tracking: bool = False, also_other_issue: bool = False) -> ScriptedSend:
        for provider, variable in KEY_VARS.items():
            monkeypatch.setenv(variable, KEYS[provider])
        keys = SendGridKeys()
        set_webhook_secrets(monkeypatch, keys)
        with Emulator(keys=KEYS) as emulator:
            path = write_settings(tmp_path / "project", database_url, "sendgrid", emulator.url)
            if tracking:
                path.write_text(path.read_text() + "\n[tracking]\nopens = true\nclicks = true\n")
            settings = load_settings(path)
            subscribe_many(open_engine(settings.database_url), EVERYONE)
            _send(settings, ISSUE)
            if also_other_issue:  # before any event: nobody has bounced or complained yet
                _send(settings, OTHER_ISSUE)
            assert emulator.accepted_count("sendgrid") == len(EVERYONE) * (2 if also_other_issue else 1)
        ids = _move_ledger(settings, ISSUE)
        client = AppClient(create_app(settings))
        clients.append(client)
        scripted = ScriptedSend(settings, client, keys, ids, [])
        events = [scripted.event(minutes, address, name, **extra) for minutes, address, name, extra in SCRIPT]
        assert scripted.post(events[:8]) == 200
        for event in events[8:]:
            assert scripted.post([event]) == 200
        # Replays: the first batch again, and one event again on its own: nothing new is stored.
        assert scripted.post(events[:8]) == 200
        assert scripted.post([events[-1]]) == 200
        # An event for a message no ledger row knows (another system's mail, say): not this issue's.
        assert scripted.post([scripted.event(20, "stranger@example.net", "delivered")]) == 200
        return scripted

    yield run
    for client in clients:
        client.close()
