"""widgets table and next_id()

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from alvin_python_lib.migrations import create_next_id, drop_next_id

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_next_id(op)
    op.create_table(
        "widgets",
        sa.Column("id", sa.BigInteger(), server_default=sa.text("next_id()"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_widgets"),
        sa.UniqueConstraint("name", name="uq_widgets_name"),
        sa.ForeignKeyConstraint(["owner_id"], ["widgets.id"], name="fk_widgets_owner_id_widgets"),
    )


def downgrade() -> None:
    op.drop_table("widgets")
    drop_next_id(op)
