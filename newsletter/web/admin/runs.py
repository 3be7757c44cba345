"""Sends started from the workspace, each running in a thread the web process owns.

A run is :func:`newsletter.send.service.execute_send` — the very steps
``newsletter send`` takes, under the same per-issue send lock — so the
workspace and a terminal can never send the same issue at once, and each
refuses while the other runs (:class:`~newsletter.errors.SendBusy`).

Nothing about a run lives only here. Its progress is read from the ledger
(:func:`newsletter.send.report.send_progress`), so a page reload, another
browser or another server process sees the same counts. What this registry
adds is what only the running process knows: who started it, whether a stop
was asked for, and — after it ended — why it stopped.

If the web process dies mid-send (a restart, a crash, ``kill -9``), the thread
dies with it and the operating system releases the lock. The ledger then
holds rows ``queued`` (never sent) and perhaps ``sending`` (in flight), and
the progress page says the send is not running. Running it again — the
page's "continue" button or ``newsletter send ISSUE --list NAME`` — first
settles the rows in flight the way every resume does
(:mod:`newsletter.send.recovery`): re-sent under their idempotency key where
the provider honours one, otherwise marked ``unknown`` and never re-sent
unasked. Nobody gets the issue twice.

When the server shuts down normally, :meth:`SendRuns.stop_all` asks every run
to stop after the batches in flight are recorded (the first Ctrl-C of the CLI).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.errors import NewsletterError, SendBusy
from newsletter.providers.base import Provider
from newsletter.send.engine import RunTotals, Sender
from newsletter.send.service import PreparedIssue, SendOptions, Started, execute_send
from newsletter.store.lists import utcnow

log = logging.getLogger("newsletter.web.sends")

# How long a start waits for the run to be planned (100,000 rows take about a second)
# before the page moves on to the progress view anyway.
START_WAIT_SECONDS = 30.0
# How long a shutdown waits for the runs' batches in flight to be recorded.
STOP_WAIT_SECONDS = 30.0


@dataclass
class SendRun:
    """One run of an issue to a list, started from the workspace in this process."""

    issue: str
    list_name: str
    started_by: str
    options: SendOptions
    started_at: datetime = field(default_factory=utcnow)
    sender: Sender | None = None
    queued: int = 0  # what the run set out to send, once planned
    totals: RunTotals | None = None
    # The error the run ended on before or instead of sending (busy, no such list, the database).
    failure: NewsletterError | None = None
    stop_asked: bool = False
    # Set once the ledger is planned and sending starts, or the run ended before that.
    _ready: threading.Event = field(default_factory=threading.Event)
    _ended: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        return not self._ended.is_set()

    @property
    def error(self) -> str:
        """Why the run stopped before its queue was empty ("" when it did not)."""
        if self.failure is not None:
            return self.failure.message
        if self.totals is not None and self.totals.error is not None:
            return self.totals.error.message
        return ""

    def request_stop(self) -> None:
        """Stop after the batches in flight are recorded; the rest stays queued for a resume."""
        self.stop_asked = True
        if self.sender is not None:
            self.sender.request_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has."""
        return self._ended.wait(timeout)

    def _on_start(self, started: Started) -> None:
        self.sender = started.sender
        self.queued = started.queued
        if self.stop_asked:
            started.sender.request_stop()
        self._ready.set()


class SendRuns:
    """The runs this web process started: at most one alive per issue (the send lock's unit)."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], SendRun] = {}
        self._lock = threading.Lock()

    def get(self, issue: str, list_name: str) -> SendRun | None:
        """The latest run of ``issue`` to ``list_name`` in this process, alive or ended."""
        with self._lock:
            return self._runs.get((issue, list_name))

    def alive_for(self, issue: str) -> SendRun | None:
        with self._lock:
            return next((run for run in self._runs.values() if run.issue == issue and run.alive), None)

    def start(
        self,
        engine: Engine,
        settings: Settings,
        prepared: PreparedIssue,
        list_name: str,
        provider: Provider,
        options: SendOptions,
        *,
        started_by: str,
        wait: float = START_WAIT_SECONDS,
    ) -> SendRun:
        """Start sending in a thread; returns once the ledger is planned (or after ``wait`` seconds).

        Raises :class:`SendBusy` when a run of the issue is alive here or holds the lock elsewhere,
        and the library's error when the run could not start (the list is gone, the database …).
        """
        with self._lock:
            busy = next((r for r in self._runs.values() if r.issue == prepared.slug and r.alive), None)
            if busy is not None:
                raise SendBusy(
                    f"{prepared.slug} is being sent to {busy.list_name} from the workspace already"
                )
            run = SendRun(prepared.slug, list_name, started_by, options)
            previous = self._runs.get((prepared.slug, list_name))
            self._runs[(prepared.slug, list_name)] = run
        thread = threading.Thread(
            target=self._work,
            args=(run, engine, settings, prepared, provider),
            name=f"send {prepared.slug} → {list_name}",
        )
        thread.start()
        run._ready.wait(wait)
        if run.sender is None and run.failure is not None:
            with self._lock:  # a run that never started leaves the registry as it was
                if previous is None:
                    self._runs.pop((prepared.slug, list_name), None)
                else:
                    self._runs[(prepared.slug, list_name)] = previous
            raise run.failure
        return run

    def _work(
        self, run: SendRun, engine: Engine, settings: Settings, prepared: PreparedIssue, provider: Provider
    ) -> None:
        try:
            run.totals = execute_send(
                engine, settings, prepared, run.list_name, provider, run.options, on_start=run._on_start
            )
        except NewsletterError as exc:
            run.failure = exc
        except Exception as exc:  # the database went away, a bug: the ledger says what was recorded
            log.exception("the send of %s to %s stopped", run.issue, run.list_name)
            run.failure = NewsletterError(
                f"the send stopped on an unexpected error ({type(exc).__name__}); see the server log"
            )
        finally:
            run._ended.set()
            run._ready.set()

    def stop_all(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Ask every alive run to stop after its batches in flight are recorded, and wait for them."""
        with self._lock:
            alive = [run for run in self._runs.values() if run.alive]
        for run in alive:
            run.request_stop()
        for run in alive:
            if not run.wait(timeout):
                log.warning(
                    "the send of %s to %s did not stop within %.0f s", run.issue, run.list_name, timeout
                )
