"""Import subscribers from a CSV file or an Excel workbook: the rules, the chunks, the summary.

Reading the file (CSV or .xlsx, encodings, separators, headers, bad rows) is
:mod:`newsletter.store.csv_reader`. :func:`preview_sheet` reads a file the
same way without touching the database, for a look before importing.

Everything that makes the file unusable as a whole (missing, unreadable, not
text, no email column) is found before anything is written. Then rows are
committed in transactions of 1000 rows at first, twice as many in each next
one up to 16,000 (or a fixed ``chunk_size``), applied in chunks of at most
4,000 rows, so that memory does not grow with the commits. A crash or a
database failure loses at most the commit in flight, and the error says which
line was committed last. Because applying a row twice changes nothing, the
recovery is simply to run the same import again.

Rules per row (the same as :func:`newsletter.store.subscribers.subscribe`):
invalid rows are reported with their line number and reason; an address that
unsubscribed from the list or is suppressed is skipped, unless ``resubscribe``
is given with a consent note, which is then logged; a second row for the same
address (differing only in case or spaces) is reported as a duplicate.

A chunk costs a handful of statements, not several per row: one look-up of
who among its addresses is known, a member or suppressed; the rules applied
row by row in Python; then new people, new memberships, consent rows, profile
changes, memberships subscribed again and lifted suppressions are one statement
each (:mod:`newsletter.store.bulk`). The rows written are the ones the one-by-one
functions write.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Delete,
    Engine,
    Integer,
    MetaData,
    Select,
    Table,
    Update,
    bindparam,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from newsletter.errors import StoreError
from newsletter.store.bulk import (
    given_values,
    insert_rows,
    insert_rows_with_ids,
    join_each,
    json_text,
    listed,
    one_of,
    update_rows,
)
from newsletter.store.csv_reader import ENCODING_NAMES, ROW_TEXTS, CsvRow, RowProblem, SheetInfo, read_rows
from newsletter.store.lists import ListRow, get_list, utcnow
from newsletter.store.schema import consent_log, memberships, new_link_keys, subscribers, suppressions
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


# SQLite: the write-ahead log is copied into the database (a checkpoint) once it holds this many
# pages, instead of SQLite's 1000. A chunk rewrites a good part of the unique indexes' pages
# (addresses, hashes and link keys arrive in no order), so at 1000 every chunk's commit did a
# checkpoint: the same pages copied a hundred times for 100,000 rows. 16,384 pages are 64 MB.
CHECKPOINT_PAGES = 16_384
# Rows of the first commit, and the most a commit grows to. Each commit writes out every index page
# its rows touched, and addresses, hashes and link keys arrive in no order, so every commit of a few
# thousand rows touches most of them: fewer, larger commits write them fewer times. On SQLite,
# committing every 16,000 rows instead of every 4,000 took 100,000 rows in 0.9× the time (1.16× the
# bare peer's time instead of 1.30×). The first commits stay small so that a file that fails early
# loses little and the progress line moves at once; a failure loses at most the commit in flight.
FIRST_COMMIT_ROWS = 1000
LARGEST_COMMIT_ROWS = 16_000
# The most rows read, looked up and written at a time (a chunk); a commit of more is several chunks.
# The rows a chunk holds in memory grow with it (8,000 rows: 7 MB more at the peak than 4,000), so
# 4,000 keeps an import's memory the same from 10,000 rows to 300,000; past 4,000 the time gained
# was lost in the noise.
LARGEST_CHUNK_ROWS = 4_000
# SQLite: page cache while importing (KiB, as SQLite's negative cache_size). 64 MB took the same CPU
# time for 100,000 rows as 8 MB (within 3 %) and 55 MB more memory, and 4 MB the same as 8 MB
# (interleaved runs, within this machine's noise): the pages SQLite does not keep are in the
# operating system's cache anyway. The cache fills once the database outgrows it, so it is most of
# what an import of 300,000 rows holds more than one of 10,000 (7 MB with 4 MB, 10 MB with 8 MB).
CACHE_KIB = 4_096
# The file's addresses already applied by this import, with their first line: in the database for the
# import's connection alone (a temporary table), so a repeat three chunks later is still named
# ("the same address as line N") while memory does not grow with the file. An address is known there
# by its hash as two integers (the first 60 bits, the key, and the next 60): SQLite keeps a table of
# integers keyed by one as a single small B-tree, which takes 100,000 rows about twice as fast as one
# keyed by the 64-character hash. 120 bits: two addresses of one file that share them would take
# some 10^24 rows. A shared key alone (60 bits; about one import in ten million at 300,000 rows)
# never makes one address the repeat of another: the second is applied, and not noted.
_SEEN = Table(
    "import_seen",
    MetaData(),
    Column("hash_key", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("hash_rest", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_HALF_BITS = 60  # of each integer: a positive BIGINT
_HALF_MASK = (1 << _HALF_BITS) - 1


def _hash_numbers(hashed: str) -> tuple[int, int]:
    both = int(hashed[: 2 * _HALF_BITS // 4], 16)
    return both >> _HALF_BITS, both & _HALF_MASK


_PROFILE_COLUMNS = ("name", "language", "attributes", "status", "updated_at")


class _ReadRow(NamedTuple):
    """A row of the file with what applying it needs that the database has no say in, worked out
    as the chunk is read (by a thread of its own on PostgreSQL: :class:`_ChunkReader`). A tuple:
    made for every row, it costs a third of a frozen dataclass."""

    row: CsvRow
    hash_key: int  # the address's hash as the table of addresses seen keeps it (_hash_numbers)
    hash_rest: int
    attributes_text: str  # the attributes as the database is given them (JSON text)

    @classmethod
    def of(cls, row: CsvRow, json_text: Callable[[Any], str]) -> _ReadRow:
        return cls(row, *_hash_numbers(row.hashed), json_text(row.attributes))


@dataclass
class _Tally:
    """What one chunk did, added to the summary once the chunk's writes have succeeded."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    resubscribed: int = 0
    skipped_suppressed: int = 0
    skipped_unsubscribed: int = 0

    def add_to(self, summary: ImportSummary) -> None:
        summary.added += self.added
        summary.updated += self.updated
        summary.unchanged += self.unchanged
        summary.resubscribed += self.resubscribed
        summary.skipped_suppressed += self.skipped_suppressed
        summary.skipped_unsubscribed += self.skipped_unsubscribed


@dataclass(frozen=True)
class _Statements:
    """The statements every chunk runs, built once per import; each takes the chunk's values as one."""

    # Of the chunk's hashes ("hashes"), those of people known or suppressed: the person with their
    # state on the list (id None: nobody), and the suppression reason (None: not suppressed).
    found: Select[Any]
    lift: Delete  # suppression entries of people resubscribed ("hashes")
    subscribe_again: Update  # memberships of the list subscribed again ("ids", "now")

    @classmethod
    def for_list(cls, conn: Connection, list_id: int) -> _Statements:
        given = given_values(conn, "hashes", subscribers.c.email_hash.type)
        joined, person = join_each(conn, given, given.c.value, subscribers, "email_hash", "person")
        joined, suppressed = join_each(conn, joined, given.c.value, suppressions, "email_hash", "suppressed")
        state = (
            select(memberships.c.state)
            .where(memberships.c.subscriber_id == person.c.id, memberships.c.list_id == list_id)
            .scalar_subquery()
        )
        found = (
            select(
                given.c.value.label("email_hash"),
                *(person.c[name] for name in ("id", "name", "language", "attributes", "status")),
                state.label("state"),
                suppressed.c.reason.label("suppressed_as"),
            )
            .select_from(joined)
            .where(or_(person.c.id.is_not(None), suppressed.c.reason.is_not(None)))
        )
        return cls(
            found=found,
            lift=suppressions.delete().where(one_of(conn, suppressions.c.email_hash, "hashes")),
            subscribe_again=memberships.update()
            .where(one_of(conn, memberships.c.subscriber_id, "ids"), memberships.c.list_id == list_id)
            .values(
                state="subscribed",
                updated_at=bindparam("now"),
                unsubscribed_at=None,
                unsubscribe_source=None,
            ),
        )


@dataclass
class _Options:
    the_list: ListRow
    resubscribe: bool
    consent_note: str
    method: str
    source: str
    statements: _Statements


def _apply_chunk(
    conn: Connection,
    chunk: list[_ReadRow],
    options: _Options,
    summary: ImportSummary,
    tally: _Tally,
    looked_up: Callable[[], None] = lambda: None,
) -> None:
    """Apply one chunk: one look-up, the rules row by row, then each kind of change in one go.

    Who is known, a member or suppressed is read for the whole chunk at once; addresses an
    earlier chunk applied are taken out as repeats (:func:`_not_seen_before`). New
    people, new memberships, the consent log, profile changes, memberships subscribed
    again and lifted suppressions are one statement each. What the chunk did is counted in
    ``tally``, which the summary takes once the commit the chunk belongs to has succeeded.
    """
    statements = options.statements
    hashes = listed(conn, (read.row.hashed for read in chunk))
    found = {row.email_hash: row for row in conn.execute(statements.found, {"hashes": hashes})}
    chunk = _not_seen_before(conn, chunk, found, summary)
    looked_up()  # the rest is mostly writing: a good time to read the next chunk
    known = {hashed: row for hashed, row in found.items() if row.id is not None}
    now = utcnow()
    new_people: list[_ReadRow] = []
    profile_updates: list[tuple[Any, ...]] = []  # (id, *_PROFILE_COLUMNS)
    members_to_add: list[int] = []
    members_again: list[int] = []  # pending or unsubscribed until now
    consents: list[tuple[CsvRow, str]] = []  # (row, action) in the file's order
    lifted: list[str] = []

    for read in chunk:
        candidate = read.row
        current = known.get(candidate.hashed)
        suppressed_as = found[candidate.hashed].suppressed_as if candidate.hashed in found else None
        state = current.state if current is not None else None
        refused = refusal_reason(suppressed_as, current.status if current is not None else None, state)
        if refused and not options.resubscribe:
            if state == "unsubscribed" and not suppressed_as:
                tally.skipped_unsubscribed += 1
            else:
                tally.skipped_suppressed += 1
            continue
        action = "resubscribe" if refused else "subscribe"
        if refused:
            lifted.append(candidate.hashed)
            tally.resubscribed += 1
        if current is None:
            new_people.append(read)
            consents.append((candidate, action))
            tally.added += 1
            continue
        changes = _profile_changes(current, candidate)
        if refused and current.status != "active":
            changes["status"] = "active"
        if changes:
            profile = _full_profile(current, changes)
            profile_updates.append((current.id, *(profile[name] for name in _PROFILE_COLUMNS[:-1]), now))
        if state is None:
            members_to_add.append(current.id)
        elif state != "subscribed":
            members_again.append(current.id)
        if state != "subscribed" or refused:
            # A lifted suppression is renewed consent even when the membership never changed.
            consents.append((candidate, action))
        if state is None:
            tally.added += 1
        elif changes or state != "subscribed" or refused:
            tally.updated += 1
        else:
            tally.unchanged += 1

    list_id = options.the_list.id
    if lifted:
        conn.execute(statements.lift, {"hashes": listed(conn, lifted)})
    id_of = {hashed: row.id for hashed, row in known.items()}
    if new_people:
        language = options.the_list.language
        new_ids = insert_rows_with_ids(
            conn,
            subscribers,
            "email_hash",
            ("email", "email_hash", "name", "language", "attributes", "link_key"),
            [
                (
                    read.row.address,
                    read.row.hashed,
                    read.row.name,
                    read.row.language or language,
                    read.attributes_text,
                    link_key,
                )
                for read, link_key in zip(new_people, new_link_keys(len(new_people)), strict=True)
            ],
            same={"status": "active", "created_at": now, "updated_at": now, "v1_links": False},
            as_stored=("attributes",),
        )
        id_of.update(new_ids)
        members_to_add += new_ids.values()
    update_rows(conn, subscribers, "id", _PROFILE_COLUMNS, profile_updates)
    insert_rows(
        conn,
        memberships,
        ("subscriber_id",),
        ((subscriber_id,) for subscriber_id in members_to_add),
        same={"list_id": list_id, "state": "subscribed", "created_at": now, "updated_at": now},
    )
    if members_again:
        conn.execute(statements.subscribe_again, {"ids": listed(conn, members_again), "now": now})
    insert_rows(
        conn,
        consent_log,
        ("subscriber_id", "action", "source"),
        ((id_of[row.hashed], action, f"{options.source} line {row.line}") for row, action in consents),
        same={
            "list_id": list_id,
            "method": options.method,
            "consent_text": options.consent_note or options.the_list.consent_text,
            "ip": None,
            "at": now,
        },
    )


def _apply_commit(
    conn: Connection, reader: _ChunkReader, options: _Options, summary: ImportSummary, dry_run: bool
) -> int:
    """Apply the chunks of one commit and commit them; the last line committed, 0 at the end of the file.

    The summary counts the commit's rows once the commit has succeeded; a failure rolls
    the whole commit back and says which line was saved last.
    """
    tally = _Tally()
    last_line = 0
    first_line = 0  # of the chunk being applied, for the message when the database fails
    try:
        with nullcontext() if dry_run else conn.begin():
            ends_commit = False
            while not ends_commit:
                chunk, ends_commit = reader.take()
                if not chunk:
                    break
                first_line = chunk[0].row.line
                _apply_chunk(conn, chunk, options, summary, tally, reader.read_next)
                last_line = chunk[-1].row.line
    except SQLAlchemyError as exc:
        raise StoreError(
            f"{summary.path}:{first_line}: the database failed ({type(getattr(exc, 'orig', None) or exc).__name__}); rows up "
            f"to line {summary.last_committed_line} are saved — run the same import again to "
            "finish (saved rows will count as unchanged)"
        ) from exc
    tally.add_to(summary)
    return last_line


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
    # One statement updates every column of the whole set, so unchanged ones carry their stored value.
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
    chunk_size: int | None = None,
    dry_run: bool = False,
    progress: Callable[[ImportSummary], None] | None = None,
    file_name: str | None = None,
) -> ImportSummary:
    """Import ``path`` into ``list_name``; see the module docstring for the rules.

    ``file_name`` is how messages and the consent log name the file when
    ``path`` is a copy of it (an upload kept aside); by default, ``path``.
    ``progress`` is called after each commit. ``chunk_size`` fixes the rows of
    every commit; by default commits grow from :data:`FIRST_COMMIT_ROWS` to
    :data:`LARGEST_COMMIT_ROWS`.
    """
    check_method(method)
    if resubscribe and not consent_note.strip():
        raise StoreError("--resubscribe needs --consent-note saying when and how these people agreed again")
    summary = ImportSummary(path=file_name or str(path), dry_run=dry_run)
    with engine.connect() as conn:
        the_list = get_list(conn, list_name)
    source = f"import {Path(file_name).name if file_name else path.name}"
    rows = read_rows(path, summary)
    with engine.connect() as conn, _bulk_settings(conn), _seen_addresses(conn):
        statements = _Statements.for_list(conn, the_list.id)
        options = _Options(the_list, resubscribe, consent_note.strip(), method, source, statements)
        # A dry run applies everything in one transaction and rolls it back.
        dry_transaction = conn.begin() if dry_run else None
        try:
            threaded = conn.dialect.name == "postgresql"
            reader = _ChunkReader(rows, _commit_sizes(chunk_size), summary, json_text(conn), threaded)
            with reader:
                while last_line := _apply_commit(conn, reader, options, summary, dry_run):
                    summary.last_committed_line = last_line
                    if progress is not None:
                        progress(summary)
        finally:
            if dry_transaction is not None:
                dry_transaction.rollback()
    # Repeats within a chunk are found while reading, repeats of earlier chunks when it is applied.
    summary.duplicates.sort(key=lambda problem: problem.line)
    return summary


@contextmanager
def _seen_addresses(conn: Connection) -> Iterator[None]:
    """The import's table of addresses applied so far, there while the import runs."""
    with conn.begin():
        _SEEN.create(conn)
    try:
        yield
    finally:
        try:
            with conn.begin():
                _SEEN.drop(conn)
        except SQLAlchemyError:
            conn.invalidate()  # the connection failed: closing it takes the table with it


def _not_seen_before(
    conn: Connection, chunk: list[_ReadRow], found: Mapping[str, Any], summary: ImportSummary
) -> list[_ReadRow]:
    """The chunk without the addresses an earlier chunk applied (reported as repeats); the rest noted.

    Only addresses ``found`` (a person or a suppression) can be repeats: every address an earlier
    chunk applied left one or the other. A fresh list's import therefore asks for none.
    """
    earlier: dict[int, tuple[int, int]] = {}  # key: (rest, line)
    known_keys = [read.hash_key for read in chunk if read.row.hashed in found]
    if known_keys:
        seen = select(_SEEN.c.hash_key, _SEEN.c.hash_rest, _SEEN.c.line).where(
            one_of(conn, _SEEN.c.hash_key, "keys")
        )
        rows = conn.execute(seen, {"keys": listed(conn, known_keys)})
        earlier = {key: (rest, line) for key, rest, line in rows}
    fresh: list[_ReadRow] = []
    noted: list[tuple[int, int, int]] = []
    for read in chunk:
        candidate, key, rest = read.row, read.hash_key, read.hash_rest
        first = earlier.get(key)
        if first is not None and first[0] == rest:
            same = ROW_TEXTS("same-address", first=first[1], address=candidate.address)
            summary.duplicates.append(RowProblem.of(candidate.line, same))
            continue
        fresh.append(read)
        if first is None:  # a key another address holds stays that address's
            earlier[key] = (rest, candidate.line)
            noted.append((key, rest, candidate.line))
    insert_rows(conn, _SEEN, ("hash_key", "hash_rest", "line"), noted)
    return fresh


@contextmanager
def _bulk_settings(conn: Connection) -> Iterator[None]:
    """SQLite: a large page cache and rarer checkpoints while importing; as they were afterwards.

    These are settings of the one connection the import uses; it goes back to the
    pool as it came. A checkpoint at most every :data:`CHECKPOINT_PAGES` pages
    changes nothing of what a commit promises: each commit is kept, and on a
    crash of the program SQLite keeps it (the log is read on the next open). The
    import ends with a checkpoint of its own, so that the next commit of somebody
    else (a sign-up on the web) does not have to copy what the import left in the log.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    # Through the driver: a PRAGMA through SQLAlchemy would begin the connection's transaction.
    driver = conn.connection.driver_connection
    assert driver is not None
    before = {
        name: driver.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "wal_autocheckpoint")
    }
    driver.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    driver.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        try:
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
            for name, value in before.items():
                driver.execute(f"PRAGMA {name}={int(value)}")
        except conn.dialect.loaded_dbapi.Error:
            conn.invalidate()  # broken anyway: the pool opens a fresh one, with the usual settings


class _ChunkReader:
    """The file's chunks, one at a time; ``threaded``: each read by a thread while the one before is applied.

    ``commit_sizes`` are the rows of each commit; a commit of more than :data:`LARGEST_CHUNK_ROWS`
    rows is read as several chunks, and :meth:`take` says which chunk ends a commit.

    Reading a chunk (decoding, checking each address, hashing, the attributes as JSON) is work of
    this process alone, while applying one to a database server leaves it waiting most of the
    time. The reading of the next chunk starts (:meth:`read_next`) once the applying one has
    looked its addresses up: a look-up is short, and the thread that reads holds the
    interpreter's lock for up to 5 ms at a time before the answer can be taken, while the writes
    after it are long waits. Not for SQLite, whose work is done in this process: there a reader
    thread gained nothing (100,000 rows in 1.25× the bare peer's time with it, 1.24× without).
    Whatever reading raises is raised by :meth:`take`, once the chunks before are applied.
    An import that stops or fails after a chunk may already count the rejected rows of the
    chunk read after it: they are rejected whatever happens, and a rerun names them again.
    """

    def __init__(
        self,
        rows: Iterator[CsvRow],
        commit_sizes: Iterator[int],
        summary: ImportSummary,
        json_text: Callable[[Any], str],
        threaded: bool,
    ) -> None:
        self._rows, self._commit_sizes, self._summary, self._json_text = (
            rows,
            commit_sizes,
            summary,
            json_text,
        )
        self._left_in_commit = 0
        self._thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-reader") if threaded else None
        )
        self._upcoming: Future[tuple[list[_ReadRow], bool]] | None = None

    def _next_size(self) -> tuple[int, bool]:
        """The rows of the next chunk, and whether it ends its commit."""
        if not self._left_in_commit:
            self._left_in_commit = next(self._commit_sizes)
        size = min(self._left_in_commit, LARGEST_CHUNK_ROWS)
        self._left_in_commit -= size
        return size, not self._left_in_commit

    def _read(self, size: int, ends_commit: bool) -> tuple[list[_ReadRow], bool]:
        chunk = _next_chunk(self._rows, size, {}, self._summary)
        return [_ReadRow.of(row, self._json_text) for row in chunk], ends_commit

    def read_next(self) -> None:
        """Start reading the next chunk, if a thread reads and it has not started yet."""
        if self._thread is not None and self._upcoming is None:
            self._upcoming = self._thread.submit(self._read, *self._next_size())

    def take(self) -> tuple[list[_ReadRow], bool]:
        """The next chunk (empty at the end of the file), and whether it ends its commit."""
        if self._thread is None:
            return self._read(*self._next_size())
        self.read_next()
        assert self._upcoming is not None
        upcoming, self._upcoming = self._upcoming, None
        return upcoming.result()

    def __enter__(self) -> _ChunkReader:
        return self

    def __exit__(self, *_: object) -> None:
        if self._thread is not None:
            if self._upcoming is not None:
                self._upcoming.cancel()
            self._thread.shutdown()


def _commit_sizes(fixed: int | None) -> Iterator[int]:
    if fixed is not None:
        yield from itertools.repeat(fixed)
    size = FIRST_COMMIT_ROWS
    while True:
        yield size
        size = min(2 * size, LARGEST_COMMIT_ROWS)


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
