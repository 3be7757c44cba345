"""A report as JSON (the contract), as lines for the terminal, and as CSV for a spreadsheet.

The JSON shape is versioned: ``"format": "newsletter.report"`` and ``"version": 1``. A field is
only ever added within a version; renaming, removing or changing the meaning of one makes
version 2. docs/reports.md describes every field; ``tests/reports/test_contract.py`` checks the
output against :data:`JSON_SCHEMA`, which is that description in machine form.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

from newsletter.reports.figures import COUNT_KEYS, IssueReport, Listed
from newsletter.safe_text import spreadsheet_cell

FORMAT = "newsletter.report"
COMPARE_FORMAT = "newsletter.report.compare"
VERSION = 1
# The text output lists this many bounces / complaints / domains; the JSON and CSV list all.
SHOWN = 20
# Words for the terminal (the CLI speaks English, as every other command does).
COUNT_LABELS = {
    "sent": "sent",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounced": "bounced",
    "bounced_hard": "  hard",
    "bounced_soft": "  soft",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
    "opened": "opened",
    "clicked": "clicked",
}


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _listed(item: Listed) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "at": _time(item.at),
        "email": item.email,
        "reason": item.reason,
        "provider": item.provider,
    }
    if item.kind == "bounced":
        shown["hard"] = item.hard
    return shown


def report_as_json(report: IssueReport) -> dict[str, Any]:
    """The contract: see the module docstring and docs/reports.md."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": _time(report.generated_at),
        **_body(report),
    }


def _body(report: IssueReport) -> dict[str, Any]:
    return {
        "issue": report.issue,
        "subject": report.subject,
        "lists": report.lists,
        "providers": report.providers,
        "tracking": {"opens": report.tracking.opens, "clicks": report.tracking.clicks},
        "first_sent_at": _time(report.first_sent_at),
        "last_sent_at": _time(report.last_sent_at),
        "ledger": report.ledger,
        "counts": report.counts,
        "rates": report.rates,
        "bounces": [_listed(item) for item in report.bounces],
        "complaints": [_listed(item) for item in report.complaints],
        "send_timeline": [
            {"minute": _time(minute), "messages": count} for minute, count in report.send_timeline
        ],
        "event_timeline": {
            "hours": [{"hour": _time(row.hour), **row.counts} for row in report.event_timeline],
            "outside_window": report.events_outside_window,
        },
        "domains": [{"domain": row.domain, **row.counts} for row in report.domains],
        "links": [{"url": row.url, "clicks": row.clicks} for row in report.links]
        if report.tracking.clicks
        else None,
    }


def compare_as_json(first: IssueReport, second: IssueReport) -> dict[str, Any]:
    """Two reports side by side: each in the single report's shape, in the order asked."""
    return {
        "format": COMPARE_FORMAT,
        "version": VERSION,
        "generated_at": _time(first.generated_at),
        "reports": [_body(first), _body(second)],
    }


def _rate(value: float | None) -> str:
    return f"{value * 100:.1f} %" if value is not None else ""


def _count(value: int | None) -> str:
    return "not measured" if value is None else str(value)


def report_lines(report: IssueReport) -> list[str]:
    """The report for the terminal: counts with rates, then what went wrong and where."""
    rates = report.rates
    out = [
        f"{report.issue} → {', '.join(report.lists)} ({', '.join(report.providers)}): {report.subject}",
    ]
    if report.first_sent_at and report.last_sent_at:
        out.append(f"  sent {report.first_sent_at:%Y-%m-%d %H:%M} – {report.last_sent_at:%Y-%m-%d %H:%M} UTC")
    for key in COUNT_KEYS:
        value = report.counts[key]
        rate = _rate(rates.get(key)) if key != "sent" else ""
        out.append(f"  {COUNT_LABELS[key]:<14}{_count(value):>12}  {rate}".rstrip())
    not_sent = {state: n for state, n in report.ledger.items() if state != "sent" and n}
    if not_sent:
        out.append(
            "  ledger: " + ", ".join(f"{state} {n}" for state, n in not_sent.items()) + " (newsletter status)"
        )
    if not report.tracking.opens or not report.tracking.clicks:
        out.append("  opens and clicks are counted only with [tracking] on (docs/privacy.md)")
    out += _listed_lines("bounces", report.bounces)
    out += _listed_lines("complaints", report.complaints)
    if report.domains:
        out.append("  by domain (sent / delivered / bounced / complained):")
        width = max(len(row.domain) for row in report.domains[:SHOWN]) + 2
        for row in report.domains[:SHOWN]:
            c = row.counts
            out.append(
                f"    {row.domain:<{width}}{c['sent']:>8}{c['delivered']:>8}{c['bounced']:>8}{c['complained']:>8}"
            )
        if len(report.domains) > SHOWN:
            out.append(f"    … and {len(report.domains) - SHOWN} more domains (--format csv lists all)")
    if report.send_timeline:
        peak = max(count for _, count in report.send_timeline)
        out.append(f"  send: {len(report.send_timeline)} minute(s), at most {peak} messages a minute")
    if report.events_outside_window:
        out.append(f"  {report.events_outside_window} event(s) came after the first 72 hours (counted above)")
    if report.links:
        out.append("  clicks per link:")
        out += [f"    {row.clicks:>6}  {row.url}" for row in report.links[:SHOWN]]
    return out


def _listed_lines(title: str, items: Sequence[Listed]) -> list[str]:
    if not items:
        return []
    out = [f"  {title}:"]
    for item in items[:SHOWN]:
        kind = "" if item.hard is None else ("hard, " if item.hard else "soft, ")
        when = f"{item.at:%Y-%m-%d %H:%M}" if item.at else "?"
        out.append(f"    {when}  {item.email}: {kind}{item.reason or '(no reason given)'}")
    if len(items) > SHOWN:
        out.append(f"    … and {len(items) - SHOWN} more (--format json or csv lists all)")
    return out


def compare_lines(first: IssueReport, second: IssueReport) -> list[str]:
    """Two issues' counts and rates side by side."""
    width = max(len(first.issue), len(second.issue), 12) + 2
    out = [f"  {'':<14}{first.issue:>{width}}{second.issue:>{width}}"]
    for key in COUNT_KEYS:
        cells = []
        for report in (first, second):
            value = report.counts[key]
            rate = report.rates.get(key) if key != "sent" else None
            cells.append(_count(value) + (f" ({_rate(rate)})" if rate is not None else ""))
        out.append(f"  {COUNT_LABELS[key]:<14}{cells[0]:>{width}}{cells[1]:>{width}}")
    return out


# ---- CSV: one table, one row per figure, so a spreadsheet can filter and chart it --------------

CSV_COLUMNS = ("section", "name", "count", "rate", "detail", "at")


def _csv_rows(report: IssueReport) -> list[list[str]]:
    rates = report.rates
    rows: list[list[str]] = []
    for key in COUNT_KEYS:
        value = report.counts[key]
        rate = rates.get(key)
        rows.append(
            ["count", key, "" if value is None else str(value), "" if rate is None else f"{rate:.4f}", "", ""]
        )
    for state, n in report.ledger.items():
        rows.append(["ledger", state, str(n), "", "", ""])
    for item in [*report.bounces, *report.complaints]:
        kind = item.kind if item.hard is None else f"{item.kind} ({'hard' if item.hard else 'soft'})"
        rows.append([kind, item.email, "1", "", item.reason, _time(item.at) or ""])
    for row in report.domains:
        for key, value in row.counts.items():
            if value is not None:
                rows.append(["domain", row.domain, str(value), "", key, ""])
    for minute, count in report.send_timeline:
        rows.append(["send per minute", "", str(count), "", "", _time(minute) or ""])
    for hour in report.event_timeline:
        for kind, count in hour.counts.items():
            rows.append(["events per hour", kind, str(count), "", "", _time(hour.hour) or ""])
    for link in report.links:
        rows.append(["link clicks", link.url, str(link.clicks), "", "", ""])
    return rows


def write_csv(report: IssueReport, handle: IO[str]) -> None:
    """The report as CSV; every cell made safe for spreadsheets (addresses and reasons come from outside)."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(report):
        writer.writerow([spreadsheet_cell(cell) for cell in row])


def write_compare_csv(first: IssueReport, second: IssueReport, handle: IO[str]) -> None:
    """Both reports in one table, told apart by the ``issue`` column."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["issue", *CSV_COLUMNS])
    for report in (first, second):
        for row in _csv_rows(report):
            writer.writerow([spreadsheet_cell(cell) for cell in [report.issue, *row]])
