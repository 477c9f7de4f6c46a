"""schema compatibility: the oldest code revision that may still run on this schema

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:50:00.000000

Rolling upgrades: ``perlinsos db upgrade`` writes the row after every migration run (see
:mod:`perlinsos.db.migrate`); processes of an older release read it to learn whether they may keep
serving on a schema newer than their own head.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: expand-only (a new table nobody older reads): code at 0007 still runs on this schema
compatible_with_previous_code = True


def upgrade() -> None:
    op.create_table('schema_compat',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('min_code_revision', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schema_compat'))
    )


def downgrade() -> None:
    op.drop_table('schema_compat')
