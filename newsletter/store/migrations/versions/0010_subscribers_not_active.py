"""An index of the people who are not active, so a list's audience is counted without checking everyone.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
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
