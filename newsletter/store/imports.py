"""Import subscribers from a CSV file or an Excel workbook: the rules, the chunks, the summary.

Reading the file (CSV or .xlsx, encodings, separators, headers, bad rows) is
:mod:`newsletter.store.csv_reader`. :func:`preview_sheet` reads a file the
same way without touching the database, for a look before importing.

Everything that makes the file unusable as a whole (missing, unreadable, not
text, no email column) is found before anything is written. Then rows are
applied in chunks (1000 by default), each committed in its own transaction.
A crash or a database failure loses at most the chunk in flight, and the
error says which line was committed last. Because applying a row twice
changes nothing, the recovery is simply to run the same import again.

Rules per row (the same as :func:`newsletter.store.subscribers.subscribe`):
invalid rows are reported with their line number and reason; an address that
unsubscribed from the list or is suppressed is skipped, unless ``resubscribe``
is given with a consent note, which is then logged; a second row for the same
address (differing only in case or spaces) is reported as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, literal, select
from sqlalchemy.exc import SQLAlchemyError

from newsletter.errors import StoreError
from newsletter.store.csv_reader import ENCODING_NAMES, ROW_TEXTS, CsvRow, RowProblem, SheetInfo, read_rows
from newsletter.store.lists import ListRow, get_list, utcnow
from newsletter.store.schema import consent_log, memberships, subscribers, suppressions
from newsletter.store.subscribers import check_method, refusal_reason
from newsletter.wording import Wording

__all__ = [
    "ENCODING_NAMES",
    "ImportSummary",
    "PreviewRow",
    "RowProblem",
    "SheetPreview",
    "import_csv",
    "preview_sheet",
]


@dataclass
class ImportSummary(SheetInfo):
    """The outcome of an import, for the user and for resuming after a failure."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    resubscribed: int = 0
    skipped_suppressed: int = 0
    skipped_unsubscribed: int = 0
    duplicates: list[RowProblem] = field(default_factory=list)
    last_committed_line: int = 0
    dry_run: bool = False

    @property
    def rows_done(self) -> int:
        """Distinct addresses applied so far, whatever became of each."""
        return (
            self.added + self.updated + self.unchanged + self.skipped_suppressed + self.skipped_unsubscribed
        )

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "skipped-suppressed": self.skipped_suppressed,
            "skipped-unsubscribed": self.skipped_unsubscribed,
            "duplicates": len(self.duplicates),
        }

    def describe(self) -> str:
        parts = ", ".join(f"{count} {label}" for label, count in self.counts.items())
        resubscribed = f" ({self.resubscribed} resubscribed with consent note)" if self.resubscribed else ""
        prefix = "dry run, nothing saved: " if self.dry_run else ""
        return f"{prefix}{parts}{resubscribed}"


@dataclass
class _Options:
    the_list: ListRow
    resubscribe: bool
    consent_note: str
    method: str
    source: str


def _apply_chunk(conn: Connection, chunk: list[CsvRow], options: _Options, summary: ImportSummary) -> None:
    """Apply one chunk with a handful of set-based statements (not several per row)."""
    hashes = [candidate.hashed for candidate in chunk]
    existing = {
        row.email_hash: row
        for row in conn.execute(
            select(
                subscribers.c.id,
                subscribers.c.email_hash,
                subscribers.c.name,
                subscribers.c.language,
                subscribers.c.attributes,
                subscribers.c.status,
            ).where(subscribers.c.email_hash.in_(hashes))
        )
    }
    suppressed = dict(
        conn.execute(
            select(suppressions.c.email_hash, suppressions.c.reason).where(
                suppressions.c.email_hash.in_(hashes)
            )
        ).all()
    )
    ids = [row.id for row in existing.values()]
    states: dict[int, str] = {}
    if ids:
        states = dict(
            conn.execute(
                select(memberships.c.subscriber_id, memberships.c.state).where(
                    memberships.c.list_id == options.the_list.id, memberships.c.subscriber_id.in_(ids)
                )
            ).all()
        )
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    profile_updates: list[dict[str, Any]] = []
    membership_inserts: list[dict[str, Any]] = []
    membership_updates: list[dict[str, Any]] = []
    consents: list[tuple[str, CsvRow, str]] = []  # (hash, row, action)
    lifted: list[str] = []

    for candidate in chunk:
        current = existing.get(candidate.hashed)
        state = states.get(current.id) if current is not None else None
        refused = refusal_reason(
            suppressed.get(candidate.hashed), current.status if current is not None else None, state
        )
        if refused and not options.resubscribe:
            if state == "unsubscribed" and not suppressed.get(candidate.hashed):
                summary.skipped_unsubscribed += 1
            else:
                summary.skipped_suppressed += 1
            continue
        if refused:
            lifted.append(candidate.hashed)
            summary.resubscribed += 1
        if current is None:
            new_rows.append(
                {
                    "email": candidate.address,
                    "email_hash": candidate.hashed,
                    "name": candidate.name,
                    "language": candidate.language or options.the_list.language,
                    "attributes": candidate.attributes,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            consents.append((candidate.hashed, candidate, "resubscribe" if refused else "subscribe"))
            summary.added += 1
            continue
        changes = _profile_changes(current, candidate)
        if refused and current.status != "active":
            changes["status"] = "active"
        if changes:
            profile_updates.append(
                {"target_id": current.id, **_full_profile(current, changes), "updated_at": now}
            )
        if state != "subscribed":
            target = {"subscriber_id": current.id, "list_id": options.the_list.id, "state": "subscribed"}
            if state is None:
                membership_inserts.append({**target, "created_at": now, "updated_at": now})
            else:
                membership_updates.append({"target_id": current.id, "updated_at": now})
        if state != "subscribed" or refused:
            # A lifted suppression is renewed consent even when the membership never changed.
            consents.append((candidate.hashed, candidate, "resubscribe" if refused else "subscribe"))
        if state is None:
            summary.added += 1
        elif changes or state != "subscribed" or refused:
            summary.updated += 1
        else:
            summary.unchanged += 1

    if lifted:
        conn.execute(suppressions.delete().where(suppressions.c.email_hash.in_(lifted)))
    id_of = {row.email_hash: row.id for row in existing.values()}
    if new_rows:
        # Plain executemany and one read-back is much cheaper than RETURNING row by row;
        # the memberships are then written by one INSERT … SELECT.
        conn.execute(subscribers.insert(), new_rows)
        new_hashes = [row["email_hash"] for row in new_rows]
        fresh = select(subscribers.c.id, subscribers.c.email_hash).where(
            subscribers.c.email_hash.in_(new_hashes)
        )
        id_of.update({hashed: new_id for new_id, hashed in conn.execute(fresh).all()})
        conn.execute(
            memberships.insert().from_select(
                ["subscriber_id", "list_id", "state", "created_at", "updated_at"],
                select(
                    subscribers.c.id,
                    literal(options.the_list.id),
                    literal("subscribed"),
                    literal(now, memberships.c.created_at.type),
                    literal(now, memberships.c.updated_at.type),
                ).where(subscribers.c.email_hash.in_(new_hashes)),
            )
        )
    if profile_updates:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == bindparam("target_id"))
            .values(
                name=bindparam("name"),
                language=bindparam("language"),
                attributes=bindparam("attributes"),
                status=bindparam("status"),
                updated_at=bindparam("updated_at"),
            ),
            profile_updates,
        )
    if membership_inserts:
        conn.execute(memberships.insert(), membership_inserts)
    if membership_updates:
        conn.execute(
            memberships.update()
            .where(
                memberships.c.subscriber_id == bindparam("target_id"),
                memberships.c.list_id == options.the_list.id,
            )
            .values(
                state="subscribed",
                updated_at=bindparam("updated_at"),
                unsubscribed_at=None,
                unsubscribe_source=None,
            ),
            membership_updates,
        )
    if consents:
        conn.execute(
            consent_log.insert(),
            [
                {
                    "subscriber_id": id_of[hashed],
                    "list_id": options.the_list.id,
                    "action": action,
                    "method": options.method,
                    "source": f"{options.source} line {candidate.line}",
                    "consent_text": options.consent_note or options.the_list.consent_text,
                    "ip": None,
                    "at": now,
                }
                for hashed, candidate, action in consents
            ],
        )


def _profile_changes(current: Any, candidate: CsvRow) -> dict[str, Any]:
    """Fields the row changes; empty cells never erase what is stored."""
    changes: dict[str, Any] = {}
    if candidate.name and candidate.name != current.name:
        changes["name"] = candidate.name
    if candidate.language and candidate.language != current.language:
        changes["language"] = candidate.language
    stored = dict(current.attributes or {})
    merged = {**stored, **candidate.attributes}
    if merged != stored:
        changes["attributes"] = merged
    return changes


def _full_profile(current: Any, changes: dict[str, Any]) -> dict[str, Any]:
    # One executemany statement updates every column, so unchanged ones carry their stored value.
    profile = {
        "name": current.name,
        "language": current.language,
        "attributes": dict(current.attributes or {}),
        "status": current.status,
    }
    return {**profile, **changes}


def import_csv(
    engine: Engine,
    path: Path,
    list_name: str,
    *,
    resubscribe: bool = False,
    consent_note: str = "",
    method: str = "import",
    chunk_size: int = 1000,
    dry_run: bool = False,
    progress: Callable[[ImportSummary], None] | None = None,
    file_name: str | None = None,
) -> ImportSummary:
    """Import ``path`` into ``list_name``; see the module docstring for the rules.

    ``file_name`` is how messages and the consent log name the file when
    ``path`` is a copy of it (an upload kept aside); by default, ``path``.
    ``progress`` is called after each committed chunk.
    """
    check_method(method)
    if resubscribe and not consent_note.strip():
        raise StoreError("--resubscribe needs --consent-note saying when and how these people agreed again")
    summary = ImportSummary(path=file_name or str(path), dry_run=dry_run)
    with engine.connect() as conn:
        the_list = get_list(conn, list_name)
    source = f"import {Path(file_name).name if file_name else path.name}"
    options = _Options(the_list, resubscribe, consent_note.strip(), method, source)
    rows = read_rows(path, summary)
    first_lines: dict[str, int] = {}
    # A dry run applies everything in one transaction and rolls it back.
    dry_conn = engine.connect() if dry_run else None
    dry_transaction = dry_conn.begin() if dry_conn is not None else None
    try:
        while True:
            chunk = _next_chunk(rows, chunk_size, first_lines, summary)
            if not chunk:
                break
            try:
                if dry_conn is not None:
                    _apply_chunk(dry_conn, chunk, options, summary)
                else:
                    with engine.begin() as conn:
                        _widen_cache(conn)
                        _apply_chunk(conn, chunk, options, summary)
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"{summary.path}:{chunk[0].line}: the database failed ({type(getattr(exc, 'orig', None) or exc).__name__}); rows up "
                    f"to line {summary.last_committed_line} are saved — run the same import again to "
                    "finish (saved rows will count as unchanged)"
                ) from exc
            summary.last_committed_line = chunk[-1].line
            if progress is not None:
                progress(summary)
    finally:
        if dry_transaction is not None and dry_conn is not None:
            dry_transaction.rollback()
            dry_conn.close()
    return summary


def _widen_cache(conn: Connection) -> None:
    """SQLite: 64 MB of page cache while importing, so the unique hash index stays in memory."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-65536")


def _next_chunk(
    rows: Iterator[CsvRow], size: int, first_lines: dict[str, int], summary: ImportSummary
) -> list[CsvRow]:
    chunk: list[CsvRow] = []
    for candidate in rows:
        first = first_lines.get(candidate.hashed)
        if first is not None:
            same = ROW_TEXTS("same-address", first=first, address=candidate.address)
            summary.duplicates.append(RowProblem.of(candidate.line, same))
            continue
        first_lines[candidate.hashed] = candidate.line
        chunk.append(candidate)
        if len(chunk) >= size:
            break
    return chunk


@dataclass(frozen=True)
class PreviewRow:
    """A row of the file as the import will take it: the person, or why the row is left out."""

    line: int
    row: CsvRow | None
    problem: str = ""  # the reason it is rejected or a duplicate; "" when it is imported
    wording: Wording | None = field(default=None, compare=False)  # the same reason as a code and values


@dataclass
class SheetPreview:
    """What reading a file found, before anything is written."""

    info: ImportSummary  # kind, encoding, separator, sheet, columns; every rejected row and duplicate
    first_rows: list[PreviewRow]
    rows: int  # distinct addresses an import would apply

    @property
    def problems_shown(self) -> int:
        return sum(1 for row in self.first_rows if row.problem)


def preview_sheet(path: Path, rows: int = 10, *, file_name: str | None = None) -> SheetPreview:
    """Read ``path`` as :func:`import_csv` would, writing nothing: its columns and first ``rows`` rows.

    Raises :class:`~newsletter.errors.ImportFileError` when the file cannot be used, as the import would.
    """
    summary = ImportSummary(path=file_name or str(path), dry_run=True)
    reading = read_rows(path, summary)
    first_lines: dict[str, int] = {}
    first: list[CsvRow] = []
    applied = 0
    while chunk := _next_chunk(reading, 1000, first_lines, summary):
        first += chunk[: max(0, rows - len(first))]
        applied += len(chunk)
    # The first rows in the file's order, whether imported, rejected or repeated.
    shown = [PreviewRow(row.line, row) for row in first] + [
        PreviewRow(problem.line, None, problem.reason, problem.wording)
        for problem in summary.rejected + summary.duplicates
    ]
    shown.sort(key=lambda row: row.line)
    return SheetPreview(summary, shown[:rows], applied)
