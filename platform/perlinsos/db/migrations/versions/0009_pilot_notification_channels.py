"""pilot notification channels: the pilot's channel order ([notification] channels)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:20:00.000000

The order in which a decision reaches a citizen, e.g. ``["sms", "facilitator"]``: when the
channels before ``facilitator`` fail, the decision becomes a task on a facilitator's worklist
(:mod:`perlinsos.facilitation`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: expand-only (a column with a default nobody older reads): code at 0008 still runs on this schema
compatible_with_previous_code = True


def upgrade() -> None:
    # Existing pilots keep today's behaviour ({}: every enabled channel, no facilitator fallback).
    with op.batch_alter_table('pilot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notification', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table('pilot', schema=None) as batch_op:
        batch_op.drop_column('notification')
