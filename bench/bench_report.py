"""``newsletter report`` over 100,000 messages and 300,000 events, on SQLite and PostgreSQL.

The target (issue #15): the whole report — counts, rates, the bounce and complaint lists, both
timelines, the per-domain table and the clicks per link — in under 2 s on either database. It is
a timing reported here, never asserted in a test. The peer is the least any report must do: one
``COUNT(*)`` over the same join of events to the issue's messages.

The data: 100,000 people on a realistic mix of domains (webmail, Danish providers, the
municipality's own), sent over 100 minutes; 300,000 events over three days — deliveries,
deferrals, soft and hard bounces, complaints, unsubscribes, then opens and clicks — and 5,000
clicks on tracked links. Everything goes in through each database's bulk path
(:mod:`bench.seeding`). The domain chart of this data is written to
``docs/images/report-domains.svg`` (the README shows it), and the time to draw the three
charts is reported beside the report's.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench.measure import Results, Row, interleave, seconds_of
from bench.seeding import PG_ENV, bulk_insert, throwaway_database
from newsletter.config import TrackingSettings
from newsletter.reports.charts import all_charts, domains_chart
from newsletter.reports.figures import issue_report
from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.lists import create_list
from newsletter.store.schema import clicks, deliveries, events, new_link_key, sends, subscribers

MESSAGES = 100_000
EVENTS = 300_000
LINK_CLICKS = 5_000
ROUNDS = 5
TARGET_SECONDS = 2.0
ISSUE = "2026-12-01-bench-report"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
# (domain, how many of every 100 people): where a municipality's list lives.
DOMAINS = (
    ("gmail.com", 34),
    ("hotmail.com", 14),
    ("outlook.dk", 10),
    ("balk.dk", 12),
    ("yahoo.dk", 6),
    ("jubii.dk", 4),
    ("mail.dk", 5),
    ("icloud.com", 8),
    ("firma.dk", 7),
)
IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "report-domains.svg"


def _domain(index: int) -> str:
    slot = index % 100
    for domain, share in DOMAINS:
        if slot < share:
            return domain
        slot -= share
    raise AssertionError("the shares add up to 100")


def _outcomes(index: int, domain: str) -> list[tuple[str, bool | None, int, str]]:
    """The events of one message before opens and clicks: (type, hard, minutes after T0, detail)."""
    slot = (index // 100) % 200  # independent of the domain (index % 100 chooses that)
    spread = index % 600  # the first ten hours
    if domain == "hotmail.com" and slot < 24:  # one domain throttles: deferrals, then soft bounces
        return [
            ("deferred", None, spread, "421 4.7.0 try again later"),
            ("bounced", False, spread + 90, "452 4.2.2 mailbox full"),
        ]
    if slot < 3 or (domain == "firma.dk" and slot < 16):  # a company domain with many people gone
        return [("bounced", True, spread, "550 5.1.1 user unknown")]
    if slot < 6:
        return [("bounced", False, spread, "452 4.2.2 mailbox full"), ("delivered", None, spread + 120, "")]
    if slot < 10:
        return [("deferred", None, spread, "421 4.7.0 try again later"), ("delivered", None, spread + 30, "")]
    delivered = [("delivered", None, spread % 60, "")]
    if slot == 10:
        return [*delivered, ("complained", None, 1440 + spread, "")]
    if slot in (11, 12):
        return [*delivered, ("unsubscribed", None, 300 + spread, "")]
    return delivered


def seed(engine: Engine) -> None:
    """:data:`MESSAGES` people and one finished send of :data:`ISSUE` with :data:`EVENTS` events."""
    now = datetime.now(UTC)
    people = [(f"person{i}@{_domain(i)}", i) for i in range(MESSAGES)]
    with engine.begin() as conn:
        the_list = create_list(conn, "erhverv", "Erhvervsnyt", "", "da", "bench")
        bulk_insert(
            conn,
            subscribers,
            [
                {
                    "email": address,
                    "email_hash": email_hash(address),
                    "language": "da",
                    "attributes": {},
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    "link_key": new_link_key(),
                }
                for address, _ in people
            ],
        )
        ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
        send_id = conn.execute(
            sends.insert()
            .values(
                issue=ISSUE,
                list_id=the_list.id,
                subject="Bench",
                provider="postmark",
                status="done",
                created_at=now,
            )
            .returning(sends.c.id)
        ).scalar_one()
        bulk_insert(
            conn,
            deliveries,
            [
                {
                    "send_id": send_id,
                    "issue": ISSUE,
                    "subscriber_id": ids[address],
                    "email_hash": email_hash(address),
                    "state": "sent",
                    "attempts": 1,
                    "provider": "postmark",
                    "created_at": now,
                    "updated_at": now,
                    "sent_at": T0 + timedelta(milliseconds=60 * index),  # 1,000 a minute
                }
                for address, index in people
            ],
        )
        ledger = conn.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars().all()
        rows: list[dict[str, Any]] = []

        def event(delivery_id: int, kind: str, hard: bool | None, minutes: float, detail: str) -> None:
            at = T0 + timedelta(minutes=minutes)
            rows.append(
                {
                    "provider": "postmark",
                    "provider_event_id": f"ev-{len(rows)}",
                    "type": kind,
                    "hard": hard,
                    "delivery_id": delivery_id,
                    "occurred_at": at,
                    "received_at": at,
                    "detail": detail,
                    "raw": {},
                }
            )

        for (address, index), delivery_id in zip(people, ledger, strict=True):
            for kind, hard, minutes, detail in _outcomes(index, address.split("@")[1]):
                event(delivery_id, kind, hard, minutes, detail)
        engagement = 0
        while len(rows) < EVENTS:  # opens (some twice) and clicks, over the first three days
            delivery_id = ledger[(engagement * 7919) % MESSAGES]
            event(
                delivery_id,
                "clicked" if engagement % 5 == 0 else "opened",
                None,
                (engagement * 13) % 4320,
                "",
            )
            engagement += 1
        for start in range(0, len(rows), 50_000):
            bulk_insert(conn, events, rows[start : start + 50_000])
        links = [f"https://example.org/nyhed-{n}" for n in range(8)]
        bulk_insert(
            conn,
            clicks,
            [
                {"issue": ISSUE, "url": links[n % len(links)], "clicked_at": T0 + timedelta(minutes=n % 4320)}
                for n in range(LINK_CLICKS)
            ],
        )
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load (PostgreSQL 13+ vacuums after inserts too):
        # statistics for the planner, and the visibility map that lets the report read its
        # figures from ix_events_delivery_outcome alone (an index-only scan).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def measure(engine: Engine, *, draw_image: bool) -> dict[str, Any]:
    tracking = TrackingSettings(opens=True, clicks=True)

    def report() -> Any:
        return issue_report(engine, ISSUE, tracking=tracking)

    def peer() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(events.join(deliveries, deliveries.c.id == events.c.delivery_id))
                    .where(deliveries.c.issue == ISSUE)
                ).scalar_one()
            )

    made = report()  # the warm-up, and a check that the data is what it says
    assert made.counts["sent"] == MESSAGES and peer() == EVENTS, (made.counts, peer())
    spreads = interleave(ROUNDS, {"report": lambda: seconds_of(report), "peer": lambda: seconds_of(peer)})
    charts = interleave(3, {"charts": lambda: seconds_of(lambda: all_charts(made, "da"))})["charts"]
    if draw_image:
        IMAGE.write_text(domains_chart(made, "da"), encoding="utf-8")
    return {"report": spreads["report"], "peer": spreads["peer"], "charts": charts, "counts": made.counts}


def _sqlite() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        engine = db.open_engine(f"sqlite:///{folder}/bench.db")
        seed(engine)
        figures = measure(engine, draw_image=True)
        db.dispose_all()
    return figures


def _postgresql() -> dict[str, Any] | None:
    server = os.environ.get(PG_ENV)
    if not server:
        return None
    with throwaway_database(server) as url:
        engine = db.open_engine(url)
        seed(engine)
        return measure(engine, draw_image=False)


def main() -> Results:
    results = Results("report", figures={"messages": MESSAGES, "events": EVENTS, "link_clicks": LINK_CLICKS})
    for database, figures in (("SQLite", _sqlite()), ("PostgreSQL", _postgresql())):
        if figures is None:
            results.figures[database.lower()] = f"not measured: set {PG_ENV} to a server URL"
            print(f"  {database}: {results.figures[database.lower()]}")
            continue
        results.add(
            Row(
                work=f"newsletter report over {MESSAGES:,} messages and {EVENTS:,} events ({database})",
                unit="s",
                project=figures["report"],
                peer=figures["peer"],
                peer_label="one COUNT(*) of the same events",
                target=f"≤ {TARGET_SECONDS:g} s",
                met=figures["report"].median <= TARGET_SECONDS,
            )
        )
        results.add(
            Row(work=f"the report's three charts as SVG ({database})", unit="s", project=figures["charts"])
        )
        results.figures[database.lower()] = {"counts": figures["counts"]}
    return results


if __name__ == "__main__":
    main()
