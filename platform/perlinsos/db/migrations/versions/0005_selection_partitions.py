"""selection partitions: a run split by villages, claimed by selection workers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import perlinsos.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A run left unfinished before this revision gets its partitions when it is resumed
    # (perlinsos.selection.partitions.ensure): nothing to convert here.
    op.create_table('selection_partition',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('region_code', sa.String(length=13), nullable=False),
    sa.Column('region_codes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'RUNNING', 'DONE', name='selection_partition_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('claimed_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_expires_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('last_registration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('decided', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('finished_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['selection_run.id'], name=op.f('fk_selection_partition_run_id_selection_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_selection_partition')),
    sa.UniqueConstraint('run_id', 'region_code', name='uq_selection_partition_region')
    )
    with op.batch_alter_table('selection_partition', schema=None) as batch_op:
        batch_op.create_index('ix_selection_partition_claim', ['run_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('selection_partition', schema=None) as batch_op:
        batch_op.drop_index('ix_selection_partition_claim')
    op.drop_table('selection_partition')
