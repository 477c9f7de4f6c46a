"""identity is (issuer, subject): issuers on staff assignments, consents, registrations,
appeals and evidence; regional identities linked to a NIK by a national provider

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:00:00.000000

Existing rows belong to the Banyuwangi pilot and IKD (issue 12): their issuer is the IKD issuer
of the pilot BWI-2025 (else of the first pilot that enables IKD). Staff assignments without a
pilot stay national when they are ADMIN; the others are given to that pilot. With no IKD issuer
on record the issuer is a marker that matches no token (fail closed: re-assign such staff).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import perlinsos.db.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNKNOWN_ISSUER = "urn:perlinsos:unknown-issuer"
_ISSUER = sa.String(length=300)


def _carried_over(bind) -> tuple[str, int | None]:
    """The IKD issuer and pilot id existing rows belong to."""
    pilot = sa.table("pilot", sa.column("id"), sa.column("code"), sa.column("plugins", sa.JSON()))
    rows = bind.execute(sa.select(pilot.c.id, pilot.c.code, pilot.c.plugins).order_by(pilot.c.id)).all()
    rows.sort(key=lambda r: r.code != "BWI-2025")
    for row in rows:
        ikd = (row.plugins or {}).get("ikd") or {}
        if isinstance(ikd, dict) and ikd.get("issuer"):
            return str(ikd["issuer"]).strip(), row.id
    return UNKNOWN_ISSUER, (rows[0].id if rows else None)


def upgrade() -> None:
    bind = op.get_bind()
    issuer, pilot_id = _carried_over(bind)

    with op.batch_alter_table('staff_assignment') as batch:
        batch.add_column(sa.Column('issuer', _ISSUER, nullable=True))
    with op.batch_alter_table('consent') as batch:
        batch.add_column(sa.Column('actor_issuer', _ISSUER, nullable=True))
        batch.add_column(sa.Column('assisted_by_issuer', _ISSUER, nullable=True))
        batch.add_column(sa.Column('provider_issuer', _ISSUER, nullable=True))
    with op.batch_alter_table('registration') as batch:
        batch.add_column(sa.Column('assisted_by_issuer', _ISSUER, nullable=True))
    with op.batch_alter_table('appeal') as batch:
        batch.add_column(sa.Column('assisted_by_issuer', _ISSUER, nullable=True))
        batch.add_column(sa.Column('reviewer_issuer', _ISSUER, nullable=True))
    with op.batch_alter_table('evidence_file') as batch:
        batch.add_column(sa.Column('uploaded_by_issuer', _ISSUER, nullable=True))

    staff = sa.table("staff_assignment", sa.column("issuer"), sa.column("role"), sa.column("pilot_id"))
    bind.execute(sa.update(staff).values(issuer=issuer))
    if pilot_id is not None:
        bind.execute(sa.update(staff).where(staff.c.pilot_id.is_(None), staff.c.role != "ADMIN")
                     .values(pilot_id=pilot_id))
    consent = sa.table("consent", sa.column("actor_issuer"), sa.column("assisted_by"),
                       sa.column("assisted_by_issuer"), sa.column("provider_reference"), sa.column("provider_issuer"))
    bind.execute(sa.update(consent).values(actor_issuer=issuer))
    bind.execute(sa.update(consent).where(consent.c.assisted_by.is_not(None)).values(assisted_by_issuer=issuer))
    bind.execute(sa.update(consent).where(consent.c.provider_reference.is_not(None)).values(provider_issuer=issuer))
    for name, columns in (("registration", ("assisted_by",)), ("appeal", ("assisted_by", "reviewer")),
                          ("evidence_file", ("uploaded_by",))):
        for column in columns:
            table = sa.table(name, sa.column(column), sa.column(f"{column}_issuer"))
            bind.execute(sa.update(table).where(table.c[column].is_not(None)).values({f"{column}_issuer": issuer}))

    with op.batch_alter_table('staff_assignment') as batch:
        batch.alter_column('issuer', existing_type=_ISSUER, nullable=False)
        batch.create_index('ix_staff_assignment_issuer_subject', ['issuer', 'subject'])

    op.create_table('identity_link',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('issuer', _ISSUER, nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('nik', sa.String(length=16), nullable=False),
    sa.Column('confirmed_by', _ISSUER, nullable=False),
    sa.Column('created_at', perlinsos.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_link')),
    sa.UniqueConstraint('issuer', 'subject', name='uq_identity_link')
    )
    op.create_index(op.f('ix_identity_link_nik'), 'identity_link', ['nik'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_identity_link_nik'), table_name='identity_link')
    op.drop_table('identity_link')
    with op.batch_alter_table('staff_assignment') as batch:
        batch.drop_index('ix_staff_assignment_issuer_subject')
        batch.drop_column('issuer')
    with op.batch_alter_table('consent') as batch:
        batch.drop_column('provider_issuer')
        batch.drop_column('assisted_by_issuer')
        batch.drop_column('actor_issuer')
    with op.batch_alter_table('registration') as batch:
        batch.drop_column('assisted_by_issuer')
    with op.batch_alter_table('appeal') as batch:
        batch.drop_column('reviewer_issuer')
        batch.drop_column('assisted_by_issuer')
    with op.batch_alter_table('evidence_file') as batch:
        batch.drop_column('uploaded_by_issuer')
