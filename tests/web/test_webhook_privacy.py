"""What a webhook leaves behind: no signing material, no readable recipient address, nothing
an export or an erase overlooks."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, select

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.store.addresses import hash_of
from newsletter.store.gdpr import erase
from newsletter.store.lists import ListRow
from newsletter.store.redact import mentions
from newsletter.store.schema import events, suppressions
from tests.web.conftest import AppClient, add_delivery, add_member, count
from tests.web.webhook_signing import SendGridKeys, mailgun_body

TARGET = "gdpr.target@example.com"


def _click(recipient: str) -> dict[str, Any]:
    """A SendGrid click whose payload quotes the address in every way a tracking link might."""
    return {
        "email": recipient,
        "event": "click",
        "sg_event_id": "sg-click-1",
        "timestamp": int(time.time()),
        "url": "https://example.org/afmeld?e=GDPR.Target%40example.com&t="
        + base64.urlsafe_b64encode(f"v1:{recipient}".encode()).decode(),
        "reason": f"clicked by {recipient.upper()}",
        "nested": json.dumps({"to": recipient}),
    }


def _raw_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(events.c.raw, events.c.detail)))


def test_stored_payload_holds_the_address_in_no_encoding_and_erase_still_finds_it(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    body = json.dumps([_click(TARGET)]).encode()
    assert (
        client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body)).status_code
        == 200
    )
    [(raw, detail)] = _raw_rows(engine)
    assert not mentions(raw, TARGET) and not mentions(detail, TARGET)
    assert "gdpr.target" not in json.dumps(raw).lower() + detail.lower()
    assert f"sha256:{hash_of(TARGET)}" in raw["email"]
    with engine.begin() as conn:  # unknown address, event linked to nobody: found by its hash
        assert erase(conn, TARGET).events == 1
    assert count(engine, events) == 0


def test_late_bounce_after_erase_leaves_no_readable_address(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    person = add_member(engine, TARGET)
    add_delivery(engine, person, erhverv)
    with engine.begin() as conn:
        erase(conn, TARGET)
    bounce = {
        "id": "ev-late",
        "event": "failed",
        "severity": "permanent",
        "timestamp": time.time(),
        "recipient": TARGET,
        "delivery-status": {"message": f"550 5.1.1 <{TARGET}>: mailbox unknown"},
    }
    assert client.post("/webhooks/mailgun", content=mailgun_body(bounce)).status_code == 200
    with engine.connect() as conn:
        details = conn.execute(select(suppressions.c.detail)).scalars().all()
    assert details and not any(mentions(d, TARGET) for d in details)
    assert not any(mentions(row.raw, TARGET) or mentions(row.detail, TARGET) for row in _raw_rows(engine))


def test_export_data_prints_no_signature(
    client: AppClient, settings: Settings, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    person = add_member(engine, TARGET)
    delivery = add_delivery(engine, person, erhverv)
    event = {
        "id": "ev-1",
        "event": "delivered",
        "timestamp": time.time(),
        "recipient": TARGET,
        "user-variables": {"nl_delivery": str(delivery)},
    }
    body = mailgun_body(event)
    triple = json.loads(body)["signature"]
    assert client.post("/webhooks/mailgun", content=body).status_code == 200
    result = CliRunner().invoke(main, ["--config", str(settings.path), "subscribers", "export-data", TARGET])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert [e["type"] for e in exported["events"]] == ["delivered"]
    assert triple["token"] not in result.stdout and triple["signature"] not in result.stdout
    assert '"signature"' not in result.stdout


def test_nul_bytes_in_a_signed_payload_are_no_500(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    bounce = {
        "email": "jens@example.com",
        "event": "bounce",
        "type": "blocked",
        "sg_event_id": "sg-\u0000-1",
        "reason": "451 \u0000 try later",
        "timestamp": int(time.time()),
    }
    body = json.dumps([bounce]).encode()
    answer = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body))
    assert answer.status_code == 200
    [row] = _raw_rows(engine)
    assert row.detail == "451  try later"
