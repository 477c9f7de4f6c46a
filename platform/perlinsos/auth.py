"""From a bearer token to a :class:`Principal` with its staff roles.

Identity plugins (the ``authenticate`` hook) say *who* signed in; what staff may do comes from
the platform's own staff assignments, so a region's identity provider cannot grant roles.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos.contract import Principal, Role, StaffScope
from perlinsos.db.models import Pilot, StaffAssignment
from perlinsos.errors import AuthenticationFailed
from perlinsos.plugins import PilotHooks


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (``None`` when there is none)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("malformed Authorization header")
    return token.strip()


async def authenticate(token: str | None, hooks: PilotHooks | None, session: AsyncSession) -> Principal | None:
    """``None`` for an anonymous request; raises :class:`AuthenticationFailed` for a bad token."""
    if token is None:
        return None
    if hooks is None:
        raise AuthenticationFailed("no pilot to authenticate against")
    principal = await hooks.first("authenticate", token=token)
    if principal is None:
        raise AuthenticationFailed("no identity provider recognised the token")
    if not isinstance(principal, Principal):
        raise TypeError("authenticate must return a perlinsos.contract.Principal or None")
    return await with_staff_roles(principal, session)


async def with_staff_roles(principal: Principal, session: AsyncSession) -> Principal:
    """Attach the principal's live staff assignments (citizens may be staff too)."""
    rows = (
        await session.execute(
            select(StaffAssignment.role, StaffAssignment.region_code, Pilot.code)
            .outerjoin(Pilot, Pilot.id == StaffAssignment.pilot_id)
            .where(StaffAssignment.subject == principal.subject, StaffAssignment.revoked_at.is_(None))
        )
    ).all()
    scopes = tuple(StaffScope(Role(role.value), region, pilot) for role, region, pilot in rows)
    return replace(principal, scopes=principal.scopes + scopes) if scopes else principal


__all__ = ["authenticate", "bearer_token", "with_staff_roles"]
