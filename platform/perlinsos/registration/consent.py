"""Consent to access personal data: given by the citizen (on their phone or a facilitator's),
recorded with who, when, how and under which policy, withdrawable. Nothing personal is fetched
without a live consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit, idnumbers, policy
from perlinsos.registration import people
from perlinsos.contract import ConsentGrant, PersonRecord, Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Consent, Person
from perlinsos.db.types import utcnow
from perlinsos.errors import ConsentInvalid, SourceUnavailable
from perlinsos.identity.auth import Actor
from perlinsos.plugins import PilotHooks
from perlinsos.problems import problem

#: Data a citizen can allow the platform to read, and what for.
SCOPES = ("person", "facts:income", "facts:bank", "facts:electricity", "facts:welfare",
          "facts:employment", "facts:vehicles")
PURPOSES = ("bansos-selection",)
PERSON_SCOPE = "person"
DEFAULT_PURPOSE = "bansos-selection"


async def live_consent_by_nik(session: AsyncSession, nik: str, scope: str,
                              purpose: str = DEFAULT_PURPOSE) -> Consent | None:
    """As :func:`live_consent`, found by NIK in one query (no person lookup first)."""
    rows = (
        await session.execute(
            select(Consent).join(Person, Person.id == Consent.person_id)
            .where(Person.nik == nik, Consent.purpose == purpose, Consent.withdrawn_at.is_(None))
            .order_by(Consent.given_at.desc())
        )
    ).scalars()
    now = utcnow()
    return next((r for r in rows if scope in r.scopes and is_live(r, now)), None)


def as_grant(row: Consent, nik: str) -> ConsentGrant:
    return ConsentGrant(
        nik=nik, scopes=tuple(row.scopes), purpose=row.purpose, policy_version=row.policy_version,
        given_at=row.given_at, expires_at=row.expires_at, reference=row.provider_reference,
    )


def is_live(row: Consent, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return row.withdrawn_at is None and (row.expires_at is None or row.expires_at > now)


async def live_consent(session: AsyncSession, person_id: int, scope: str,
                       purpose: str = DEFAULT_PURPOSE) -> Consent | None:
    """The newest live consent of ``person_id`` covering ``scope`` for ``purpose``."""
    rows = (
        await session.execute(
            select(Consent).where(Consent.person_id == person_id, Consent.purpose == purpose,
                                  Consent.withdrawn_at.is_(None)).order_by(Consent.given_at.desc())
        )
    ).scalars()
    now = utcnow()
    return next((r for r in rows if scope in r.scopes and is_live(r, now)), None)


async def fetch_person(hooks: PilotHooks, nik: str, grant: ConsentGrant) -> PersonRecord:
    """The population record under ``grant``, or a :class:`Problem` a person understands."""
    if not grant.allows(PERSON_SCOPE):
        raise problem("CONSENT_REQUIRED")
    try:
        record = await hooks.first("fetch_person", nik=nik, consent=grant)
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    except ConsentInvalid:
        raise problem("CONSENT_INVALID") from None
    if record is None:
        raise problem("PERSON_UNKNOWN")
    # A record that does not fit the rules is refused before anything of it is stored.
    if record.nik != nik:
        raise problem("NIK_INVALID")
    try:
        idnumbers.parse_kk(record.kk_number)
    except idnumbers.InvalidKk:
        raise problem("KK_INVALID") from None
    return record


def check_facilitator(actor: Actor, region_code: str, pilot_code: str) -> None:
    """An assisting facilitator acts only inside the villages assigned to them."""
    if actor.facilitator is not None and not policy.facilitator_covers(actor.facilitator, region_code, pilot_code):
        raise problem("FACILITATOR_OUT_OF_AREA")


async def give(db: Database, hooks: PilotHooks, actor: Actor, *, scopes: Sequence[str], purpose: str,
               policy_version: str) -> Consent:
    """Obtain a grant from the identity provider, read the person under it, record both.

    External calls happen before the write transaction, so no database lock is held while the
    identity provider answers; a failure anywhere stores nothing.
    """
    scopes = tuple(dict.fromkeys(scopes))
    if not scopes or any(s not in SCOPES for s in scopes):
        raise problem("SCOPE_UNKNOWN", field="scopes")
    if purpose not in PURPOSES:
        raise problem("PURPOSE_INVALID", field="purpose")
    if not policy_version or len(policy_version) > 20:
        raise problem("INPUT_INVALID", field="policyVersion")
    nik = actor.citizen.nik
    async with db.read() as session:
        person = await people.person_by_nik(session, nik)
        if person is not None:
            existing = await live_consent(session, person.id, scopes[0], purpose)
            if existing and set(scopes) <= set(existing.scopes) and existing.policy_version == policy_version:
                return existing  # a double tap: the same consent, not a second one
    try:
        grant = await hooks.first("grant_consent", token=actor.citizen_token, nik=nik, scopes=scopes,
                                  purpose=purpose, policy_version=policy_version)
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    if grant is None:
        raise problem("IDENTITY_PROVIDER_UNSUPPORTED")
    record = await fetch_person(hooks, nik, grant) if PERSON_SCOPE in scopes else None
    if actor.facilitator is not None:
        if record is None:
            raise problem("CONSENT_REQUIRED", field="scopes")
        check_facilitator(actor, record.region_code, hooks.pilot.code)
    for attempt in range(2):
        try:
            return await _store(db, actor, nik, record, grant, purpose, policy_version)
        except IntegrityError:
            # Another member of the household consented at the same moment (PostgreSQL): both
            # inserted its KK and members; the loser now finds them stored and updates them.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _store(db: Database, actor: Actor, nik: str, record: PersonRecord | None, grant: ConsentGrant,
                 purpose: str, policy_version: str) -> Consent:
    async with db.write() as session:
        person = await people.upsert_person(session, record) if record else await people.person_by_nik(session, nik)
        if person is None:
            raise problem("CONSENT_REQUIRED", field="scopes")  # first consent must include "person"
        row = Consent(
            person_id=person.id, scopes=list(grant.scopes), purpose=purpose, policy_version=policy_version,
            channel=actor.channel, actor=actor.citizen.subject, assisted_by=actor.assisted_by,
            provider_reference=grant.reference, given_at=utcnow(), expires_at=grant.expires_at,
        )
        session.add(row)
        await session.flush()
        await audit.record_change(session, actor.facilitator or actor.citizen, action="CONSENT_GIVEN",
                                  entity_type="consent", entity_id=row.id, subject_person_id=person.id,
                                  details={"scopes": list(grant.scopes), "purpose": purpose,
                                           "channel": actor.channel.value})
    return row


async def end_refused_grant(db: Database, consent_id: int, person_id: int) -> None:
    """The identity provider no longer honours this consent's grant (revoked or expired there):
    end it here too, so the citizen's next ``giveConsent`` asks for a new grant instead of
    returning the dead one as a double tap."""
    async with db.write() as session:
        row = await session.get(Consent, consent_id)
        if row is not None and row.withdrawn_at is None:
            row.withdrawn_at = utcnow()
            await audit.record_change(session, None, actor="system:identity", action="CONSENT_ENDED_BY_PROVIDER", entity_type="consent",
                                      entity_id=row.id, subject_person_id=person_id)


async def withdraw(db: Database, hooks: PilotHooks, citizen: Principal, consent_id: int) -> Consent:
    """Withdraw at once on the platform; tell the identity provider after commit (best effort)."""
    async with db.write() as session:
        row = (
            await session.execute(
                select(Consent).join(Person, Person.id == Consent.person_id)
                .where(Consent.id == consent_id, Person.nik == citizen.nik)
            )
        ).scalar_one_or_none()
        if row is None:
            raise problem("CONSENT_NOT_FOUND")  # someone else's consent does not exist for you
        if row.withdrawn_at is None:
            row.withdrawn_at = utcnow()
            await audit.record_change(session, citizen, action="CONSENT_WITHDRAWN", entity_type="consent",
                                      entity_id=row.id, subject_person_id=row.person_id)
    await hooks.notify("revoke_consent", consent=as_grant(row, citizen.nik))
    return row
