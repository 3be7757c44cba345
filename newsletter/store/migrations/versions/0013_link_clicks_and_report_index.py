"""Clicks on tracked links (which link of which issue, when; never who), and the report's index on events.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_clicks_issue_url", "clicks", ["issue", "url"], unique=False)
    # newsletter report reads each message's outcomes and the events' times from this index alone.
    op.create_index(
        "ix_events_delivery_outcome",
        "events",
        ["delivery_id", "type", "hard", "occurred_at", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_events_delivery_outcome", table_name="events")
    op.drop_index("ix_clicks_issue_url", table_name="clicks")
    op.drop_table("clicks")
