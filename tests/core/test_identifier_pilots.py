"""Identifier exposure is of one pilot (issue 15): a reviewer of pilot B over the same regency as
pilot A is no reviewer for people shown outside B's registrations, so never sees their full NIKs or
birth dates (policy/identifiers.py, ``pilot_id``).

The path that showed them: a citizen who is also a reviewer of pilot B, whose household registered
in pilot A only, reading their own records with pilot B's header. Their family's full NIKs came back
under ``me.household``, under ``me.registrations`` (pilot A's) and in the data export. Real IKD
sign-ins, two pilots over Kabupaten Banyuwangi, GraphQL over HTTP.
"""

from __future__ import annotations

import pytest
from conftest import GraphQLClient, ikd_pilot_data
from fixtures import seed
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from test_appeals import registered
from test_separation_of_duties import subject_of

A, B = "BWI-2025", "BWI-2026-B"
FAMILY = """{ me { person { nik } household { kkNumber members { nik birthDate } }
  registrations { household { members { nik birthDate } } } export } }"""
MASK = "********"


@pytest.fixture
async def family(ikd_client, ikd, db, plugin_manager):
    """A household head (with family on the KK) registered in pilot A, who is also a reviewer of
    the regency in pilot B; a client for each pilot."""
    async with db.write() as session:
        await save_pilot(session, parse_pilot(ikd_pilot_data(ikd, code=B, name="Uji coba kedua Banyuwangi"),
                                              plugin_manager))
    person = next(p for p in ikd.people(limit=60, role="HEAD") if p["household_size"] >= 2)
    token = await registered(ikd_client, ikd, db, plugin_manager, person)
    subject = await subject_of(ikd_client, token)
    others = [m["nik"] for m in ikd.people(limit=1000) if m["household"] == person["household"]
              and m["nik"] != person["nik"]]
    assert others
    return person, token, subject, others, {p: GraphQLClient(ikd_client.http, pilot=p) for p in (A, B)}


def members(data: dict) -> list[dict]:
    me = data["data"]["me"]
    shown = me["household"]["members"] + [m for r in me["registrations"] for m in r["household"]["members"]]
    exported = me["export"]["household"]["members"]
    return [{"nik": m["nik"], "birthDate": m["birthDate"]} for m in shown] + \
        [{"nik": m["nik"], "birthDate": m["birth_date"]} for m in exported]


async def test_a_reviewer_of_another_pilot_does_not_see_their_familys_full_niks(db, ikd, family):
    person, token, subject, others, client = family
    await seed.staff(db, subject, "REVIEWER", "35.10", pilot_code=B, issuer=ikd.issuer)
    data = await client[B].query(FAMILY, token=token)
    assert "errors" not in data, data
    assert data["data"]["me"]["person"]["nik"] == person["nik"]  # their own, in full
    shown = [m for m in members(data) if m["nik"][4:12] == MASK or m["nik"] in others]
    assert len(shown) == 3 * len(others)
    assert all(m["nik"][4:12] == MASK and m["birthDate"] is None for m in shown), shown


async def test_a_reviewer_of_the_registrations_pilot_still_sees_them(db, ikd, family):
    person, token, subject, others, client = family
    await seed.staff(db, subject, "REVIEWER", "35.10", pilot_code=A, issuer=ikd.issuer)
    me = (await client[A].query(FAMILY, token=token))["data"]["me"]
    # through pilot A's registration, as pilot A's reviewer: in full
    through = [m["nik"] for r in me["registrations"] for m in r["household"]["members"]]
    assert set(others) <= set(through)
    # outside any registration (their own household, their export) they are family, not a reviewer
    assert all(m["nik"][4:12] == MASK for m in me["household"]["members"] if m["nik"] != person["nik"])
