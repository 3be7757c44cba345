"""Scheduling a send from the send view ("Send senere"), as ``newsletter send --at`` does.

A time on the send form plans the send and leaves it for ``newsletter worker``:
after the same checks and typed list name as a send now, audited as
``issue.scheduled``, listed by ``newsletter schedule list``, shown on the
progress page with its cancel button. A time that cannot be meant (not a time,
past, skipped or repeated at the switch to or from summer time) and a send
that has started are refused with one Danish line, and nothing is written.
Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.providers.outbox import OutboxProvider
from newsletter.send.plan import find_list_id, get_send
from newsletter.send.schedule import schedule_of
from newsletter.send.service import SendOptions, execute_send, prepare_issue
from newsletter.store.lists import ListRow
from newsletter.store.schema import sends
from newsletter.web import RateLimits, create_app
from newsletter.web.admin.sending import typed_time
from newsletter.workspace.audit import AuditEntry, recent_entries
from tests.web.admin.conftest import MakeUser, csrf_of, log_in
from tests.web.admin.test_guard import assert_strict
from tests.web.conftest import AppClient, add_member, count, outbox_messages

SignIn = Callable[..., AppClient]
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
SEND_PAGE = f"/admin/issues/{SAMPLE}/send"
PROGRESS = f"/admin/issues/{SAMPLE}/sends/erhverv"
PEOPLE = ("anne@example.com", "bo@example.com", "carl@example.com")
CHRISTMAS = "2099-12-24T08:00"  # what the picker posts; 07:00 UTC (winter time)


@pytest.fixture
def members(engine: Engine, erhverv: ListRow) -> list[int]:
    return [add_member(engine, address) for address in PEOPLE]


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


# The EU switches two years ahead: 02:30 is skipped on the last Sunday of March, repeated in October.
SWITCH_YEAR = datetime.now(UTC).year + 2
SPRING, AUTUMN = last_sunday(SWITCH_YEAR, 3), last_sunday(SWITCH_YEAR, 10)


def visible(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def audit(engine: Engine, action: str) -> list[AuditEntry]:
    with engine.connect() as conn:
        return recent_entries(conn, action=action)


def schedule(client: AppClient, at: str, confirm: str = "erhverv") -> Any:
    page = client.get(SEND_PAGE + "?list=erhverv")
    return client.post(
        SEND_PAGE, data={"csrf_token": csrf_of(page.text), "list": "erhverv", "confirm": confirm, "at": at}
    )


def send_row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return get_send(conn, SAMPLE, find_list_id(conn, "erhverv"))


def test_the_picker_is_labelled_with_the_time_zone_and_described(
    signed_in: SignIn, members: list[int]
) -> None:
    page = signed_in("sender").get(SEND_PAGE + "?list=erhverv")
    assert page.status_code == 200
    assert '<label for="at">Tidspunkt (dansk tid, Europe/Copenhagen)</label>' in page.text
    assert 'type="datetime-local" id="at" name="at"' in page.text
    assert 'aria-describedby="at-hint"' in page.text and 'id="at-hint"' in page.text
    assert "Send senere (valgfrit)" in visible(page.text)
    assert "Lad feltet stå tomt for at sende nu" in visible(page.text)
    assert_strict(page)


def test_a_time_on_the_send_form_schedules_the_send_for_the_worker(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender", "lise@kommune.dk")
    answer = schedule(client, CHRISTMAS)
    assert answer.status_code == 303 and answer.headers["location"] == PROGRESS

    progress = client.get(PROGRESS)
    assert "Sendes automatisk 2099-12-24 08:00 (Europe/Copenhagen)" in visible(progress.text)
    assert 'id="cancel-send"' in progress.text
    assert outbox_messages(settings) == []  # nothing goes now

    send = send_row(engine)
    assert send is not None and send.status == "scheduled"
    with engine.connect() as conn:
        waiting = schedule_of(conn, send.id)
    assert waiting is not None
    assert (waiting.at, waiting.zone, waiting.recipients) == (
        datetime(2099, 12, 24, 7, 0, tzinfo=UTC),
        "Europe/Copenhagen",
        3,
    )
    listed = CliRunner().invoke(main, ["--config", str(settings.path), "schedule", "list"])
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.output.splitlines() if line.startswith(SAMPLE)]
    assert row.split() == [
        SAMPLE,
        "erhverv",
        "2099-12-24",
        "08:00",
        "Europe/Copenhagen",
        "2099-12-24",
        "07:00",
        "UTC",
        "3",
    ]

    [entry] = audit(engine, "issue.scheduled")
    assert (entry.actor, entry.subject) == ("lise@kommune.dk", SAMPLE)
    assert entry.detail["list"] == "erhverv"
    assert entry.detail["scheduled_for"] == "2099-12-24T07:00:00+00:00"

    # Again with another time: the schedule is moved, as `send --at` again moves it.
    assert schedule(client, "2099-12-23T09:30").status_code == 303
    assert "Sendes automatisk 2099-12-23 09:30 (Europe/Copenhagen)" in visible(client.get(PROGRESS).text)
    assert count(engine, sends) == 1 and len(audit(engine, "issue.scheduled")) == 2


def test_without_a_time_the_form_sends_now(
    signed_in: SignIn, app: Any, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender")
    answer = schedule(client, "")
    assert answer.status_code == 303
    run = app.state.admin.runs.get(SAMPLE, "erhverv")
    assert run is not None and run.wait(30)
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    assert audit(engine, "issue.scheduled") == [] and len(audit(engine, "issue.sent")) == 1


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (
            "24/12 kl. 8",
            "Tidspunktet »24/12 kl. 8« kan ikke læses. Vælg dato og klokkeslæt i feltet Tidspunkt "
            "(ÅÅÅÅ-MM-DD TT:MM). Intet er sendt.",
        ),
        ("2099-02-30T08:00", "Tidspunktet »2099-02-30 08:00« kan ikke læses."),
        ("2020-01-02T08:00", "Tidspunktet 2020-01-02 08:00 er allerede passeret (klokken er nu "),
        (
            f"{SPRING}T02:30",
            f"Klokken {SPRING} 02:30 findes ikke i Europe/Copenhagen: urene stilles frem til sommertid "
            f"den nat og springer den over. Vælg {SPRING} 03:30 i stedet. Intet er sendt.",
        ),
        (
            f"{AUTUMN}T02:30",
            f"Klokken {AUTUMN} 02:30 kommer to gange i Europe/Copenhagen: urene stilles tilbage til "
            f"vintertid den nat. Vælg et tidspunkt uden for den gentagne time, fx {AUTUMN} 03:30.",
        ),
    ],
    ids=["not-a-time", "no-such-date", "past", "skipped", "repeated"],
)
def test_a_time_that_cannot_be_meant_is_one_danish_line_and_nothing_is_written(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int], typed: str, said: str
) -> None:
    client = signed_in("sender")
    answer = schedule(client, typed)
    assert answer.status_code == 400
    assert said in visible(answer.text)
    assert 'role="alert" id="form-error"' in answer.text and "Traceback" not in answer.text
    assert count(engine, sends) == 0 and audit(engine, "issue.scheduled") == []
    assert outbox_messages(settings) == []


def test_the_time_is_kept_when_the_typed_name_is_wrong(
    signed_in: SignIn, engine: Engine, members: list[int]
) -> None:
    answer = schedule(signed_in("sender"), CHRISTMAS, confirm="ERHVERV")
    assert answer.status_code == 400
    assert "Skriv listens navn præcis, som det står: erhverv. Intet er sendt." in visible(answer.text)
    assert f'value="{CHRISTMAS}"' in answer.text  # the picker still holds it
    assert count(engine, sends) == 0


def test_a_send_that_has_started_or_is_done_is_not_scheduled(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender")
    outbox = OutboxProvider(settings.provider.options.outbox_dir)
    started = execute_send(  # from a terminal, stopped after one message
        engine, settings, prepare_issue(settings, SAMPLE), "erhverv", outbox, SendOptions(limit=1)
    )
    assert started.sent == 1
    answer = schedule(client, CHRISTMAS)
    assert answer.status_code == 409
    assert (
        f"{SAMPLE} er allerede i gang med at blive sendt til erhverv og kan ikke tidsplanlægges."
        in visible(answer.text)
    )
    assert send_row(engine).status == "sending" and audit(engine, "issue.scheduled") == []

    execute_send(engine, settings, prepare_issue(settings, SAMPLE), "erhverv", outbox, SendOptions())
    done = schedule(client, CHRISTMAS)
    assert done.status_code == 409
    assert f"{SAMPLE} er allerede sendt til erhverv." in visible(done.text)
    with engine.connect() as conn:
        assert conn.execute(select(sends.c.scheduled_at)).scalar() is None
    assert len(outbox_messages(settings)) == 3


def test_a_scheduled_send_is_not_sent_now_by_mistake(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender")
    assert schedule(client, CHRISTMAS).status_code == 303
    now = schedule(client, "")
    assert now.status_code == 409
    assert "Forsendelsen til erhverv er tidsplanlagt og sendes automatisk på sit tidspunkt." in visible(
        now.text
    )
    assert outbox_messages(settings) == [] and send_row(engine).status == "scheduled"


def test_with_four_eyes_a_schedule_needs_the_approval_a_send_needs(
    settings: Settings, erhverv: ListRow, make_user: MakeUser, engine: Engine, members: list[int]
) -> None:
    app = create_app(
        dataclasses.replace(settings, admin=dataclasses.replace(settings.admin, four_eyes=True)),
        rate_limits=RateLimits(per_ip=50, per_address=3),
    )
    lise, ole = AppClient(app), AppClient(app)
    for client, address in ((lise, "lise@kommune.dk"), (ole, "ole@kommune.dk")):
        make_user(address, "sender")
        assert log_in(client, address).status_code == 303
    refused = schedule(lise, CHRISTMAS)
    assert refused.status_code == 409 and "skal først godkendes af en anden afsender" in refused.text
    assert count(engine, sends) == 0 and audit(engine, "issue.scheduled") == []

    for client, step in ((lise, "approval"), (ole, "approval/approve")):
        token = csrf_of(client.get(SEND_PAGE + "?list=erhverv").text)
        answer = client.post(
            f"{SEND_PAGE[:-5]}/{step}", data={"csrf_token": token, "list": "erhverv", "confirm": "erhverv"}
        )
        assert answer.status_code == 303
    assert schedule(lise, CHRISTMAS).status_code == 303
    assert send_row(engine).status == "scheduled"
    for client in (lise, ole):
        client.close()


@pytest.mark.parametrize(
    ("posted", "taken"),
    [
        ("2099-12-24T08:00", "2099-12-24 08:00"),
        ("2099-12-24T08:00:00", "2099-12-24 08:00"),
        (" 2099-12-24  08:00 ", "2099-12-24 08:00"),
        ("24/12 kl. 8", "24/12 kl. 8"),
        ("", ""),
    ],
)
def test_what_the_picker_posts_is_read_as_send_at_reads_it(posted: str, taken: str) -> None:
    assert typed_time(posted) == taken
