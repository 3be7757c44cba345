"""Commands of the send area: ``send`` and ``status`` (the logic lives in :mod:`newsletter.send`)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from newsletter.cli.context import LIST_OPTION_HELP, list_name_of, settings_of
from newsletter.config import Settings
from newsletter.errors import CheckError, IssueError, SendError
from newsletter.issue import resolve_issue
from newsletter.providers.registry import make_provider
from newsletter.send.engine import RunTotals, Sender
from newsletter.send.reconcile import summary_lines
from newsletter.send.report import (
    duration_parts,
    file_state,
    issue_status,
    send_command_line,
    status_as_json,
    status_lines,
)
from newsletter.send.schedule import instant_of, local_text, schedule_send, when_text
from newsletter.send.service import (
    PreparedIssue,
    SendOptions,
    SendPreview,
    Started,
    check_not_scheduled,
    current_fingerprint,
    execute_send,
    planned_snapshot,
    prepare_issue,
    prepared_from,
    preview_send,
    send_test,
)
from newsletter.send.snapshot import Snapshot
from newsletter.store.db import open_engine
from newsletter.tokens import secret_key


def _duration(seconds: float) -> str:
    number, unit = duration_parts(seconds)
    return f"{number} {unit}"


def require_credentials(settings: Settings) -> None:
    """Fail before any summary or question when the signing key or the provider's key is missing."""
    secret_key()
    make_provider(settings.provider).close()


def _report_findings(prepared: PreparedIssue, force: bool) -> None:
    errors = [f for f in prepared.findings if f.severity == "error"]
    for finding in prepared.findings:
        click.echo(str(finding), err=True)
    if errors and not force:
        raise CheckError(
            f"{len(errors)} check error(s) in {prepared.slug} (listed above) — fix them, "
            "or send anyway with --force"
        )


def _show_preview(preview: SendPreview) -> None:
    audience = preview.audience
    click.echo(f"Issue:     {preview.issue}")
    click.echo(f"Subject:   {preview.subject}")
    click.echo(f"List:      {preview.list_name} — {audience.mailable} mailable subscribers")
    if audience.already_planned:
        click.echo(f"           {audience.already_planned} of them already have this issue in the ledger")
    done = {state: n for state, n in preview.counts.items() if n}
    if done:
        click.echo("Ledger:    " + ", ".join(f"{state} {n}" for state, n in done.items()))
    click.echo(f"Provider:  {preview.provider}")
    if preview.to_send:
        click.echo(f"To send:   {preview.to_send} (estimate: about {_duration(preview.estimate_seconds)})")
    else:
        click.echo("To send:   0 — nobody on the list is waiting for this issue")


@contextmanager
def stop_on_signals(stop_gently: Callable[[], bool]) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): ``stop_gently()`` — finish and record the batches in flight,
    then stop. Second, or when ``stop_gently`` says there is nothing to stop gently: now."""
    previous: dict[int, Any] = {}

    def handle(signum: int, _frame: FrameType | None) -> None:
        if not stop_gently():
            raise KeyboardInterrupt
        click.echo(
            "\nStopping after the batches in flight are recorded (Ctrl-C again to quit now)…", err=True
        )

    for stop_signal in (signal.SIGINT.value, signal.SIGTERM.value):
        previous[stop_signal] = signal.signal(stop_signal, handle)
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)


class _Progress:
    """A rich progress bar (rate and ETA) on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def start(self, started: Started) -> None:
        recovery = started.recovery
        if recovery.marked_unknown:
            click.echo(
                f"{recovery.marked_unknown} message(s) were in flight when an earlier run stopped: "
                "marked unknown (see newsletter status)",
                err=True,
            )
        if started.reconciled is not None:
            for line in summary_lines(started.reconciled):
                click.echo(line, err=True)
        if recovery.waiting.count and recovery.waiting.until is not None:
            click.echo(
                f"{recovery.waiting.count} message(s) wait for a retry until "
                f"{recovery.waiting.until:%Y-%m-%d %H:%M:%S} UTC (as the provider asked, or backing off); "
                "this run waits for them — Ctrl-C stops safely and they keep their turn",
                err=True,
            )
        if recovery.resend:
            count = sum(len(b.rows) for b in recovery.resend)
            click.echo(
                f"Re-sending {count} interrupted message(s) under their original idempotency keys", err=True
            )
        if not self.enabled:
            return
        self.bar = Progress(
            TextColumn("Sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} msg/s"),
            TimeRemainingColumn(),
        )
        self.task = self.bar.add_task("send", total=started.queued, rate="–")
        self.bar.start()

    def update(self, totals: RunTotals, elapsed: float) -> None:
        if self.bar is None:
            return
        done = totals.sent + totals.failed + totals.skipped + totals.unknown
        rate = f"{totals.sent / elapsed:,.0f}" if elapsed > 0 else "–"
        self.bar.update(self.task, completed=done, rate=rate)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _summarise(issue: str, list_name: str, totals: RunTotals) -> None:
    rate = totals.sent / totals.elapsed if totals.elapsed > 0 else 0.0
    click.echo(
        f"This run: sent {totals.sent}, failed {totals.failed}, skipped {totals.skipped}, "
        f"unknown {totals.unknown} in {totals.elapsed:.1f} s ({rate:,.0f} msg/s)"
    )
    counts = totals.counts
    click.echo("Ledger:   " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    if totals.stopped == "interrupted":
        click.echo(
            f"Stopped; everything in flight was recorded. Resume with: {send_command_line(issue, list_name)}"
        )
    elif totals.stopped == "limit":
        click.echo(
            f"{counts['queued']} still queued (--limit). Continue with: {send_command_line(issue, list_name)}"
        )


def _finish(issue: str, list_name: str, totals: RunTotals) -> None:
    counts = totals.counts
    if totals.error is not None:
        raise SendError(f"{totals.error} — resume with: {send_command_line(issue, list_name)}")
    if totals.stopped == "interrupted":
        raise SendError(
            f"stopped before the end; everything in flight was recorded and {counts.get('queued', 0)} "
            f"wait in the queue — resume with: {send_command_line(issue, list_name)}"
        )
    problems = []
    if counts.get("failed"):
        problems.append(
            f"{counts['failed']} failed (retry with: {send_command_line(issue, list_name, '--retry-failed')})"
        )
    if counts.get("unknown"):
        problems.append(
            f"{counts['unknown']} unknown — may or may not have arrived (see: newsletter status {issue}; "
            f"send them again with: {send_command_line(issue, list_name, '--resend-unknown')})"
        )
    if problems:
        raise SendError("; ".join(problems))


def _run(settings: Settings, prepared: PreparedIssue, list_name: str, options: SendOptions) -> RunTotals:
    db = open_engine(settings.database_url)
    provider = make_provider(settings.provider)
    holder: dict[str, Sender] = {}
    progress = _Progress(enabled=sys.stdout.isatty())

    def on_start(started: Started) -> None:
        holder["sender"] = started.sender
        progress.start(started)

    def on_progress(totals: RunTotals) -> None:
        sender = holder.get("sender")
        progress.update(totals, sender.clock() - sender.started if sender and sender.started else 0.0)

    def stop_gently() -> bool:
        sender = holder.get("sender")
        if sender is None or sender.stop_requested:
            return False
        sender.request_stop()
        return True

    try:
        with stop_on_signals(stop_gently):
            return execute_send(
                db,
                settings,
                prepared,
                list_name,
                provider,
                options,
                on_start=on_start,
                on_progress=on_progress,
            )
    finally:
        progress.stop()
        provider.close()


@click.command("send")
@click.argument("issue")
@click.option("--list", "list_name", metavar="NAME", help=LIST_OPTION_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send nothing, write no ledger rows.")
@click.option(
    "--test",
    "test_addresses",
    multiple=True,
    metavar="ADDRESS",
    help='Send a "[TEST]" copy to ADDRESS only (repeatable); no ledger rows.',
)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Send at most N messages in this run.")
@click.option(
    "--resend-unknown", is_flag=True, help="Send again to rows whose delivery is unknown (may duplicate)."
)
@click.option("--retry-failed", is_flag=True, help="Try failed rows again (suppressed addresses excepted).")
@click.option("--force", is_flag=True, help="Send even when the pre-send checks report errors.")
@click.option(
    "--at",
    "at",
    metavar='"YYYY-MM-DD HH:MM"',
    help="Do not send now: schedule the send for this time ([defaults] timezone); a worker sends it.",
)
@click.pass_context
def send_command(
    ctx: click.Context,
    issue: str,
    list_name: str | None,
    yes: bool,
    dry_run: bool,
    test_addresses: tuple[str, ...],
    limit: int | None,
    resend_unknown: bool,
    retry_failed: bool,
    force: bool,
    at: str | None,
) -> None:
    """Send ISSUE to everyone on a list, exactly once; run it again to resume.

    Checks the issue, shows subject, audience, provider and an estimate, and
    asks before sending. Every message is recorded in the ledger before and
    after the provider call, so an interrupted send resumes where it stopped
    and nobody gets the issue twice. The issue is frozen when the send is
    planned: a resume sends it as it was then, even if the file was edited.

    With --at the same checks and question schedule the send instead; a
    running 'newsletter worker' sends it at that time.

    Example:

    \b
        newsletter send 2019-12-20-tak-for-et-godt-2019 --list erhverv --test jrau@balk.dk
        newsletter send 2019-12-20-tak-for-et-godt-2019 --list erhverv --dry-run
        newsletter send 2019-12-20-tak-for-et-godt-2019 --list erhverv --yes
        newsletter send 2019-12-20-tak-for-et-godt-2019 --list erhverv --at "2026-12-24 08:00"
    """
    settings = settings_of(ctx)
    list_name = list_name_of(ctx, list_name)
    if at is not None and (test_addresses or limit or resend_unknown or retry_failed):
        raise SendError(
            "--at schedules the whole send for later: leave out --test, --limit, --resend-unknown "
            "and --retry-failed (use them on a send now)"
        )
    if not dry_run:
        require_credentials(settings)
    slug = issue_key(settings, issue)
    frozen = None
    if not test_addresses and at is None:  # a send planned before goes on with what it froze
        frozen = planned_snapshot(open_engine(settings.database_url), slug, list_name)
    if frozen is not None:
        prepared = prepared_from(slug, frozen)
        _report_planned(settings, prepared.slug, frozen)
    else:
        prepared = prepare_issue(settings, issue)
        _report_findings(prepared, force)
    if at is not None:
        _schedule(settings, prepared, list_name, at, yes=yes, dry_run=dry_run)
        return
    if test_addresses:
        provider = make_provider(settings.provider)
        try:
            answers = send_test(
                settings,
                prepared,
                provider,
                [a for t in test_addresses for a in t.split(",") if a],
                list_name=list_name,
            )
        finally:
            provider.close()
        refused = 0
        for address, result in answers:
            detail = result.message_id or result.reason
            click.echo(f"[TEST] {address}: {result.outcome.value}" + (f" ({detail})" if detail else ""))
            refused += result.outcome.value != "accepted"
        if refused:
            raise SendError(f"{refused} test message(s) were not accepted (see above)")
        return
    options = SendOptions(limit=limit, resend_unknown=resend_unknown, retry_failed=retry_failed)
    check_not_scheduled(open_engine(settings.database_url), prepared.slug, list_name)
    preview = preview_send(
        open_engine(settings.database_url), settings, prepared.slug, prepared.subject, list_name, options
    )
    _show_preview(preview)
    if dry_run:
        click.echo("Dry run: nothing was sent and no ledger rows were written.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise SendError("not sending without confirmation: no terminal to ask on — add --yes to send")
        click.confirm(f"Send {prepared.slug} to {preview.to_send} recipient(s) on {list_name}?", abort=True)
    totals = _run(settings, prepared, list_name, options)
    _summarise(prepared.slug, list_name, totals)
    _finish(prepared.slug, list_name, totals)


def _report_planned(settings: Settings, slug: str, frozen: Snapshot) -> None:
    """A send planned before goes on with what it froze; say so when the issue changed since."""
    state = file_state(frozen.fingerprint, lambda: current_fingerprint(settings, slug))
    planned = f"{frozen.planned_at:%Y-%m-%d %H:%M} UTC"
    if state == "changed":
        click.echo(
            f"Note: the issue was changed after this send was planned ({planned}); the rest of the list "
            "gets it as it was planned, not the change",
            err=True,
        )
    elif state == "unreadable":
        click.echo(
            f"Note: the issue file can no longer be read; the rest of the list gets the issue as "
            f"planned ({planned})",
            err=True,
        )


def _schedule(
    settings: Settings, prepared: PreparedIssue, list_name: str, at: str, *, yes: bool, dry_run: bool
) -> None:
    """``send --at``: the checks, summary and question of a send, then a scheduled send."""
    when = instant_of(at, settings.timezone)
    db = open_engine(settings.database_url)
    preview = preview_send(db, settings, prepared.slug, prepared.subject, list_name, SendOptions())
    _show_preview(preview)
    click.echo(f"When:      {when_text(when, settings.timezone)}")
    if dry_run:
        click.echo("Dry run: nothing was scheduled and no ledger rows were written.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise SendError(
                "not scheduling without confirmation: no terminal to ask on — add --yes to schedule"
            )
        click.confirm(
            f"Schedule {prepared.slug} to {preview.to_send} recipient(s) on {list_name} "
            f"for {local_text(when, settings.timezone)}?",
            abort=True,
        )
    scheduled = schedule_send(
        db,
        settings,
        issue=prepared.slug,
        content=prepared.content,
        lang=prepared.lang,
        list_name=list_name,
        at=when,
    )
    click.echo(
        f"Scheduled: {prepared.slug} to list {list_name} at {scheduled.when}, "
        f"{scheduled.recipients} recipient(s) so far (people who join before then are included)."
    )
    click.echo(
        "A running 'newsletter worker' sends it then. See it with: newsletter schedule list; "
        f"call it off with: newsletter schedule cancel {prepared.slug} --list {list_name}"
    )


def issue_key(settings: Settings, name: str) -> str:
    """The ledger key (slug) of ``name``: a slug, a date or a path; works after the file is gone."""
    if name.endswith(".md"):
        return Path(name).stem
    try:
        return resolve_issue(name, settings).stem
    except IssueError:
        return name


@click.command("status")
@click.argument("issue")
@click.option("--list", "list_name", metavar="NAME", help="Only the send to this list.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, every failure listed.")
@click.pass_context
def status_command(ctx: click.Context, issue: str, list_name: str | None, as_json: bool) -> None:
    """Who got ISSUE: counts by state, failures with reasons, unknowns.

    Example:

    \b
        newsletter status 2019-12-20-tak-for-et-godt-2019
        newsletter status 2019-12-20-tak-for-et-godt-2019 --list erhverv --json
    """
    settings = settings_of(ctx)
    db = open_engine(settings.database_url)
    key = issue_key(settings, issue)
    statuses = issue_status(
        db,
        key,
        list_name,
        listed=None if as_json else 50,
        current_fingerprint=lambda: current_fingerprint(settings, key),
    )
    if as_json:
        click.echo(json.dumps(status_as_json(statuses), indent=2, ensure_ascii=False))
        return
    for line in status_lines(statuses):
        click.echo(line)
