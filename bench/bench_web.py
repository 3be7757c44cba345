"""How many one-click unsubscribes and webhook events per second ``newsletter serve`` absorbs.

A real ``newsletter serve`` process (uvicorn, one worker, SQLite) on a
loopback port; a bounded load generator (a fixed number of requests spread
over a few threads, each with a keep-alive httpx client) sends:

- 3,000 RFC 8058 one-click POSTs, one per subscriber, with the exact body a
  mailbox provider sends;
- 3,000 signed Mailgun webhook events, one per request (the most expensive
  shape: one verification and one transaction per event).

Each kind goes out in :data:`ROUNDS` runs of an equal share, interleaved
with the other kind and with the peer: the same requests, bodies and
clients against a bare uvicorn + Starlette app that only reads the body and
answers 200 (:mod:`bench.bare_http`), so the ratio is the share of the
HTTP stack's rate the project keeps. Afterwards the database is counted:
every unsubscribe and every event must be there (nothing lost), and every
answer must have been 200 (no errors). Target: at least 500 per second
each, none lost.
"""

from __future__ import annotations

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

from bench.bare_http import bare_server  # noqa: E402
from bench.measure import Results, Row, interleave  # noqa: E402
from bench.seeding import seed_sent_list  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.store.db import open_engine  # noqa: E402
from newsletter.store.schema import events, memberships, subscribers  # noqa: E402
from newsletter.tokens import LinkOwner, Signer  # noqa: E402
from tests.conftest import write_project  # noqa: E402
from tests.web.serving import cpu_seconds, server_process  # noqa: E402
from tests.web.webhook_signing import MAILGUN_KEY, mailgun_body  # noqa: E402

REQUESTS = 3000
ROUNDS = 5
THREADS = 4
TARGET_PER_SECOND = 500
SECRET = "bench-only-signing-key-0123456789abcdef"
ISSUE = "2020-03-02-nyt-fra-erhvervsservice"
KINDS = ("one-click", "bare one-click", "webhook", "bare webhook")


def _fire(url: str, pid: int, requests: list[Callable[[httpx.Client], httpx.Response]]) -> dict[str, Any]:
    """Send every request over ``THREADS`` keep-alive clients; the time, the server's CPU, any non-200 answers."""
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
    return {
        "requests": len(requests),
        "seconds": time.perf_counter() - started,
        "server_cpu_seconds": cpu_seconds(pid) - cpu_before,
        "load_generator_cpu_seconds": time.process_time() - client_cpu_before,
        "errors": errors,
    }


def totals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the runs of one kind add up to."""
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    server_cpu = sum(run["server_cpu_seconds"] for run in runs)
    errors = [error for run in runs for error in run["errors"]]
    return {
        "requests": requests,
        "runs": len(runs),
        "seconds": round(seconds, 2),
        "per_second": round(requests / seconds),
        # The load generator shares the machine's cores: the server's own CPU cost per request
        # says what one core can absorb when the clients are elsewhere.
        "server_cpu_ms_per_request": round(server_cpu / requests * 1000, 2),
        "per_server_cpu_second": round(requests / server_cpu) if server_cpu else None,
        "load_generator_cpu_seconds": round(sum(run["load_generator_cpu_seconds"] for run in runs), 2),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
    }


def contender(
    url: str, pid: int, requests: list[Callable[[httpx.Client], httpx.Response]], runs: list[dict[str, Any]]
) -> Callable[[], float]:
    """One run per call, each on the next share of ``requests``; its rate (requests per second)."""
    shares = iter([requests[number::ROUNDS] for number in range(ROUNDS)])

    def run() -> float:
        outcome = _fire(url, pid, next(shares))
        runs.append(outcome)
        return float(outcome["requests"] / outcome["seconds"])

    return run


def main() -> Results:
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
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in KINDS}
        with server_process(config, env) as (url, process), bare_server() as (bare_url, bare_process):
            spreads = interleave(
                ROUNDS,
                {
                    "one-click": contender(url, process.pid, unsubscribe_requests, runs["one-click"]),
                    "bare one-click": contender(
                        bare_url, bare_process.pid, unsubscribe_requests, runs["bare one-click"]
                    ),
                    "webhook": contender(url, process.pid, webhook_requests, runs["webhook"]),
                    "bare webhook": contender(
                        bare_url, bare_process.pid, webhook_requests, runs["bare webhook"]
                    ),
                },
            )

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

    figures: dict[str, Any] = {name: totals(kind_runs) for name, kind_runs in runs.items()}
    figures["one-click"].update(rows_in_db=unsubscribed, lost=REQUESTS - unsubscribed)
    figures["webhook"].update(
        rows_in_db=stored_events, matched_to_ledger=matched_events, lost=REQUESTS - stored_events
    )
    results = Results("web", figures={"threads": THREADS, "database": "sqlite", **figures})
    share = f"{REQUESTS:,} in {ROUNDS} runs of {REQUESTS // ROUNDS}, {THREADS} client threads"
    for kind, work in (
        ("one-click", f"one-click unsubscribes absorbed by `newsletter serve` ({share}, SQLite)"),
        ("webhook", f"signed Mailgun webhook events absorbed ({share}, SQLite)"),
    ):
        found = figures[kind]
        project = spreads[kind]
        results.add(
            Row(
                work=work,
                unit="req/s",
                project=project,
                peer=spreads[f"bare {kind}"],
                peer_label="bare uvicorn + Starlette answering 200",
                higher_is_better=True,
                target=f"≥ {TARGET_PER_SECOND}/s, none lost",
                met=project.median >= TARGET_PER_SECOND and found["errors"] == 0 and found["lost"] == 0,
                note=(
                    f"{found['errors']} errors, {found['lost']} lost; "
                    f"server CPU {found['server_cpu_ms_per_request']} ms a request"
                ),
            )
        )
    return results


if __name__ == "__main__":
    main()
