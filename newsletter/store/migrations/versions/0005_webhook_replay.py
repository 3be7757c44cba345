"""One-time webhook tokens (``webhook_tokens``), and stored Mailgun events lose their signature.

Mailgun signs only timestamp + token, so a stored ``signature`` object could be
lifted out of the events table (or an art. 15 export) and replayed with any
event. The table makes each token usable once; the data step removes the
signing material already kept in ``events.raw``.

Revision ID: 0005
Revises: 0004
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    op.create_table(
        "webhook_tokens",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("provider", "token_hash", name=op.f("pk_webhook_tokens")),
    )
    op.create_index("ix_webhook_tokens_signed_at", "webhook_tokens", ["signed_at"], unique=False)
    _strip_mailgun_signatures()


def _strip_mailgun_signatures() -> None:
    # A lightweight table of its own: the migration must not depend on today's schema module.
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("provider"), sa.column("raw", sa.JSON))
    conn = op.get_bind()
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(events.c.id, events.c.raw)
            .where(events.c.provider == "mailgun", events.c.id > last_id)
            .order_by(events.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            raw: Any = row.raw if not isinstance(row.raw, str) else json.loads(row.raw)
            if isinstance(raw, dict) and "signature" in raw:
                cleaned = {key: value for key, value in raw.items() if key != "signature"}
                conn.execute(events.update().where(events.c.id == row.id).values(raw=cleaned))
        last_id = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_webhook_tokens_signed_at", table_name="webhook_tokens")
    op.drop_table("webhook_tokens")
