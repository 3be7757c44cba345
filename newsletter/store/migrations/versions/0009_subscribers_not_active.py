"""An index of the people who are not active, so a list's audience is counted without checking everyone.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NOT_ACTIVE = sa.text("status <> 'active'")


def upgrade() -> None:
    op.create_index(
        "ix_subscribers_not_active",
        "subscribers",
        ["id"],
        unique=False,
        sqlite_where=NOT_ACTIVE,
        postgresql_where=NOT_ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_subscribers_not_active", table_name="subscribers")
