"""Separation of duties: nobody reviews an appeal that is about themselves or their household,
nor one they had a hand in as a facilitator.

A reviewer is *tied* to an appeal when any of these holds:

* the appellant's NIK is one of the reviewer's NIKs;
* the appellant, or the registration the appeal is about, belongs to a household (KK) the
  reviewer is a member of;
* the reviewer assisted the registration, or the appeal itself, as a facilitator.

The reviewer's NIKs are whatever their sign-in carries: the NIK of a national provider (a staff
member signing in with IKD carries one), a regional provider's claimed NIK (a claim is enough to
step back; it opens nothing), and every NIK a national provider confirmed for that identity
(``identity_link``). Their households are those of the persons with those NIKs, plus the KK a
token may carry as a claim. Facilitator ties compare identities, (issuer, subject).

Claiming, resolving and any other reviewer step refuse a tied reviewer with
``CONFLICT_OF_INTEREST`` (before any other workflow rule, so the answer does not depend on the
appeal's state); the reviewers' list leaves tied appeals out of that reviewer's queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos.contract import Principal
from perlinsos.db.models import Appeal, Household, IdentityLink, Person, Registration

#: token claims that may carry the signed-in person's family card number
KK_CLAIMS = ("kk", "kk_number", "no_kk")

#: why a reviewer is tied to an appeal (kept in logs; never a NIK)
APPELLANT, HOUSEHOLD, ASSISTED_REGISTRATION, ASSISTED_APPEAL = (
    "APPELLANT", "HOUSEHOLD", "ASSISTED_REGISTRATION", "ASSISTED_APPEAL")


@dataclass(frozen=True)
class Ties:
    """Who a principal is, as far as the records tell: their NIKs and households."""

    identity: tuple[str | None, str]
    niks: frozenset[str]
    household_ids: frozenset[int]


async def ties_of(session: AsyncSession, principal: Principal) -> Ties:
    niks = {n for n in (principal.nik, principal.claimed_nik) if n}
    if principal.issuer is not None:
        niks |= set((await session.execute(select(IdentityLink.nik).where(
            IdentityLink.issuer == principal.issuer, IdentityLink.subject == principal.subject))).scalars())
    households: set[int] = set()
    if niks:
        households |= {h for h in (await session.execute(
            select(Person.household_id).where(Person.nik.in_(niks)))).scalars() if h is not None}
    kks = {str(principal.claims[k]) for k in KK_CLAIMS if principal.claims.get(k)}
    if kks:
        households |= set((await session.execute(
            select(Household.id).where(Household.kk_number.in_(kks)))).scalars())
    return Ties(principal.identity, frozenset(niks), frozenset(households))


def _assisted(ties: Ties, subject: str | None, issuer: str | None) -> bool:
    return subject is not None and (issuer, subject) == ties.identity


def conflict(ties: Ties, *, appellant: Person, registration: Registration, appeal: Appeal) -> str | None:
    """Why ``ties`` may not review ``appeal`` (a reason code), or ``None`` when they may."""
    if appellant.nik in ties.niks:
        return APPELLANT
    if {appellant.household_id, registration.household_id} & ties.household_ids:
        return HOUSEHOLD
    if _assisted(ties, registration.assisted_by, registration.assisted_by_issuer):
        return ASSISTED_REGISTRATION
    if _assisted(ties, appeal.assisted_by, appeal.assisted_by_issuer):
        return ASSISTED_APPEAL
    return None


async def appeal_conflict(session: AsyncSession, principal: Principal, appeal: Appeal,
                          registration: Registration) -> str | None:
    """:func:`conflict` for one appeal, reading what it needs."""
    appellant = await session.get(Person, appeal.appellant_person_id)
    if appellant is None:  # cannot happen (foreign key); refuse rather than guess
        return APPELLANT
    return conflict(await ties_of(session, principal), appellant=appellant, registration=registration, appeal=appeal)


def conflicted(ties: Ties) -> ColumnElement[bool]:
    """The SQL twin of :func:`conflict`, over ``appeal`` joined to its ``registration``: true for
    the appeals ``ties`` may not review, false (never NULL) for the others, so ``~conflicted(...)``
    keeps an appeal whose nullable columns (``assisted_by``) are empty."""
    issuer, subject = ties.identity
    clauses: list[ColumnElement[bool]] = [
        (Registration.assisted_by == subject) & (Registration.assisted_by_issuer == issuer),
        (Appeal.assisted_by == subject) & (Appeal.assisted_by_issuer == issuer),
    ]
    if ties.niks or ties.household_ids:
        related = or_(Person.nik.in_(ties.niks) if ties.niks else false(),
                      Person.household_id.in_(ties.household_ids) if ties.household_ids else false())
        clauses.append(Appeal.appellant_person_id.in_(select(Person.id).where(related)))
    if ties.household_ids:
        clauses.append(Registration.household_id.in_(ties.household_ids))
    return func.coalesce(or_(*clauses), false())
