"""A send is a stored job: the frozen snapshot of what it sends, and the time it is scheduled for.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    op.create_table(
        "send_snapshots",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=False),
        sa.Column("reply_to", sa.String(length=320), server_default="", nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("list_headers", sa.JSON(), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["send_id"], ["sends.id"], name=op.f("fk_send_snapshots_send_id_sends"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("send_id", name=op.f("pk_send_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("send_snapshots")
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("scheduled_at")
