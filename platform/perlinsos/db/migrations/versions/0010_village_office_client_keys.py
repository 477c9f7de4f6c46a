"""village office and client keys: the VILLAGE_OPERATOR role, appeals filed at the village office
with the operator's attestations, and retry-safe mutations' client keys

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 22:35:00.000000

Enum columns are VARCHAR + CHECK (models._enum): a new value widens the CHECK.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import perlinsos.db.types

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: expand-only (two new tables, two CHECKs widened): code at 0009 still runs on this schema. It
#: cannot read a VILLAGE_OPERATOR assignment nor a VILLAGE_OFFICE appeal (an unknown enum value),
#: which only exist once an admin assigns an operator: do that after every process runs this release.
compatible_with_previous_code = True

_CHANNELS = ('SELF', 'ASSISTED')
_ROLES = ('FACILITATOR', 'REVIEWER', 'ADMIN')
# (table, CHECK name, column, values before) of each widened enum
_WIDENED = (('registration', 'registration_channel', 'channel', _CHANNELS, 'VILLAGE_OFFICE'),
            ('consent', 'consent_channel', 'channel', _CHANNELS, 'VILLAGE_OFFICE'),
            ('appeal', 'appeal_channel', 'channel', _CHANNELS, 'VILLAGE_OFFICE'),
            ('staff_assignment', 'staff_role', 'role', _ROLES, 'VILLAGE_OPERATOR'))


def _check(table: str, name: str, column: str, values: Sequence[str]) -> None:
    full = f'ck_{table}_{name}'
    with op.batch_alter_table(table, schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint(batch_op.f(full), type_='check')
        listed = ', '.join(f"'{v}'" for v in values)
        batch_op.create_check_constraint(batch_op.f(full), sa.text(f'{column} IN ({listed})'))


def upgrade() -> None:
    for table, name, column, before, added in _WIDENED:
        _check(table, name, column, (*before, added))
    op.create_table('appeal_attestation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('appeal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('attested_by', sa.String(length=200), nullable=False),
    sa.Column('attested_by_issuer', sa.String(length=300), nullable=True),
    sa.Column('attested_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appeal_id'], ['appeal.id'], name=op.f('fk_appeal_attestation_appeal_id_appeal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_attestation'))
    )
    with op.batch_alter_table('appeal_attestation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeal_attestation_appeal_id'), ['appeal_id'], unique=False)
    op.create_table('client_key',
    sa.Column('issuer', sa.String(length=300), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('operation', sa.String(length=60), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.BigInteger(), nullable=True),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('issuer', 'subject', 'key', name=op.f('pk_client_key'))
    )
    with op.batch_alter_table('client_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_key_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('client_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_key_created_at'))
    op.drop_table('client_key')
    with op.batch_alter_table('appeal_attestation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeal_attestation_appeal_id'))
    op.drop_table('appeal_attestation')
    for table, name, column, before, _added in _WIDENED:
        _check(table, name, column, before)
