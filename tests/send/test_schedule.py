"""A send is a stored job (issue 14): its frozen snapshot, ``send --at``, ``schedule list`` and ``cancel``.

- Planning freezes what is sent: a resume after the issue file was edited sends
  the rest of the list what was planned, and ``status`` says the file changed.
- ``--at`` reads a wall-clock time in ``[defaults] timezone``: summer and winter
  time right, the spring gap and the autumn repeat refused with what to type.
- A scheduled send fires at the instant asked for (an in-process worker with its
  clock set by hand), never before; a cancelled one never fires.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from newsletter.cli import main
from newsletter.config import Settings, load_settings
from newsletter.errors import ConfigError, SendError
from newsletter.providers.registry import make_provider
from newsletter.send.ledger import utcnow
from newsletter.send.schedule import instant_of, schedule_send
from newsletter.send.service import SendOptions, execute_send, prepare_issue
from newsletter.send.worker import Worker
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, lists, sends
from tests.conftest import write_project
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"
OTHER_ISSUE = "2020-03-02-nyt-fra-erhvervsservice"
COPENHAGEN = "Europe/Copenhagen"
SEPTEMBER = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)  # "now" for the parsing tests (summer time)


def _cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)


def _outbox(settings: Settings, issue: str = ISSUE) -> list[email.message.EmailMessage]:
    folder = settings.provider.options.outbox_dir / issue
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(folder.glob("*.eml"))
    ]


def _edit_subject(settings: Settings, issue: str, new_subject: str) -> None:
    path = settings.issues_dir / f"{issue}.md"
    text = path.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("subject:"))
    path.write_text(text.replace(old, f"subject: {new_subject}", 1), encoding="utf-8")


@pytest.fixture
def project(configure: Callable[..., Settings]) -> Settings:
    settings = configure("outbox")
    subscribe_many(open_engine(settings.database_url), addresses(12))
    return settings


# --- the frozen snapshot -----------------------------------------------------------------------


def test_a_resume_after_the_file_was_edited_sends_what_was_planned(project: Settings) -> None:
    first = _cli(project, "send", ISSUE, "--list", "erhverv", "--yes", "--limit", "5")
    assert first.exit_code == 0, first.output
    _edit_subject(project, ISSUE, "Tak for et RETTET 2019")
    db = open_engine(project.database_url)
    with db.begin() as conn:  # the list's title changes too: its List-Id was frozen with the send
        conn.execute(update(lists).values(title="Nyt navn"))

    status = _cli(project, "status", ISSUE)
    assert "the issue was changed after this send was planned" in status.output
    assert "not the change" in status.output

    resumed = _cli(project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "This run: sent 7" in resumed.output
    assert "Note: the issue was changed after this send was planned" in resumed.output
    assert "Subject:   Tak for et godt 2019" in resumed.output
    messages = _outbox(project)
    assert len(messages) == 12
    assert {str(m["Subject"]) for m in messages} == {"Tak for et godt 2019"}
    assert len({str(m["List-Id"]) for m in messages}) == 1

    # A new send (to another list) is planned from the file as it is now: it carries the change.
    subscribe_many(db, addresses(3, prefix="other"), list_name="presse")
    other = _cli(project, "send", ISSUE, "--list", "presse", "--yes")
    assert other.exit_code == 0, other.output
    assert "Subject:   Tak for et RETTET 2019" in other.output
    assert sum("RETTET" in str(m["Subject"]) for m in _outbox(project)) == 3
    assert "the issue was changed" not in _cli(project, "status", ISSUE, "--list", "presse").output


def test_every_run_of_a_send_sends_its_snapshot_whatever_it_is_handed(project: Settings) -> None:
    """The workspace's "continue" hands ``execute_send`` the file as it renders now: not what is sent."""
    db = open_engine(project.database_url)
    planned = prepare_issue(project, ISSUE)
    edited = replace(planned, content=replace(planned.content, subject="Rettet", html="<p>Rettet</p>"))
    provider = make_provider(project.provider)
    try:
        first = execute_send(db, project, planned, "erhverv", provider, SendOptions(limit=5))
        rest = execute_send(db, project, edited, "erhverv", provider, SendOptions())
    finally:
        provider.close()
    assert (first.sent, rest.sent) == (5, 7)
    assert {str(m["Subject"]) for m in _outbox(project)} == {"Tak for et godt 2019"}


def test_a_resume_needs_no_issue_file(project: Settings) -> None:
    assert _cli(project, "send", ISSUE, "--list", "erhverv", "--yes", "--limit", "4").exit_code == 0
    (project.issues_dir / f"{ISSUE}.md").unlink()
    resumed = _cli(project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "the issue file can no longer be read" in resumed.output
    assert len(_outbox(project)) == 12


# --- reading --at ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "zone", "utc"),
    [
        ("2026-12-24 08:00", COPENHAGEN, datetime(2026, 12, 24, 7, 0, tzinfo=UTC)),  # winter: +01
        (
            "2027-03-27 08:00",
            COPENHAGEN,
            datetime(2027, 3, 27, 7, 0, tzinfo=UTC),
        ),  # the day before the switch
        ("2027-03-28 08:00", COPENHAGEN, datetime(2027, 3, 28, 6, 0, tzinfo=UTC)),  # summer: +02
        (
            "2027-03-28 03:00",
            COPENHAGEN,
            datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
        ),  # first minute after the gap
        ("2026-10-25 03:00", COPENHAGEN, datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),  # winter again
        ("2026-12-24  8:00", COPENHAGEN, datetime(2026, 12, 24, 7, 0, tzinfo=UTC)),  # spaces, one-digit hour
        ("2026-12-24 08:00", "America/New_York", datetime(2026, 12, 24, 13, 0, tzinfo=UTC)),
    ],
)
def test_at_is_read_as_wall_clock_time_in_the_zone(typed: str, zone: str, utc: datetime) -> None:
    assert instant_of(typed, zone, now=SEPTEMBER) == utc


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # Spring: the clocks go from 02:00 to 03:00; 02:30 never happens.
        ("2027-03-28 02:30", ['"2027-03-28 02:30": that time does not exist', 'type "2027-03-28 03:30"']),
        # Autumn: the clocks go back from 03:00 to 02:00; 02:30 happens twice.
        ("2026-10-25 02:30", ["that time happens twice in Europe/Copenhagen", 'e.g. "2026-10-25 03:30"']),
        (
            "2026-09-01 14:00",
            ["is in the past (it is now 2026-09-01 14:00 in Europe/Copenhagen)", "leave out"],
        ),
        ("tomorrow 8", ["write the date and time as YYYY-MM-DD HH:MM", '--at "2026-12-24 08:00"']),
        ("24-12-2026 08:00", ["write the date and time as YYYY-MM-DD HH:MM"]),
        ("2026-02-30 08:00", ["there is no such date or time"]),
        ("2026-12-24 25:00", ["there is no such date or time"]),
    ],
)
def test_a_time_that_cannot_be_meant_is_one_clear_line(typed: str, expected: list[str]) -> None:
    with pytest.raises(SendError) as refused:
        instant_of(typed, COPENHAGEN, now=SEPTEMBER)
    message = str(refused.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_the_time_zone_setting_is_checked(tmp_path: Path, sqlite_url: str) -> None:
    path = write_project(tmp_path, sqlite_url, "")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('list = "erhverv"\n', 'list = "erhverv"\ntimezone = "Europe/Kopenhagen"\n'))
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert "[defaults] timezone: 'Europe/Kopenhagen' is not a time zone" in str(refused.value)
    assert '"Europe/Copenhagen"' in str(refused.value)
    path.write_text(text.replace('list = "erhverv"\n', 'list = "erhverv"\ntimezone = "America/New_York"\n'))
    assert load_settings(path).timezone == "America/New_York"


# --- send --at, schedule list, cancel ----------------------------------------------------------


def _next_spring_forward(after: date) -> date:
    """The next last Sunday of March (when Denmark goes to summer time) after ``after``."""
    year = after.year if after < date(after.year, 3, 25) else after.year + 1
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _scheduled_at(settings: Settings, issue: str = ISSUE) -> datetime | None:
    with open_engine(settings.database_url).connect() as conn:
        moment = conn.execute(select(sends.c.scheduled_at).where(sends.c.issue == issue)).scalar()
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def test_a_send_scheduled_across_the_switch_to_summer_time_fires_at_the_time_asked(project: Settings) -> None:
    day = _next_spring_forward(utcnow().date())
    scheduled = _cli(project, "send", ISSUE, "--list", "erhverv", "--at", f"{day} 08:00", "--yes")
    assert scheduled.exit_code == 0, scheduled.output
    assert f"When:      {day} 08:00 Europe/Copenhagen (06:00 UTC)" in scheduled.output
    assert "Scheduled: " in scheduled.output and "12 recipient(s)" in scheduled.output
    at = datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)
    assert _scheduled_at(project) == at
    listed = _cli(project, "schedule", "list")
    assert f"{day} 08:00 Europe/Copenhagen" in listed.output and f"{day} 06:00 UTC" in listed.output
    assert ISSUE in listed.output and " 12" in listed.output
    # Edited after scheduling: the scheduled send sends what was planned.
    _edit_subject(project, ISSUE, "Tak for et RETTET 2019")
    assert "the issue was changed after this send was planned" in _cli(project, "status", ISSUE).output

    db = open_engine(project.database_url)
    said: list[str] = []
    early = Worker(db, project, say=said.append, now=lambda: at - timedelta(seconds=1))
    early.cycle()
    assert _outbox(project) == []
    assert "next: " + ISSUE in said[-1]
    Worker(db, project, say=said.append, now=lambda: at).cycle()
    messages = _outbox(project)
    assert len(messages) == 12 and {str(m["Subject"]) for m in messages} == {"Tak for et godt 2019"}
    status = _cli(project, "status", ISSUE)
    assert "(outbox, done)" in status.output and "sent 12" in status.output
    assert _cli(project, "schedule", "list").output.startswith("No sends are scheduled")


def test_a_cancelled_send_never_fires_and_can_be_sent_later(project: Settings) -> None:
    db = open_engine(project.database_url)
    past = utcnow() - timedelta(minutes=1)  # due at once (the library takes any time; --at no past one)
    for issue in (ISSUE, OTHER_ISSUE):
        prepared = prepare_issue(project, issue)
        schedule_send(
            db,
            project,
            issue=issue,
            content=prepared.content,
            lang=prepared.lang,
            list_name="erhverv",
            provider="outbox",
            at=past,
            zone=COPENHAGEN,
        )
    cancelled = _cli(project, "schedule", "cancel", ISSUE, "--list", "erhverv")
    assert cancelled.exit_code == 0, cancelled.output
    assert "Cancelled: " + ISSUE in cancelled.output and "12 queued message(s) removed" in cancelled.output

    worker = _cli(project, "worker", "--once")
    assert worker.exit_code == 0, worker.output
    assert f"starting {OTHER_ISSUE} → erhverv" in worker.output  # the other one fired: the worker ran
    assert ISSUE + " → " not in worker.output
    assert _outbox(project) == [] and len(_outbox(project, OTHER_ISSUE)) == 12
    with db.connect() as conn:
        left = conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.issue == ISSUE)
        ).scalar_one()
    assert left == 0
    status = _cli(project, "status", ISSUE)
    assert "(outbox, cancelled)" in status.output and "nothing was sent" in status.output

    again = _cli(project, "schedule", "cancel", ISSUE, "--list", "erhverv")
    assert again.exit_code != 0 and "was already cancelled" in again.output
    started = _cli(project, "schedule", "cancel", OTHER_ISSUE, "--list", "erhverv")
    assert started.exit_code != 0 and "has already started" in started.output
    never = _cli(project, "schedule", "cancel", ISSUE, "--list", "nosuchlist")
    assert never.exit_code != 0 and "list 'nosuchlist' does not exist" in never.output

    later = _cli(project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert later.exit_code == 0, later.output
    assert "This run: sent 12" in later.output and len(_outbox(project)) == 12


def test_a_scheduled_send_is_not_sent_now_by_mistake(project: Settings) -> None:
    first = _cli(project, "send", ISSUE, "--list", "erhverv", "--at", "2099-12-24 08:00", "--yes")
    assert first.exit_code == 0, first.output
    now = _cli(project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert now.exit_code != 0
    assert "is scheduled to go to list erhverv at 2099-12-24 08:00 Europe/Copenhagen" in now.output
    assert f"newsletter schedule cancel {ISSUE} --list erhverv" in now.output
    assert _outbox(project) == []
    # Scheduling it again replaces the time (and freezes the file as it is now).
    _edit_subject(project, ISSUE, "Tak for et RETTET 2019")
    moved = _cli(project, "send", ISSUE, "--list", "erhverv", "--at", "2099-12-23 08:00", "--yes")
    assert moved.exit_code == 0, moved.output
    assert _scheduled_at(project) == datetime(2099, 12, 23, 7, 0, tzinfo=UTC)
    assert "the issue was changed" not in _cli(project, "status", ISSUE).output
    listed = _cli(project, "schedule", "list").output
    assert listed.count(ISSUE) == 1 and "2099-12-23 08:00" in listed


def test_at_takes_the_checks_and_refuses_what_cannot_be_scheduled(project: Settings) -> None:
    past = _cli(project, "send", ISSUE, "--list", "erhverv", "--at", "2020-01-01 08:00", "--yes")
    assert past.exit_code != 0 and "is in the past" in past.output
    mixed = _cli(project, "send", ISSUE, "--at", "2099-01-01 08:00", "--limit", "3", "--yes")
    assert mixed.exit_code != 0 and "leave out --test, --limit" in mixed.output
    dry = _cli(project, "send", ISSUE, "--at", "2099-01-01 08:00", "--dry-run")
    assert dry.exit_code == 0 and "nothing was scheduled" in dry.output
    unasked = _cli(project, "send", ISSUE, "--at", "2099-01-01 08:00")
    assert unasked.exit_code != 0 and "not scheduling without confirmation" in unasked.output
    assert _scheduled_at(project) is None
    assert _cli(project, "send", ISSUE, "--list", "erhverv", "--yes").exit_code == 0
    done = _cli(project, "send", ISSUE, "--at", "2099-01-01 08:00", "--yes")
    assert done.exit_code != 0 and "has already been sent to list erhverv" in done.output
