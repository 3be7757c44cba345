"""The workspace as its users feel it: typing → preview updated, and every page with 100,000 subscribers.

Both parts talk to a real ``newsletter serve`` process (uvicorn, one worker)
on a loopback port, through an httpx client signed in the way a browser is
(the sign-in form, its CSRF token, the session cookie).

**Typing → preview.** The editor (``editor.js``) posts the whole text to
``/admin/issues/SLUG/preview`` after each pause in typing and points both
frames at the document named in the answer. Here an author types a sentence
into the real sample issue (BusinessBallerup's year-end greeting), one
character per edit, and each edit is timed from the POST to the rendered
email fetched from the frame's address — what the author waits for after the
editor's 300 ms pause. Interleaved with each edit, in this process, the same
text goes through the bare renderer (parse + render, no checks, no HTTP) and
through the server's own preview function (render + checks, no HTTP): the
ratio says what the checks and the web round trip add. Target: p95 < 300 ms.

**Pages with 100,000 subscribers.** A database (SQLite, and PostgreSQL when
one answers, in a database of its own that is dropped afterwards) holds a
list of 100,000 subscribed people — 3 % of them bounced, complained or
suppressed — a finished send of the sample issue to all of them (100,000
ledger rows) and 100,000 audit entries; the issues folder holds 150 issues.
Every workspace page in :data:`PAGES` whose path the workspace's route table
answers is fetched in rounds (each round asks every page once, so the
machine's noise falls on all pages alike). Target: p95 < 100 ms.

Beside the wall-clock times each figure carries the server's own CPU time
(``/proc``, whole clock ticks, so a mean over the requests): on a machine
shared with other work that is what a page costs, while the wall clock also
counts waiting for a core. The load average at the start and end says how
shared the machine was.

Rows for the README's table: typing → preview (min/median/max of the edits,
the bare render as its peer) and, per database, the pages in
:data:`TABLE_PAGES`; the results file holds every page's figures.
"""

from __future__ import annotations

import html
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, create_engine, select, text, update
from starlette.routing import Match

from bench.measure import Results, Row, Spread
from bench.seeding import PG_ENV, bulk_insert, seed_sent_list, throwaway_database
from newsletter.config import Settings, load_settings
from newsletter.issue import parse_issue
from newsletter.render import render_issue
from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.db import open_engine
from newsletter.store.lists import utcnow
from newsletter.store.schema import audit_log, subscribers, suppressions
from newsletter.web import admin
from newsletter.web.admin.editor import editor_preview
from newsletter.web.admin.previews import PreviewStore
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import set_password
from tests.conftest import write_project
from tests.web.serving import cpu_seconds, server_process

SECRET = "bench-only-signing-key-0123456789abcdef"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

SAMPLE = "2019-12-20-tak-for-et-godt-2019"  # the holiday greeting: typed into, and sent to the big list
DRAFT = "2020-03-02-nyt-fra-erhvervsservice"  # not sent: its send page counts the whole list
ANCHOR = "Vi ser derfor frem til et 2020 med nye spændende udfordringer."
TYPED = " Tak til alle jer, der kom forbi standen på erhvervsmessen i november – vi ses igen i 2020!"
EDITS = 100
TYPING_TARGET_MS = 300.0

SUBSCRIBERS = 100_000
AUDIT_ENTRIES = 100_000
BIG_LIST = "stor"
ISSUE_FILES = 150  # in the issues folder: three years of a weekly newsletter
ROUNDS = 30  # requests per page (after WARM_UP rounds)
WARM_UP = 3
PAGE_TARGET_MS = 100.0
ADMIN = "chef@ballerup.dk"
PASSWORD = "bench password for the workspace"

# Every workspace page worth timing, by name. A page is measured when the workspace answers its path
# (see :func:`existing_pages`), so a page that lands later is measured from then on with no change
# here. ``{subscriber}`` is a subscriber in the middle of the big list.
PAGES: dict[str, str] = {
    "issues": "/admin/",
    "new issue": "/admin/issues/new",
    "edit (sample issue)": f"/admin/issues/{SAMPLE}/edit",
    "test and send": f"/admin/issues/{DRAFT}/send",
    "test and send, 100k list chosen": f"/admin/issues/{DRAFT}/send?list={BIG_LIST}",
    "test and send, list it was sent to": f"/admin/issues/{SAMPLE}/send?list={BIG_LIST}",
    "progress of the 100k send": f"/admin/issues/{SAMPLE}/sends/{BIG_LIST}",
    "lists": "/admin/lists",
    "subscribers, search": "/admin/subscribers?q=person54321",
    "subscribers, broad search": "/admin/subscribers?q=example.com",
    "subscriber": "/admin/subscribers/{subscriber}",
    "users": "/admin/users",
    "audit": "/admin/audit",
    "audit, one user": "/admin/audit?user={admin}",
    "audit, rare action": "/admin/audit?action=list.deleted",
    "account": "/admin/account",
}
# The pages the README's table shows (the results file holds every page): the busiest and the slowest.
TABLE_PAGES = (
    "issues",
    "edit (sample issue)",
    "test and send, 100k list chosen",
    "test and send, list it was sent to",
    "progress of the 100k send",
    "lists",
    "subscribers, search",
    "audit",
)


# --- measuring -----------------------------------------------------------------------------------


def summary(samples_ms: list[float]) -> dict[str, float]:
    """min, median, p95 and max of ``samples_ms`` (nearest-rank p95), rounded to 0.1 ms."""
    ordered = sorted(samples_ms)
    rank = max(1, -(-95 * len(ordered) // 100))  # ceil(0.95 n)
    return {
        "min": round(ordered[0], 1),
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[rank - 1], 1),
        "max": round(ordered[-1], 1),
    }


def shown(figures: dict[str, float]) -> str:
    return "  ".join(f"{key} {value:7.1f}" for key, value in figures.items())


def has_get_route(path: str) -> bool:
    """Whether the workspace's route table answers a GET of ``path`` (its query aside)."""
    scope = {"type": "http", "method": "GET", "path": urlsplit(path).path, "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in admin.routes)


def existing_pages(values: dict[str, Any]) -> dict[str, str]:
    """:data:`PAGES` that exist in this version of the workspace, their placeholders filled in."""
    return {name: path.format(**values) for name, path in PAGES.items() if has_get_route(path)}


# --- a project, a server, a signed-in client -----------------------------------------------------


def bench_project(folder: Path, database_url: str) -> Path:
    """The test project (real templates and issues); reached over plain HTTP, so cookies are not Secure."""
    config = write_project(folder, database_url)
    settings_text = config.read_text(encoding="utf-8")
    config.write_text(
        settings_text.replace('base_url = "https://nyhedsbrev.example.org"', 'base_url = "http://127.0.0.1"'),
        encoding="utf-8",
    )
    return config


def add_admin(settings: Settings) -> int:
    """An admin with a chosen password, as ``newsletter users add`` + the set-password link make one."""
    actor = Actor.cli()
    with open_engine(settings.database_url).begin() as conn:
        link = invite_user(conn, ADMIN, "admin", actor=actor, language="da")
        return set_password(conn, link.user, PASSWORD, actor=actor).id


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError("no CSRF field in the page")
    return match.group(1)


@contextmanager
def signed_in_client(url: str) -> Iterator[httpx.Client]:
    """A client signed in through the sign-in form, as a browser is; closed on exit."""
    with httpx.Client(base_url=url, timeout=30) as client:
        form = client.get("/admin/login")
        answer = client.post(
            "/admin/login", data={"csrf_token": csrf_of(form.text), "email": ADMIN, "password": PASSWORD}
        )
        if answer.status_code != 303:
            raise RuntimeError(f"signing in failed: HTTP {answer.status_code}")
        yield client


@contextmanager
def workspace(config: Path) -> Iterator[tuple[httpx.Client, int]]:
    """A signed-in client of a ``newsletter serve`` process for ``config``, and the process id."""
    with (
        server_process(config, {"NEWSLETTER_SECRET_KEY": SECRET}) as (url, process),
        signed_in_client(url) as client,
    ):
        yield client, process.pid


# --- typing → preview ----------------------------------------------------------------------------


def typing_to_preview(folder: Path) -> tuple[dict[str, Any], Row]:
    config = bench_project(folder / "typing", "sqlite:///newsletter.db")
    settings = load_settings(config)
    add_admin(settings)
    path = settings.issues_dir / f"{SAMPLE}.md"
    original = path.read_text(encoding="utf-8")
    if ANCHOR not in original:
        raise RuntimeError(f"the sample issue no longer holds the sentence {ANCHOR!r}")
    store = PreviewStore()
    end_to_end: list[float] = []
    server_function: list[float] = []
    bare: list[float] = []
    server_cpu: list[float] = []
    with workspace(config) as (client, pid):
        page = client.get(f"/admin/issues/{SAMPLE}/edit")
        csrf = csrf_of(page.text)
        for edit in range(EDITS + WARM_UP):
            typed = TYPED[: 1 + edit % len(TYPED)]
            current = original.replace(ANCHOR, ANCHOR + typed)

            cpu_before = cpu_seconds(pid)
            started = time.perf_counter()
            answer = client.post(
                f"/admin/issues/{SAMPLE}/preview",
                data={"csrf_token": csrf, "text": current},
                headers={"Accept": "application/json"},
            )
            preview = answer.json()
            frame = client.get(preview["document"])
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(pid) - cpu_before
            if answer.status_code != 200 or frame.status_code != 200 or not preview["document"]:
                raise RuntimeError(
                    f"edit {edit}: no new preview (HTTP {answer.status_code}/{frame.status_code})"
                )

            started = time.perf_counter()
            render_issue(parse_issue(path, current, settings), settings)
            bare_elapsed = time.perf_counter() - started

            started = time.perf_counter()
            editor_preview(settings, store, 1, path, current)
            function_elapsed = time.perf_counter() - started

            if edit >= WARM_UP:
                end_to_end.append(elapsed * 1000)
                server_cpu.append(cpu * 1000)
                bare.append(bare_elapsed * 1000)
                server_function.append(function_elapsed * 1000)
        last_words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", frame.text)).split())
        if " ".join((ANCHOR + typed).split()) not in last_words:
            raise RuntimeError("the last preview does not show the typed text")
    db.dispose_all()
    figures: dict[str, Any] = {
        "issue": SAMPLE,
        "edits": EDITS,
        "end_to_end_ms": summary(end_to_end),
        # The server's CPU per edit (whole clock ticks, so only the mean means much): what the edit
        # costs the server on a busy machine, where the wall-clock time also counts waiting.
        "server_cpu_ms_mean": round(statistics.fmean(server_cpu), 1),
        "preview_function_in_process_ms": summary(server_function),
        "bare_render_ms": summary(bare),
        "ratio_end_to_end_to_bare_render_median": round(
            statistics.median(end_to_end) / statistics.median(bare), 1
        ),
        "target_p95_ms": TYPING_TARGET_MS,
    }
    figures["meets_target"] = figures["end_to_end_ms"]["p95"] < TYPING_TARGET_MS
    print(f"  typing → preview over HTTP ({EDITS} edits)   {shown(figures['end_to_end_ms'])}")
    print(f"  server CPU per edit, mean: {figures['server_cpu_ms_mean']} ms")
    print(f"  preview function, no HTTP                  {shown(figures['preview_function_in_process_ms'])}")
    print(f"  bare render (parse + render)               {shown(figures['bare_render_ms'])}")
    print(f"  end to end ÷ bare render (medians): ×{figures['ratio_end_to_end_to_bare_render_median']}")
    row = Row(
        work=f"workspace: typing → new preview in the editor ({EDITS} one-character edits to the sample issue, "
        "its POST and the frame's document over HTTP)",
        unit="ms",
        project=Spread.of(end_to_end),
        peer=Spread.of(bare),
        peer_label="parse + render in-process",
        target=f"p95 < {TYPING_TARGET_MS:.0f} ms",
        met=figures["meets_target"],
        note=f"p95 {figures['end_to_end_ms']['p95']:,} ms; the server's CPU {figures['server_cpu_ms_mean']:,} ms an edit",
    )
    return figures, row


# --- pages with 100,000 subscribers --------------------------------------------------------------


def seed_audit(settings: Settings, user_id: int, count: int) -> None:
    """``count`` audit entries over the past year, in one bulk insert (the log is append-only)."""
    now = utcnow()
    actions = ("login.succeeded", "issue.saved", "subscriber.added", "subscriber.unsubscribed", "logout")
    rows = [
        {
            "at": now - timedelta(minutes=5 * (count - number)),
            "user_id": user_id,
            "actor": ADMIN,
            "action": actions[number % len(actions)],
            "subject": str(number),
            "detail": {},
            "ip": "10.0.0.7",
        }
        for number in range(count)
    ]
    with open_engine(settings.database_url).begin() as conn:
        bulk_insert(conn, audit_log, rows)


def seed_barred(engine: Engine) -> int:
    """Make the list look lived-in: 2 % bounced and 0.5 % complained (suppressed, as a provider's
    event leaves them), 0.5 % of active members and 1,000 former addresses suppressed by hand."""
    now = utcnow()
    with engine.begin() as conn:
        people = conn.execute(
            select(subscribers.c.id, subscribers.c.email_hash).order_by(subscribers.c.id)
        ).all()
        bounced = people[::50]
        complained = people[7::200]
        by_hand = [p.email_hash for p in people[13::200]]
        for status, group in (("bounced", bounced), ("complained", complained)):
            conn.execute(
                update(subscribers).where(subscribers.c.id.in_([p.id for p in group])).values(status=status)
            )
        reasons = [(p.email_hash, "bounced") for p in bounced] + [
            (p.email_hash, "complained") for p in complained
        ]
        reasons += [(hashed, "manual") for hashed in by_hand]
        reasons += [(email_hash(f"former{i}@example.com"), "manual") for i in range(1000)]
        bulk_insert(
            conn,
            suppressions,
            [
                {"email_hash": hashed, "reason": reason, "detail": "", "created_at": now}
                for hashed, reason in reasons
            ],
        )
    return len(bounced) + len(complained) + len(by_hand)


def seed_workspace(settings: Settings) -> dict[str, Any]:
    """The big list, its send, the audit log and the admin; the values :data:`PAGES` names."""
    started = time.perf_counter()
    engine = open_engine(settings.database_url)
    seed_sent_list(engine, BIG_LIST, SUBSCRIBERS, SAMPLE)
    barred = seed_barred(engine)
    admin_id = add_admin(settings)
    seed_audit(settings, admin_id, AUDIT_ENTRIES)
    if engine.dialect.name == "postgresql":
        # Autovacuum analyses freshly loaded tables within a minute or so; until then the planner
        # guesses (one row per table) and picks nested loops. Measure the database as it will be.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    with engine.connect() as conn:
        ids = conn.execute(select(subscribers.c.id).order_by(subscribers.c.id)).scalars().all()
    db.dispose_all()
    return {
        "seconds": time.perf_counter() - started,
        "values": {"subscriber": ids[len(ids) // 2], "admin": admin_id},
        "barred": barred,
    }


def time_pages(
    client: httpx.Client, pid: int, pages: dict[str, str]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each page's wall-clock times (ms) over :data:`ROUNDS` rounds, and the server's mean CPU ms for it."""
    samples: dict[str, list[float]] = {name: [] for name in pages}
    cpu: dict[str, float] = dict.fromkeys(pages, 0.0)
    for round_number in range(WARM_UP + ROUNDS):
        for name, path in pages.items():
            cpu_before = cpu_seconds(pid)
            started = time.perf_counter()
            answer = client.get(path)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                raise RuntimeError(f"{name} ({path}): HTTP {answer.status_code}")
            if round_number >= WARM_UP:
                samples[name].append(elapsed * 1000)
                cpu[name] += (cpu_seconds(pid) - cpu_before) * 1000 / ROUNDS
    return samples, cpu


def fill_issues_folder(settings: Settings, count: int) -> None:
    """Three years of weekly issues beside the samples (copies of the draft under later dates)."""
    text = (settings.issues_dir / f"{DRAFT}.md").read_text(encoding="utf-8")
    first = date(2021, 1, 4)
    for week in range(count):
        (settings.issues_dir / f"{first + timedelta(weeks=week)}-uge-{week + 1}.md").write_text(
            text, encoding="utf-8"
        )


def pages_with_subscribers(
    folder: Path, database: str, database_url: str
) -> tuple[dict[str, Any], list[Row]]:
    config = bench_project(folder / database, database_url)
    settings = load_settings(config)
    fill_issues_folder(settings, ISSUE_FILES - 2)
    seeded = seed_workspace(settings)
    pages = existing_pages(seeded["values"])
    with workspace(config) as (client, pid):
        samples, cpu = time_pages(client, pid, pages)
    db.dispose_all()
    figures: dict[str, Any] = {
        "database": database,
        "seed_seconds": round(seeded["seconds"], 1),
        "barred_members": seeded["barred"],
        "issue_files": ISSUE_FILES,
        "requests_per_page": ROUNDS,
        "pages": {
            name: {"path": pages[name], **summary(times), "server_cpu_mean": round(cpu[name], 1)}
            for name, times in samples.items()
        },
        "not_in_this_version": sorted(set(PAGES) - set(pages)),
        "target_p95_ms": PAGE_TARGET_MS,
    }
    figures["missed_target"] = [
        name for name, page in figures["pages"].items() if page["p95"] >= PAGE_TARGET_MS
    ]
    print(
        f"  {database}: seeded {SUBSCRIBERS:,} subscribers, their send and {AUDIT_ENTRIES:,} audit entries "
        f"in {figures['seed_seconds']} s; {ISSUE_FILES} issue files; {ROUNDS} GETs a page"
    )
    for name, page in figures["pages"].items():
        print(f"    {name:38} {shown({k: v for k, v in page.items() if k != 'path'})}")
    shown_name = "SQLite" if database == "sqlite" else "PostgreSQL"
    rows = [
        Row(
            work=f"workspace page with {SUBSCRIBERS:,} subscribers ({shown_name}, {ROUNDS} GETs over HTTP): {name}",
            unit="ms",
            project=Spread.of(samples[name]),
            target=f"p95 < {PAGE_TARGET_MS:.0f} ms",
            met=figures["pages"][name]["p95"] < PAGE_TARGET_MS,
            note=f"p95 {figures['pages'][name]['p95']:,} ms; the server's CPU {figures['pages'][name]['server_cpu_mean']:,} ms",
        )
        for name in TABLE_PAGES
        if name in samples
    ]
    return figures, rows


def postgresql_server() -> str | None:
    """The PostgreSQL server to use: ``$NEWSLETTER_TEST_DATABASE_URL``, else the local one if it answers."""
    server = os.environ.get(PG_ENV) or PG_DEFAULT
    probe = create_engine(server, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any failure means: no PostgreSQL to measure
        return None
    finally:
        probe.dispose()
    return server


def main() -> Results:
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    # Other work on the machine stretches wall-clock times; the server's CPU per request does not.
    results = Results("workspace", figures={"load_average_at_start": round(os.getloadavg()[0], 2)})
    figures = results.figures
    with tempfile.TemporaryDirectory(prefix="nl-bench-workspace-") as name:
        folder = Path(name)
        print("typing → preview")
        figures["typing_to_preview"], typing_row = typing_to_preview(folder)
        print(f"pages with {SUBSCRIBERS:,} subscribers")
        figures["pages_sqlite"], page_rows = pages_with_subscribers(
            folder, "sqlite", "sqlite:///newsletter.db"
        )
        server = postgresql_server()
        if server is None:
            figures["pages_postgresql"] = "not measured: no PostgreSQL answered"
        else:
            with throwaway_database(server) as url:
                figures["pages_postgresql"], postgresql_rows = pages_with_subscribers(
                    folder, "postgresql", url
                )
            page_rows += postgresql_rows
    figures["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(
        f"  load average: {figures['load_average_at_start']} at the start, {figures['load_average_at_end']} at the end"
    )
    for row in [typing_row, *page_rows]:
        results.add(row)
    return results


if __name__ == "__main__":
    main()
