"""Render benchmark: the sample issue rendered once, then merged per recipient.

Rows (run with ``.venv/bin/python -m bench render``):

- *render of the sample issue*: parse + full render of
  ``2019-12-20-tak-for-et-godt-2019`` (~41 KB of HTML), target < 25 ms. Its
  peer is the same render with ``reuse_parsed_css=False``: premailer deriving
  every stylesheet's rules again on each call, as it did before the render
  kept them (:func:`newsletter.render._style_rules`). The two run interleaved,
  render by render, in one process, both after a warm-up.
- *render of a large issue*: the same, on the sample issue with its body's
  sections (from the first ``##`` heading to the closing greeting) repeated
  until the rendered HTML reaches ~200 KB. No target; it shows how the cost
  grows with the issue's length.
- *per-recipient merge (HTML + text)*: filling one recipient's values into
  the rendered sample issue, target < 50 µs; each sample is the mean over
  :data:`RECIPIENTS_PER_ROUND` recipients.

Figures: each stage's share of the render (parse, jinja, mjml, premailer,
text; medians of the stage timings :class:`~newsletter.render.Rendered`
carries), with the rules reused ("after") and derived again ("before"), for
the sample and the large issue.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import Results, Row, Spread, interleave, seconds_of
from newsletter.config import Settings, load_settings
from newsletter.issue import Issue, load_issue, parse_issue, resolve_issue
from newsletter.links import PersonLinks
from newsletter.per_recipient import merge_values
from newsletter.personalize import merge
from newsletter.render import Rendered, render_issue

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
RENDER_RUNS = 200
LARGE_RUNS = 50
LARGE_HTML_BYTES = 200_000
WARM_UP = 5
MERGE_ROUNDS = 5
RECIPIENTS_PER_ROUND = 4_000
RENDER_TARGET_MS = 25.0
MERGE_TARGET_US = 50.0
STAGES = ("parse", "jinja", "mjml", "premailer", "text")
PEER_LABEL = "premailer's parse cache off (before)"


def large_issue_text(text: str, repeats: int) -> str:
    """The issue ``text`` with its body's sections — first ``##`` heading up to the greeting — repeated."""
    start = text.index("\n## ")
    end = text.index("\n::: greeting")
    return text[:end] + text[start:end] * (repeats - 1) + text[end:]


def timed_render(
    parse: Callable[[], Issue], settings: Settings, reuse: bool, stages: dict[str, list[float]]
) -> Callable[[], float]:
    """One sample: parse + render in seconds; each stage's time is appended to ``stages``."""

    def run() -> float:
        started = time.perf_counter()
        issue = parse()
        parsed = time.perf_counter()
        rendered = render_issue(issue, settings, reuse_parsed_css=reuse)
        elapsed = time.perf_counter() - started
        stages["parse"].append(parsed - started)
        for name in STAGES[1:]:
            stages[name].append(rendered.timings[name])
        return elapsed * 1000

    return run


def stage_figures(stages: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Each stage's median in ms and its share of their sum in percent."""
    medians = {name: statistics.median(values) * 1000 for name, values in stages.items()}
    total = sum(medians.values())
    return {
        "ms": {name: round(value, 3) for name, value in medians.items()},
        "share_percent": {name: round(value / total * 100, 1) for name, value in medians.items()},
    }


def compare_renders(
    parse: Callable[[], Issue], settings: Settings, runs: int
) -> tuple[dict[str, Spread], dict[str, Any]]:
    """The render with style rules reused and without, interleaved; their spreads and stage figures."""
    after: dict[str, list[float]] = {name: [] for name in STAGES}
    before: dict[str, list[float]] = {name: [] for name in STAGES}
    for _ in range(WARM_UP):  # templates compiled, stylesheets parsed, rules kept
        render_issue(parse(), settings)
        render_issue(parse(), settings, reuse_parsed_css=False)
    spreads = interleave(
        runs,
        {
            "after": timed_render(parse, settings, True, after),
            "before": timed_render(parse, settings, False, before),
        },
    )
    return spreads, {"after": stage_figures(after), "before": stage_figures(before)}


def render_row(work: str, spreads: dict[str, Spread], target: str = "", note: str = "") -> Row:
    met = spreads["after"].median < RENDER_TARGET_MS if target else None
    return Row(
        work=work,
        unit="ms",
        project=spreads["after"],
        peer=spreads["before"],
        peer_label=PEER_LABEL,
        target=target,
        met=met,
        note=note,
    )


def large_issue(path: Path, settings: Settings) -> tuple[Callable[[], Issue], int, int]:
    """A parser of the sample issue grown to ~:data:`LARGE_HTML_BYTES` of HTML; the repeats and bytes."""
    text = path.read_text(encoding="utf-8")

    def html_bytes(repeats: int) -> int:
        return len(render_issue(parse_issue(path, large_issue_text(text, repeats), settings), settings).html)

    once, twice = html_bytes(1), html_bytes(2)
    repeats = 1 + max(0, round((LARGE_HTML_BYTES - once) / (twice - once)))
    grown = large_issue_text(text, repeats)
    return (lambda: parse_issue(path, grown, settings)), repeats, html_bytes(repeats)


def merge_spread(settings: Settings, rendered: Rendered) -> Spread:
    """Per-recipient merge of the HTML and text parts, in µs (mean over a round of recipients)."""
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
        for n in range(RECIPIENTS_PER_ROUND)
    ]
    merge(rendered.html, rendered.text, values[0])  # split once (cached), as a send does

    def merge_all() -> None:
        for recipient in values:  # each message dropped at once, as a send hands it on
            merge(rendered.html, rendered.text, recipient)

    def one_round() -> float:
        return seconds_of(merge_all) / len(values) * 1_000_000

    return interleave(MERGE_ROUNDS, {"merge": one_round})["merge"]


def main() -> Results:
    settings = load_settings(ROOT / "newsletter.toml")
    path = resolve_issue(SAMPLE, settings)
    results = Results("render")

    rendered = render_issue(load_issue(path, settings), settings)
    sample_bytes = len(rendered.html.encode())
    spreads, sample_stages = compare_renders(lambda: load_issue(path, settings), settings, RENDER_RUNS)
    results.add(
        render_row(
            "render of the sample issue (parse → Jinja2 → MJML → premailer → text)",
            spreads,
            target=f"< {RENDER_TARGET_MS:.0f} ms",
            note=f"{sample_bytes:,} bytes of HTML",
        )
    )

    parse_large, repeats, large_bytes = large_issue(path, settings)
    large_spreads, large_stages = compare_renders(parse_large, settings, LARGE_RUNS)
    results.add(
        render_row(
            f"render of a large issue (the sample's sections ×{repeats}, {large_bytes // 1000} KB of HTML)",
            large_spreads,
        )
    )

    merge_us = merge_spread(settings, rendered)
    results.add(
        Row(
            work="per-recipient merge (HTML + text)",
            unit="µs",
            project=merge_us,
            target=f"< {MERGE_TARGET_US:.0f} µs",
            met=merge_us.median < MERGE_TARGET_US,
            note=f"mean of {RECIPIENTS_PER_ROUND:,} recipients a run",
        )
    )

    results.figures = {
        "sample_html_bytes": sample_bytes,
        "large_issue_repeats": repeats,
        "large_html_bytes": large_bytes,
        "stages_sample": sample_stages,
        "stages_large": large_stages,
    }
    for label, figures in (("sample", sample_stages), ("large", large_stages)):
        for when in ("before", "after"):
            share = figures[when]["share_percent"]
            print(f"  {label}, {when}: " + ", ".join(f"{name} {value}%" for name, value in share.items()))
    return results


if __name__ == "__main__":
    main()
