"""Several ``newsletter worker`` processes share one send on PostgreSQL, never twice (issue 14).

The chaos test: a 20,000-recipient send shared by 3 worker processes against the
emulator (a process of its own) with its half-answers on; workers are killed with
SIGKILL at random and new ones started, many times. Their leases are short
(``[database] lease_seconds = 3``) so that a killed worker's batch is recovered
by another within seconds. At the end, by the emulator's own count: no address
received the issue twice, every address received it or is listed ``unknown``,
and with Resend (idempotency keys) none is ``unknown``.

PostgreSQL only: SQLite runs one worker at a time. Without
``NEWSLETTER_TEST_DATABASE_URL`` (a reachable PostgreSQL) the test is skipped, and says so.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from newsletter.send.ledger import utcnow
from newsletter.store.db import open_engine
from tests.emulator import running_emulator
from tests.send.conftest import with_lease_seconds, write_settings
from tests.send.helpers import addresses, subscribe_many
from tests.send.test_kill_resume import HTTP_HALF_ANSWERS, NEWSLETTER, _environment, _ledger
from tests.send.test_worker import ISSUE, _schedule, wait_until

PEOPLE = 20_000
WORKERS = 3
LEASE_SECONDS = 3
# About a minute a provider on a shared 2-core machine: the kills stop after this many seconds.
CHAOS_SECONDS = 35.0


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def _reaped(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def _open(database_url: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in _ledger(database_url).values():
        counts[state] = counts.get(state, 0) + 1
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["postmark", "resend"])
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_workers_killed_at_random_share_a_send_and_nobody_gets_it_twice(
    provider: str, tmp_path: Path, database_url: str
) -> None:
    seed = int(os.environ.get("NEWSLETTER_KILL_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    people = addresses(PEOPLE)
    with running_emulator() as emulator:
        config = write_settings(
            tmp_path / "project",
            database_url,
            provider,
            base_url=emulator.url,
            batch_size=50,
            concurrency=WORKERS,
            max_wait_seconds=1,
        )
        with_lease_seconds(config, LEASE_SECONDS)
        for fault, times, every, params in HTTP_HALF_ANSWERS:
            emulator.inject(fault, times=times, every=every * 3, **params)
        emulator.inject("slow", times=100_000, seconds=0.05)
        subscribe_many(open_engine(database_url), people)
        _schedule(config, utcnow())
        env = _environment(provider)
        worker = [*NEWSLETTER, "--config", str(config), "worker", "--interval", "1", "--concurrency", "1"]
        running: list[subprocess.Popen[bytes]] = []
        every_process: list[subprocess.Popen[bytes]] = []
        log = tmp_path / "workers.log"
        kills = 0
        with _reaped(every_process):
            for _ in range(WORKERS):
                running.append(_start(worker, env, log))
            every_process.extend(running)
            started = time.monotonic()
            while time.monotonic() - started < CHAOS_SECONDS and _open(database_url).get("queued", 0):
                time.sleep(rng.uniform(0.5, 2.5))
                victim = running.pop(rng.randrange(len(running)))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                replacement = _start(worker, env, log)
                running.append(replacement)
                every_process.append(replacement)
            # The survivors finish the send (they recover the killed workers' batches as their leases expire).
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and {"queued", "sending"} & set(_open(database_url)):
                time.sleep(0.5)
            # A worker stops gently once it has said it started (its SIGTERM handler is in place).
            for process in running:
                wait_until(
                    lambda process=process: f"worker: pid {process.pid}," in log.read_text(errors="replace")
                )
                process.send_signal(signal.SIGTERM)
            codes = [process.wait(timeout=60) for process in running]
        output = log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in output, output[-3000:]
        assert codes == [0] * WORKERS, output[-3000:]
        # A send that stopped on an answer it cannot read waits 5 minutes for a worker: a user's
        # 'newsletter send' finishes it (and shares it with nobody now).
        send = [*NEWSLETTER, "--config", str(config), "send", ISSUE, "--list", "erhverv", "--yes"]
        for _ in range(4):
            if not {"queued", "sending"} & set(_open(database_url)):
                break
            final = subprocess.run(send, env=env, capture_output=True, text=True, timeout=240)
            assert "Traceback" not in final.stderr, final.stderr
        received = emulator.count_by_address()
        left = [f for f in emulator.faults_left() if f != "slow"]
    ledger = _ledger(database_url)
    status = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "status", ISSUE, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    counts = json.loads(status.stdout)["sends"][0]["counts"]
    print(f"{provider} (seed {seed}): {kills} kills; final counts {counts}")
    assert kills >= 8, f"too few kills landed (seed {seed})"
    twice = {address: n for address, n in received.items() if n > 1}
    assert twice == {}, f"received twice: {list(twice.items())[:5]} (seed {seed})"
    assert left == [], f"half-answers never reached: {left} (seed {seed})"
    missing = [p for p in people if received[p] == 0 and ledger[p] != "unknown"]
    assert missing == [], f"neither received nor listed unknown: {missing[:5]} (seed {seed})"
    assert all(received[p] == 1 for p in people if ledger[p] == "sent")
    assert counts["queued"] == 0 and counts["sending"] == 0
    if provider == "resend":
        assert counts["unknown"] == 0, f"seed {seed}"
        assert all(received[p] == 1 for p in people)
