"""Separation of duties (issue 15): nobody reviews an appeal about themselves or their household,
nor one they assisted as a facilitator (perlinsos.policy.duties), whichever way they signed in.

Everyone here signs in with the IKD simulator: a reviewer who signs in with their own IKD carries
their NIK, as in the reported attack (a citizen who is also a reviewer of their district claimed
their own appeal and upheld it with corrected facts). The authorization matrix covers the same
rule with the test sign-in."""

from __future__ import annotations

import pytest
from fixtures import seed
from perlinsos.db.models import Appeal, AuditEvent, Decision
from sqlalchemy import func, select
from test_appeals import CLAIM, FILE, RESOLVE, appeal_input, registered, upload

LIST = '{ appeals(pilot: "BWI-2025") { nodes { id status } } }'
UPHOLD = {"upheld": True, "note": "Tagihan PLN menunjukkan 900 VA.", "correctedFacts": {"electricity_va": 900}}
MESSAGES = {"id": "Anda tidak dapat memeriksa sanggah ini: sanggah ini tentang Anda atau keluarga Anda, atau Anda "
                  "mendampinginya. Serahkan kepada petugas lain.",
            "en": "You may not review this appeal: it is about you or your household, or you assisted it. "
                  "Leave it to another reviewer."}


async def snapshot(db) -> tuple:
    """What a refused step must leave as it was: the appeals, the decisions and the audit log."""
    async with db.read() as s:
        appeals = [(a.status.value, a.reviewer, a.row_version, a.corrected_facts)
                   for a in (await s.execute(select(Appeal).order_by(Appeal.id))).scalars()]
        decisions = (await s.execute(select(func.count(Decision.id)))).scalar_one()
        audited = (await s.execute(select(func.count(AuditEvent.id)))).scalar_one()
    return appeals, decisions, audited


async def subject_of(client, token) -> str:
    return (await client.query("{ viewer { subject } }", token=token))["data"]["viewer"]["subject"]


async def codes(client, document, variables, token, field, language=None) -> list[tuple[str, str]]:
    data = await client.query(document, variables, token=token, language=language)
    return [(e["code"], e.get("message", "")) for e in data["data"][field]["errors"]]


async def refused_everywhere(client, db, appeal: str, token: str) -> None:
    """``token``'s holder may not claim or resolve ``appeal``, does not find it in their queue, and
    their attempts change nothing."""
    before = await snapshot(db)
    assert (await client.query(LIST, token=token))["data"]["appeals"]["nodes"] == []
    for language in ("id", "en"):
        assert await codes(client, CLAIM.replace("errors { code }", "errors { code message }"), {"id": appeal},
                           token, "claimAppeal", language) == [("CONFLICT_OF_INTEREST", MESSAGES[language])]
    resolve = {"i": {"appeal": appeal} | UPHOLD}
    assert [c for c, _ in await codes(client, RESOLVE, resolve, token, "resolveAppeal")] == ["CONFLICT_OF_INTEREST"]
    assert await snapshot(db) == before


@pytest.fixture
async def appellant(ikd_client, ikd, db, plugin_manager):
    """A household head whose electricity is misrecorded, registered, with a family member on the KK."""
    person = next(p for p in ikd.people(limit=40, role="HEAD", error="ELECTRICITY_MISRECORDED")
                  if p["household_size"] >= 2)
    token = await registered(ikd_client, ikd, db, plugin_manager, person)
    mine = '{ me { registrations { decision { id } } } }'
    decision = (await ikd_client.query(mine, token=token))["data"]["me"]["registrations"][0]["decision"]["id"]
    return person, token, decision


async def file(client, token, decision, evidence, citizen_token=None) -> str:
    values = appeal_input(decision, [evidence]) | ({"citizenToken": citizen_token} if citizen_token else {})
    result = (await client.query(FILE, {"i": values}, token=token))["data"]["fileAppeal"]
    assert result["errors"] == [], result
    return result["appeal"]["id"]


async def test_a_reviewer_cannot_decide_their_own_appeal(ikd_client, ikd, db, appellant):
    person, token, decision = appellant
    appeal = await file(ikd_client, token, decision, await upload(ikd_client, token))
    district = person["region_code"][:8]
    # the appellant is also a reviewer of their district, signed in with the same IKD
    await seed.staff(db, await subject_of(ikd_client, token), "REVIEWER", district, issuer=ikd.issuer)
    await refused_everywhere(ikd_client, db, appeal, token)
    # another reviewer of the district reviews it as usual
    await seed.staff(db, "rev-other", "REVIEWER", district, issuer=ikd.issuer)
    other = ikd.sign_in_staff("rev-other")
    assert [n["id"] for n in (await ikd_client.query(LIST, token=other))["data"]["appeals"]["nodes"]] == [appeal]
    assert await codes(ikd_client, CLAIM, {"id": appeal}, other, "claimAppeal") == []
    # once claimed by someone else the appellant still cannot decide it (the attack: uphold it)
    await refused_everywhere(ikd_client, db, appeal, token)
    assert await codes(ikd_client, RESOLVE, {"i": {"appeal": appeal} | UPHOLD}, other, "resolveAppeal") == []


async def test_a_household_member_cannot_review_it(ikd_client, ikd, db, appellant):
    person, token, decision = appellant
    appeal = await file(ikd_client, token, decision, await upload(ikd_client, token))
    member = next(m for m in ikd.people(limit=1000) if m["household"] == person["household"]
                  and m["nik"] != person["nik"])  # on the same KK
    member_token = ikd.sign_in(member["nik"])
    await seed.staff(db, await subject_of(ikd_client, member_token), "REVIEWER", person["region_code"][:8],
                     issuer=ikd.issuer)
    await refused_everywhere(ikd_client, db, appeal, member_token)


async def test_the_facilitator_who_assisted_it_cannot_review_it(ikd_client, ikd, db, appellant):
    person, token, decision = appellant
    # a staff member without a NIK: the tie is their identity as the appeal's facilitator
    await seed.staff(db, "fac-rev", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
    await seed.staff(db, "fac-rev", "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    staff = ikd.sign_in_staff("fac-rev")
    appeal = await file(ikd_client, staff, decision, await upload(ikd_client, token), citizen_token=token)
    await refused_everywhere(ikd_client, db, appeal, staff)
