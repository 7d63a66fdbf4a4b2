"""audit.who: 255 characters (signed-in users are named by their e-mail address or user name)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.alter_column("who", existing_type=sa.String(63), type_=sa.String(255))


def downgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.alter_column("who", existing_type=sa.String(255), type_=sa.String(63))
