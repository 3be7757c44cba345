"""``newsletter send`` and ``newsletter status`` as a user runs them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, sends
from tests.emulator import Emulator
from tests.send.conftest import KEYS
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"


def _cli(settings: Settings, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)


def _rows(settings: Settings) -> tuple[int, int]:
    with open_engine(settings.database_url).connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(sends)).scalar_one(),
            conn.execute(select(func.count()).select_from(deliveries)).scalar_one(),
        )


@pytest.fixture
def outbox_project(configure: Callable[..., Settings]) -> Settings:
    settings = configure("outbox")
    subscribe_many(open_engine(settings.database_url), addresses(12))
    return settings


def test_dry_run_reports_and_writes_no_ledger_rows(outbox_project: Settings) -> None:
    result = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Subject:   Tak for et godt 2019" in result.output
    assert "12 mailable subscribers" in result.output and "Provider:  outbox" in result.output
    assert "nothing was sent" in result.output
    assert _rows(outbox_project) == (0, 0)
    assert not (outbox_project.provider.options.outbox_dir / ISSUE).exists()


def test_refuses_without_confirmation_when_there_is_no_terminal(outbox_project: Settings) -> None:
    result = _cli(outbox_project, "send", ISSUE, "--list", "erhverv")
    assert result.exit_code == 7
    assert "Error: not sending without confirmation" in result.output and "--yes" in result.output
    assert _rows(outbox_project) == (0, 0)


def test_send_then_resend_sends_nobody_twice_and_status_tells(outbox_project: Settings) -> None:
    first = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert first.exit_code == 0, first.output
    assert "This run: sent 12, failed 0, skipped 0, unknown 0" in first.output
    files = sorted((outbox_project.provider.options.outbox_dir / ISSUE).glob("*.eml"))
    assert len(files) == 12
    raw = files[0].read_bytes()
    # Plain, unencoded headers: mailbox providers look for "<https://" literally.
    assert b"\nList-Unsubscribe: <https://nyhedsbrev.example.org/u/" in raw
    assert b"<mailto:afmeld@example.org?subject=unsubscribe>" in raw
    assert b"\nList-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    second = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert second.exit_code == 0 and "This run: sent 0" in second.output
    assert "12 of them already have this issue" in second.output
    assert "nobody on the list is waiting for this issue" in second.output

    status = _cli(outbox_project, "status", ISSUE)
    assert status.exit_code == 0
    assert "sent 12" in status.output and "(total 12)" in status.output
    as_json = json.loads(_cli(outbox_project, "status", f"issues/{ISSUE}.md", "--json").output)
    assert as_json["sends"][0]["counts"]["sent"] == 12 and as_json["sends"][0]["list"] == "erhverv"


def test_limit_sends_part_and_says_how_to_continue(outbox_project: Settings) -> None:
    result = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes", "--limit", "5")
    assert result.exit_code == 0
    assert "7 still queued" in result.output and f"newsletter send {ISSUE} --list erhverv" in result.output


def test_test_send_marks_the_subject_and_writes_no_ledger_rows(outbox_project: Settings) -> None:
    result = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--test", "jrau@balk.dk")
    assert result.exit_code == 0, result.output
    assert "[TEST] jrau@balk.dk: accepted" in result.output
    (message,) = (outbox_project.provider.options.outbox_dir / ISSUE).glob("*.eml")
    assert "Subject: [TEST] Tak for et godt 2019" in message.read_text()
    assert _rows(outbox_project) == (0, 0)
    bad = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--test", "not-an-address")
    assert bad.exit_code == 7 and "--test 'not-an-address'" in bad.output


def test_unknown_list_and_unsent_issue_are_one_clear_line(outbox_project: Settings) -> None:
    result = _cli(outbox_project, "send", ISSUE, "--list", "nosuch", "--yes")
    assert result.exit_code == 4 and "list 'nosuch' does not exist" in result.output
    status = _cli(outbox_project, "status", ISSUE)
    assert status.exit_code == 4 and f"newsletter send {ISSUE} --list NAME" in status.output


def test_check_errors_refuse_the_send_unless_forced(
    outbox_project: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.checks import Finding
    from newsletter.cli import send as send_cli
    from newsletter.send import service

    real = service.prepare_issue

    def with_an_error(settings: Settings, name: str, **kw: object):  # type: ignore[no-untyped-def]
        prepared = real(settings, name)
        broken = Finding("error", "missing-alt", "image has no alt text", f"issues/{ISSUE}.md", 12)
        return service.PreparedIssue(prepared.slug, prepared.subject, prepared.content, [broken])

    monkeypatch.setattr(send_cli, "prepare_issue", with_an_error)
    refused = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert refused.exit_code == 8
    assert f"issues/{ISSUE}.md:12: error: image has no alt text" in refused.output
    assert "--force" in refused.output and _rows(outbox_project) == (0, 0)
    forced = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes", "--force")
    assert forced.exit_code == 0 and "sent 12" in forced.output


def test_failures_exit_non_zero_with_the_retry_command(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings = configure("postmark", emulator.url)
    people = addresses(4)
    subscribe_many(open_engine(settings.database_url), people)
    emulator.mark_inactive(people[1])
    result = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert result.exit_code == 7
    assert "1 failed" in result.output
    assert f"newsletter send {ISSUE} --list erhverv --retry-failed" in result.output
    status = _cli(settings, "status", ISSUE, "--list", "erhverv")
    assert f"{people[1]}:" in status.output and "406" in status.output


def test_secrets_never_appear_in_output_or_logs(
    configure, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    settings = configure("postmark", emulator.url, timeout_seconds=0.5)
    subscribe_many(open_engine(settings.database_url), addresses(3))
    wrong = "pm-WRONG-token-SECRET-9z8y7x6w"
    monkeypatch.setenv("NEWSLETTER_POSTMARK_TOKEN", wrong)
    caplog.set_level(logging.DEBUG)
    refused = _cli(settings, "-v", "send", ISSUE, "--list", "erhverv", "--yes")
    assert refused.exit_code != 0 and "API key was refused" in refused.output
    monkeypatch.setenv("NEWSLETTER_POSTMARK_TOKEN", KEYS["postmark"])
    emulator.inject("slow", provider="postmark", seconds=1.5)
    timed_out = _cli(settings, "-v", "send", ISSUE, "--list", "erhverv", "--yes")
    assert timed_out.exit_code == 7 and "unknown" in timed_out.output
    status = _cli(settings, "status", ISSUE, "--json")
    everything = refused.output + timed_out.output + status.output + caplog.text
    for secret in (wrong, KEYS["postmark"], "test-secret-key-for-signing-0123456789"):
        assert secret not in everything


def test_a_second_send_of_the_same_issue_is_refused_while_one_runs(outbox_project: Settings) -> None:
    from newsletter.send.lock import send_lock

    with send_lock(open_engine(outbox_project.database_url), ISSUE):
        result = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes")
    # SQLite: one send of an issue at a time. PostgreSQL: sends share an issue; what holds the lock
    # alone (scheduling it) holds it for an instant, and a send meanwhile is asked to try again.
    alone = "another 'newsletter send'" if "sqlite" in outbox_project.database_url else "right now"
    assert result.exit_code == 7 and alone in result.output
    assert _rows(outbox_project) == (0, 0)
    after = _cli(outbox_project, "send", ISSUE, "--list", "erhverv", "--yes")
    assert after.exit_code == 0 and "sent 12" in after.output


def test_every_command_has_an_example() -> None:
    for name in ("send", "status"):
        command = main.get_command(click.Context(main), name)
        assert command is not None and "Example:" in (command.help or "")


def test_unsubscribe_between_plan_and_claim_is_honoured_and_status_json_says_why(  # type: ignore[no-untyped-def]
    configure, emulator: Emulator
) -> None:
    settings = configure("postmark", emulator.url, batch_size=2)
    people = addresses(6)
    subscribe_many(open_engine(settings.database_url), people)
    # The send is planned (6 ledger rows) and interrupted after 2 messages ...
    first = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes", "--limit", "2")
    assert first.exit_code == 0 and "4 still queued" in first.output
    # ... then two of the queued people leave: one unsubscribes, one is suppressed after a complaint.
    left = _cli(settings, "subscribers", "remove", people[3], "--list", "erhverv")
    assert left.exit_code == 0, left.output
    from newsletter.store.subscribers import suppress

    with open_engine(settings.database_url).begin() as conn:
        suppress(conn, people[4], "complained", "spam report")
    resumed = _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "sent 2, failed 0, skipped 2" in resumed.output
    received = emulator.count_by_address()
    assert received[people[3]] == 0 and received[people[4]] == 0
    assert all(received[p] == 1 for p in (people[0], people[1], people[2], people[5]))

    report = json.loads(_cli(settings, "status", ISSUE, "--json").output)
    (send,) = report["sends"]
    assert set(send) >= {"list", "subject", "provider", "status", "total", "counts", "failed", "unknown"}
    assert send["status"] == "done" and send["total"] == 6
    assert send["counts"] == {"queued": 0, "sending": 0, "sent": 4, "failed": 0, "skipped": 2, "unknown": 0}
    reasons = {row["email"]: row["error"] for row in send["skipped"]}
    assert "unsubscribed" in reasons[people[3]] and "complained" in reasons[people[4]]
    assert send["waiting_for_retry"] == {"count": 0, "until": None}


def test_a_subscriber_without_a_name_is_greeted_with_the_fallback(configure: Callable[..., Settings]) -> None:
    # The send path must merge the same values as build and preview: "Kære læser," — never "Kære ,".
    import email
    import email.policy

    settings = configure("outbox")
    issue = "2020-03-02-nyt-fra-erhvervsservice"  # this sample greets the reader by name
    add = ["subscribers", "add", "--list", "erhverv"]
    assert _cli(settings, "lists", "create", "erhverv", "--title", "Erhvervsnyt").exit_code == 0
    assert _cli(settings, *add, "navnlos@firma.dk").exit_code == 0
    assert _cli(settings, *add, "mette@firma.dk", "--name", "Mette Ærø").exit_code == 0
    assert _cli(settings, "send", issue, "--list", "erhverv", "--yes").exit_code == 0

    texts = {}
    for path in (settings.provider.options.outbox_dir / issue).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        texts[message["To"].addresses[0].addr_spec] = body
    assert "Kære læser," in texts["navnlos@firma.dk"] and "Kære ," not in texts["navnlos@firma.dk"]
    assert "Kære Mette Ærø," in texts["mette@firma.dk"]


def test_a_missing_key_is_one_line_before_any_summary(
    outbox_project: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    runner = CliRunner()
    result = runner.invoke(
        main, ["--config", str(outbox_project.path), "send", ISSUE, "--list", "erhverv", "--yes"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]  # nothing but the error
    assert "NEWSLETTER_SECRET_KEY is not set" in result.output
    assert _rows(outbox_project) == (0, 0)


def test_send_without_list_goes_to_the_default_list_and_names_it(outbox_project: Settings) -> None:
    """docs/subscribers.md: every --list defaults to [defaults] list (erhverv in the test settings)."""
    dry = _cli(outbox_project, "send", ISSUE, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "List:      erhverv" in dry.output
    sent = _cli(outbox_project, "send", ISSUE, "--yes")
    assert sent.exit_code == 0, sent.output
    assert "This run: sent 12" in sent.output
    assert _rows(outbox_project)[1] == 12
