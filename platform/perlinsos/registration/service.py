"""Stage 1 — registration: a citizen (alone, or on a facilitator's phone) registers their
household for a programme; and reading registrations within what a viewer may see.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos import audit, idnumbers, policy, regions
from perlinsos.registration import consent
from perlinsos.registration import people, requirements
from perlinsos.identity.auth import Actor
from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Pilot, Registration
from perlinsos.db.types import utcnow
from perlinsos.plugins import PilotHooks
from perlinsos.problemlist import raise_all
from perlinsos.problems import Problem, problem


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


# --- registering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    registration: Registration
    created: bool


async def register(db: Database, hooks: PilotHooks, actor: Actor, *, programme: str) -> Registered:
    """Register the actor's household for ``programme`` of the hook's pilot.

    Checks run before anything is written: programme and window, a live consent covering what
    selection reads, the population record (through ``fetch_person``, outside any write
    transaction), the pilot's regions, the facilitator's villages; every problem found is reported
    at once. Re-submitting returns the existing registration and creates nothing.
    """
    pilot = hooks.pilot
    # The form is checked whole: every problem found before the population record is read is
    # reported at once; reading the record needs a live `person` consent, so its problems follow.
    found: list[Problem] = []
    if programme not in pilot.programmes:
        found.append(problem("PROGRAMME_NOT_IN_PILOT", field="programme"))
    now = utcnow()
    if not pilot.phases["registration_opens"] <= now < pilot.phases["registration_closes"]:
        found.append(problem("REGISTRATION_CLOSED"))
    citizen = actor.citizen
    try:
        idnumbers.parse_nik(citizen.nik or "")
    except idnumbers.InvalidNik:
        raise_all([*found, problem("NIK_INVALID")])  # no consent can be looked up for a malformed NIK
    async with db.read() as session:
        consent_row = await consent.live_consent_by_nik(session, citizen.nik, consent.PERSON_SCOPE)
    if consent_row is None:
        found.append(problem("CONSENT_REQUIRED", field="consent"))
        raise_all(found)
    # A consent that lacks what selection reads would give a decision that stays PENDING for
    # ever (registration/requirements.py): refused, naming the scopes the citizen must add.
    offered = await consent.available_scopes(hooks)
    lacking = requirements.missing_for_selection(offered, consent_row.scopes)
    if lacking:
        found.append(requirements.insufficient(lacking, offered))
    if any(p.code != "CONSENT_INSUFFICIENT" for p in found):
        raise_all(found)  # the record is not read for a registration refused anyway
    try:
        record = await consent.fetch_person(hooks, citizen.nik, consent.as_grant(consent_row, citizen.nik))
    except Problem as exc:
        if exc.code == "CONSENT_INVALID":
            await consent.end_refused_grant(db, consent_row.id, consent_row.person_id)
        raise_all([exc, *found])
    if not any(regions.is_within(record.region_code, code) for code in pilot.region_codes):
        found.append(problem("OUTSIDE_PILOT_REGION"))
    try:
        consent.check_facilitator(actor, record.region_code, pilot.code)
    except Problem as exc:
        found.append(exc)
    raise_all(found)
    for attempt in range(2):
        try:
            return await _store(db, hooks, actor, record, consent_row.id, programme)
        except IntegrityError:
            # A concurrent identical submission won the race (PostgreSQL): answer with its row.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _store(db: Database, hooks: PilotHooks, actor: Actor, record, consent_id: int,
                 programme: str) -> Registered:
    pilot = hooks.pilot
    async with db.write() as session:
        person = await people.upsert_person(session, record)
        existing = (
            await session.execute(
                select(Registration).where(Registration.pilot_id == pilot.id, Registration.programme == programme,
                                           Registration.household_id == person.household_id)
            )
        ).scalar_one_or_none()
        if existing is not None:
            if existing.person_id != person.id:
                raise problem("ALREADY_REGISTERED_BY_HOUSEHOLD")
            return Registered(existing, created=False)
        row = Registration(
            pilot_id=pilot.id, programme=programme, person_id=person.id, household_id=person.household_id,
            region_code=record.region_code, channel=actor.channel, assisted_by=actor.assisted_by,
            assisted_by_issuer=actor.assisted_by_issuer,
            consent_id=consent_id, submitted_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        await audit.record_change(session, actor.facilitator or actor.citizen, action="REGISTRATION_CREATED",
                                  entity_type="registration", entity_id=row.id, subject_person_id=person.id,
                                  details={"programme": programme, "channel": actor.channel.value})
    await hooks.notify("registrations_created", registrations=[{
        "id": row.id, "programme": programme, "channel": row.channel.value, "region_code": row.region_code,
    }])
    return Registered(row, created=True)
