"""Reading a chunk of registrations with what selection needs: NIKs, household, consent, and
the platform's own facts (the NIK's validity, registrations elsewhere, consent)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos import idnumbers
from perlinsos.registration import DEFAULT_PURPOSE
from perlinsos.contract import ConsentGrant, Fact, RegistrantRef
from perlinsos.db.models import Appeal, Consent, Decision, Household, Person, Pilot, Registration
from perlinsos.db.types import utcnow

PLATFORM = "Perlinsos"
FACT_SCOPES = ("facts:income", "facts:bank", "facts:electricity", "facts:welfare", "facts:employment",
               "facts:vehicles")


@dataclass(frozen=True)
class Chunk:
    refs: list[RegistrantRef]
    person_ids: dict[int, int]  # registration id → applicant person id
    platform_facts: dict[int, dict[str, Fact]]  # registration id → facts the platform knows itself
    #: facts a reviewer corrected when upholding an appeal; they outrank any source, in every run
    corrections: dict[int, dict[str, Fact]]

    @property
    def last_id(self) -> int:
        return self.refs[-1].registration_id


async def load_chunk(conn: AsyncConnection, pilot_id: int, programme: str | None, after_id: int, limit: int,
                     only_ids: list[int] | None = None, regions: list[str] | None = None) -> Chunk | None:
    """The next ``limit`` registrations after ``after_id`` (of some villages: a run's partition)."""
    reg, person, household = Registration.__table__, Person.__table__, Household.__table__
    stmt = (
        select(reg.c.id, reg.c.programme, reg.c.region_code, reg.c.person_id, reg.c.household_id,
               person.c.nik, household.c.kk_number)
        .join(person, person.c.id == reg.c.person_id)
        .join(household, household.c.id == reg.c.household_id)
        .where(reg.c.pilot_id == pilot_id, reg.c.id > after_id)
        .order_by(reg.c.id)
        .limit(limit)
    )
    if programme is not None:
        stmt = stmt.where(reg.c.programme == programme)
    if only_ids is not None:
        stmt = stmt.where(reg.c.id.in_(only_ids))
    if regions is not None:
        stmt = stmt.where(reg.c.region_code.in_(regions))
    rows = (await conn.execute(stmt)).all()
    if not rows:
        return None
    members = await _members(conn, {r.household_id for r in rows})
    consents = await _live_consents(conn, {r.person_id for r in rows})
    elsewhere = await _other_registrations(conn, pilot_id, rows)
    corrections = await _corrections(conn, [r.id for r in rows])
    refs, person_ids, platform_facts = [], {}, {}
    today = utcnow().date()
    for r in rows:
        grant = consents.get(r.person_id)
        grant = None if grant is None else ConsentGrant(
            nik=r.nik, scopes=tuple(grant.scopes), purpose=grant.purpose, policy_version=grant.policy_version,
            given_at=grant.given_at, expires_at=grant.expires_at, reference=grant.provider_reference,
            issuer=grant.provider_issuer)
        refs.append(RegistrantRef(
            registration_id=r.id, nik=r.nik, kk_number=r.kk_number, region_code=r.region_code,
            programme=r.programme, member_niks=tuple(members.get(r.household_id, ())), consent=grant,
        ))
        person_ids[r.id] = r.person_id
        platform_facts[r.id] = {
            "platform.nik_valid": Fact(r.id, "platform.nik_valid", idnumbers.is_valid_nik(r.nik), PLATFORM, today),
            "platform.other_registrations": Fact(r.id, "platform.other_registrations",
                                                 sorted(elsewhere.get((r.person_id, r.programme), ())), PLATFORM, today),
            "platform.consent_live": Fact(r.id, "platform.consent_live",
                                          grant is not None and all(s in grant.scopes for s in FACT_SCOPES),
                                          PLATFORM, today),
        }
    return Chunk(refs, person_ids, platform_facts, corrections)


async def _corrections(conn: AsyncConnection, registration_ids: list[int]) -> dict[int, dict[str, Fact]]:
    """Corrected facts of upheld appeals (the latest appeal wins for a fact)."""
    appeal, decision = Appeal.__table__, Decision.__table__
    rows = await conn.execute(
        select(decision.c.registration_id, appeal.c.id, appeal.c.corrected_facts, appeal.c.resolved_at)
        .join(decision, decision.c.id == appeal.c.decision_id)
        .where(decision.c.registration_id.in_(registration_ids), appeal.c.status == "UPHELD",
               appeal.c.corrected_facts.is_not(None))
        .order_by(appeal.c.resolved_at)
    )
    found: dict[int, dict[str, Fact]] = defaultdict(dict)
    for registration_id, appeal_id, corrected, resolved_at in rows:
        for name, value in (corrected or {}).items():
            found[registration_id][name] = Fact(registration_id, name, value, f"Sanggah #{appeal_id} (ditinjau)",
                                                resolved_at.date() if resolved_at else None)
    return found


# The chunk's look-ups, built once: an ``in_`` of a Python list coerces each of its hundreds of
# values every time; an expanding parameter takes the list at execution.
_person = Person.__table__
_MEMBERS = (select(_person.c.household_id, _person.c.nik)
            .where(_person.c.household_id.in_(bindparam("ids", expanding=True))).order_by(_person.c.id))


async def _members(conn: AsyncConnection, household_ids: set[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for household_id, nik in (await conn.execute(_MEMBERS, {"ids": list(household_ids)})).all():
        found[household_id].append(nik)
    return found


_consent = Consent.__table__
# only what a grant carries: every datetime column read is a parse per row on SQLite
_CONSENTS = (select(_consent.c.person_id, _consent.c.scopes, _consent.c.purpose, _consent.c.policy_version,
                    _consent.c.given_at, _consent.c.expires_at, _consent.c.provider_reference,
                    _consent.c.provider_issuer)
             .where(_consent.c.person_id.in_(bindparam("ids", expanding=True)),
                    _consent.c.purpose == bindparam("purpose"), _consent.c.withdrawn_at.is_(None))
             .order_by(_consent.c.given_at))


async def _live_consents(conn: AsyncConnection, person_ids: set[int]) -> dict[int, object]:
    rows = (await conn.execute(_CONSENTS, {"ids": list(person_ids), "purpose": DEFAULT_PURPOSE})).all()
    now: datetime = utcnow()
    live: dict[int, object] = {}
    for row in rows:  # newest last, so it wins
        if row.expires_at is None or row.expires_at > now:
            live[row.person_id] = row
    return live


async def _other_registrations(conn: AsyncConnection, pilot_id: int, rows) -> dict[tuple[int, str], set[str]]:
    """Registrations of the same applicant for the same programme in *other* pilots."""
    reg, pilot = Registration.__table__, Pilot.__table__
    person_ids = {r.person_id for r in rows}
    found: dict[tuple[int, str], set[str]] = defaultdict(set)
    result = await conn.execute(
        select(reg.c.person_id, reg.c.programme, pilot.c.code)
        .join(pilot, pilot.c.id == reg.c.pilot_id)
        .where(and_(reg.c.person_id.in_(person_ids), reg.c.pilot_id != pilot_id))
    )
    for person_id, programme, code in result:
        found[(person_id, programme)].add(code)
    return found
