"""How many one-click unsubscribes and webhook events per second ``newsletter serve`` absorbs.

A real ``newsletter serve`` process (uvicorn, one worker, SQLite) on a
loopback port; a bounded load generator (a fixed number of requests spread
over a few threads, each with a keep-alive httpx client) sends:

- 3,000 RFC 8058 one-click POSTs, one per subscriber, with the exact body a
  mailbox provider sends;
- 3,000 signed Mailgun webhook events, one per request (the most expensive
  shape: one verification and one transaction per event).

Afterwards the database is counted: every unsubscribe and every event must
be there (nothing lost), and every answer must have been 200 (no errors).
Target: at least 500 per second each.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seeding import seed_sent_list  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.store.db import open_engine  # noqa: E402
from newsletter.store.schema import events, memberships, subscribers  # noqa: E402
from newsletter.tokens import LinkOwner, Signer  # noqa: E402
from tests.conftest import write_project  # noqa: E402
from tests.web.serving import cpu_seconds, server_process  # noqa: E402
from tests.web.webhook_signing import MAILGUN_KEY, mailgun_body  # noqa: E402

REQUESTS = 3000
THREADS = 4
SECRET = "bench-only-signing-key-0123456789abcdef"
ISSUE = "2020-03-02-nyt-fra-erhvervsservice"


def _fire(url: str, pid: int, requests: list[Callable[[httpx.Client], httpx.Response]]) -> dict[str, Any]:
    """Send every request over ``THREADS`` keep-alive clients; the rate and any non-200 answers."""
    shares = [requests[i::THREADS] for i in range(THREADS)]
    errors: list[str] = []

    def worker(share: list[Callable[[httpx.Client], httpx.Response]]) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for send in share:
                try:
                    answer = send(client)
                    if answer.status_code != 200:
                        errors.append(f"HTTP {answer.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)

    cpu_before = cpu_seconds(pid)
    client_cpu_before = time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, shares))
    elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(pid) - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    return {
        "requests": len(requests),
        "seconds": round(elapsed, 2),
        "per_second": round(len(requests) / elapsed),
        # The load generator shares the machine's cores: the server's own CPU cost per request
        # says what one core can absorb when the clients are elsewhere.
        "server_cpu_ms_per_request": round(server_cpu / len(requests) * 1000, 2),
        "per_server_cpu_second": round(len(requests) / server_cpu) if server_cpu else None,
        "load_generator_cpu_seconds": round(client_cpu, 2),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
    }


def main() -> dict[str, Any]:
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    env = {"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        config = write_project(Path(folder) / "project", "sqlite:///newsletter.db")
        settings = load_settings(config)
        seeded = seed_sent_list(open_engine(settings.database_url), "erhverv", REQUESTS, ISSUE)
        list_id, ledger = seeded.list_id, seeded.ledger
        signer = Signer(SECRET)
        with open_engine(settings.database_url).connect() as conn:
            keys = dict(conn.execute(select(subscribers.c.id, subscribers.c.link_key)).all())
            addresses = dict(conn.execute(select(subscribers.c.id, subscribers.c.email)).all())

        def one_click(subscriber_id: int) -> Callable[[httpx.Client], httpx.Response]:
            owner = LinkOwner(subscriber_id, keys[subscriber_id])
            path = f"/u/{signer.unsubscribe_token(owner, list_id, ISSUE)}"
            return lambda client: client.post(
                path,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

        def webhook(delivery_id: int, subscriber_id: int) -> Callable[[httpx.Client], httpx.Response]:
            body = mailgun_body(
                {
                    "id": f"bench-event-{delivery_id}",
                    "event": "delivered",
                    "timestamp": time.time(),
                    "recipient": addresses[subscriber_id],  # the ledger row's own address
                    "message": {"headers": {"message-id": f"{delivery_id}@bench.example.org"}},
                    "user-variables": {"nl_issue": ISSUE, "nl_delivery": str(delivery_id)},
                }
            )
            return lambda client: client.post(
                "/webhooks/mailgun", content=body, headers={"Content-Type": "application/json"}
            )

        unsubscribe_requests = [one_click(subscriber_id) for _, subscriber_id in ledger]
        webhook_requests = [webhook(delivery_id, subscriber_id) for delivery_id, subscriber_id in ledger]
        with server_process(config, env) as (url, process):
            unsubscribes = _fire(url, process.pid, unsubscribe_requests)
            webhooks = _fire(url, process.pid, webhook_requests)

        engine = open_engine(settings.database_url)
        with engine.connect() as conn:
            unsubscribed = conn.execute(
                select(func.count()).select_from(memberships).where(memberships.c.state == "unsubscribed")
            ).scalar_one()
            stored_events = conn.execute(select(func.count()).select_from(events)).scalar_one()
            matched_events = conn.execute(
                select(func.count()).select_from(events).where(events.c.delivery_id.is_not(None))
            ).scalar_one()
        engine.dispose()

    unsubscribes["rows_in_db"] = unsubscribed
    unsubscribes["lost"] = REQUESTS - unsubscribed
    webhooks["rows_in_db"] = stored_events
    webhooks["matched_to_ledger"] = matched_events
    webhooks["lost"] = REQUESTS - stored_events
    figures = {
        "threads": THREADS,
        "database": "sqlite",
        "one_click_unsubscribes": unsubscribes,
        "webhook_events_mailgun": webhooks,
        "target_per_second": 500,
    }
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
