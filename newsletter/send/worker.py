"""``newsletter worker``: the long-running process that sends scheduled sends at their time.

Each cycle it

1. claims the scheduled sends that are due (:func:`~newsletter.send.schedule.claim_due`:
   one conditional update each, so however many workers look, a send fires once)
   and runs each with the send engine, from its snapshot — never from the file;
2. resumes the sends the schedule started that still have rows waiting (a
   worker stopped or died in the middle of one); one another process is sending
   right now is left to it (the per-issue send lock says so);
3. prints a liveness line, and writes the time into the health file when there
   is one (also every few seconds while a send runs), for a process supervisor.

Between cycles it sleeps ``interval`` seconds, or less when a send is due sooner,
so a send fires within moments of its time. :meth:`Worker.request_stop`
(SIGTERM or Ctrl-C in the CLI) lets the send in hand record the batches in
flight, then the worker returns; the send's remaining rows wait for the next
start. A send that stopped on an error is tried again after
:data:`RETRY_AFTER_ERROR` seconds (by this process; ``--once`` tries on each run).

On SQLite one worker runs per database (:func:`~newsletter.send.lock.worker_lock`).
On PostgreSQL several may run: each due send is claimed by one of them, and the
others join any send that is being sent right now — by a worker or by a
``newsletter send`` — claiming its rows batch by batch under leases
(:mod:`newsletter.send.lease`), within the provider's pace shared by all
(:mod:`newsletter.send.shared_pace`). ``concurrency`` is how many batches this
worker keeps in flight (never more than ``[provider] concurrency``, the cap for
all workers together).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from newsletter.config import Settings
from newsletter.errors import NewsletterError, SendBusy
from newsletter.providers.base import Provider
from newsletter.providers.registry import make_provider
from newsletter.providers.settings import ProviderSettings
from newsletter.secrets import redact
from newsletter.send import snapshot
from newsletter.send.engine import RunTotals, Sender
from newsletter.send.ledger import utcnow
from newsletter.send.lock import worker_lock
from newsletter.send.schedule import ScheduledSend, claim_due, next_due, started_unfinished, waiting_sends
from newsletter.send.service import SendOptions, Started, execute_send, limits_of, prepared_from

# A send that stopped on an error (the provider refused the key, the database went away) waits this
# long before this worker tries it again, so one broken setting does not hammer the provider.
RETRY_AFTER_ERROR = 300.0
# While a send runs, the health file is written at most this often.
_BEAT_SECONDS = 5.0
# The longest single sleep between looks at the stop flag.
_NAP = 0.2


@dataclass
class Cycle:
    """What one look at the schedule did."""

    sent: list[str] = field(default_factory=list)  # one line per send this cycle ran
    problems: list[str] = field(default_factory=list)  # one line per send that stopped on an error
    upcoming: ScheduledSend | None = None


def _name(send: ScheduledSend) -> str:
    return f"{send.issue} → {send.list_name}"


class Worker:
    """Runs due scheduled sends, cycle after cycle, until asked to stop."""

    def __init__(
        self,
        db: Engine,
        settings: Settings,
        *,
        say: Callable[[str], None] = print,
        health_file: Path | None = None,
        make: Callable[[ProviderSettings], Provider] = make_provider,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        # The shared cap stays [provider] concurrency: the request slots of all workers together.
        self.limits = replace(limits_of(settings), in_flight=concurrency)
        self.say = say
        self.health_file = health_file
        self.make = make
        self.now = now
        self.clock = clock
        self.sleep = sleep
        self._stop = False
        self._sender: Sender | None = None
        self._failed_at: dict[int, float] = {}
        self._last_beat = 0.0

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop after the batches in flight are recorded (safe to call from a signal handler)."""
        self._stop = True
        if self._sender is not None:
            self._sender.request_stop()

    @property
    def stopping(self) -> bool:
        return self._stop

    # -- the loop -----------------------------------------------------------------------------

    def run(self, *, once: bool = False, interval: float = 10.0) -> int:
        """Cycle until stopped (or once); returns how many sends stopped on an error."""
        problems = 0
        with worker_lock(self.db):
            while True:
                try:
                    cycle = self.cycle()
                except (NewsletterError, SQLAlchemyError) as exc:  # the database went away: try again
                    message = redact(str(exc).splitlines()[0])
                    self.say(f"worker: could not look at the schedule: {message} — trying again")
                    cycle = Cycle(problems=[message])
                problems += len(cycle.problems)
                if once or self._stop:
                    return problems
                self._nap(self._pause(interval))
                if self._stop:
                    return problems

    def cycle(self) -> Cycle:
        """Start what is due, resume what the schedule started and left unfinished, report."""
        cycle = Cycle()
        ran: set[int] = set()
        for due in claim_due(self.db, self.now()):
            if self._stop:  # claimed, not run: the next start resumes it
                break
            self.say(f"worker: starting {_name(due)}, scheduled for {due.when}")
            self._run(due, cycle)
            ran.add(due.send_id)
        for unfinished in started_unfinished(self.db):
            if self._stop or unfinished.send_id in ran or self._resting(unfinished.send_id):
                continue
            self._run(unfinished, cycle, resumed=True)
        with self.db.connect() as conn:
            waiting = waiting_sends(conn)
        cycle.upcoming = waiting[0] if waiting else None
        self._report(cycle)
        return cycle

    def _resting(self, send_id: int) -> bool:
        failed = self._failed_at.get(send_id)
        return failed is not None and self.clock() - failed < RETRY_AFTER_ERROR

    def _run(self, send: ScheduledSend, cycle: Cycle, *, resumed: bool = False) -> None:
        with self.db.connect() as conn:
            frozen = snapshot.load(conn, send.send_id, send.issue)
        if frozen is None:  # planned before sends kept a snapshot: never read the file behind the user's back
            cycle.problems.append(
                f"{_name(send)}: planned before sends kept a copy of the issue — "
                f"finish it by hand: newsletter send {send.issue} --list {send.list_name}"
            )
            self._failed_at[send.send_id] = self.clock()
            return
        provider: Provider | None = None
        try:
            provider = self.make(self.settings.provider)
            totals = execute_send(
                self.db,
                self.settings,
                prepared_from(send.issue, frozen),
                send.list_name,
                provider,
                SendOptions(),
                limits=self.limits,
                on_start=self._started,
                on_progress=self._progress,
            )
        except SendBusy:  # another process is sending it right now: it is in hand
            return
        except NewsletterError as exc:
            totals = RunTotals(error=exc)
        finally:
            self._sender = None
            if provider is not None:
                provider.close()
        self._settled(send, totals, cycle, resumed)

    def _started(self, started: Started) -> None:
        self._sender = started.sender
        if self._stop:  # the stop came while the send was being planned
            started.sender.request_stop()

    def _progress(self, _totals: RunTotals) -> None:
        if self.clock() - self._last_beat >= _BEAT_SECONDS:
            self._beat()

    def _settled(self, send: ScheduledSend, totals: RunTotals, cycle: Cycle, resumed: bool) -> None:
        done = (
            f"sent {totals.sent}, failed {totals.failed}, skipped {totals.skipped}, unknown {totals.unknown}"
        )
        if totals.error is not None:
            self._failed_at[send.send_id] = self.clock()
            minutes = round(RETRY_AFTER_ERROR / 60)
            cycle.problems.append(
                f"{_name(send)} stopped: {totals.error} — {done}; the worker tries again in {minutes} min "
                f"(see: newsletter status {send.issue} --list {send.list_name})"
            )
            self.say(f"worker: {cycle.problems[-1]}")
            return
        self._failed_at.pop(send.send_id, None)
        how = "resumed" if resumed else "sent"
        ending = " — stopped, the rest waits for the next start" if totals.stopped == "interrupted" else ""
        cycle.sent.append(f"{_name(send)} {how}: {done}{ending}")
        self.say(f"worker: {cycle.sent[-1]}")

    # -- liveness -----------------------------------------------------------------------------

    def _report(self, cycle: Cycle) -> None:
        now = self.now()
        upcoming = cycle.upcoming
        after = f"next: {_name(upcoming)} at {upcoming.when}" if upcoming else "nothing scheduled"
        self.say(f"worker: alive at {now:%Y-%m-%d %H:%M:%S} UTC — {after}")
        self._beat()

    def _beat(self) -> None:
        self._last_beat = self.clock()
        if self.health_file is not None:
            self.health_file.write_text(f"{self.now().isoformat(timespec='seconds')}\n", encoding="utf-8")

    def _pause(self, interval: float) -> float:
        """Seconds until the next cycle: ``interval``, or less when a send is due sooner."""
        try:
            with self.db.connect() as conn:
                soonest = next_due(conn)
        except SQLAlchemyError:  # the next cycle says so
            return interval
        if soonest is None:
            return interval
        return max(0.0, min(interval, (soonest - self.now()).total_seconds()))

    def _nap(self, seconds: float) -> None:
        until = self.clock() + seconds
        while not self._stop and (left := until - self.clock()) > 0:
            self.sleep(min(_NAP, left))
