"""``newsletter worker`` as real processes: a scheduled send fires once, a stop is graceful.

- PostgreSQL: two workers running; a send scheduled a moment ahead fires when it
  is due — not before — and everyone gets it exactly once (the emulator's count).
- SQLite: a second worker on the same database is refused in one line.
- SIGTERM in the middle of a send: the batch in hand is recorded, the process
  exits 0, and the next worker resumes the send from its snapshot.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from newsletter.cli import main
from newsletter.config import load_settings
from newsletter.send.ledger import utcnow
from newsletter.send.schedule import schedule_send
from newsletter.send.service import prepare_issue
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, sends
from tests.emulator import Emulator
from tests.send.conftest import write_settings
from tests.send.helpers import addresses, subscribe_many
from tests.send.test_kill_resume import NEWSLETTER, _environment

ISSUE = "2019-12-20-tak-for-et-godt-2019"
# Generous: the machine is shared; nothing here asserts how long anything took.
DEADLINE = 90.0


class RunningWorker:
    """A ``newsletter worker`` process whose output goes to a file the test reads as it grows."""

    def __init__(self, config: Path, log: Path, *args: str) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [*NEWSLETTER, "--config", str(config), "worker", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=_environment("postmark"),
        )

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, *, count: int = 1) -> None:
        wait_until(lambda: self.output.count(text) >= count or self.process.poll() is not None)
        assert self.output.count(text) >= count, self.output

    def stop(self) -> int:
        """SIGTERM, as a process supervisor stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=DEADLINE)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


@contextmanager
def workers(config: Path, folder: Path, *argument_lists: tuple[str, ...]) -> Iterator[list[RunningWorker]]:
    running = [
        RunningWorker(config, folder / f"worker-{number}.log", *args)
        for number, args in enumerate(argument_lists, 1)
    ]
    try:
        yield running
    finally:
        for worker in running:
            worker.kill()


def _states(database_url: str) -> dict[str, int]:
    with open_engine(database_url).connect() as conn:
        rows = conn.execute(select(deliveries.c.state, func.count()).group_by(deliveries.c.state))
        return {state: int(count) for state, count in rows}


def _status(database_url: str) -> str | None:
    with open_engine(database_url).connect() as conn:
        return conn.execute(select(sends.c.status).where(sends.c.issue == ISSUE)).scalar()


def _schedule(config: Path, at: datetime) -> None:
    settings = load_settings(config)
    prepared = prepare_issue(settings, ISSUE)
    schedule_send(
        open_engine(settings.database_url),
        settings,
        issue=ISSUE,
        content=prepared.content,
        lang=prepared.lang,
        list_name="erhverv",
        provider=settings.provider.name,
        at=at,
        zone=settings.timezone,
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_scheduled_send_fires_once_with_two_workers_running(tmp_path: Path, database_url: str) -> None:
    people = addresses(30)
    with Emulator() as emulator:
        config = write_settings(tmp_path / "project", database_url, "postmark", emulator.url, batch_size=10)
        subscribe_many(open_engine(database_url), people)
        health = tmp_path / "worker.alive"
        arguments = ("--interval", "1")
        with workers(config, tmp_path, (*arguments, "--health-file", str(health)), arguments) as running:
            for worker in running:  # both are looking before the send is due
                worker.wait_for("worker: alive at")
            at = utcnow() + timedelta(seconds=2)
            _schedule(config, at)
            wait_until(lambda: _status(database_url) == "done")
            for worker in running:  # and both looked again after it went out
                worker.wait_for("nothing scheduled", count=worker.output.count("nothing scheduled") + 1)
            codes = [worker.stop() for worker in running]
            outputs = [worker.output for worker in running]
        counts = emulator.count_by_address()
    assert codes == [0, 0], outputs
    assert sorted(counts) == sorted(people) and set(counts.values()) == {1}
    assert sum(f"starting {ISSUE} → erhverv" in output for output in outputs) == 1, outputs
    assert all(output.rstrip().endswith("worker: stopped") for output in outputs), outputs
    with open_engine(database_url).connect() as conn:
        first_sent = conn.execute(select(func.min(deliveries.c.sent_at))).scalar_one()
    assert first_sent.astimezone(UTC) >= at  # not a moment early
    # Written each cycle, to the second: the last one came after the send.
    assert datetime.fromisoformat(health.read_text(encoding="utf-8").strip()) >= at.replace(microsecond=0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_worker_on_sqlite_is_refused_politely(tmp_path: Path, database_url: str) -> None:
    config = write_settings(tmp_path / "project", database_url, "outbox")
    runner = CliRunner()
    with workers(config, tmp_path, ("--interval", "1")) as (first,):
        first.wait_for("worker: alive at")
        second = runner.invoke(main, ["--config", str(config), "worker", "--once"])
        assert second.exit_code != 0
        assert "another 'newsletter worker' is already running on this database" in second.output
        assert "(SQLite: one worker at a time)" in second.output
        assert first.stop() == 0
    third = runner.invoke(main, ["--config", str(config), "worker", "--once"])
    assert third.exit_code == 0, third.output


def test_sigterm_mid_send_records_the_batch_in_hand_and_the_next_worker_resumes(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_POSTMARK_TOKEN", "any-token-the-emulator-takes")
    people = addresses(20)
    with Emulator() as emulator:
        config = write_settings(
            tmp_path / "project", database_url, "postmark", emulator.url, batch_size=5, concurrency=1
        )
        subscribe_many(open_engine(database_url), people)
        _schedule(config, utcnow() - timedelta(seconds=1))
        emulator.inject("slow", times=1000, seconds=0.5)  # each answer comes after the batch was taken
        with workers(config, tmp_path, ("--interval", "1")) as (worker,):
            wait_until(lambda: emulator.accepted_count() >= 5)
            assert worker.stop() == 0, worker.output
            assert "stopped, the rest waits for the next start" in worker.output
        stopped = _states(database_url)
        assert stopped.get("sending", 0) == 0  # what was in hand was recorded
        assert stopped.get("sent", 0) == emulator.accepted_count() and stopped.get("queued", 0) > 0

        # The file changes meanwhile: the resumed send still sends what was planned.
        issue_file = tmp_path / "project" / "issues" / f"{ISSUE}.md"
        issue_file.write_text(issue_file.read_text(encoding="utf-8").replace("godt", "RETTET"), "utf-8")
        resumed = CliRunner().invoke(main, ["--config", str(config), "worker", "--once"])
        assert resumed.exit_code == 0, resumed.output
        assert f"{ISSUE} → erhverv resumed" in resumed.output
        counts = emulator.count_by_address()
        subjects = {message["Subject"] for request in emulator.requests for message in request.body}
    assert _states(database_url) == {"sent": 20}
    assert sorted(counts) == sorted(people) and set(counts.values()) == {1}
    assert subjects == {"Tak for et godt 2019"}
