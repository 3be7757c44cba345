"""Open the store: one engine per database URL, migrated to the newest schema on first use.

SQLite (the default) gets foreign keys, WAL and a busy timeout so that the
web service and a running send can share one file. PostgreSQL is reached by
``postgresql+psycopg://…`` URLs. A URL that does not connect raises
:class:`DatabaseUnavailable` with the URL (password removed) and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from newsletter.errors import DatabaseUnavailable, StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_engines: dict[str, Engine] = {}


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def safe_url(url: str) -> str:
    """``url`` with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def sqlite_files(url: str) -> list[Path]:
    """The files SQLite keeps for the database at ``url`` (the file, -wal, -shm, -journal); [] otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return []
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return []
    main = Path(database)
    return [main, *(main.with_name(main.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def refuse_database_file(path: Path, url: str) -> None:
    """Raise StoreError when ``path`` is (a name of) one of the database's own files.

    Writing over the database or its WAL while ``serve`` runs destroys data the
    server has acknowledged, and merely opening and closing the database file
    under another name drops the SQLite locks of the process that does it.
    """
    files = sqlite_files(url)
    if not files:
        return
    target = Path(path)
    resolved = target.resolve()
    try:
        info = target.stat()
    except OSError:
        info = None
    for own in files:
        same_inode = False
        if info is not None:
            try:
                mine = own.stat()
                same_inode = (mine.st_dev, mine.st_ino) == (info.st_dev, info.st_ino)
            except OSError:
                pass
        if resolved == own.resolve() or same_inode:
            raise StoreError(
                f"{path} is the subscriber database's own file {own.name} — choose another file name"
            )


def create(url: str) -> Engine:
    """A new engine for ``url`` (no migration). Raises DatabaseUnavailable on a bad URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"database URL {url!r} is not valid — use sqlite:///file.db or "
            "postgresql+psycopg://user@host/dbname in [database] url"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise DatabaseUnavailable(
            f"database {safe_url(url)}: {parsed.get_backend_name()} is not supported — "
            "use sqlite:///file.db or postgresql+psycopg://user@host/dbname"
        )
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).parent
            if not folder.is_dir():
                raise DatabaseUnavailable(
                    f"database {safe_url(url)}: folder {folder} does not exist — create it or fix [database] url"
                )
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(f"database {safe_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (a no-op when it is already there)."""
    config = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            if sqlite:
                # Some revisions rebuild a table (SQLite cannot alter one in place): dropping the
                # old copy must not cascade into the tables that point at it. The pragma only
                # takes effect outside a transaction, hence before the migration's own.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    config.attributes["connection"] = connection
                    current = MigrationContext.configure(connection).get_current_revision()
                    head = ScriptDirectory.from_config(config).get_current_head()
                    if current != head:
                        command.upgrade(config, "head")
                        if sqlite:
                            _check_foreign_keys(connection)
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"database {safe_url(str(engine.url))} does not answer: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc} — "
            "check [database] url or NEWSLETTER_DATABASE_URL"
        ) from exc
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"database {safe_url(str(engine.url))}: {exc}") from exc


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse (and so roll back) a migration that left a row pointing at nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise DatabaseUnavailable(
            f"the schema upgrade left rows in {tables} pointing at missing rows — nothing was "
            "changed; restore the database from a backup and report this"
        )


def open_engine(url: str) -> Engine:
    """The shared, migrated engine for ``url``; created and migrated on first use."""
    engine = _engines.get(url)
    if engine is None:
        engine = create(url)
        migrate(engine)
        _engines[url] = engine
    return engine


def dispose_all() -> None:
    """Close every pooled connection (tests, and before a process forks)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
