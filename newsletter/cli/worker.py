"""``newsletter worker``: sends scheduled sends at their time (the logic is :mod:`newsletter.send.worker`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from newsletter.cli.context import settings_of
from newsletter.cli.send import require_credentials, stop_on_signals
from newsletter.errors import SendError
from newsletter.send.worker import Worker
from newsletter.store.db import open_engine, safe_url


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now, then exit (for cron).")
@click.option(
    "--interval",
    type=click.FloatRange(min=1, max=3600),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for sends that are due (a send due sooner is started on time).",
)
@click.option(
    "--health-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Write the time into PATH on every cycle (and while sending), for a process supervisor.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    metavar="N",
    help="Batches this worker keeps in flight (default and maximum: [provider] concurrency, "
    "which all workers share).",
)
@click.pass_context
def worker_command(
    ctx: click.Context, once: bool, interval: float, health_file: Path | None, concurrency: int | None
) -> None:
    """Send scheduled sends at their time; keep running until stopped.

    Starts each send scheduled with 'newsletter send --at' when it is due, and
    resumes one a stopped worker left unfinished. SIGTERM or Ctrl-C: the batch
    in hand is finished and recorded, then it exits. Prints a line per cycle.
    With SQLite one worker runs at a time (a second is refused); with
    PostgreSQL several may run: each send still fires once, and they share
    the sends in progress (never posting a message twice) within the
    provider's pace ([provider] messages_per_second and concurrency hold for
    all workers together).

    Example:

    \b
        newsletter worker
        newsletter worker --once
        newsletter worker --interval 30 --health-file /run/newsletter/worker.alive
        newsletter worker --concurrency 2
    """
    settings = settings_of(ctx)
    require_credentials(settings)  # fail now, not at 08:00 on the day
    db = open_engine(settings.database_url)
    worker = Worker(db, settings, say=click.echo, health_file=health_file, concurrency=concurrency)
    cap = settings.provider.concurrency
    one = (
        " (SQLite: one worker at a time)"
        if db.dialect.name == "sqlite"
        else f" (shared by all workers: {cap} request(s) in flight at most, [provider] concurrency)"
    )

    def stop_gently() -> bool:
        if worker.stopping:
            return False
        worker.request_stop()
        return True

    with stop_on_signals(stop_gently):
        # Said once SIGTERM is ours: from this line on, a supervisor's stop lets the batch in hand finish.
        click.echo(
            f"worker: pid {os.getpid()}, database {safe_url(str(db.url))}{one}, "
            f"times in {settings.timezone}; "
            + ("one look, then exit" if once else f"looks every {interval:g} s — stop with Ctrl-C or SIGTERM")
        )
        problems = worker.run(once=once, interval=interval)
    if once and problems:
        raise SendError(f"{problems} send(s) stopped on an error (listed above)")
    click.echo("worker: stopped" if not once else "worker: done")
