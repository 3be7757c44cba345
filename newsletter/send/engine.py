"""The send loop: claim → batch → provider → record, paced, concurrent, stoppable.

One thread (the caller's) owns the database: it claims a batch (rows marked
``sending`` and committed), hands the provider call to a small thread pool
(``concurrency`` requests in flight), and records each answer as it comes
back. Nothing about a recipient is decided in memory only — not even how long
to wait before a retry: that is the row's ``not_before`` in the ledger, which
a restarted run honours.

How each provider answer is recorded (GUIDE §1, issue 4):

- results per recipient: accepted → ``sent``; rejected → ``failed`` (and
  suppressed when the address is invalid or inactive); retry → ``queued``
  again after a delay, ``failed`` after ``max_attempts``;
- :class:`ProviderRetryable` (never reached it, 429 — an answer that proves
  nothing was processed): the batch goes back to ``queued`` with its attempt
  refunded, everyone waits (``Retry-After`` or exponential backoff with
  jitter, never longer than ``Limits.max_wait``);
- :class:`ProviderAmbiguous` (read timeout, dropped connection, a 5xx, a
  success we cannot read): the same batch is retried under the same key when
  the provider is idempotent; else its rows become ``unknown``; a result
  ``unknown`` for single recipients (a provider that posts one message a
  request lost one answer) is recorded as such. Either kind counts as a batch
  without a clear answer: ``Limits.max_ambiguous_in_a_row`` of them in a row
  stop the run, one now and then does not;
- :class:`ProviderPermanent`: the batch goes back to ``queued`` (nothing was
  sent) and the run stops with the provider's reason.

If recording an answer fails (a bug, the database), a batch the provider
provably did not take is still put back in the queue, so that no later run
can mistake it for "maybe sent".

:meth:`Sender.request_stop` (Ctrl-C) lets in-flight batches finish and be
recorded, then returns.

Sharing a send (PostgreSQL): every claim leases its rows to this run
(:mod:`newsletter.send.lease`) and every later write about them is conditional on
that lease; a heartbeat renews it while the provider call runs. Between batches
the run takes over batches of the same send whose lease expired (a worker died
with them), and it waits for other processes' batches in flight before it calls
the send finished. The provider's ``messages_per_second`` and ``concurrency``
are then shared by all of them (:mod:`newsletter.send.shared_pace`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from newsletter.errors import (
    NewsletterError,
    ProviderAmbiguous,
    ProviderPermanent,
    ProviderRetryable,
    SendError,
)
from newsletter.message import Batch, Content
from newsletter.providers.base import Outcome, Provider, RecipientResult, UnreadableAnswer
from newsletter.send import lease, ledger
from newsletter.send.lease import Heartbeat
from newsletter.send.ledger import ClaimedRow, InterruptedBatch, SendRow
from newsletter.send.pacing import Pacer, backoff_delay, capped_wait
from newsletter.send.recipients import RecipientBuilder
from newsletter.send.recovery import take_over_expired
from newsletter.send.shared_pace import SharedPacer, Slots
from newsletter.store.schema import deliveries


@dataclass(frozen=True)
class Limits:
    """How hard to push: from ``[provider]`` in newsletter.toml, plus backoff tuning."""

    batch_size: int = 100
    max_attempts: int = 5
    messages_per_second: float = 0.0
    # Requests in flight to the provider at most: for all workers together when they share a send.
    concurrency: int = 1
    # Batches this process keeps in flight (``worker --concurrency``); None: ``concurrency``.
    in_flight: int | None = None
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    # The longest wait a provider's "retry after" may impose (``[provider] max_wait_seconds``).
    max_wait: float = 900.0
    # Consecutive ambiguous answers from a provider without idempotency before the run stops:
    # each one turns a whole batch into "unknown", so a broken connection must not eat the list.
    max_ambiguous_in_a_row: int = 3


@dataclass
class RunTotals:
    """What this run did (the ledger's counts are the whole story; these are the news)."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    suppressed: int = 0
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0
    stopped: str = ""  # why the run ended before the queue was empty ("" when it did not)
    error: NewsletterError | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Job:
    key: str
    rows: tuple[ClaimedRow, ...]
    batch: Batch
    tries: int = 1  # provider calls for this key in this run
    slot: int | None = None  # the shared request slot it holds while posted (PostgreSQL)
    # True when this key was posted before (a retry, or a batch an interrupted run left in flight):
    # then a refusal no longer proves that nothing was sent.
    reused_key: bool = False


ProgressCallback = Callable[[RunTotals], None]
log = logging.getLogger(__name__)


class Sender:
    """Sends one planned send (an issue to a list) until its queue is empty or it must stop."""

    def __init__(
        self,
        db: Engine,
        send: SendRow,
        provider: Provider,
        content: Content,
        builder: RecipientBuilder,
        limits: Limits,
        *,
        on_progress: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        owner: str | None = None,
        lease_seconds: float = lease.DEFAULT_SECONDS,
    ) -> None:
        self.db = db
        self.send = send
        self.provider = provider
        self.content = content
        self.builder = builder
        self.limits = limits
        self.batch_size = max(1, min(limits.batch_size, provider.max_batch))
        self.on_progress = on_progress
        self.clock = clock
        self.sleep = sleep
        self.owner = owner or lease.new_owner()
        self.lease_seconds = lease_seconds
        self.sharing = lease.shared(db)
        self.pacer: Pacer | SharedPacer = (
            SharedPacer(db, provider.name, limits.messages_per_second, clock=clock, sleep=sleep)
            if self.sharing and limits.messages_per_second > 0
            else Pacer(limits.messages_per_second, clock=clock, sleep=sleep)
        )
        self.slots = (
            Slots(db, provider.name, limits.concurrency, self.owner, lease_seconds) if self.sharing else None
        )
        self._starved = False  # every shared request slot was taken at the last look
        self._looked_for_expired = clock()
        self.totals = RunTotals()
        self._stop_requested = False
        self._fatal: NewsletterError | None = None
        self._retry_later: list[tuple[float, _Job]] = []
        # The ledger's clock (UTC, for ``not_before``) follows ``clock``, so a test's clock drives both.
        self._epoch = ledger.utcnow()
        self._epoch_clock = clock()
        self._limit: int | None = None
        self._retryable_in_a_row = 0
        self._ambiguous_in_a_row = 0
        self._claimed = 0
        self.started: float | None = None

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop after the batches in flight are recorded (safe to call from a signal handler)."""
        self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def _stopping(self) -> bool:
        return self._stop_requested or self._fatal is not None

    def _db_now(self) -> datetime:
        return self._epoch + timedelta(seconds=self.clock() - self._epoch_clock)

    def _db_after(self, seconds: float) -> datetime:
        return self._db_now() + timedelta(seconds=seconds)

    def _limit_reached(self) -> bool:
        return self._limit is not None and self._claimed >= self._limit

    # -- the loop -----------------------------------------------------------------------------

    def run(self, *, limit: int | None = None, resend: list[InterruptedBatch] | None = None) -> RunTotals:
        """Send until the queue is empty, ``limit`` messages were claimed, or a stop; never raises
        a provider error — it lands in ``totals.error`` after everything in flight is recorded."""
        started = self.started = self.clock()
        self._limit = limit
        with self.db.begin() as conn:
            ledger.set_send_status(conn, self.send.id, "sending")
            paused = ledger.paused_until(conn, self.send.id, self._db_now())
        if paused is not None:  # an earlier run was told to wait (429, 5xx, refused): so is this one
            left = (paused - self._db_now()).total_seconds()
            self.pacer.pause_until(self.clock() + capped_wait(left, self.limits.max_wait))
        for interrupted in resend or []:
            self._adopt(interrupted)
        with contextlib.ExitStack() as stack:
            if self.sharing:
                stack.enter_context(Heartbeat(self.db, self.owner, self.send.id, self.lease_seconds))
            self._loop()
            if self.sharing:
                # Batches still in hand (waiting to be posted again under their key) go to whoever looks next.
                lease.release(self.db, self.owner, self.send.id)
        self._finish(started, limit)
        return self.totals

    def _adopt(self, interrupted: InterruptedBatch) -> None:
        """Post a batch an earlier run left in flight again: same rows, same order, same key — the
        provider drops it if it already has it. An earlier run may have been waiting out a backoff
        for it: so do we."""
        wait_for = 0.0
        if interrupted.not_before is not None:
            left = (interrupted.not_before - self._db_now()).total_seconds()
            wait_for = capped_wait(left, self.limits.max_wait)
        with self.db.begin() as conn:
            lease.adopt(conn, interrupted.batch_key, self.owner, self.lease_seconds)
            ledger.count_attempt(
                conn, interrupted.batch_key, not_before=interrupted.not_before, owner=self.owner
            )
        rows = tuple(replace(r, attempts=r.attempts + 1) for r in interrupted.rows)
        resent = self._job(interrupted.batch_key, rows)  # may raise: rows stay "sending", as found
        resent.reused_key = True
        self._retry_later.append((self.clock() + wait_for, resent))

    def _take_over_expired(self) -> None:
        """Sharing a send: recover the batches whose lease expired (their worker died), now and then."""
        if not self.sharing or self.clock() - self._looked_for_expired < min(1.0, self.lease_seconds / 3):
            return
        self._looked_for_expired = self.clock()
        recovery = take_over_expired(self.db, self.send, self.provider, self.owner, self.lease_seconds)
        self.totals.unknown += recovery.marked_unknown
        for interrupted in recovery.resend:
            log.warning("batch %s: its worker's lease expired, posting it again", interrupted.batch_key[:12])
            self._adopt(interrupted)

    def _loop(self) -> None:
        in_flight_at_most = min(self.limits.in_flight or self.limits.concurrency, self.limits.concurrency)
        with ThreadPoolExecutor(max_workers=in_flight_at_most, thread_name_prefix="send") as pool:
            in_flight: dict[Future[list[RecipientResult]], _Job] = {}
            while True:
                while len(in_flight) < in_flight_at_most and not self._stopping():
                    self._take_over_expired()
                    job = self._next_job(self._limit)
                    if job is None:
                        break
                    self.totals.requests += 1
                    in_flight[pool.submit(self.provider.send_batch, job.batch)] = job
                if not in_flight:
                    pause = self._idle_wait()
                    if pause is None or self._stopping():
                        break
                    self.sleep(min(max(pause, 0.01), 0.2))
                    continue
                done, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    self._settle(in_flight.pop(future), future)

    def _idle_wait(self) -> float | None:
        """Nothing in flight: seconds until a delayed retry is due, or None when all is done."""
        now = self.clock()
        due = [moment - now for moment, _ in self._retry_later]
        if self._starved:  # other workers hold every request slot: look again soon
            due.append(0.05)
        if self.sharing and self._others_in_flight():
            due.append(0.25)  # recorded by their owner soon, or recovered when their lease expires
        if not self._limit_reached():  # past --limit, rows still queued are left for the next run
            with self.db.connect() as conn:
                queued_due = ledger.next_due(conn, self.send.id)
            if queued_due is not None:
                due.append((queued_due - self._db_now()).total_seconds())
        if not due:
            return None
        return max(0.0, min(due))

    def _others_in_flight(self) -> bool:
        """Whether other processes have batches of this send in flight (they finish or expire)."""
        with self.db.connect() as conn:
            return (
                conn.execute(
                    select(deliveries.c.id)
                    .where(
                        deliveries.c.send_id == self.send.id,
                        deliveries.c.state == "sending",
                        deliveries.c.lease_owner != self.owner,
                    )
                    .limit(1)
                ).first()
                is not None
            )

    def _next_job(self, limit: int | None) -> _Job | None:
        """The next batch to post, holding a shared request slot when sharing; None for none now."""
        slot = None
        if self.slots is not None:
            slot = self.slots.take()
            self._starved = slot is None
            if slot is None:
                return None
        job = self._next_unslotted(limit)
        if job is None:
            if slot is not None:
                self.slots.give_back(slot)  # type: ignore[union-attr]
            return None
        job.slot = slot
        return job

    def _next_unslotted(self, limit: int | None) -> _Job | None:
        now = self.clock()
        for index, (moment, job) in enumerate(self._retry_later):
            if moment <= now:
                del self._retry_later[index]
                if self.pacer.wait(len(job.rows), self._stopping) is None:
                    self._retry_later.append((moment, job))
                    return None
                return job
        size = self.batch_size
        if limit is not None:
            size = min(size, limit - self._claimed)
            if size <= 0:
                return None  # the rows left stay queued for the next run
        # Wait for pacing *before* claiming: a row must not sit in "sending" while we idle.
        given = self.pacer.wait(size, self._stopping)
        if given is None:
            return None
        while True:
            with self.db.begin() as conn:
                claim = ledger.claim(
                    conn,
                    self.send,
                    size,
                    now=self._db_now(),
                    owner=self.owner,
                    lease_until=lease.db_after(conn, self.lease_seconds),
                    skip_locked=self.sharing,
                )
            if claim is None:
                return None
            self.totals.skipped += claim.skipped
            if claim.rows:
                self._claimed += len(claim.rows)
                try:
                    job = self._job(claim.batch_key, claim.rows)
                except Exception as exc:
                    # Claimed but never posted: back to the queue, or a later run would call it "maybe sent".
                    self._requeue_unsent(claim.batch_key, exc)
                    return None
                # Claiming and building took time; a batch delayed well past its moment waits for a new one.
                if not self.pacer.on_time(len(claim.rows), given, self._stopping):
                    self._release_unposted(claim.batch_key, len(claim.rows))
                    return None
                return job
            self._report()

    def _job(self, key: str, rows: tuple[ClaimedRow, ...]) -> _Job:
        recipients = [self.builder.for_row(row) for row in rows]
        return _Job(key, rows, Batch(self.content, recipients, idempotency_key=key))

    # -- recording answers --------------------------------------------------------------------

    def _release_unposted(self, key: str, count: int) -> None:
        """Stopping before a claimed batch was posted: its rows go back to the queue as they were."""
        with self.db.begin() as conn:
            ledger.requeue_batch(
                conn, key, "not sent yet: the send was stopped before this batch went", owner=self.owner
            )
        self._claimed -= count

    def _requeue_unsent(self, key: str, exc: BaseException) -> None:
        """Last resort for rows provably never taken when the normal record failed: queued, and stop."""
        log.exception("batch %s: %s", key[:12], exc)
        try:
            with self.db.begin() as conn:
                ledger.requeue_batch(
                    conn,
                    key,
                    f"not sent: the send stopped on an error ({type(exc).__name__})",
                    owner=self.owner,
                )
            recorded = "those messages are queued again, nothing was lost"
        except Exception:
            log.exception("batch %s: could not put it back in the queue", key[:12])
            recorded = "the batch could not be recorded"
        self._fatal = self._fatal or SendError(
            f"{self.provider.name}: the send stopped on an unexpected error ({type(exc).__name__}: {exc}); {recorded}"
        )

    def _settle(self, job: _Job, future: Future[list[RecipientResult]]) -> None:
        error = future.exception()
        # Answers that prove nothing was taken: whatever happens while recording them,
        # the rows must end up queued again, never left "sending" (a later run would call
        # them "maybe sent").
        provably_unsent = isinstance(error, ProviderRetryable | ProviderPermanent) and not job.reused_key
        if job.slot is not None and self.slots is not None:
            try:
                self.slots.give_back(job.slot)
            except Exception:  # its lease runs out on its own
                log.exception("could not give back request slot %d", job.slot)
            job.slot = None
        try:
            self._record_answer(job, future)
        except Exception as exc:
            if provably_unsent:
                self._requeue_unsent(job.key, exc)
            else:
                # Rows stay "sending": the next run settles them as it settles a crash.
                log.exception("batch %s: could not record the answer", job.key[:12])
                self._fatal = self._fatal or SendError(
                    f"{self.provider.name}: could not record a batch's answer ({type(exc).__name__}: {exc}); "
                    "the next run treats it as interrupted"
                )
        self._report()

    def _record_answer(self, job: _Job, future: Future[list[RecipientResult]]) -> None:
        try:
            results = future.result()
        except ProviderRetryable as exc:
            self._on_retryable(job, exc)
        except ProviderAmbiguous as exc:
            self._on_ambiguous(job, exc)
        except ProviderPermanent as exc:
            with self.db.begin() as conn:
                if job.reused_key:
                    # An earlier post of this key may have been accepted (e.g. a 409 idempotency conflict).
                    self.totals.unknown += ledger.mark_batch_unknown(
                        conn,
                        job.key,
                        f"{exc} — an earlier try of this batch may have been delivered",
                        owner=self.owner,
                    )
                else:
                    ledger.requeue_batch(conn, job.key, f"not sent: {exc}", owner=self.owner)
            self._fatal = exc
        except Exception as exc:  # an adapter bug: we cannot know whether anything went out
            self._on_ambiguous(job, ProviderAmbiguous(f"{self.provider.name}: {type(exc).__name__}: {exc}"))
            self._fatal = self._fatal or SendError(
                f"{self.provider.name} adapter failed unexpectedly ({type(exc).__name__}: {exc}); "
                "the batch in flight is recorded as unknown"
            )
        else:
            if len(results) != len(job.rows):
                self._on_ambiguous(
                    job,
                    ProviderAmbiguous(
                        f"{self.provider.name}: answered {len(results)} results for {len(job.rows)} messages"
                    ),
                )
            else:
                self._on_results(job, results)

    def _on_results(self, job: _Job, results: list[RecipientResult]) -> None:
        with self.db.begin() as conn:
            recorded = ledger.record(
                conn,
                job.key,
                job.rows,
                results,
                max_attempts=self.limits.max_attempts,
                retry_delay=lambda row, result: self._backoff(row.attempts, result.retry_after),
                now=self._db_now(),
                owner=self.owner,
            )
        self._retryable_in_a_row = 0
        # A batch with an unclear answer about some of its messages counts like a batch without any
        # answer: a passing gateway error costs one message, a broken connection stops the run.
        self._ambiguous_in_a_row = self._ambiguous_in_a_row + 1 if recorded.unknown else 0
        log.info(
            "batch %s: %d sent, %d failed, %d to retry, %d unknown",
            job.key[:12],
            recorded.sent,
            recorded.failed,
            recorded.requeued,
            recorded.unknown,
        )
        self.totals.sent += recorded.sent
        self.totals.failed += recorded.failed
        self.totals.suppressed += recorded.suppressed
        self.totals.retries += recorded.requeued
        self.totals.unknown += recorded.unknown
        unknown = [r for r in results if r.outcome is Outcome.UNKNOWN]
        if any(r.unreadable for r in unknown):  # not the API's own answer: no better next time
            reason = next(r.reason for r in unknown if r.unreadable)
            self._fatal = self._fatal or SendError(
                f"{reason} — the provider's answer about {recorded.unknown} message(s) could not be read; "
                "stopped so that no more messages end up unknown"
            )
        elif recorded.unknown and self._ambiguous_in_a_row >= self.limits.max_ambiguous_in_a_row:
            self._fatal = self._fatal or SendError(
                f"{unknown[0].reason} — {self._ambiguous_in_a_row} batches in a row held messages whose "
                "answer could not be read; stopped so that no more messages end up unknown"
            )

    def _on_retryable(self, job: _Job, exc: ProviderRetryable) -> None:
        if job.reused_key:
            # This key may already have been accepted: only the same key may carry these rows.
            self._retry_same_key(job, exc)
            return
        log.warning("batch %s not taken, queued again: %s", job.key[:12], exc)
        self._retryable_in_a_row += 1
        delay = self._backoff(self._retryable_in_a_row, exc.retry_after)
        with self.db.begin() as conn:
            ledger.requeue_batch(
                conn,
                job.key,
                f"not sent yet, will retry: {exc}",
                not_before=self._db_after(delay),
                owner=self.owner,
            )
            # Everyone waits, not only this batch: in this run (the pacer) and in a restarted one.
            ledger.pause_send(conn, self.send.id, self._db_after(delay))
        self._claimed -= len(job.rows)
        self.totals.retries += 1
        if self._retryable_in_a_row >= self.limits.max_attempts:
            self._fatal = self._fatal or SendError(
                f"{exc} — still failing after {self._retryable_in_a_row} tries in a row; "
                "nothing was lost (those messages are queued again)"
            )
            return
        self.pacer.pause_until(self.clock() + delay)

    def _on_ambiguous(self, job: _Job, exc: ProviderAmbiguous) -> None:
        if self.provider.idempotent:
            self._retry_same_key(job, exc)
            return
        self.totals.retries += 1
        log.warning("batch %s: no clear answer, its rows are now unknown: %s", job.key[:12], exc)
        with self.db.begin() as conn:
            marked = ledger.mark_batch_unknown(
                conn,
                job.key,
                f"{exc} — it may or may not have been delivered; send again only with --resend-unknown",
                owner=self.owner,
            )
        self.totals.unknown += marked
        self._ambiguous_in_a_row += 1
        if isinstance(exc, UnreadableAnswer):  # a redirect or a page that is not the API: no better next time
            self._fatal = self._fatal or SendError(f"{exc} — stopped so that no more messages end up unknown")
        elif self._ambiguous_in_a_row >= self.limits.max_ambiguous_in_a_row:
            self._fatal = self._fatal or SendError(
                f"{exc} — {self._ambiguous_in_a_row} batches in a row got no clear answer; "
                "stopped so that no more messages end up unknown"
            )

    def _retry_same_key(self, job: _Job, exc: ProviderAmbiguous | ProviderRetryable) -> None:
        """Post the same batch under the same key later; the provider keeps at most one copy."""
        self.totals.retries += 1
        log.warning("batch %s: %s — will post it again under the same key", job.key[:12], exc)
        if job.tries >= self.limits.max_attempts:
            # Rows stay "sending": the next run re-sends them under the same key.
            self._fatal = self._fatal or SendError(
                f"{exc} — no answer after {job.tries} tries with the same idempotency key; "
                "the batch stays in flight and is re-sent safely (same key) when you resume"
            )
            return
        delay = self._backoff(job.tries, exc.retry_after)
        pause = (
            capped_wait(exc.retry_after, self.limits.max_wait) if isinstance(exc, ProviderRetryable) else 0.0
        )
        with self.db.begin() as conn:
            ledger.count_attempt(conn, job.key, not_before=self._db_after(delay), owner=self.owner)
            if pause:
                ledger.pause_send(conn, self.send.id, self._db_after(pause))
        job.tries += 1
        job.reused_key = True
        job.rows = tuple(replace(r, attempts=r.attempts + 1) for r in job.rows)
        self._retry_later.append((self.clock() + delay, job))
        if pause:
            self.pacer.pause_until(self.clock() + pause)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        return backoff_delay(
            attempt,
            base=self.limits.backoff_base,
            cap=self.limits.backoff_cap,
            retry_after=retry_after,
            max_wait=self.limits.max_wait,
        )

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.totals)

    def _finish(self, started: float, limit: int | None) -> None:
        with self.db.begin() as conn:
            counts = ledger.counts_by_state(conn, self.send.id)
            finished = counts["queued"] == 0 and counts["sending"] == 0
            ledger.set_send_status(conn, self.send.id, "done" if finished else "sending")
        self.totals.counts = counts
        self.totals.elapsed = self.clock() - started
        self.totals.error = self._fatal
        if self._fatal is not None:
            self.totals.stopped = "error"
        elif self._stop_requested and not finished:
            self.totals.stopped = "interrupted"
        elif limit is not None and not finished:
            self.totals.stopped = "limit"
