"""users.admin; auth_throttle.last_failure_at (growing delays between login failures)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("admin", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "auth_throttle",
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("auth_throttle", "last_failure_at")
    op.drop_column("users", "admin")
