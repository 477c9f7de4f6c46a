"""pilot training: a pilot for facilitator classes (synthetic population, simulators only)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:40:00.000000

A training pilot runs only on the simulators, marks its responses and texts LATIHAN, is left out
of statistics and can be reset by an admin (:mod:`perlinsos.pilots.training`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: expand-only (a column with a default nobody older reads): code at 0010 still runs on this schema
compatible_with_previous_code = True


def upgrade() -> None:
    # Existing pilots are real ones.
    with op.batch_alter_table('pilot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('training', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('pilot', schema=None) as batch_op:
        batch_op.drop_column('training')
