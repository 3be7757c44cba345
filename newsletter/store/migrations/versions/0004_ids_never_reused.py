"""Ids are never reused, and every subscriber gets a link key that links are bound to.

SQLite hands out ``max(id) + 1`` for a plain ``INTEGER PRIMARY KEY``: after an
erase the next sign-up got the erased person's id, and with it every link
already mailed to them. The tables whose ids appear in links, the ledger or
provider metadata are rebuilt with ``AUTOINCREMENT`` (SQLite keeps the highest
id ever used in ``sqlite_sequence``); the data is copied as it is. PostgreSQL
sequences never hand out an id twice, so there only the columns are added.

``subscribers.link_key`` is a random value made when the person is created;
links signed from now on carry it, and a link whose key does not match the
person's is refused, so even a recycled id cannot transfer a link.
``subscribers.v1_links`` marks the people who existed before this revision:
links already mailed to them carry no key (token version 1) and keep working
for them, and only for them.

Revision ID: 0004
Revises: 0003
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Parents before children, so each rebuilt child's foreign keys point at a finished table.
_REBUILT = ("lists", "subscribers", "consent_log", "sends", "deliveries", "events")


def _link_key() -> str:
    # The same shape newsletter.store.subscribers makes; spelled out here so that this
    # revision keeps doing what it did when the live code changes.
    return secrets.token_urlsafe(12)


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("v1_links", sa.Boolean(), server_default=sa.false(), nullable=False))
    subscribers = sa.table(
        "subscribers", sa.column("id", sa.Integer), sa.column("link_key"), sa.column("v1_links")
    )
    ids = list(bind.execute(sa.select(subscribers.c.id)).scalars())
    if ids:
        bind.execute(
            subscribers.update()
            .where(subscribers.c.id == sa.bindparam("b_id"))
            .values(link_key=sa.bindparam("b_key"), v1_links=sa.true()),
            [{"b_id": each, "b_key": _link_key()} for each in ids],
        )
    if bind.dialect.name == "sqlite":
        # Rebuilt tables: newsletter.store.db.migrate runs this with foreign keys off, or
        # dropping the old parent table would cascade-delete memberships and ledger links.
        for table in _REBUILT:
            with op.batch_alter_table(
                table, schema=None, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch_op:
                if table == "subscribers":
                    batch_op.alter_column("link_key", existing_type=sa.String(length=32), nullable=False)
                    batch_op.create_unique_constraint("uq_subscribers_link_key", ["link_key"])
    else:
        with op.batch_alter_table("subscribers", schema=None) as batch_op:
            batch_op.alter_column("link_key", existing_type=sa.String(length=32), nullable=False)
            batch_op.create_unique_constraint("uq_subscribers_link_key", ["link_key"])


def downgrade() -> None:
    # The AUTOINCREMENT rebuild is kept: it changes no data, and undoing it would bring back reuse.
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subscribers_link_key", type_="unique")
        batch_op.drop_column("v1_links")
        batch_op.drop_column("link_key")
