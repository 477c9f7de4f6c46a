"""From a bearer token to a :class:`Principal` with its staff roles.

Identity plugins (the ``authenticate`` hook) say *who* signed in; what staff may do comes from
the platform's own staff assignments, so a region's identity provider cannot grant roles.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos.contract import Principal, Role, StaffScope
from perlinsos.db.models import Channel, Pilot, StaffAssignment
from perlinsos.db.engine import Database
from perlinsos.errors import AuthenticationFailed, SourceUnavailable
from perlinsos.plugins import PilotHooks
from perlinsos.problems import problem


@dataclass(frozen=True)
class Actor:
    """Who acts: the citizen always; the facilitator too when the citizen is assisted."""

    citizen: Principal
    citizen_token: str
    facilitator: Principal | None = None

    @property
    def channel(self) -> Channel:
        return Channel.ASSISTED if self.facilitator else Channel.SELF

    @property
    def assisted_by(self) -> str | None:
        return self.facilitator.subject if self.facilitator else None


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


async def acting(db: Database, hooks: PilotHooks | None, principal: Principal | None, token: str | None,
                 citizen_token: str | None) -> Actor:
    """Who acts in a citizen flow: the signed-in citizen, or a facilitator with the citizen's own
    IKD token (the citizen authenticated on the facilitator's phone)."""
    if principal is None or token is None:
        raise problem("UNAUTHENTICATED")
    if hooks is None:
        raise problem("PILOT_REQUIRED")
    if citizen_token is None:
        if not principal.is_citizen or not principal.nik:
            raise problem("CITIZEN_TOKEN_REQUIRED" if principal.is_staff else "NOT_A_CITIZEN")
        return Actor(citizen=principal, citizen_token=token)
    if not any(s.role == Role.FACILITATOR for s in principal.scopes):
        raise problem("NOT_A_FACILITATOR")
    try:
        async with db.read() as session:
            citizen = await authenticate(citizen_token, hooks, session)
    except AuthenticationFailed:
        raise problem("CITIZEN_TOKEN_INVALID", field="citizenToken") from None
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    if citizen is None or not citizen.is_citizen or not citizen.nik:
        raise problem("CITIZEN_TOKEN_INVALID", field="citizenToken")
    if citizen.subject == principal.subject:
        return Actor(citizen=citizen, citizen_token=citizen_token)  # a facilitator registering themselves
    return Actor(citizen=citizen, citizen_token=citizen_token, facilitator=principal)


__all__ = ["Actor", "acting", "authenticate", "bearer_token", "with_staff_roles"]
