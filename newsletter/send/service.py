"""The steps of ``newsletter send``, as library calls the CLI (and tests) put together.

1. :func:`prepare_issue` — find, render (once) and check the issue; a send planned
   before sends its snapshot instead (:func:`planned_snapshot`, :func:`prepared_from`).
2. :func:`preview_send` — what would happen: audience, rows already in the
   ledger, messages to send, an estimate. Reads only; ``--dry-run`` stops here.
3. :func:`execute_send` — under the issue's send lock (SQLite: alone; PostgreSQL:
   shared with workers sending it too): plan the ledger rows (and freeze the
   snapshot the first time), settle what an interrupted run left, then run the
   :class:`~newsletter.send.engine.Sender` with the snapshot.

:func:`send_test` sends ``--test`` copies straight through the provider,
with no ledger rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Engine

from newsletter.checks import Finding, check_issue
from newsletter.config import Settings
from newsletter.errors import IssueError, RenderError, SendError
from newsletter.issue import load_issue, resolve_issue
from newsletter.message import Batch, Content, content_fingerprint
from newsletter.per_recipient import SamplePerson, sample_recipient
from newsletter.providers.base import Provider, RecipientResult
from newsletter.render import content_for, render_issue
from newsletter.send import lease, ledger, snapshot
from newsletter.send.engine import Limits, RunTotals, Sender
from newsletter.send.lock import planning_lock, send_lock
from newsletter.send.plan import AudienceCount, count_audience, find_list_id, get_send
from newsletter.send.recipients import RecipientBuilder
from newsletter.send.reconcile import Reconciliation, before_sending
from newsletter.send.recovery import Recovery, prepare_resume
from newsletter.send.schedule import refuse_if_scheduled
from newsletter.send.snapshot import Snapshot
from newsletter.store.addresses import InvalidAddress, normalise
from newsletter.tokens import Signer
from newsletter.tracking import tracked

# Without a configured rate, assume about two requests a second per connection for the estimate.
_ASSUMED_REQUESTS_PER_SECOND = 2.0


@dataclass(frozen=True)
class PreparedIssue:
    slug: str
    subject: str
    content: Content
    findings: list[Finding]
    lang: str = "da"  # the issue's language: picks the fallback for a missing name


@dataclass(frozen=True)
class SendOptions:
    limit: int | None = None
    resend_unknown: bool = False
    retry_failed: bool = False


@dataclass(frozen=True)
class SendPreview:
    issue: str
    list_name: str
    list_id: int
    subject: str
    provider: str
    audience: AudienceCount
    counts: dict[str, int]  # the ledger for this issue and list so far (all zero before the first run)
    to_send: int
    estimate_seconds: float


def prepare_issue(settings: Settings, name: str, *, run_checks: bool = True) -> PreparedIssue:
    """Resolve, load, render (once) and check the issue ``name`` (a slug, a date or a path)."""
    issue = load_issue(resolve_issue(name, settings), settings)
    rendered = render_issue(issue, settings)
    # Click tracking (off by default) rewrites the links once here, for every copy alike.
    content = tracked(content_for(rendered, settings), settings)
    findings = check_issue(issue, rendered, settings) if run_checks else []
    return PreparedIssue(
        slug=rendered.slug, subject=rendered.subject, content=content, findings=findings, lang=rendered.lang
    )


def prepared_from(issue: str, frozen: Snapshot) -> PreparedIssue:
    """A planned send's snapshot as the issue to send: no file is read, no check is run again."""
    return PreparedIssue(
        slug=issue, subject=frozen.content.subject, content=frozen.content, findings=[], lang=frozen.lang
    )


def planned_snapshot(db: Engine, issue: str, list_name: str) -> Snapshot | None:
    """What the send of ``issue`` to the list sends, frozen when it was planned; None before that."""
    with db.connect() as conn:
        send = get_send(conn, issue, find_list_id(conn, list_name))
        return snapshot.load(conn, send.id, issue) if send is not None else None


def check_not_scheduled(db: Engine, issue: str, list_name: str) -> None:
    """Refuse (one line: when, and how to cancel) a send of ``issue`` that waits for its time."""
    with db.connect() as conn:
        refuse_if_scheduled(conn, get_send(conn, issue, find_list_id(conn, list_name)))


def current_fingerprint(settings: Settings, issue: str) -> str | None:
    """The fingerprint of the issue file as it renders now; None when it cannot be read or rendered."""
    try:
        return content_fingerprint(prepare_issue(settings, issue, run_checks=False).content)
    except (IssueError, RenderError):
        return None


def limits_of(settings: Settings) -> Limits:
    provider = settings.provider
    return Limits(
        batch_size=provider.batch_size,
        max_attempts=provider.max_attempts,
        messages_per_second=provider.messages_per_second,
        concurrency=provider.concurrency,
        max_wait=provider.max_wait_seconds,
    )


def estimate_seconds(settings: Settings, messages: int) -> float:
    provider = settings.provider
    if provider.messages_per_second > 0:
        return messages / provider.messages_per_second
    requests = math.ceil(messages / max(1, provider.batch_size))  # config keeps it within the maximum
    return requests / (_ASSUMED_REQUESTS_PER_SECOND * provider.concurrency)


def preview_send(
    db: Engine, settings: Settings, issue: str, subject: str, list_name: str, options: SendOptions
) -> SendPreview:
    """What a send would do now; writes nothing."""
    with db.connect() as conn:
        list_id = find_list_id(conn, list_name)
        audience = count_audience(conn, issue, list_id)
        existing = get_send(conn, issue, list_id)
        counts = ledger.counts_by_state(conn, existing.id) if existing else dict.fromkeys(ledger.STATES, 0)
    to_send = audience.new + counts["queued"] + counts["sending"]
    if options.resend_unknown:
        to_send += counts["unknown"]
    if options.retry_failed:
        to_send += counts["failed"]
    if options.limit is not None:
        to_send = min(to_send, options.limit)
    return SendPreview(
        issue=issue,
        list_name=list_name,
        list_id=list_id,
        subject=subject,
        provider=settings.provider.name,
        audience=audience,
        counts=counts,
        to_send=to_send,
        estimate_seconds=estimate_seconds(settings, to_send),
    )


@dataclass
class Started:
    """Handed to ``on_start`` once the ledger is planned, before the first provider call."""

    sender: Sender
    recovery: Recovery
    planned: int  # rows added by this run's planning
    queued: int  # rows waiting to be sent, including interrupted batches re-sent under their key
    # Unknown rows looked up in the provider's log before sending (None: nothing to look up).
    reconciled: Reconciliation | None = None


def execute_send(
    db: Engine,
    settings: Settings,
    prepared: PreparedIssue,
    list_name: str,
    provider: Provider,
    options: SendOptions,
    *,
    limits: Limits | None = None,
    on_start: Callable[[Started], None] | None = None,
    on_progress: Callable[[RunTotals], None] | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    owner: str | None = None,
) -> RunTotals:
    """Plan, recover and send; returns this run's totals (``totals.error`` when it had to stop).

    What is sent is the send's snapshot, frozen the first time it was planned: ``prepared``
    (the file as rendered now) only freezes a send planned here for the first time.

    ``clock`` and ``sleep`` replace ``time.monotonic`` and ``time.sleep`` (tests drive time by hand).
    ``owner``: the lease id this run claims under (default: a new one).
    """
    owner = owner or lease.new_owner()
    with send_lock(db, prepared.slug, shared=True):
        with db.begin() as conn:
            planning_lock(conn, prepared.slug)
            refuse_if_scheduled(conn, get_send(conn, prepared.slug, find_list_id(conn, list_name)))
            planned_send = snapshot.plan_frozen(
                conn,
                settings,
                issue=prepared.slug,
                content=prepared.content,
                lang=prepared.lang,
                list_name=list_name,
                provider=provider.name,
            )
        send, frozen, the_list = planned_send.send, planned_send.snapshot, planned_send.the_list
        planned = planned_send.planned
        recovery = prepare_resume(
            db,
            send,
            provider,
            resend_unknown=options.resend_unknown,
            retry_failed=options.retry_failed,
            owner=owner,
            lease_seconds=settings.lease_seconds,
        )
        reconciled = before_sending(db, send, provider)
        builder = RecipientBuilder(
            settings,
            issue=prepared.slug,
            list_id=the_list.id,
            list_name=the_list.name,
            list_title=the_list.title,
            lang=frozen.lang,
            frozen_headers=frozen.list_headers,
        )
        sender = Sender(
            db,
            send,
            provider,
            frozen.content,
            builder,
            limits or limits_of(settings),
            on_progress=on_progress,
            clock=clock or time.monotonic,
            sleep=sleep or time.sleep,
            owner=owner,
            lease_seconds=settings.lease_seconds,
        )
        with db.connect() as conn:
            queued = ledger.counts_by_state(conn, send.id)["queued"]
        queued += sum(len(batch.rows) for batch in recovery.resend)
        if options.limit is not None:
            queued = min(queued, options.limit)
        if on_start is not None:
            on_start(Started(sender, recovery, planned, queued, reconciled))
        return sender.run(limit=options.limit, resend=recovery.resend)


def send_test(
    settings: Settings,
    prepared: PreparedIssue,
    provider: Provider,
    addresses: Sequence[str],
    list_name: str | None = None,
) -> list[tuple[str, RecipientResult]]:
    """Send ``[TEST]`` copies to ``addresses`` only; no ledger rows. Provider errors propagate.

    The copies carry the headers a send to ``list_name`` (default ``[defaults] list``) carries;
    their ``List-Id`` names the list without its title (a test reads no database).
    """
    cleaned = []
    for address in addresses:
        try:
            cleaned.append(normalise(address))
        except InvalidAddress as exc:
            raise SendError(f"--test {address!r}: {exc} — give a valid email address") from None
    content = replace(prepared.content, subject=f"[TEST] {prepared.content.subject}")
    # Sample recipients: real-looking links signed with the real key that act on nobody.
    signer = Signer()
    recipients = [
        replace(
            sample_recipient(
                settings,
                prepared.slug,
                lang=prepared.lang,
                person=SamplePerson(address, ""),
                signer=signer,
                list_name=list_name,
            ),
            metadata={"nl_issue": prepared.slug, "nl_test": "1"},
        )
        for address in cleaned
    ]
    results: list[tuple[str, RecipientResult]] = []
    for start in range(0, len(recipients), provider.max_batch):
        chunk = recipients[start : start + provider.max_batch]
        answers = provider.send_batch(Batch(content, chunk, idempotency_key=ledger.new_batch_key()))
        results += [(recipient.email, answer) for recipient, answer in zip(chunk, answers, strict=True)]
    return results
