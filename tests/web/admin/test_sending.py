"""Test and send through the workspace: a test to oneself or the test group, a send to a list, its progress.

The app's provider is the real outbox behind a gate a test can close, so a
send can be held in flight (to try a second start, a stop, a reload) and
then let go. Every storage test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import html
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from newsletter.config import Settings
from newsletter.message import Batch
from newsletter.providers.base import RecipientResult
from newsletter.providers.outbox import OutboxProvider
from newsletter.send import ledger
from newsletter.send.lock import send_lock
from newsletter.send.plan import find_list_id, get_send, plan
from newsletter.send.schedule import schedule_send
from newsletter.send.service import SendOptions, execute_send, prepare_issue
from newsletter.store.lists import ListRow
from newsletter.store.schema import deliveries, sends
from newsletter.web import RateLimits, create_app
from newsletter.web.admin.runs import SendRun
from newsletter.workspace.audit import AuditEntry, recent_entries
from tests.web.admin.conftest import MakeUser, csrf_of, log_in
from tests.web.admin.test_guard import assert_strict
from tests.web.conftest import AppClient, add_member, count, outbox_messages

SignIn = Callable[..., AppClient]
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
SEND_PAGE = f"/admin/issues/{SAMPLE}/send"
PROGRESS = f"/admin/issues/{SAMPLE}/sends/erhverv"
PEOPLE = ("anne@example.com", "bo@example.com", "carl@example.com")
BROKEN_ISSUE = """---
subject: Ny {long}
date: 2020-01-10
---

Første afsnit.

Se [den gamle side](http://example.org/gammel).
"""


class GatedOutbox(OutboxProvider):
    """The outbox, whose batches wait while the gate is closed (open by default)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()  # a batch is at the gate

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        self.waiting.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().send_batch(batch)


@pytest.fixture
def outbox(settings: Settings) -> Iterator[GatedOutbox]:
    provider = GatedOutbox(settings.provider.options.outbox_dir)
    yield provider
    provider.gate.set()  # a test that failed half-way must not leave a send thread waiting


def app_for(settings: Settings, provider: GatedOutbox) -> Any:
    return create_app(settings, provider=provider, rate_limits=RateLimits(per_ip=50, per_address=3))


@pytest.fixture
def app(settings: Settings, erhverv: ListRow, outbox: GatedOutbox) -> Iterator[Any]:
    app = app_for(settings, outbox)
    yield app
    app.state.admin.runs.stop_all(timeout=10)


@pytest.fixture
def members(engine: Engine, erhverv: ListRow) -> list[int]:
    return [add_member(engine, address) for address in PEOPLE]


def the_run(app: Any, list_name: str = "erhverv") -> SendRun:
    run = app.state.admin.runs.get(SAMPLE, list_name)
    assert run is not None, "no send was started"
    return run


def finish(app: Any) -> None:
    assert the_run(app).wait(30), "the send did not finish"


def counts_shown(page: str) -> dict[str, int]:
    """The numbers in the progress table, by ledger state."""
    return {state: int(n) for state, n in re.findall(r'data-state="(\w+)">(\d+)<', page)}


def visible_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def audit(engine: Engine, action: str) -> list[AuditEntry]:
    with engine.connect() as conn:
        return recent_entries(conn, action=action)


def start(client: AppClient, confirm: str = "erhverv", list_name: str = "erhverv") -> Any:
    page = client.get(SEND_PAGE + f"?list={list_name}")
    return client.post(
        SEND_PAGE, data={"csrf_token": csrf_of(page.text), "list": list_name, "confirm": confirm}
    )


def test_an_editor_sends_a_test_to_themselves_marked_test_without_ledger_rows(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("editor", "jens@kommune.dk")
    page = client.get(SEND_PAGE)
    assert page.status_code == 200
    assert "Send en test til mig (jens@kommune.dk)" in page.text
    assert "Der er ingen testgruppe" in page.text
    assert "En test går gennem outbox-mappen" in page.text  # the provider, in the page's language
    answer = client.post(f"/admin/issues/{SAMPLE}/test", data={"csrf_token": csrf_of(page.text), "to": "me"})
    assert answer.status_code == 200
    assert "jens@kommune.dk: modtaget af udbyderen" in answer.text
    [message] = outbox_messages(settings)
    assert message["To"] == "jens@kommune.dk"
    assert message["Subject"] == "[TEST] Tak for et godt 2019"
    # No list chosen yet: the test carries the headers of a send to [defaults] list.
    assert message["List-Id"] == "<erhverv.nyhedsbrev.example.org>"
    assert message["Feedback-ID"] == f"{SAMPLE}:erhverv:example-org"
    assert count(engine, deliveries) == 0 and count(engine, sends) == 0
    [entry] = audit(engine, "issue.test_sent")
    assert (entry.actor, entry.subject, entry.detail["to"], entry.detail["accepted"]) == (
        "jens@kommune.dk",
        SAMPLE,
        "me",
        1,
    )
    # The same page offers an editor no way to send to a list, and the server refuses one.
    assert "Som redaktør kan du sende tests, men ikke sende til en liste" in page.text
    assert 'name="confirm"' not in page.text
    refused = client.post(
        SEND_PAGE, data={"csrf_token": csrf_of(page.text), "list": "erhverv", "confirm": "erhverv"}
    )
    assert refused.status_code == 403 and "Ingen adgang" in refused.text
    assert client.get(PROGRESS).status_code == 403
    assert count(engine, sends) == 0 and len(outbox_messages(settings)) == 1


def test_a_test_to_the_test_group_goes_to_each_address_in_the_settings(
    settings: Settings, erhverv: ListRow, outbox: GatedOutbox, make_user: MakeUser, engine: Engine
) -> None:
    group = ("lise@kommune.dk", "ole@kommune.dk")
    with_group = dataclasses.replace(settings, admin=dataclasses.replace(settings.admin, test_group=group))
    client = AppClient(app_for(with_group, outbox))
    make_user("jens@kommune.dk", "editor", language="en")
    assert log_in(client, "jens@kommune.dk").status_code == 303
    page = client.get(SEND_PAGE)
    assert "Send a test to the test group (2 addresses)" in page.text
    assert "The test group: lise@kommune.dk, ole@kommune.dk" in page.text
    answer = client.post(
        f"/admin/issues/{SAMPLE}/test", data={"csrf_token": csrf_of(page.text), "to": "group"}
    )
    assert answer.status_code == 200 and "ole@kommune.dk: accepted by the provider" in answer.text
    messages = outbox_messages(settings)
    assert sorted(str(m["To"]) for m in messages) == list(group)
    assert all(str(m["Subject"]).startswith("[TEST] ") for m in messages)
    assert count(engine, deliveries) == 0
    assert audit(engine, "issue.test_sent")[0].detail == {
        "to": "test_group",
        "recipients": 2,
        "accepted": 2,
        "provider": "outbox",
    }
    client.close()


def test_without_a_test_group_a_group_test_is_refused(signed_in: SignIn, settings: Settings) -> None:
    client = signed_in("editor")
    page = client.get(SEND_PAGE)
    answer = client.post(
        f"/admin/issues/{SAMPLE}/test", data={"csrf_token": csrf_of(page.text), "to": "group"}
    )
    assert answer.status_code == 400 and "Der er ingen testgruppe" in answer.text
    assert outbox_messages(settings) == []


def test_the_send_page_shows_audience_provider_estimate_and_checks(
    signed_in: SignIn, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender", language="en")
    page = client.get(SEND_PAGE + "?list=erhverv")
    assert page.status_code == 200
    text = visible_text(page.text)
    for expected in (
        "Audience 3 subscribed on erhverv",
        "Provider the outbox folder",
        "To send now 3 emails",
        "Estimate about 1 s",
        "Checks All checks pass",
        "Type the list's name, erhverv, to confirm",
        "Send to 3 on erhverv",
    ):
        assert expected in text
    assert_strict(page)  # the workspace's CSP, and nothing inline
    # Without a list chosen, the page asks for one and offers no send button.
    assert 'name="confirm"' not in client.get(SEND_PAGE).text


def test_a_send_without_the_typed_list_name_is_refused(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender")
    for typed in ("", "Erhverv", "erhver", "nyhedsbrev"):
        answer = start(client, confirm=typed)
        assert answer.status_code == 400, typed
        assert "Skriv listens navn præcis, som det står: erhverv. Intet er sendt." in answer.text
    unknown = start(client, list_name="findes-ikke", confirm="findes-ikke")
    assert unknown.status_code == 400 and "Vælg en liste fra listen." in unknown.text
    assert count(engine, sends) == 0 and outbox_messages(settings) == []
    assert audit(engine, "issue.sent") == []


def test_a_send_with_check_errors_is_refused_but_a_test_is_not(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    slug = "2020-01-10-broken"
    (settings.issues_dir / f"{slug}.md").write_text(BROKEN_ISSUE.format(long="lang " * 18), encoding="utf-8")
    client = signed_in("sender")
    page = client.get(f"/admin/issues/{slug}/send?list=erhverv")
    text = visible_text(page.text)
    assert "Kan ikke sendes: tjekket fandt 1 fejl." in text
    assert "Fejl (linje 2): Emnet er 92 tegn langt" in text and "subject-too-long" in text
    assert "Advarsel (linje 8): Linket http://example.org/gammel bruger http://" in text
    assert re.search(r'<button type="submit" disabled aria-describedby="send-blocked">', page.text)
    answer = client.post(
        f"/admin/issues/{slug}/send",
        data={"csrf_token": csrf_of(page.text), "list": "erhverv", "confirm": "erhverv"},
    )
    assert answer.status_code == 409 and "Kan ikke sendes: tjekket fandt" in answer.text
    assert count(engine, sends) == 0
    test = client.post(f"/admin/issues/{slug}/test", data={"csrf_token": csrf_of(page.text), "to": "me"})
    assert test.status_code == 200 and "sender@kommune.dk: modtaget af udbyderen" in test.text
    assert [str(m["To"]) for m in outbox_messages(settings)] == ["sender@kommune.dk"]


def test_a_send_through_the_outbox_completes_and_the_status_shows_the_counts(
    app: Any, signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender", "lise@kommune.dk")
    answer = start(client)
    assert answer.status_code == 303 and answer.headers["location"] == PROGRESS
    finish(app)
    page = client.get(PROGRESS)
    assert page.status_code == 200
    assert counts_shown(page.text) == {
        "queued": 0,
        "sending": 0,
        "sent": 3,
        "failed": 0,
        "skipped": 0,
        "unknown": 0,
        "total": 3,
    }
    assert "Færdig" in page.text and "Startet af lise@kommune.dk" in page.text
    assert "hx-trigger" not in page.text  # nothing moves any more: no polling
    assert_strict(page)
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    assert not any(str(m["Subject"]).startswith("[TEST]") for m in outbox_messages(settings))
    [entry] = audit(engine, "issue.sent")
    assert (entry.actor, entry.subject, entry.detail["list"], entry.detail["queued"]) == (
        "lise@kommune.dk",
        SAMPLE,
        "erhverv",
        3,
    )
    # The issue is sent: the send page says nobody is waiting, and the issues page says "sent".
    assert "Ingen på listen venter på denne udgave." in client.get(SEND_PAGE + "?list=erhverv").text
    assert "Sendt til erhverv" in client.get("/admin/").text


def test_a_second_start_while_running_is_refused_and_a_reload_shows_the_ledger(
    app: Any, signed_in: SignIn, outbox: GatedOutbox, settings: Settings, engine: Engine, members: list[int]
) -> None:
    outbox.gate.clear()
    client = signed_in("sender")
    assert start(client).status_code == 303
    assert outbox.waiting.wait(10)
    again = start(client)
    assert again.status_code == 409
    assert f"{SAMPLE} er ved at blive sendt allerede" in again.text

    # Another sender's browser (or a reload) sees the same numbers: they come from the ledger.
    other = signed_in("admin", "chef@kommune.dk")
    page = other.get(PROGRESS)
    assert "Sender nu" in page.text
    assert counts_shown(page.text)["sending"] == 3 and counts_shown(page.text)["total"] == 3
    assert f'hx-get="{PROGRESS}/progress"' in page.text and 'hx-trigger="every 2s"' in page.text
    assert f'href="{PROGRESS}">Opdatér</a>' in page.text  # the reload button without JavaScript
    assert 'id="stop-send"' in page.text
    fragment = other.get(PROGRESS + "/progress")
    assert fragment.status_code == 200 and "HX-Refresh" not in fragment.headers
    for answer in (page, fragment):
        assert_strict(answer)
    assert fragment.text.lstrip().startswith('<div id="send-progress"') and "<html" not in fragment.text
    continued = other.post(PROGRESS + "/continue", data={"csrf_token": csrf_of(page.text)})
    assert continued.status_code == 303 and "error=error_busy" in continued.headers["location"]
    assert "er ved at blive sendt allerede" in other.get(continued.headers["location"]).text

    outbox.gate.set()
    finish(app)
    done = other.get(PROGRESS + "/progress")
    assert done.headers["HX-Refresh"] == "true"  # the whole page again, with what happened
    assert counts_shown(done.text)["sent"] == 3
    assert len(outbox_messages(settings)) == 3
    assert len(audit(engine, "issue.sent")) == 1


def test_a_stopped_send_says_how_to_continue_and_continues_from_the_ledger(
    settings: Settings,
    erhverv: ListRow,
    outbox: GatedOutbox,
    make_user: MakeUser,
    engine: Engine,
    members: list[int],
) -> None:
    one_by_one = dataclasses.replace(settings, provider=dataclasses.replace(settings.provider, batch_size=1))
    app = app_for(one_by_one, outbox)
    client = AppClient(app)
    make_user("sender@kommune.dk", "sender")
    assert log_in(client, "sender@kommune.dk").status_code == 303
    outbox.gate.clear()
    assert start(client).status_code == 303
    assert outbox.waiting.wait(10)
    page = client.get(PROGRESS)
    assert client.post(PROGRESS + "/stop", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    assert "Stopper, når de e-mails, der er på vej, er registreret" in client.get(PROGRESS).text
    outbox.gate.set()
    finish(app)

    stopped = client.get(PROGRESS)
    assert counts_shown(stopped.text)["sent"] == 1 and counts_shown(stopped.text)["queued"] == 2
    assert "Kører ikke – 2 venter stadig" in stopped.text
    assert "Fortsæt forsendelsen" in stopped.text
    assert f"<code>newsletter send {SAMPLE} --list erhverv</code>" in stopped.text
    assert "hx-trigger" not in stopped.text
    answer = client.post(PROGRESS + "/continue", data={"csrf_token": csrf_of(stopped.text)})
    assert answer.status_code == 303 and answer.headers["location"] == PROGRESS
    finish(app)
    assert counts_shown(client.get(PROGRESS).text)["sent"] == 3
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    entries = audit(engine, "issue.sent")
    assert [e.detail["continued"] for e in entries] == [True, False]
    client.close()


def test_after_a_restart_mid_send_the_page_offers_to_continue_and_nobody_gets_it_twice(
    app: Any, signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    # A web process died with a batch in flight: its rows are "sending" in the ledger, and the
    # outbox had already written one of the three messages.
    client = signed_in("sender")
    page = client.get(SEND_PAGE)  # nothing running in this (new) process
    with engine.begin() as conn:
        list_id = find_list_id(conn, "erhverv")
        plan(conn, issue=SAMPLE, list_id=list_id, subject="Tak for et godt 2019", provider="outbox")
        send = get_send(conn, SAMPLE, list_id)
        assert send is not None
        claim = ledger.claim(conn, send, 3)
        assert claim is not None and len(claim.rows) == 3
    stuck = client.get(PROGRESS)
    assert counts_shown(stuck.text)["sending"] == 3
    assert "Kører ikke – 3 venter stadig" in stuck.text and "Fortsæt" in stuck.text
    answer = client.post(PROGRESS + "/continue", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    finish(app)
    # The outbox is idempotent: the interrupted batch went again under its key, once per person.
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    assert counts_shown(client.get(PROGRESS).text)["sent"] == 3


def test_failed_and_unknown_rows_are_listed_with_how_to_resolve_them(
    app: Any, signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    client = signed_in("sender", language="en")
    assert start(client).status_code == 303
    finish(app)
    with engine.begin() as conn:  # as a provider would have left them
        ids = list(conn.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars())
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == ids[0])
            .values(state="failed", error="mailbox full", attempts=5)
        )
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == ids[1])
            .values(state="unknown", error="read timeout", attempts=1)
        )
    page = client.get(PROGRESS)
    text = visible_text(page.text)
    assert "Failed (1) anne@example.com: mailbox full (attempts: 5)" in text
    assert "Unknown – may or may not have been delivered (1)" in text
    assert "bo@example.com: read timeout (attempts: 1)" in text
    assert "Try the 1 failed ones again" in text
    assert "Send the 1 unknown ones again (some may get the issue twice)" in text
    assert f"newsletter send {SAMPLE} --list erhverv --retry-failed" in text
    assert f"newsletter send {SAMPLE} --list erhverv --resend-unknown" in text
    nothing = client.post(PROGRESS + "/continue", data={"csrf_token": csrf_of(page.text)})
    assert "Nobody is waiting. Tick what to send again." in client.get(nothing.headers["location"]).text
    repaired = client.post(
        PROGRESS + "/continue", data={"csrf_token": csrf_of(page.text), "retry_failed": "yes"}
    )
    assert repaired.status_code == 303
    app.state.admin.runs.get(SAMPLE, "erhverv").wait(30)
    after = counts_shown(client.get(PROGRESS).text)
    assert (after["sent"], after["failed"], after["unknown"]) == (2, 0, 1)
    assert audit(engine, "issue.sent")[0].detail["retry_failed"] is True


def test_unknown_issues_and_lists_are_not_found(signed_in: SignIn, members: list[int]) -> None:
    client = signed_in("sender")
    assert client.get("/admin/issues/2019-12-20-findes-ikke/send").status_code == 404
    assert client.get("/admin/issues/..%2Fnewsletter/send").status_code == 404
    assert client.get(f"/admin/issues/{SAMPLE}/sends/erhverv").status_code == 404  # never sent
    assert client.get(f"/admin/issues/{SAMPLE}/sends/findes-ikke").status_code == 404


@pytest.fixture
def four_eyes_app(settings: Settings, erhverv: ListRow, outbox: GatedOutbox) -> Iterator[Any]:
    app = app_for(
        dataclasses.replace(settings, admin=dataclasses.replace(settings.admin, four_eyes=True)), outbox
    )
    yield app
    app.state.admin.runs.stop_all(timeout=10)


def test_with_four_eyes_a_send_needs_another_senders_approval_of_this_version(
    four_eyes_app: Any, settings: Settings, make_user: MakeUser, engine: Engine, members: list[int]
) -> None:
    people: dict[str, AppClient] = {}
    for address, role in (
        ("lise@kommune.dk", "sender"),
        ("ole@kommune.dk", "sender"),
        ("chef@kommune.dk", "admin"),
        ("jens@kommune.dk", "editor"),
    ):
        make_user(address, role)
        people[address] = AppClient(four_eyes_app)
        assert log_in(people[address], address).status_code == 303
    lise, ole, chef, jens = people.values()

    def page_of(client: AppClient) -> tuple[str, str]:
        page = client.get(SEND_PAGE + "?list=erhverv")
        return visible_text(page.text), csrf_of(page.text)

    def post(client: AppClient, url: str, **data: str) -> Any:
        return client.post(url, data={"csrf_token": page_of(client)[1], "list": "erhverv", **data})

    text, _ = page_of(lise)
    assert "Bed om godkendelse til erhverv" in text and "Send til 3 på erhverv" not in text
    bypass = post(lise, SEND_PAGE, confirm="erhverv")
    assert bypass.status_code == 409 and "skal først godkendes af en anden afsender" in bypass.text
    assert post(lise, f"{SEND_PAGE[:-5]}/approval", confirm="ERHVERV").status_code == 400
    assert post(lise, f"{SEND_PAGE[:-5]}/approval", confirm="erhverv").status_code == 303
    assert "lise@kommune.dk bad om godkendelse" in page_of(lise)[0]
    own = post(lise, f"{SEND_PAGE[:-5]}/approval/approve")
    assert own.status_code == 409 and "Du kan ikke godkende din egen forsendelse" in own.text
    assert post(jens, f"{SEND_PAGE[:-5]}/approval/approve").status_code == 403  # editors do not approve

    assert "lise@kommune.dk har bedt om at sende til erhverv" in page_of(ole)[0]
    assert_strict(ole.get(SEND_PAGE + "?list=erhverv"))
    assert post(ole, f"{SEND_PAGE[:-5]}/approval/approve").status_code == 303
    text, _ = page_of(lise)
    assert "Godkendt af ole@kommune.dk" in text and "Send til 3 på erhverv" in text
    assert "Kun lise@kommune.dk eller ole@kommune.dk kan starte den" in page_of(chef)[0]
    assert post(chef, SEND_PAGE, confirm="erhverv").status_code == 409

    # An edit after the approval voids it; the approved version itself is still approved.
    issue_file = settings.issues_dir / f"{SAMPLE}.md"
    approved_version = issue_file.read_text(encoding="utf-8")
    issue_file.write_text(approved_version.replace("2019 har givet", "2019 gav"), encoding="utf-8")
    assert "Udgaven er ændret, siden der blev bedt om godkendelse" in page_of(lise)[0]
    assert post(lise, SEND_PAGE, confirm="erhverv").status_code == 409
    assert count(engine, sends) == 0
    issue_file.write_text(approved_version, encoding="utf-8")

    assert post(lise, SEND_PAGE, confirm="erhverv").status_code == 303
    assert the_run(four_eyes_app).wait(30)
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    with engine.connect() as conn:
        trail = [(e.action, e.actor) for e in recent_entries(conn) if e.subject == SAMPLE]
    assert trail == [
        ("issue.sent", "lise@kommune.dk"),
        ("issue.approved", "ole@kommune.dk"),
        ("issue.approval_requested", "lise@kommune.dk"),
    ]
    for client in people.values():
        client.close()


def test_with_four_eyes_an_approved_send_continues_after_an_edit_with_what_was_approved(
    four_eyes_app: Any,
    settings: Settings,
    make_user: MakeUser,
    engine: Engine,
    members: list[int],
    outbox: GatedOutbox,
) -> None:
    lise, ole = AppClient(four_eyes_app), AppClient(four_eyes_app)
    for client, address in ((lise, "lise@kommune.dk"), (ole, "ole@kommune.dk")):
        make_user(address, "sender")
        assert log_in(client, address).status_code == 303
    for client, step in ((lise, "approval"), (ole, "approval/approve")):
        token = csrf_of(client.get(SEND_PAGE + "?list=erhverv").text)
        answer = client.post(
            f"{SEND_PAGE[:-5]}/{step}", data={"csrf_token": token, "list": "erhverv", "confirm": "erhverv"}
        )
        assert answer.status_code == 303
    # Started (from a terminal), stopped after one message; then the file is edited.
    first = execute_send(
        engine, settings, prepare_issue(settings, SAMPLE), "erhverv", outbox, SendOptions(limit=1)
    )
    assert first.sent == 1
    issue_file = settings.issues_dir / f"{SAMPLE}.md"
    issue_file.write_text(issue_file.read_text(encoding="utf-8").replace("godt", "RETTET", 1), "utf-8")

    page = lise.get(PROGRESS)
    assert "Nyhedsbrevet er ændret" in visible_text(page.text)
    answer = lise.post(PROGRESS + "/continue", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303 and answer.headers["location"] == PROGRESS
    assert the_run(four_eyes_app).wait(30)
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    assert {str(m["Subject"]) for m in outbox_messages(settings)} == {"Tak for et godt 2019"}
    for client in (lise, ole):
        client.close()


def test_a_send_running_in_a_terminal_is_watched_and_a_start_is_refused(
    signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    with engine.begin() as conn:
        list_id = find_list_id(conn, "erhverv")
        plan(conn, issue=SAMPLE, list_id=list_id, subject="Tak for et godt 2019", provider="outbox")
    client = signed_in("sender")
    with send_lock(engine, SAMPLE):  # what `newsletter send` holds while it runs
        page = client.get(PROGRESS)
        assert "Udgaven sendes fra et andet sted (en terminal eller en anden serverproces)" in page.text
        assert 'hx-trigger="every 2s"' in page.text and "Fortsæt" not in page.text
        refused = start(client)
        assert refused.status_code == 409 and "er ved at blive sendt allerede" in refused.text
    assert "Kører ikke – 3 venter stadig" in client.get(PROGRESS).text
    assert outbox_messages(settings) == [] and audit(engine, "issue.sent") == []


def test_an_issue_edited_mid_send_is_reported_and_the_rest_get_what_was_planned(
    settings: Settings,
    erhverv: ListRow,
    outbox: GatedOutbox,
    make_user: MakeUser,
    members: list[int],
) -> None:
    one_by_one = dataclasses.replace(settings, provider=dataclasses.replace(settings.provider, batch_size=1))
    app = app_for(one_by_one, outbox)
    client = AppClient(app)
    make_user("sender@kommune.dk", "sender")
    assert log_in(client, "sender@kommune.dk").status_code == 303
    outbox.gate.clear()
    assert start(client).status_code == 303
    assert outbox.waiting.wait(10)
    page = client.get(PROGRESS)
    assert client.post(PROGRESS + "/stop", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    outbox.gate.set()
    finish(app)
    issue_file = settings.issues_dir / f"{SAMPLE}.md"
    issue_file.write_text(issue_file.read_text(encoding="utf-8").replace("godt", "RETTET", 1), "utf-8")

    stopped = client.get(PROGRESS)
    text = visible_text(stopped.text)
    assert "Nyhedsbrevet er ændret, efter at denne forsendelse blev planlagt" in text
    assert "Kun en ny forsendelse (til en anden liste) får ændringen med." in text
    answer = client.post(PROGRESS + "/continue", data={"csrf_token": csrf_of(stopped.text)})
    assert answer.status_code == 303
    finish(app)
    assert sorted(str(m["To"]) for m in outbox_messages(settings)) == sorted(PEOPLE)
    assert {str(m["Subject"]) for m in outbox_messages(settings)} == {"Tak for et godt 2019"}
    app.state.admin.runs.stop_all(timeout=10)
    client.close()


def test_a_scheduled_send_says_when_it_goes_and_how_to_call_it_off(
    app: Any, signed_in: SignIn, settings: Settings, engine: Engine, members: list[int]
) -> None:
    prepared = prepare_issue(settings, SAMPLE)
    schedule_send(
        engine,
        settings,
        issue=SAMPLE,
        content=prepared.content,
        lang=prepared.lang,
        list_name="erhverv",
        provider="outbox",
        at=datetime(2099, 12, 24, 7, 0, tzinfo=UTC),
        zone="Europe/Copenhagen",
    )
    client = signed_in("sender")
    page = client.get(PROGRESS)
    text = visible_text(page.text)
    assert "Sendes automatisk 2099-12-24 08:00 (Europe/Copenhagen)" in text
    assert f"newsletter schedule cancel {SAMPLE} --list erhverv" in text
    assert "Fortsæt" not in text and "hx-trigger" not in page.text
    assert_strict(page)
    assert "tidsplanlagt" in client.get(SEND_PAGE).text
    assert "Tidsplanlagt til erhverv" in client.get("/admin/").text
    answer = client.post(PROGRESS + "/cancel", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303 and answer.headers["location"] == PROGRESS
    cancelled = client.get(PROGRESS)
    assert "Annulleret – intet blev sendt" in visible_text(cancelled.text)
    assert 'id="cancel-send"' not in cancelled.text
    assert "Tidsplanlagt til erhverv" not in client.get("/admin/").text
    [entry] = audit(engine, "issue.schedule_cancelled")
    assert (entry.subject, entry.detail["list"], entry.detail["removed"]) == (SAMPLE, "erhverv", 3)
    again = client.post(PROGRESS + "/cancel", data={"csrf_token": csrf_of(cancelled.text)})
    assert "error=error_not_scheduled" in again.headers["location"]
    assert "allerede aflyst" in client.get(again.headers["location"]).text
    assert outbox_messages(settings) == []
