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
    bars = axes.bar(minutes, counts, width=1 / 1440 * 0.9, color=COLOURS["sent"], label=words["messages"])
    for index, bar in enumerate(bars):
        bar.set_gid(f"send-minute-{index}")  # an id in the SVG: what each shape shows
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
            (line,) = axes.plot(hours, values, label=words[kind], color=COLOURS[kind], linewidth=1.5)
            line.set_gid(f"events-{kind}")
    axes.set_title(words["events_chart"])
    axes.set_xlabel(words["hour"])
    axes.set_ylabel(words["events"])
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper right", frameon=False)
    _time_axis(axes)
    return _svg(figure)


def domains_chart(report: IssueReport, lang: str) -> str:
    """Delivered, bounced and complained as shares of what was sent, per domain (the largest first).

    Shares side by side rather than stacked counts: one message can be delivered and then be
    reported as spam, so the outcomes overlap and would not add up to what was sent.
    """
    words = report_words(lang)
    plt = _pyplot()
    shown = list(reversed(report.domains[:CHART_DOMAINS]))
    figure, axes = plt.subplots(figsize=(7, 1.3 + 0.45 * max(len(shown), 1)))
    names = [row.domain for row in shown]
    kinds = ("delivered", "bounced", "complained")
    height = 0.8 / len(kinds)
    for offset, kind in enumerate(kinds):
        shares = [100 * row.counts[kind] / row.counts["sent"] if row.counts["sent"] else 0 for row in shown]
        positions = [index + (1 - offset) * height for index in range(len(shown))]
        bars = axes.barh(positions, shares, height=height, color=COLOURS[kind], label=words[kind])
        for name, bar in zip(names, bars, strict=True):
            bar.set_gid(f"domain-{kind}-{name}")
    axes.set_yticks(range(len(shown)), names)
    axes.set_xlim(0, 100)
    axes.set_title(words["domains_chart"])
    axes.set_xlabel(words["share_of_sent"])
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False, ncols=len(kinds))
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
