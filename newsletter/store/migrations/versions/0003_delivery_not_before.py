"""Deliveries and sends remember when they may be tried again (``not_before``), so a restart honours
retry delays: a row's own delay, and a pause the provider asked of the whole send.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("not_before")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("not_before")
