"""The workspace's subscriber pages: trigram indexes for the search (PostgreSQL), events by person.

A person's page lists their provider events; ``ix_events_subscriber`` finds
them without reading the whole events table (on both databases).

The search (``newsletter.store.search``) matches any part of an address or a
name, ignoring case: ``ILIKE '%hansen%'`` on PostgreSQL. A B-tree index cannot
answer that; a trigram index (the ``pg_trgm`` extension that ships with
PostgreSQL) can, for three characters or more: at 100,000 subscribers a search
finds a rare name without reading the whole table. SQLite has no such index
and reads the table (tens of milliseconds at 100,000): there this revision
only adds the events index.

``pg_trgm`` is a trusted extension (PostgreSQL 13 and later): the owner of the
database may create it. Where the database user may not, the revision leaves
the indexes out and says so in the log — the search still works, by reading
the table — and a database administrator can add them later::

    CREATE EXTENSION pg_trgm;
    CREATE INDEX ix_subscribers_email_trgm ON subscribers USING gin (email gin_trgm_ops);
    CREATE INDEX ix_subscribers_name_trgm ON subscribers USING gin (name gin_trgm_ops);

Revision ID: 0009
Revises: 0008
"""

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)
INDEXES = {"ix_subscribers_email_trgm": "email", "ix_subscribers_name_trgm": "name"}


def _trigram_extension() -> bool:
    """Create pg_trgm when it is missing; False (and nothing changed) when this user may not."""
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        savepoint.rollback()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        log.warning(
            "subscriber search: the pg_trgm extension could not be created (%s); the search reads "
            "the whole table instead. A database administrator can run CREATE EXTENSION pg_trgm and "
            "create the indexes of revision 0009 to make it fast.",
            reason,
        )
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    op.create_index("ix_events_subscriber", "events", ["subscriber_id"], unique=False)
    if op.get_bind().dialect.name != "postgresql" or not _trigram_extension():
        return
    for name, column in INDEXES.items():
        op.create_index(
            name,
            "subscribers",
            [column],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in INDEXES:
            op.drop_index(name, table_name="subscribers", if_exists=True)
    op.drop_index("ix_events_subscriber", table_name="events")
