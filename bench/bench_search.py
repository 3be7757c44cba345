"""The workspace's subscriber search at 100,000 subscribers, on SQLite and (when named) PostgreSQL.

Seeds 100,000 subscribers with Danish names straight into the schema's
tables (executemany: seconds, not the import's checks), every one on list
``stor`` and every tenth also on ``lille``, then times
:func:`newsletter.store.search.search_subscribers` — the count and the page
of 50 that /admin/subscribers shows — for typical searches: a surname many
people share, a rare address part, a name part with ø (SQLite's GLOB path),
two letters (too short for PostgreSQL's trigram index), no text at all (first
and last page), and the same within a list.

Each search runs once for a warm-up and then 7 times, the searches taking
turns round by round; figures are min/median/max in milliseconds. The
README's table shows the searches in :data:`TABLE_SEARCHES`; the results
file holds them all.
With ``NEWSLETTER_TEST_DATABASE_URL`` set to a PostgreSQL server, the same
searches run on a throwaway database there. A search stops counting at
1,000 matches (``MATCH_LIMIT``), so "matches" is at most that.

Run: ``.venv/bin/python -m bench search``
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, insert, select, text

from bench.measure import Results, Row, interleave, seconds_of
from bench.seeding import FIRST_NAMES, LAST_NAMES, PG_ENV, ROWS, throwaway_database
from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.lists import create_list, utcnow
from newsletter.store.schema import memberships, new_link_key, subscribers
from newsletter.store.search import search_subscribers

RUNS = 7
ASCII_LAST = {"Ærø": "aeroe", "Løvstrøm": "loevstroem", "Østergaard": "oestergaard", "Bøgh": "boegh"}
# (label, search text, within this list (None: every subscriber), page): "last" is the last page.
# Lists of 10,000 in a table of 100,000 are PostgreSQL's slow case: its planner takes ILIKE for
# cheap and reads the whole table rather than the list's members (see docs/workspace.md).
SEARCHES: tuple[tuple[str, str, str | None, int | str], ...] = (
    ("common surname 'hansen' (1 in 8)", "hansen", None, 1),
    ("rare address part 'person99999'", "person99999", None, 1),
    ("name part with ø 'øster'", "øster", None, 1),
    ("two letters 'je'", "je", None, 1),
    ("everyone, first page", "", None, 1),
    ("everyone, last page (the 20th)", "", None, "last"),
    ("list of 100,000, 'person99999'", "person99999", "stor", 1),
    ("list of 10,000, 'hansen'", "hansen", "lille", 1),
    ("list of 10,000, 'je'", "je", "lille", 1),
    ("list of 10,000, everyone", "", "lille", 1),
)
# The broad and the narrow search, the two slow shapes (the last page, two letters) and PostgreSQL's
# slow case, a list of 10,000.
TABLE_SEARCHES = (
    "common surname 'hansen' (1 in 8)",
    "rare address part 'person99999'",
    "two letters 'je'",
    "everyone, last page (the 20th)",
    "list of 10,000, 'hansen'",
)


def seed(engine: Engine, rows: int = ROWS, seed_value: int = 11) -> dict[str, int]:
    """``rows`` subscribers on list 'stor', every tenth also on 'lille'; returns the lists' ids."""
    chooser = random.Random(seed_value)
    now = utcnow()
    with engine.begin() as conn:
        big = create_list(conn, "stor", "Benchmark stor")
        small = create_list(conn, "lille", "Benchmark lille")
        people = []
        for number in range(rows):
            last = chooser.choice(LAST_NAMES)
            address = f"person{number}.{ASCII_LAST.get(last, last.lower())}@firma{number % 997}.dk"
            people.append(
                {
                    "email": address,
                    "email_hash": email_hash(address),
                    "name": f"{chooser.choice(FIRST_NAMES)} {last}",
                    "language": "da",
                    "attributes": {},
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    "link_key": new_link_key(),
                    "v1_links": False,
                }
            )
        conn.execute(insert(subscribers), people)
        ids = list(conn.execute(select(subscribers.c.id).order_by(subscribers.c.id)).scalars())
        member = {"state": "subscribed", "created_at": now, "updated_at": now}
        conn.execute(insert(memberships), [{"subscriber_id": i, "list_id": big.id, **member} for i in ids])
        conn.execute(
            insert(memberships), [{"subscriber_id": i, "list_id": small.id, **member} for i in ids[::10]]
        )
    if engine.dialect.name == "postgresql":  # as autovacuum would soon: the planner needs statistics
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return {"stor": big.id, "lille": small.id}


def measure(engine: Engine, list_ids: dict[str, int]) -> dict[str, Any]:
    """Each search's spread in ms over :data:`RUNS` rounds (every search once a round) and its matches."""
    contenders: dict[str, Callable[[], float]] = {}
    matches: dict[str, int] = {}
    with engine.connect() as conn:
        for label, query, list_name, page in SEARCHES:
            list_id = list_ids[list_name] if list_name else None
            number = 10_000 if page == "last" else int(page)

            def run(query: str = query, list_id: int | None = list_id, number: int = number) -> Any:
                return search_subscribers(conn, query, list_id=list_id, page=number)

            matches[label] = run().total  # the warm-up
            contenders[label] = lambda run=run: seconds_of(run) * 1000
        spreads = interleave(RUNS, contenders)
    return {label: {"ms": spread, "matches": matches[label]} for label, spread in spreads.items()}


def rows(database: str, figures: dict[str, Any]) -> list[Row]:
    """The README's rows for one database: the searches in :data:`TABLE_SEARCHES`."""
    return [
        Row(
            work=f"subscriber search at {ROWS:,} ({database}), count + page of 50: {label}",
            unit="ms",
            project=figures[label]["ms"],
            note=f"{figures[label]['matches']:,} {'match' if figures[label]['matches'] == 1 else 'matches'}",
        )
        for label in TABLE_SEARCHES
    ]


def plain(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` with each spread as a dict, for the results file."""
    return {
        label: {**value, "ms": asdict(value["ms"])} if isinstance(value, dict) else value
        for label, value in figures.items()
    }


def _sqlite() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        engine = db.open_engine(f"sqlite:///{folder}/bench.db")
        started = time.perf_counter()
        list_ids = seed(engine)
        seeded = time.perf_counter() - started
        figures = {"seed_seconds": round(seeded, 1), **measure(engine, list_ids)}
        db.dispose_all()
    return figures


def _postgresql() -> dict[str, Any] | None:
    server = os.environ.get(PG_ENV)
    if not server:
        return None
    with throwaway_database(server) as url:
        engine = db.open_engine(url)
        started = time.perf_counter()
        list_ids = seed(engine)
        seeded = time.perf_counter() - started
        return {"seed_seconds": round(seeded, 1), **measure(engine, list_ids)}


def main() -> Results:
    measured = {"sqlite": _sqlite(), "postgresql": _postgresql()}
    results = Results("search", figures={"subscribers": ROWS})
    for database, figures in measured.items():
        if figures is None:
            results.figures[database] = f"not measured: set {PG_ENV} to a server URL"
            print(f"  {database}: {results.figures[database]}")
            continue
        results.figures[database] = plain(figures)
        for row in rows("SQLite" if database == "sqlite" else "PostgreSQL", figures):
            results.add(row)
        for label, value in figures.items():
            if label not in TABLE_SEARCHES and isinstance(value, dict):
                print(f"    {database}, {label}: {value['ms'].shown('ms')}, {value['matches']} matches")
    return results


if __name__ == "__main__":
    main()
