"""Staff assignments: facilitators, reviewers and the national office, each within a region.

An assignment belongs to one (issuer, subject) and one pilot (a region inside its area, a
provider the pilot trusts), or is national: only for a national provider's subjects.

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
from perlinsos.pilots.store import get_pilot, list_pilots, pilot_context
from perlinsos.plugins import PluginManager
from perlinsos.problems import problem

_REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


def check_region(code: str) -> None:
    """A kode wilayah of the shipped Kemendagri list (every region of Indonesia)."""
    if not _REGION.match(code or "") or regions.get(code) is None:
        raise problem("REGION_UNKNOWN", field="regionCode")


async def assign(session: AsyncSession, by: Principal | None, *, subject: str, role: str, region_code: str,
                 issuer: str | None, plugins: PluginManager, pilot_code: str | None = None,
                 name: str | None = None) -> StaffAssignment:
    """Give (issuer, subject) a role in a region of one pilot, or nationally (no pilot).

    A pilot's assignment needs a region inside the pilot's area and a provider the pilot trusts for
    sign-in; a national one a national provider's subject. ADMIN is national only.
    """
    subject = (subject or "").strip()
    if not subject or len(subject) > 200:
        raise problem("INPUT_INVALID", field="subject")
    issuer = (issuer or "").strip()
    if len(issuer) > 300:
        raise problem("ISSUER_REQUIRED", field="issuer")
    try:
        staff_role = StaffRole(role)
    except ValueError:
        raise problem("ROLE_UNKNOWN", field="role") from None
    check_region(region_code)
    pilot_id = None
    if pilot_code:
        if staff_role is StaffRole.ADMIN:
            raise problem("ADMIN_IS_NATIONAL", field="pilot")
        pilot = await get_pilot(session, pilot_code)
        if pilot is None:
            raise problem("PILOT_UNKNOWN", field="pilot")
        if not any(regions.is_within(region_code, area) for area in pilot.region_codes):
            raise problem("REGION_OUTSIDE_PILOT", field="regionCode")
        trusted = plugins.for_pilot(pilot_context(pilot, plugins)).trust_now().sign_in_issuers()
        issuer = issuer or _only(trusted)
        if issuer not in trusted:
            raise problem("ISSUER_NOT_TRUSTED", field="issuer")
        pilot_id = pilot.id
    else:
        national = await national_issuers(session, plugins)
        issuer = issuer or _only(national)
        if issuer not in national:
            raise problem("NATIONAL_ROLE_NEEDS_NATIONAL_PROVIDER", field="issuer")
    same_pilot = StaffAssignment.pilot_id.is_(None) if pilot_id is None else StaffAssignment.pilot_id == pilot_id
    existing = (
        await session.execute(
            select(StaffAssignment).where(
                StaffAssignment.issuer == issuer, StaffAssignment.subject == subject,
                StaffAssignment.role == staff_role, StaffAssignment.region_code == region_code, same_pilot,
                StaffAssignment.revoked_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing  # assigning twice changes nothing
    row = StaffAssignment(issuer=issuer, subject=subject, name=name, role=staff_role, region_code=region_code,
                          pilot_id=pilot_id, created_by=by.subject if by else "cli", created_at=utcnow())
    session.add(row)
    await session.flush()
    await audit.record_change(session, by, action="STAFF_ASSIGNED", entity_type="staff_assignment",
                              entity_id=row.id, details={"role": role, "region_code": region_code, "issuer": issuer,
                                                         "pilot": pilot_code})
    return row


def _only(issuers) -> str:
    """The issuer when there is exactly one to choose from; otherwise the caller must name it."""
    if len(issuers) == 1:
        return next(iter(issuers))
    raise problem("ISSUER_REQUIRED", field="issuer")


async def national_issuers(session: AsyncSession, plugins: PluginManager) -> frozenset[str]:
    """The issuers of national providers: the deployment's list when it names them, else every
    issuer a national plugin is configured with in a stored pilot."""
    if plugins.national_issuers:
        return frozenset(plugins.national_issuers)
    found: set[str] = set()
    for pilot in await list_pilots(session):
        try:
            trust = plugins.for_pilot(pilot_context(pilot, plugins)).trust_now()
        except Exception:  # noqa: BLE001 - a pilot whose plugins changed since: it names no issuer
            continue
        found |= {d.provider.issuer for d in trust.declared if d.national}
    return frozenset(found)


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
