"""Separation of duties reaches what a reviewer reads (issue 15): a reviewer tied to an appeal (about
their household, or about themselves) neither downloads its evidence nor reads its details (statement,
comparison data, files); it is "not found" for them, as for any record they may not see. The
appellant keeps an owner's rights, a facilitator who assisted it keeps theirs, and other reviewers
of the region read it as before. Real IKD sign-ins over HTTP, as in test_separation_of_duties."""

from __future__ import annotations

from urllib.parse import quote

from fixtures import seed
from test_appeals import upload
from test_separation_of_duties import appellant, file, subject_of  # noqa: F401 (the fixture)

READ = """{ registrations(pilot: "BWI-2025") { nodes { decision { appeals { id statement comparisonData
  evidence { id filename } } } } } }"""


async def download(client, token, evidence: str):
    return await client.http.get(f"/evidence/{quote(evidence, safe='')}", headers={
        "Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025"})


async def appeals_read(client, token) -> list[dict]:
    data = await client.query(READ, token=token)
    assert "errors" not in data, data
    return [a for n in data["data"]["registrations"]["nodes"] if n["decision"] for a in n["decision"]["appeals"]]


async def reviewer(client, ikd, db, name: str, district: str, nik: str | None = None) -> str:
    token = ikd.sign_in(nik) if nik else ikd.sign_in_staff(name)
    subject = await subject_of(client, token) if nik else name
    await seed.staff(db, subject, "REVIEWER", district, issuer=ikd.issuer)
    return token


async def test_a_household_member_who_reviews_cannot_read_the_appeal_or_its_evidence(ikd_client, ikd, db, appellant):
    person, token, decision = appellant
    evidence = await upload(ikd_client, token)
    appeal = await file(ikd_client, token, decision, evidence)
    district = person["region_code"][:8]
    member = next(m for m in ikd.people(limit=1000) if m["household"] == person["household"]
                  and m["nik"] != person["nik"])
    tied = await reviewer(ikd_client, ikd, db, "", district, nik=member["nik"])
    other = await reviewer(ikd_client, ikd, db, "rev-other", district)

    # another reviewer of the district reads the appeal and downloads its file
    assert [a["id"] for a in await appeals_read(ikd_client, other)] == [appeal]
    assert (await download(ikd_client, other, evidence)).status_code == 200

    # the tied one: the file and the appeal do not exist for them
    response = await download(ikd_client, tied, evidence)
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "EVIDENCE_NOT_FOUND"
    assert (await ikd_client.http.head(f"/evidence/{quote(evidence, safe='')}", headers={
        "Authorization": f"Bearer {tied}", "X-Perlinsos-Pilot": "BWI-2025"})).status_code == 404
    assert await appeals_read(ikd_client, tied) == []

    # the appellant still reads and downloads their own (owner rights)
    assert (await download(ikd_client, token, evidence)).status_code == 200


async def test_a_reviewer_keeps_owner_rights_to_their_own_appeal(ikd_client, ikd, db, appellant):
    person, token, decision = appellant
    evidence = await upload(ikd_client, token)
    appeal = await file(ikd_client, token, decision, evidence)
    # the appellant is a reviewer of their own district, with the same sign-in
    await seed.staff(db, await subject_of(ikd_client, token), "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    assert (await download(ikd_client, token, evidence)).status_code == 200
    mine = await ikd_client.query('{ me { registrations { decision { appeals { id evidence { id } } } } } }',
                                  token=token)
    appeals = mine["data"]["me"]["registrations"][0]["decision"]["appeals"]
    assert [(a["id"], [e["id"] for e in a["evidence"]]) for a in appeals] == [(appeal, [evidence])]
    assert [a["id"] for a in await appeals_read(ikd_client, token)] == [appeal]


async def test_the_facilitator_who_assisted_it_keeps_a_facilitators_rights(ikd_client, ikd, db, appellant):
    person, token, decision = appellant
    await seed.staff(db, "fac-rev", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
    await seed.staff(db, "fac-rev", "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    staff = ikd.sign_in_staff("fac-rev")
    evidence = await upload(ikd_client, token)
    appeal = await file(ikd_client, staff, decision, evidence, citizen_token=token)
    # tied as a reviewer (they may not decide it), yet they assisted it: they read what they filed
    assert (await download(ikd_client, staff, evidence)).status_code == 200
    assert [a["id"] for a in await appeals_read(ikd_client, staff)] == [appeal]
