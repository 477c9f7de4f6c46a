"""From a bearer token to a :class:`Principal` with its staff roles.

Identity plugins (the ``authenticate`` hook) say *who* signed in; the platform then checks that
the plugin declared that issuer for sign-in in this pilot (:mod:`perlinsos.identity.trust`), so a
token is accepted only for pilots that trust its issuer. What staff may do comes from the
platform's own staff assignments, matched on (issuer, subject) and limited to this pilot (or
national, for a national provider's subjects), so a region's identity provider cannot grant
roles. A regional provider's NIK claim opens no records until a national provider confirmed it
(:class:`~perlinsos.db.models.IdentityLink`, made when the citizen consents through IKD).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import bindparam, literal_column, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perlinsos.contract import Principal, Role, StaffScope
from perlinsos.db.models import Channel, IdentityLink, Person, Pilot, StaffAssignment
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

    @property
    def assisted_by_issuer(self) -> str | None:
        return self.facilitator.issuer if self.facilitator else None


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
    return (await identify(token, hooks, session, household=False))[0]


async def identify(token: str | None, hooks: PilotHooks | None, session: AsyncSession | AsyncConnection, *,
                   household: bool = True) -> tuple[Principal | None, int | None]:
    """:func:`authenticate`, and with ``household`` the signed-in citizen's household id (``None``
    for staff, anonymous and a NIK without a record), read in the same statement as the staff roles:
    one round trip fewer on every citizen's request."""
    if token is None:
        return None, None
    if hooks is None:
        raise AuthenticationFailed("no pilot to authenticate against")
    plugin, principal = await hooks.first_with_plugin("authenticate", token=token)
    if principal is None:
        raise AuthenticationFailed("no identity provider recognised the token")
    if not isinstance(principal, Principal):
        raise TypeError("authenticate must return a perlinsos.contract.Principal or None")
    trust = await hooks.trust()
    if trust.sign_in(plugin, principal.issuer) is None:
        # A provider this pilot does not trust, or a plugin vouching for an issuer it did not
        # declare here: either way nobody this pilot knows.
        raise AuthenticationFailed("the token's identity provider is not trusted by this pilot")
    # Roles are the platform's to give: whatever a plugin put in `scopes` is dropped.
    principal = replace(principal, scopes=())
    principal = await _confirmed_nik(principal, trust, session)
    nik = principal.nik if household and principal.is_citizen else None
    national = trust.is_national(principal.issuer)
    of_pilot = hooks.pilot is not None and hooks.pilot.id is not None
    if nik is None or not (of_pilot or national) or principal.issuer is None:
        household_id = None if nik is None else \
            (await session.execute(_HOUSEHOLD_OF, {"nik": nik})).scalar_one_or_none()
        return await with_staff_roles(principal, session, hooks.pilot, national=national), household_id
    rows = (await session.execute(_ROLES_AND_HOUSEHOLD[of_pilot, national], {
        "issuer": principal.issuer, "subject": principal.subject, "nik": nik,
        **({"pilot_id": hooks.pilot.id} if of_pilot else {})})).all()
    return _with_scopes(principal, [r[1:] for r in rows if r.role is not None]), rows[0].household_id


async def _confirmed_nik(principal: Principal, trust, session: AsyncSession) -> Principal:
    """A national provider's NIK is the NIK; a regional one's only once a national provider
    confirmed it for this identity. Until then it is kept as ``claimed_nik`` (to consent with)."""
    if not principal.nik or trust.is_national(principal.issuer):
        return principal
    linked = (
        await session.execute(select(IdentityLink.nik).where(IdentityLink.issuer == principal.issuer,
                                                            IdentityLink.subject == principal.subject))
    ).scalar_one_or_none()
    if linked == principal.nik:
        return principal
    return replace(principal, nik=None, claimed_nik=principal.nik)


def _staff_roles_statement(of_pilot: bool, national: bool):
    sa = StaffAssignment.__table__
    where = ([sa.c.pilot_id == bindparam("pilot_id")] if of_pilot else []) + ([sa.c.pilot_id.is_(None)] if national else [])
    return (select(sa.c.role, sa.c.region_code, Pilot.__table__.c.code, sa.c.pilot_id)
            .outerjoin(Pilot.__table__, Pilot.__table__.c.id == sa.c.pilot_id)
            .where(sa.c.issuer == bindparam("issuer"), sa.c.subject == bindparam("subject"), sa.c.revoked_at.is_(None),
                   or_(*where)))


def _roles_and_household_statement(of_pilot: bool, national: bool):
    """The staff roles (none: one row of NULLs) and the household of the person with ``:nik``."""
    roles = _staff_roles_statement(of_pilot, national).subquery()
    one = select(literal_column("1").label("one")).subquery()
    household = select(Person.__table__.c.household_id).where(Person.__table__.c.nik == bindparam("nik"))
    return (select(household.scalar_subquery().label("household_id"), roles.c.role, roles.c.region_code, roles.c.code,
                   roles.c.pilot_id).select_from(one.outerjoin(roles, true())))


#: (this pilot's, national) -> the statement, built once: every request with a token runs one
_STAFF_ROLES = {(p, n): _staff_roles_statement(p, n) for p in (True, False) for n in (True, False) if p or n}
_ROLES_AND_HOUSEHOLD = {k: _roles_and_household_statement(*k) for k in _STAFF_ROLES}
_HOUSEHOLD_OF = select(Person.__table__.c.household_id).where(Person.__table__.c.nik == bindparam("nik"))


async def with_staff_roles(principal: Principal, session: AsyncSession, pilot=None, *,
                           national: bool = False) -> Principal:
    """Attach the principal's live staff assignments (citizens may be staff too): those of this
    pilot, and the national ones when the principal's provider is national."""
    of_pilot = pilot is not None and pilot.id is not None
    if not (of_pilot or national) or principal.issuer is None:
        return principal
    rows = (await session.execute(_STAFF_ROLES[of_pilot, national], {
        "issuer": principal.issuer, "subject": principal.subject, **({"pilot_id": pilot.id} if of_pilot else {})})).all()
    return _with_scopes(principal, rows)


def _with_scopes(principal: Principal, rows) -> Principal:
    scopes = tuple(StaffScope(Role(_value(role)), region, code, pilot_id) for role, region, code, pilot_id in rows)
    return replace(principal, scopes=principal.scopes + scopes) if scopes else principal


def _value(role) -> str:
    return getattr(role, "value", role)


async def acting(db: Database, hooks: PilotHooks | None, principal: Principal | None, token: str | None,
                 citizen_token: str | None, *, allow_unconfirmed: bool = False) -> Actor:
    """Who acts in a citizen flow: the signed-in citizen, or a facilitator with the citizen's own
    IKD token (the citizen authenticated on the facilitator's phone). ``allow_unconfirmed`` lets a
    regional sign-in whose NIK no national provider confirmed yet act (only to consent through one)."""
    if principal is None or token is None:
        raise problem("UNAUTHENTICATED")
    if hooks is None:
        raise problem("PILOT_REQUIRED")
    if citizen_token is None:
        if not principal.is_citizen or not (principal.nik or (allow_unconfirmed and principal.claimed_nik)):
            raise problem("CITIZEN_TOKEN_REQUIRED" if principal.is_staff else
                          "NIK_NOT_CONFIRMED" if principal.claimed_nik else "NOT_A_CITIZEN")
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
    if citizen is None or not citizen.is_citizen or not (citizen.nik or (allow_unconfirmed and citizen.claimed_nik)):
        raise problem("CITIZEN_TOKEN_INVALID", field="citizenToken")
    if citizen.identity == principal.identity:
        return Actor(citizen=citizen, citizen_token=citizen_token)  # a facilitator registering themselves
    return Actor(citizen=citizen, citizen_token=citizen_token, facilitator=principal)


__all__ = ["Actor", "acting", "authenticate", "bearer_token", "identify", "with_staff_roles"]
