"""audit hash chain: seq, chain head, append-only triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:15:00.000000
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from perlinsos.db.types import Json, UTCDateTime

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$",
    "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
]


def _link(row, seq: int, prev_hash: str) -> str:
    # Frozen copy of perlinsos.audit.link_hash as of this revision (migrations must not change
    # when the application code does); tests check both agree.
    doc = {
        "seq": seq,
        "occurred_at": row.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": row.actor, "actor_role": row.actor_role, "action": row.action,
        "entity_type": row.entity_type, "entity_id": row.entity_id,
        "subject_person_id": row.subject_person_id, "purpose": row.purpose,
        "details": row.details or {},
    }
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((body + prev_hash).encode()).hexdigest()


def upgrade() -> None:
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))

    # Chain the rows written before this revision, in id order (they were not yet hashed).
    bind = op.get_bind()
    events = sa.table(
        'audit_event', sa.column('id', sa.Integer), sa.column('occurred_at', UTCDateTime),
        sa.column('actor', sa.String), sa.column('actor_role', sa.String), sa.column('action', sa.String),
        sa.column('entity_type', sa.String), sa.column('entity_id', sa.String),
        sa.column('subject_person_id', sa.Integer), sa.column('purpose', sa.String),
        sa.column('details', Json), sa.column('seq', sa.BigInteger),
        sa.column('prev_hash', sa.String), sa.column('hash', sa.String),
    )
    seq, head = 0, GENESIS
    for row in bind.execute(sa.select(events).order_by(events.c.id)).all():
        seq += 1
        digest = _link(row, seq, head)
        bind.execute(events.update().where(events.c.id == row.id)
                     .values(seq=seq, prev_hash=head, hash=digest))
        head = digest
    bind.execute(sa.text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, :seq, :hash)"),
                 {"seq": seq, "hash": head})

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        # all of a principal's roles, comma-separated ("ADMIN,FACILITATOR,REVIEWER" is 26)
        batch_op.alter_column('actor_role', existing_type=sa.String(length=20), type_=sa.String(length=100))
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_seq'), ['seq'])

    # Defense in depth: the application only ever inserts; the database refuses the rest.
    for statement in (_PG_TRIGGERS if bind.dialect.name == 'postgresql' else _SQLITE_TRIGGERS):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER audit_event_no_delete")
        op.execute("DROP TRIGGER audit_event_no_update")
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_event_seq'), type_='unique')
        batch_op.alter_column('actor_role', existing_type=sa.String(length=100), type_=sa.String(length=20))
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.drop_column('seq')
    op.drop_table('audit_chain_head')
