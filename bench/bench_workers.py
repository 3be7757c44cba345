"""Several ``newsletter worker`` processes sharing one send on PostgreSQL (issue 14).

Against the emulator (its own process) answering each request 50 ms late — a
realistic provider's latency — one send of ``BENCH_WORKERS_MESSAGES`` (3,000)
messages in batches of 10 is sent by 1, 2 and 3 worker processes, each keeping
one batch in flight (``--concurrency 1``; ``[provider] concurrency = 8`` is the
cap for all of them together, not reached). Rounds alternate (:func:`interleave`).
A sample is messages ÷ seconds from the moment the send is due to the moment the
ledger says ``done``; the row's peer is one worker, so its ratio is the speed-up
(target ≥ 2.5× with 3).

Needs PostgreSQL: a server named by ``NEWSLETTER_TEST_DATABASE_URL``, on which it makes a
throwaway database of its own; without one it says so and measures nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import delete, select

from bench.measure import Results, Row, interleave, ratio_target
from bench.seeding import PG_ENV, throwaway_database
from newsletter.config import load_settings
from newsletter.send.ledger import counts_by_state, utcnow
from newsletter.send.schedule import schedule_send
from newsletter.send.service import prepare_issue
from newsletter.store.db import open_engine
from newsletter.store.schema import sends
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.emulator import running_emulator
from tests.send.conftest import write_settings
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"
TOKEN = "bench-postmark-token-0123456789"
BATCH = 10
LATENCY = 0.05
WORKER_COUNTS = (1, 2, 3)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(NEWSLETTER_SECRET_KEY=TEST_SECRET_KEY, NEWSLETTER_POSTMARK_TOKEN=TOKEN, PYTHONPATH=str(REPO))
    return env


def _one_send(config: Path, database_url: str, workers: int, messages: int) -> float:
    """Messages per second of one send shared by ``workers`` worker processes."""
    db = open_engine(database_url)
    with db.begin() as conn:  # a fresh send of the same issue each time
        conn.execute(delete(sends).where(sends.c.issue == ISSUE))
    settings = load_settings(config)
    command = [sys.executable, "-c", "import sys; from newsletter.cli import main; sys.exit(main())"]
    command += ["--config", str(config), "worker", "--interval", "1", "--concurrency", "1"]
    processes = [
        subprocess.Popen(command, env=_environment(), stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    try:
        for process in processes:  # each has started and looked once
            assert process.stdout is not None
            while "alive at" not in (process.stdout.readline() or "alive at"):
                pass
        prepared = prepare_issue(settings, ISSUE)
        started = time.perf_counter()
        schedule_send(
            db,
            settings,
            issue=ISSUE,
            content=prepared.content,
            lang=prepared.lang,
            list_name="erhverv",
            provider="postmark",
            at=utcnow(),
            zone=settings.timezone,
        )
        while True:
            with db.connect() as conn:
                send_id, status = conn.execute(
                    select(sends.c.id, sends.c.status).where(sends.c.issue == ISSUE)
                ).one()
                if status == "done":
                    sent = counts_by_state(conn, send_id)["sent"]
                    break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        assert sent >= messages, f"only {sent} of {messages} sent"
        return sent / elapsed
    finally:
        for process in processes:
            process.kill()
            process.wait()


def main() -> Results:
    results = Results("workers")
    server = os.environ.get(PG_ENV)
    if not server:
        print(f"  skipped: set {PG_ENV} to a PostgreSQL server (a throwaway database is made on it)")
        return results
    messages = int(os.environ.get("BENCH_WORKERS_MESSAGES", "3000"))
    rounds = int(os.environ.get("BENCH_WORKERS_ROUNDS", "2"))
    with (
        tempfile.TemporaryDirectory() as name,
        throwaway_database(server) as database_url,
        running_emulator(keys={"postmark": TOKEN}) as emulator,
    ):
        emulator.inject("slow", times=10_000_000, seconds=LATENCY)
        config = write_settings(
            Path(name) / "project",
            database_url,
            "postmark",
            base_url=emulator.url,
            batch_size=BATCH,
            concurrency=8,
        )
        db = open_engine(database_url)
        with db.begin() as conn:
            conn.execute(delete(sends).where(sends.c.issue == ISSUE))
        subscribe_many(db, addresses(messages, prefix="bench-workers"))
        rates = interleave(
            rounds,
            {
                str(count): (lambda count=count: _one_send(config, database_url, count, messages))  # type: ignore[misc]
                for count in WORKER_COUNTS
            },
        )
    for count in WORKER_COUNTS:
        row = Row(
            f"one send of {messages:,} shared by {count} worker process(es), 50 ms a request",
            "msg/s",
            rates[str(count)],
            rates["1"] if count > 1 else None,
            peer_label="one worker",
            higher_is_better=True,
            target="≥ 2.5×" if count == 3 else "",
            note=f"batches of {BATCH}, one batch in flight a worker, PostgreSQL leases",
        )
        results.add(replace(row, met=ratio_target(row.ratio, at_least=2.5)) if count == 3 else row)
    results.figures.update({"batch_size": BATCH, "latency_seconds": LATENCY, "messages": messages})
    return results


if __name__ == "__main__":
    main()
