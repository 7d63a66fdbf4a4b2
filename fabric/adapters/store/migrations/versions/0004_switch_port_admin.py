"""switch_ports.admin_down: an operator set the port administratively down

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("switch_ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin_down", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("switch_ports", schema=None) as batch_op:
        batch_op.drop_column("admin_down")
