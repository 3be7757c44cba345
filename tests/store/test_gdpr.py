from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from newsletter.errors import NotFound
from newsletter.store.addresses import email_hash
from newsletter.store.gdpr import erase, export_data
from newsletter.store.imports import import_csv
from newsletter.store.lists import ListRow, utcnow
from newsletter.store.redact import mentions, placeholder, redact
from newsletter.store.schema import (
    consent_log,
    deliveries,
    events,
    memberships,
    sends,
    subscribers,
    suppressions,
)
from newsletter.store.subscribers import (
    SubscriptionRefused,
    add_subscriber,
    get_subscriber,
    suppression_reason,
)


def sent_issue(conn: Connection, list_id: int, subscriber_id: int, address: str, quoted: str = "") -> int:
    """A ledger row and two provider events for ``address``, as send and web would write them."""
    now = utcnow()
    send_id = conn.execute(
        sends.insert()
        .values(issue="2019-12-20-tak", list_id=list_id, subject="Tak", provider="outbox", created_at=now)
        .returning(sends.c.id)
    ).scalar_one()
    delivery_id = conn.execute(
        deliveries.insert()
        .values(
            send_id=send_id,
            issue="2019-12-20-tak",
            subscriber_id=subscriber_id,
            email_hash=email_hash(address),
            state="sent",
            provider="outbox",
            message_id="msg-1",
            error=f"first try refused for {address}",
            created_at=now,
            updated_at=now,
            sent_at=now,
        )
        .returning(deliveries.c.id)
    ).scalar_one()
    conn.execute(
        events.insert(),
        [
            {
                "provider": "postmark",
                "provider_event_id": "ev-1",
                "type": "delivered",
                "delivery_id": delivery_id,
                "received_at": now,
                "raw": {"Recipient": address},
            },
            {
                # Not linked to anything, but the payload quotes the address.
                "provider": "postmark",
                "provider_event_id": "ev-2",
                "type": "opened",
                "delivery_id": None,
                "received_at": now,
                "raw": {"Recipient": quoted or address},
            },
            {
                "provider": "postmark",
                "provider_event_id": "ev-3",
                "type": "delivered",
                "delivery_id": None,
                "received_at": now,
                "raw": {"Recipient": "someone-else@firma.dk"},
            },
        ],
    )
    return delivery_id


def test_export_data_holds_everything(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = add_subscriber(
            conn, "søren@æblegården.dk", "erhverv", name="Søren", attributes={"firma": "Æble"}
        )
        sent_issue(conn, erhverv.id, row.id, "søren@æblegården.dk")
    with engine.connect() as conn:
        data = export_data(conn, " Søren@ÆBLEGÅRDEN.dk")
    json.dumps(data)  # JSON-ready: no datetimes or other objects left
    assert data["profile"]["name"] == "Søren"
    assert data["profile"]["attributes"] == {"firma": "Æble"}
    assert [(m["list"], m["state"]) for m in data["memberships"]] == [("erhverv", "subscribed")]
    assert [(c["action"], c["method"]) for c in data["consent_log"]] == [("subscribe", "manual")]
    assert [(d["issue"], d["state"]) for d in data["deliveries"]] == [("2019-12-20-tak", "sent")]
    assert sorted(e["type"] for e in data["events"]) == ["delivered", "opened"]
    assert data["suppression"] is None


def test_export_data_for_unknown_address(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(NotFound, match=r"no data is held about nobody@firma\.dk"):
        export_data(conn, "nobody@firma.dk")


def test_erase_leaves_only_hashes(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    address = "jens@firma.dk"
    with engine.begin() as conn:
        row = add_subscriber(conn, address, "erhverv", name="Jens")
        add_subscriber(conn, "mette@firma.dk", "erhverv")
        delivery_id = sent_issue(conn, erhverv.id, row.id, address, quoted="JENS@FIRMA.DK")
    with engine.begin() as conn:
        result = erase(conn, "JENS@firma.dk")
    assert (result.had_profile, result.memberships, result.consent_rows, result.events) == (True, 1, 1, 2)
    with engine.connect() as conn:
        assert get_subscriber(conn, address) is None
        assert conn.execute(select(subscribers.c.email)).scalars().all() == ["mette@firma.dk"]
        assert len(conn.execute(select(memberships)).all()) == 1
        assert len(conn.execute(select(consent_log)).all()) == 1
        assert [e.provider_event_id for e in conn.execute(select(events))] == ["ev-3"]
        ledger = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
        assert (ledger.subscriber_id, ledger.email_hash, ledger.error) == (None, email_hash(address), None)
        assert suppression_reason(conn, email_hash(address)) == "erased"
        # Nothing readable is left anywhere: only the hash.
        assert conn.execute(select(suppressions.c.detail)).scalars().all() == [""]
        data = export_data(conn, address)
        assert data["profile"] is None and data["suppression"]["reason"] == "erased"
    # An old spreadsheet cannot bring the address back, nor can a manual add.
    sheet = tmp_path / "old.csv"
    sheet.write_text("email\nJens@Firma.dk\n", encoding="utf-8")
    assert import_csv(engine, sheet, "erhverv").skipped_suppressed == 1
    with engine.begin() as conn, pytest.raises(SubscriptionRefused, match="erased"):
        add_subscriber(conn, address, "erhverv")


def test_erase_unknown_address_changes_nothing(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(NotFound, match="nothing erased"):
        erase(conn, "nobody@firma.dk")
    with engine.connect() as conn:
        assert conn.execute(select(suppressions)).all() == []


def test_erase_bad_address(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(NotFound, match="not a valid email address"):
        erase(conn, "nonsense")


TARGET = "gdpr.target@example.com"
ENCODED_PAYLOADS = {
    "url-encoded": {"url": "https://t.example.org/c?u=gdpr.target%40example.com&l=2"},
    "url-encoded-twice": {"url": "https://t.example.org/c?next=%3Fu%3Dgdpr.target%2540example.com"},
    "every-byte-encoded": {"q": "%67%64%70%72%2E%74%61%72%67%65%74%40%65%78%61%6D%70%6C%65%2E%63%6F%6D"},
    "base64": {"token": base64.b64encode(b'{"rcpt":"gdpr.target@example.com","list":7}').decode()},
    "base64-urlsafe-unpadded": {
        "t": "v1." + base64.urlsafe_b64encode(b"x:gdpr.target@example.com").decode().rstrip("=")
    },
    "other-case": {"Recipient": "GDPR.Target@Example.COM"},
    "json-in-a-string": {"Metadata": json.dumps({"to": "gdpr.target@example.com"})},
    "html-escaped": {"Content": "til gdpr.target&#64;example.com"},
    "as-a-key": {"gdpr.target@example.com": True},
}


@pytest.mark.parametrize("payload", ENCODED_PAYLOADS.values(), ids=ENCODED_PAYLOADS.keys())
def test_erase_finds_the_address_however_a_stored_payload_encodes_it(
    engine: Engine, erhverv: ListRow, payload: dict[str, object]
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, TARGET, "erhverv")
        now = utcnow()
        conn.execute(
            events.insert(),
            [
                # Stored before payloads were redacted at ingest, linked to nobody.
                {
                    "provider": "mailgun",
                    "provider_event_id": "old",
                    "type": "opened",
                    "received_at": now,
                    "raw": payload,
                },
                {
                    "provider": "mailgun",
                    "provider_event_id": "other",
                    "type": "opened",
                    "received_at": now,
                    "raw": {
                        "url": "https://t.example.org/c?u=gdpr.other%40example.com",
                        "token": base64.b64encode(b"gdpr.targets@example.co").decode(),
                    },
                },
            ],
        )
    with engine.connect() as conn:
        assert len(export_data(conn, TARGET)["events"]) == 1
    with engine.begin() as conn:
        assert erase(conn, TARGET).events == 1
    with engine.connect() as conn:
        assert conn.execute(select(events.c.provider_event_id)).scalars().all() == ["other"]


INGEST_ONLY = {
    "partly-url-encoded": {"q": "%67dpr.target@example%2Ecom"},
    "plus-and-percent": {"q": "to=gdpr.target%40example.com+x"},
    "json-escaped-in-a-string": {"raw": '{"to": "gdpr.target\\u0040example.com"}'},
}


@pytest.mark.parametrize(
    "payload",
    [*ENCODED_PAYLOADS.values(), *INGEST_ONLY.values()],
    ids=[*ENCODED_PAYLOADS.keys(), *INGEST_ONLY.keys()],
)
def test_a_payload_is_stored_with_no_spelling_of_the_address_left(payload: dict[str, object]) -> None:
    stand_in = placeholder(email_hash(TARGET))
    stored = redact({"keep": "ev-1", **payload}, TARGET, stand_in)
    assert not mentions(stored, TARGET), stored
    assert stand_in in json.dumps(stored)
    assert stored["keep"] == "ev-1"  # nothing else is lost
