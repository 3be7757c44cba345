"""``newsletter report`` after a send and a scripted mix of webhook events: exactly the script's figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from tests.reports.conftest import (
    EXPECTED_COUNTS,
    EXPECTED_DOMAINS,
    ISSUE,
    T0,
    ScriptedSend,
)


def _json(scripted: ScriptedSend, *args: str) -> dict:  # type: ignore[type-arg]
    result = scripted.cli("report", ISSUE, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_counts_rates_and_lists_are_exactly_what_the_events_say(
    scripted_send: Callable[..., ScriptedSend],
) -> None:
    report = _json(scripted_send())
    assert report["counts"] == EXPECTED_COUNTS
    assert report["rates"]["delivered"] == round(9 / 11, 4)
    assert report["rates"]["bounced_hard"] == round(2 / 11, 4)
    assert report["rates"]["opened"] is None and report["tracking"] == {"opens": False, "clicks": False}
    assert report["ledger"]["sent"] == 10 and report["ledger"]["unknown"] == 2
    assert report["lists"] == ["erhverv"] and report["providers"] == ["sendgrid"]

    # Every bounce event, in the order they came, with its reason; the complaint likewise.
    assert [(b["email"], b["hard"], b["reason"]) for b in report["bounces"]] == [
        ("g4@gmail.com", True, "550 5.1.1 user unknown"),
        ("o2@outlook.dk", False, "452 4.2.2 mailbox full"),
        ("b1@balk.dk", False, "451 greylisted"),
        ("b1@balk.dk", True, "550 5.1.1 no such user"),
    ]
    assert [c["email"] for c in report["complaints"]] == ["g0@gmail.com"]

    domains = {row["domain"]: row for row in report["domains"]}
    assert list(domains) == ["gmail.com", "balk.dk", "outlook.dk"]  # most sent first, then by name
    for domain, expected in EXPECTED_DOMAINS.items():
        shown = {key: domains[domain][key] for key in expected}
        assert shown == expected, domain


def test_timelines_put_each_message_and_event_in_its_minute_and_hour(
    scripted_send: Callable[..., ScriptedSend],
) -> None:
    report = _json(scripted_send())
    start = T0.isoformat().replace("+00:00", "Z")
    # Ten rows with a send time: six in the first minute, four in the next.
    assert report["send_timeline"] == [
        {"minute": start, "messages": 6},
        {"minute": start.replace(":00:00Z", ":01:00Z"), "messages": 4},
    ]
    assert report["first_sent_at"] == start
    hours = report["event_timeline"]["hours"]
    assert hours[0]["hour"] == start
    assert (hours[0]["delivered"], hours[0]["deferred"]) == (8, 1)
    assert hours[1]["bounced"] == 3 and hours[2]["bounced"] == 1
    assert hours[3]["delivered"] == 1 and hours[5]["unsubscribed"] == 1 and hours[30]["complained"] == 1
    assert "opened" not in hours[0]  # not measured: not drawn as zero either
    # 19 events in the script: less the open and the click (not measured) and the late one.
    assert sum(sum(v for k, v in row.items() if k != "hour") for row in hours) == 16
    assert report["event_timeline"]["outside_window"] == 1  # the unsubscribe after 100 hours


def test_an_unknown_row_the_provider_reported_on_counts_as_sent(
    scripted_send: Callable[..., ScriptedSend],
) -> None:
    scripted = scripted_send()
    report = _json(scripted)
    assert report["counts"]["sent"] == report["ledger"]["sent"] + 1
    balk = next(row for row in report["domains"] if row["domain"] == "balk.dk")
    assert balk["sent"] == 3  # b0, b1 and the unknown b2 the provider reported on


def test_with_tracking_on_opens_and_clicks_are_counted(scripted_send: Callable[..., ScriptedSend]) -> None:
    report = _json(scripted_send(tracking=True))
    assert (report["counts"]["opened"], report["counts"]["clicked"]) == (1, 1)
    assert report["rates"]["opened"] == round(1 / 11, 4)
    assert report["tracking"] == {"opens": True, "clicks": True}
    assert report["links"] == []  # nobody clicked through /c/ yet
    assert report["event_timeline"]["hours"][2]["opened"] == 1


def test_list_option_and_text_and_csv_outputs(scripted_send: Callable[..., ScriptedSend]) -> None:
    scripted = scripted_send()
    assert _json(scripted, "--list", "erhverv")["counts"] == EXPECTED_COUNTS

    text = scripted.cli("report", ISSUE)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].startswith(f"{ISSUE} → erhverv (sendgrid):")
    assert any(line.split()[:3] == ["delivered", "9", "81.8"] for line in lines)
    assert any(line.split()[:2] == ["opened", "not"] for line in lines)
    assert "g4@gmail.com: hard, 550 5.1.1 user unknown" in text.output
    assert "b1@balk.dk: soft, 451 greylisted" in text.output

    result = scripted.cli("report", ISSUE, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    counts = {row["name"]: row["count"] for row in rows if row["section"] == "count"}
    assert counts["delivered"] == "9" and counts["opened"] == ""
    assert {row["name"] for row in rows if row["section"] == "bounced (hard)"} == {
        "g4@gmail.com",
        "b1@balk.dk",
    }
    gmail = {
        row["detail"]: row["count"]
        for row in rows
        if row["section"] == "domain" and row["name"] == "gmail.com"
    }
    assert gmail["sent"] == "5" and gmail["complained"] == "1"
