"""Render benchmark: the sample issue rendered once, then merged per recipient.

Figures (run with ``.venv/bin/python -m bench render``):

- ``render_ms``: parse + full render of the sample issue (target < 25 ms), median of many runs;
- ``stage_share``: the share of the render each stage takes (parse, jinja, mjml, premailer, text);
- ``merge_us_per_recipient``: the per-recipient merge of HTML and text (target < 50 µs).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from newsletter.config import load_settings
from newsletter.issue import load_issue, resolve_issue
from newsletter.links import PersonLinks
from newsletter.per_recipient import merge_values
from newsletter.personalize import merge
from newsletter.render import render_issue

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
RENDER_RUNS = 200
RECIPIENTS = 20_000


def main() -> dict[str, object]:
    settings = load_settings(ROOT / "newsletter.toml")
    path = resolve_issue(SAMPLE, settings)
    for _ in range(5):  # warm caches: templates compiled, CSS parsed once
        render_issue(load_issue(path, settings), settings)

    totals: list[float] = []
    stages: dict[str, list[float]] = {"parse": [], "jinja": [], "mjml": [], "premailer": [], "text": []}
    for _ in range(RENDER_RUNS):
        started = time.perf_counter()
        issue = load_issue(path, settings)
        parsed = time.perf_counter()
        rendered = render_issue(issue, settings)
        totals.append(time.perf_counter() - started)
        stages["parse"].append(parsed - started)
        for name in ("jinja", "mjml", "premailer", "text"):
            stages[name].append(rendered.timings[name])
    render_ms = statistics.median(totals) * 1000
    stage_ms = {name: statistics.median(values) * 1000 for name, values in stages.items()}
    stage_total = sum(stage_ms.values())
    share = {name: round(value / stage_total * 100, 1) for name, value in stage_ms.items()}

    values = [
        merge_values(
            settings,
            email=f"person{n}@example.com",
            name=f"Person {n} & Søn <{n}>" if n % 3 else None,
            lang="da",
            links=PersonLinks(
                settings.url(f"u/token-{n:08d}-abcdefghijklmnopqrstuvwxyz"),
                settings.url(f"preferences/token-{n:08d}"),
            ),
            issue=SAMPLE,
        )
        for n in range(RECIPIENTS)
    ]
    merge(rendered.html, rendered.text, values[0])  # split once (cached), as a send does
    started = time.perf_counter()
    for recipient in values:
        merge(rendered.html, rendered.text, recipient)
    merge_us = (time.perf_counter() - started) / RECIPIENTS * 1_000_000

    figures: dict[str, object] = {
        "render_ms": round(render_ms, 2),
        "render_ms_p90": round(sorted(totals)[int(len(totals) * 0.9)] * 1000, 2),
        "render_target_ms": 25,
        "stage_ms": {name: round(value, 3) for name, value in stage_ms.items()},
        "stage_share_percent": share,
        "merge_us_per_recipient": round(merge_us, 2),
        "merge_target_us": 50,
        "html_bytes": len(rendered.html.encode()),
        "recipients": RECIPIENTS,
    }
    print(f"full render of {SAMPLE}: {render_ms:.2f} ms median (target < 25 ms)")
    print("  share: " + ", ".join(f"{name} {value}%" for name, value in share.items()))
    print(f"per-recipient merge: {merge_us:.2f} µs (target < 50 µs), HTML {figures['html_bytes']} bytes")
    return figures
