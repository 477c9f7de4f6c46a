"""Persons and households as the population record gives them (upserted, never guessed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos.contract import PersonRecord
from perlinsos.db.models import Household, Person
from perlinsos.idnumbers import normalize_phone, InvalidPhone


async def person_by_nik(session: AsyncSession, nik: str) -> Person | None:
    return (await session.execute(select(Person).where(Person.nik == nik))).scalar_one_or_none()


async def upsert_person(session: AsyncSession, record: PersonRecord) -> Person:
    """Store the record's household (by KK), the person and the other members on the KK."""
    household = (
        await session.execute(select(Household).where(Household.kk_number == record.kk_number))
    ).scalar_one_or_none()
    if household is None:
        household = Household(kk_number=record.kk_number, region_code=record.region_code)
        session.add(household)
        await session.flush()
    else:
        household.region_code = record.region_code
    # the registrant and every member on the KK in one query (not one per person)
    niks = {record.nik, *(m.nik for m in record.members)}
    known = {p.nik: p for p in (await session.execute(select(Person).where(Person.nik.in_(niks)))).scalars()}
    person = known.get(record.nik)
    if person is None:
        person = known[record.nik] = Person(nik=record.nik)
        session.add(person)
    person.household_id = household.id
    person.name = record.name
    person.birth_date = record.birth_date
    person.sex = record.sex
    person.region_code = record.region_code
    person.phone = _phone(record.phone)
    for member in record.members:
        if member.nik == record.nik:
            person.relationship = member.relationship
            continue
        other = known.get(member.nik)
        if other is None:
            other = known[member.nik] = Person(nik=member.nik, region_code=record.region_code)
            session.add(other)
        other.household_id = household.id
        other.name = member.name
        other.birth_date = member.birth_date
        other.sex = member.sex
        other.relationship = member.relationship
        other.region_code = record.region_code
    await session.flush()
    return person


def _phone(value: str | None) -> str | None:
    # A malformed number is kept out (notifications then fall back to the portal inbox).
    if not value:
        return None
    try:
        return normalize_phone(value)
    except InvalidPhone:
        return None
