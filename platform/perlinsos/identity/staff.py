"""Staff assignments: facilitators, reviewers and the national office, each within a region.

Managed by the national office (ADMIN) through GraphQL or ``perlinsos staff``; the CLI acts as
the operator of the deployment (recorded as ``cli``), e.g. to create the first admin.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit, regions
from perlinsos.contract import Principal
from perlinsos.db.models import Pilot, StaffAssignment, StaffRole
from perlinsos.db.types import utcnow
from perlinsos.problems import problem

_REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


def check_region(code: str) -> None:
    """A kode wilayah; where the platform ships the region list, it must be in it."""
    if not _REGION.match(code or ""):
        raise problem("REGION_UNKNOWN", field="regionCode")
    shipped = any(regions.is_within(code, r.code) for r in regions.all_regions() if r.level == "regency")
    if shipped and regions.get(code) is None:
        raise problem("REGION_UNKNOWN", field="regionCode")


async def assign(session: AsyncSession, by: Principal | None, *, subject: str, role: str, region_code: str,
                 pilot_code: str | None = None, name: str | None = None) -> StaffAssignment:
    subject = (subject or "").strip()
    if not subject or len(subject) > 200:
        raise problem("INPUT_INVALID", field="subject")
    try:
        staff_role = StaffRole(role)
    except ValueError:
        raise problem("ROLE_UNKNOWN", field="role") from None
    check_region(region_code)
    pilot_id = None
    if pilot_code:
        pilot_id = (await session.execute(select(Pilot.id).where(Pilot.code == pilot_code))).scalar_one_or_none()
        if pilot_id is None:
            raise problem("PILOT_UNKNOWN", field="pilot")
    same_pilot = StaffAssignment.pilot_id.is_(None) if pilot_id is None else StaffAssignment.pilot_id == pilot_id
    existing = (
        await session.execute(
            select(StaffAssignment).where(
                StaffAssignment.subject == subject, StaffAssignment.role == staff_role,
                StaffAssignment.region_code == region_code, same_pilot, StaffAssignment.revoked_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing  # assigning twice changes nothing
    row = StaffAssignment(subject=subject, name=name, role=staff_role, region_code=region_code, pilot_id=pilot_id,
                          created_by=by.subject if by else "cli", created_at=utcnow())
    session.add(row)
    await session.flush()
    await audit.record_change(session, by, action="STAFF_ASSIGNED", entity_type="staff_assignment",
                              entity_id=row.id, details={"role": role, "region_code": region_code})
    return row


async def revoke(session: AsyncSession, by: Principal | None, assignment_id: int) -> StaffAssignment:
    row = await session.get(StaffAssignment, assignment_id)
    if row is None:
        raise problem("ASSIGNMENT_NOT_FOUND")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await audit.record_change(session, by, action="STAFF_REVOKED", entity_type="staff_assignment",
                                  entity_id=row.id)
    return row


async def page(session: AsyncSession, *, after_id: int | None, limit: int, include_revoked: bool = False):
    stmt = select(StaffAssignment).order_by(StaffAssignment.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(StaffAssignment.id > after_id)
    if not include_revoked:
        stmt = stmt.where(StaffAssignment.revoked_at.is_(None))
    return list((await session.execute(stmt)).scalars())
