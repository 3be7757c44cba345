"""The report's three charts as SVG: the send's pace, events over time, outcomes per domain.

matplotlib is imported here, inside the functions that draw, and only then: ``newsletter
--help``, ``newsletter report`` without ``--out`` and the web service's start never load it
(about half a second). The Agg backend draws without any display. The SVG is deterministic
(no date, a fixed id salt), keeps its text as text (searchable, small), and starts with
``<svg`` so it can be written to a file or placed inline in HTML.
"""

from __future__ import annotations

import io
from typing import Any

from newsletter.reports.figures import IssueReport
from newsletter.reports.words import report_words

# Domains drawn in the per-domain chart; the tables and JSON have them all.
CHART_DOMAINS = 10
# Colours that stay apart for the common colour-vision deficiencies (Okabe–Ito).
COLOURS = {
    "sent": "#0072B2",
    "delivered": "#009E73",
    "deferred": "#E69F00",
    "bounced": "#D55E00",
    "complained": "#CC79A7",
    "unsubscribed": "#56B4E9",
    "opened": "#F0E442",
    "clicked": "#000000",
    "no_news": "#BBBBBB",
}
CHART_NAMES = ("send", "events", "domains")


def _pyplot() -> Any:
    # Imported here on purpose (see the module docstring); the backend is chosen before pyplot loads.
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.hashsalt": "newsletter-report", "svg.fonttype": "none", "font.size": 9})
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: Any) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def send_chart(report: IssueReport, lang: str) -> str:
    """Messages handed to the provider per minute."""
    words = report_words(lang)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 2.6))
    minutes = [minute for minute, _ in report.send_timeline]
    counts = [count for _, count in report.send_timeline]
    axes.bar(minutes, counts, width=1 / 1440 * 0.9, color=COLOURS["sent"], label=words["messages"])
    axes.set_title(words["send_chart"])
    axes.set_xlabel(words["minute"])
    axes.set_ylabel(words["messages"])
    _time_axis(axes)
    return _svg(figure)


def events_chart(report: IssueReport, lang: str) -> str:
    """Events per hour and kind over the first days."""
    words = report_words(lang)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 2.8))
    hours = [row.hour for row in report.event_timeline]
    kinds = list(report.event_timeline[0].counts) if report.event_timeline else []
    for kind in kinds:
        values = [row.counts[kind] for row in report.event_timeline]
        if any(values):
            axes.plot(hours, values, label=words[kind], color=COLOURS[kind], linewidth=1.5)
    axes.set_title(words["events_chart"])
    axes.set_xlabel(words["hour"])
    axes.set_ylabel(words["events"])
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper right", frameon=False)
    _time_axis(axes)
    return _svg(figure)


def domains_chart(report: IssueReport, lang: str) -> str:
    """Delivered, bounced, complained and no news yet, for the domains with the most messages."""
    words = report_words(lang)
    plt = _pyplot()
    shown = list(reversed(report.domains[:CHART_DOMAINS]))
    figure, axes = plt.subplots(figsize=(7, 0.9 + 0.32 * max(len(shown), 1)))
    names = [row.domain for row in shown]
    left = [0] * len(shown)
    parts = {
        "delivered": [row.counts["delivered"] for row in shown],
        "bounced": [row.counts["bounced"] for row in shown],
        "complained": [row.counts["complained"] for row in shown],
        "no_news": [
            max(row.counts["sent"] - row.counts["delivered"] - row.counts["bounced"], 0) for row in shown
        ],
    }
    for kind, values in parts.items():
        axes.barh(names, values, left=left, color=COLOURS[kind], label=words[kind])
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_title(words["domains_chart"])
    axes.set_xlabel(words["messages"])
    axes.legend(loc="lower right", frameon=False, ncols=2)
    return _svg(figure)


def _time_axis(axes: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def all_charts(report: IssueReport, lang: str) -> dict[str, str]:
    """Every chart by name (:data:`CHART_NAMES`)."""
    return {
        "send": send_chart(report, lang),
        "events": events_chart(report, lang),
        "domains": domains_chart(report, lang),
    }


def chart(report: IssueReport, name: str, lang: str) -> str:
    """One chart by name; KeyError for a name not in :data:`CHART_NAMES`."""
    draw = {"send": send_chart, "events": events_chart, "domains": domains_chart}[name]
    return draw(report, lang)
