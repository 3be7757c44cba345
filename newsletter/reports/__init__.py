"""``newsletter report``: what happened after a send — from the ledger and the providers' events.

- :mod:`.figures` counts, rates, the bounce and complaint lists, the timelines and the
  per-domain outcomes, each one set-based SQL query (GROUP BY), never a loop over rows;
- :mod:`.output`  the JSON contract (versioned, documented in docs/reports.md), text and CSV;
- :mod:`.charts`  the three charts as SVG (matplotlib, imported only when a chart is drawn);
- :mod:`.page`    the small self-contained HTML report ``--out DIR`` writes.

Apart from :mod:`newsletter.send.report`, which is ``newsletter status``: the ledger's states
while a send runs. This package reads the same ledger afterwards, together with the events.
"""
