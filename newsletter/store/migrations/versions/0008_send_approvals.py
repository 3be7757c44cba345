"""The four-eyes rule: requests to send an issue to a list, and their approval by a second sender.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue", sa.String(length=200), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_send_approvals_list_id_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_send_approvals_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_send_approvals_approved_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_approvals")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_send_approvals_issue_list", "send_approvals", ["issue", "list_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_send_approvals_issue_list", table_name="send_approvals")
    op.drop_table("send_approvals")
