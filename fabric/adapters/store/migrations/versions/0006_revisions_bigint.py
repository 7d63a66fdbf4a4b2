"""documents.revision and document_history.revision: BIGINT (a revision's bound is 2**63 - 1)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("documents", "document_history")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("revision", existing_type=sa.Integer(), type_=sa.BigInteger())


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("revision", existing_type=sa.BigInteger(), type_=sa.Integer())
