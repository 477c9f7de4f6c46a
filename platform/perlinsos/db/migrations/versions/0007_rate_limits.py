"""rate limits: per-identity counters of costly actions, and each pilot's [limits]

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_limit_window',
    sa.Column('pilot_id', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('issuer', sa.String(length=300), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('pilot_id', 'action', 'role', 'issuer', 'subject', 'window_start',
                            name=op.f('pk_rate_limit_window'))
    )
    with op.batch_alter_table('rate_limit_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_window_expires_at'), ['expires_at'], unique=False)
    # Existing pilots keep the defaults ({}).
    with op.batch_alter_table('pilot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table('pilot', schema=None) as batch_op:
        batch_op.drop_column('limits')
    with op.batch_alter_table('rate_limit_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_window_expires_at'))
    op.drop_table('rate_limit_window')
