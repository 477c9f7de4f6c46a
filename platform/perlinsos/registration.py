"""Stage 1 — registration: reading registrations within what a viewer may see.

(The registration flow itself — IKD sign-in, consent, self and assisted registration — builds on
these reads.)
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos import policy
from perlinsos.contract import Principal
from perlinsos.db.models import Pilot, Registration


async def registration_rows(
    conn: AsyncConnection,
    principal: Principal | None,
    *,
    pilot_code: str,
    programme: str | None = None,
    region_code: str | None = None,
    after_id: int | None = None,
    limit: int = 21,
) -> list:
    """A page of registrations of a pilot that ``principal`` may see, in id order (keyset)."""
    table = Registration.__table__
    stmt = (
        select(table)
        .join(Pilot.__table__, Pilot.id == table.c.pilot_id)
        .where(Pilot.code == pilot_code, policy.registration_filter(principal))
        .order_by(table.c.id)
        .limit(limit)
    )
    if programme is not None:
        stmt = stmt.where(table.c.programme == programme)
    if region_code is not None:
        stmt = stmt.where(or_(table.c.region_code == region_code, table.c.region_code.like(region_code + ".%")))
    if after_id is not None:
        stmt = stmt.where(table.c.id > after_id)
    return list((await conn.execute(stmt)).all())


async def registration_row(conn: AsyncConnection, principal: Principal | None, registration_id: int):
    """One registration, or ``None`` when it does not exist *or* the viewer may not see it."""
    table = Registration.__table__
    stmt = select(table).where(table.c.id == registration_id, policy.registration_filter(principal))
    return (await conn.execute(stmt)).first()
