"""A citizen's view of the audit log (me.dataAccessLog) and their data export (me.export)."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select, update

from fixtures import seed
from perlinsos.db.models import AuditEvent, Decision, Person

OWNER, OTHER = seed.nik(0), seed.nik(1)
KK_OWNER = "3510150101000000"  # fixtures.seed's KK of person 0
READ_ONE = """query ReviewOne($id: ID!) { registration(id: $id) { registrant { nik name } } }"""
LIST = """query ReviewList { registrations(pilot: "BWI-2025", first: 10) { nodes { id registrant { name } } } }"""
LOG = """query MyDataAccess($first: Int, $after: String) { me { dataAccessLog(first: $first, after: $after) {
  edges { cursor node { id at action actorRole actor purpose operation } } pageInfo { hasNextPage endCursor } } } }"""
EXPORT = "query MyExport { me { export } }"


async def log_of(client, nik: str, **variables) -> dict:
    data = await client.query(LOG, variables, token=f"citizen:{nik}")
    assert "errors" not in data, data
    return data["data"]["me"]["dataAccessLog"]


async def registration_ids(client) -> dict[str, str]:
    """Global registration ids by registrant name, as the national office lists them."""
    data = await client.query(LIST, token="staff:admin")
    return {n["registrant"]["name"]: n["id"] for n in data["data"]["registrations"]["nodes"]}


async def setup(client, db, pilot) -> dict[str, str]:
    await seed.registrations(db, pilot, 2)
    await seed.staff(db, "admin", "ADMIN", "35")
    await seed.staff(db, "rev-glagah", "REVIEWER", "35.10.15")
    return await registration_ids(client)


async def test_a_reviewers_read_shows_in_the_citizens_log_only(client, db, pilot):
    ids = await setup(client, db, pilot)
    read = await client.query(READ_ONE, {"id": ids["Warga Sintetis 0"]}, token="staff:rev-glagah")
    assert read["data"]["registration"]["registrant"]["nik"] == OWNER
    await client.query("{ me { person { nik } registrations { id } } }", token=f"citizen:{OWNER}")  # own read

    entries = [e["node"] for e in (await log_of(client, OWNER))["edges"]]
    newest = entries[0]
    assert (newest["actor"], newest["actorRole"], newest["purpose"], newest["operation"], newest["action"]) == (
        "rev-glagah", "REVIEWER", "graphql", "ReviewOne", "READ_PERSONAL_DATA")
    # the admin's listing (setup) is there too, older; the citizen's own read is not
    assert [(e["actor"], e["operation"]) for e in entries] == [("rev-glagah", "ReviewOne"), ("admin", "ReviewList")]
    # the other citizen was listed by the admin, never read by the reviewer
    assert [e["node"]["actor"] for e in (await log_of(client, OTHER))["edges"]] == ["admin"]


async def test_the_log_pages_newest_first_with_cursors(client, db, pilot):
    ids = await setup(client, db, pilot)
    for _ in range(3):
        await client.query(READ_ONE, {"id": ids["Warga Sintetis 0"]}, token="staff:rev-glagah")
    seen, after = [], None
    while True:
        page = await log_of(client, OWNER, first=2, after=after)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 4 == len(set(seen))  # 3 reads and the admin's listing
    bad = await client.query(LOG, {"after": "bm9wZToxMA=="}, token=f"citizen:{OWNER}")
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def add_member(db, nik: str, name: str) -> None:
    async with db.write() as s:
        head = (await s.execute(select(Person).where(Person.nik == OWNER))).scalar_one()
        s.add(Person(nik=nik, household_id=head.household_id, name=name, birth_date=date(2010, 5, 5), sex="F",
                     region_code=head.region_code, relationship="ANAK"))


async def test_a_household_members_read_shows_their_role_never_their_identity(client, db, pilot):
    await setup(client, db, pilot)
    child = "3510154505100007"
    await add_member(db, child, "Anak Sintetis")
    members = await client.query("{ me { household { members { nik name } } } }", token=f"citizen:{OWNER}")
    assert members["data"]["me"]["household"]["members"][1] == {"nik": "3510********0007", "name": "Anak Sintetis"}
    (entry,) = [e["node"] for e in (await log_of(client, child))["edges"]]
    assert entry["actorRole"] == "CITIZEN" and entry["actor"] is None
    assert OWNER not in json.dumps(entry)


async def test_the_export_holds_what_is_stored_and_nothing_of_other_households(client, db, pilot):
    ids = await setup(client, db, pilot)
    await seed.consent(db, OWNER, scopes=("person", "income"))
    await add_member(db, "3510154505100007", "Anak Sintetis")
    async with db.write() as s:
        await s.execute(update(Decision).values(inputs={"facts": {"electricity_va": 2200}}))
    await client.query(READ_ONE, {"id": ids["Warga Sintetis 0"]}, token="staff:rev-glagah")

    data = await client.query(EXPORT, token=f"citizen:{OWNER}")
    assert "errors" not in data, data
    doc = data["data"]["me"]["export"]
    assert doc["person"]["nik"] == OWNER and doc["person"]["name"] == "Warga Sintetis 0"
    # the member as GraphQL shows them to the citizen (policy/identifiers.py): masked NIK, birth year only
    assert doc["household"]["members"] == [{"name": "Anak Sintetis", "nik": "3510********0007",
                                            "birth_date": None, "birth_year": 2010, "sex": "F",
                                            "relationship": "ANAK", "region_code": seed.KEMIREN}]
    assert doc["household"]["kk_number"] == KK_OWNER  # their own card
    assert [c["scopes"] for c in doc["consents"]] == [["person", "income"]]
    (registration,) = doc["registrations"]
    assert registration["programme"] == "PKH" and registration["pilot_code"] == pilot
    (decision,) = registration["decisions"]
    assert decision["outcome"] == "NOT_ELIGIBLE" and decision["inputs"] == {"facts": {"electricity_va": 2200}}
    assert {r["code"]: r["observed"] for r in decision["reasons"]}["ELECTRICITY_ABOVE_LIMIT"] == {"value": 2200}
    assert [(a["actor"], a["operation"]) for a in doc["data_access_log"]][0] == ("rev-glagah", "ReviewOne")
    text = json.dumps(doc)
    assert OTHER not in text and "Warga Sintetis 1" not in text
    assert "idempotency_key" not in text

    async with db.read() as s:
        rows = (await s.execute(select(AuditEvent.subject_person_id, AuditEvent.actor).where(
            AuditEvent.purpose == "data_export"))).all()
    assert sorted(r.subject_person_id for r in rows) == [1, 3]  # the citizen and the member it shows
    # the member is told; the citizen's own export is not news to them
    assert [(e["node"]["purpose"], e["node"]["operation"]) for e in (await log_of(client, "3510154505100007"))["edges"]] \
        == [("data_export", "MyExport")]
    assert all(e["node"]["purpose"] != "data_export" for e in (await log_of(client, OWNER))["edges"])


async def test_staff_and_strangers_have_no_log_or_export(client, db, pilot):
    await setup(client, db, pilot)
    assert (await client.query(EXPORT, token="staff:admin"))["data"]["me"] is None
    unknown = await client.query(EXPORT + "\n", token=f"citizen:{seed.nik(40)}")
    doc = unknown["data"]["me"]
    assert doc is None or doc["export"]["person"] is None
    anonymous = await client.query(EXPORT)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with db.read() as s:
        assert (await s.execute(select(func.count()).where(AuditEvent.purpose == "data_export"))).scalar_one() == 0


async def test_an_appeal_journey_shows_in_the_log_and_the_export(ikd_client, ikd, db, plugin_manager):
    """Real flow (IKD simulator): consent, registration, selection, evidence, appeal upheld by a
    reviewer, re-selection; then the citizen's log and export, and the chain still verifies."""
    import hashlib

    from perlinsos import audit
    from perlinsos.registration import consent
    from perlinsos.pilots.store import get_pilot, pilot_context
    from perlinsos.selection import run_selection

    person = ikd.people(limit=1, role="HEAD", error="ELECTRICITY_MISRECORDED")[0]
    token = ikd.sign_in(person["nik"])
    give = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
    assert (await ikd_client.query(give, {"s": list(consent.SCOPES)}, token=token))["data"]["giveConsent"]["errors"] == []
    register = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
    assert (await ikd_client.query(register, token=token))["data"]["registerHousehold"]["errors"] == []
    async with db.read() as session:
        hooks = plugin_manager.for_pilot(pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager))
    await run_selection(db, hooks)
    decision = (await ikd_client.query("{ me { registrations { decision { id } } } }", token=token)
                )["data"]["me"]["registrations"][0]["decision"]["id"]

    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    uploaded = await ikd_client.http.post("/evidence", content=pdf, headers={
        "Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025", "Content-Type": "application/pdf",
        "X-Filename": "tagihan-pln.pdf", "X-Evidence-Kind": "SUPPORTING_DOCUMENT"})
    assert uploaded.status_code == 201, uploaded.text
    file = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id } errors { code } } }"""
    filed = (await ikd_client.query(file, {"i": {
        "decision": decision, "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
        "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
        "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900}, "evidence": [uploaded.json()["id"]]}}, token=token)
    )["data"]["fileAppeal"]
    assert filed["errors"] == [], filed
    await seed.staff(db, "reviewer-1", "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    reviewer = ikd.sign_in_staff("reviewer-1")
    claim = "mutation($id: ID!) { claimAppeal(id: $id) { errors { code } } }"
    assert (await ikd_client.query(claim, {"id": filed["appeal"]["id"]}, token=reviewer))["data"]["claimAppeal"] \
        == {"errors": []}
    resolve = "mutation($i: ResolveAppealInput!) { resolveAppeal(input: $i) { errors { code } } }"
    resolved = await ikd_client.query(resolve, {"i": {"appeal": filed["appeal"]["id"], "upheld": True,
                                                      "note": "Tagihan PLN menunjukkan 900 VA.",
                                                      "correctedFacts": {"electricity_va": 900}}}, token=reviewer)
    assert resolved["data"]["resolveAppeal"] == {"errors": []}, resolved

    log = [e["node"] for e in (await ikd_client.query(LOG, {"first": 100}, token=token)
                               )["data"]["me"]["dataAccessLog"]["edges"]]
    seen = {(e["actor"], e["action"], e["purpose"]) for e in log}
    assert ("system:selection", "READ_PERSONAL_DATA", "selection") in seen
    assert {("reviewer-1", "APPEAL_CLAIMED"), ("reviewer-1", "APPEAL_UPHELD")} <= {(a, b) for a, b, _ in seen}
    assert all(e["actor"] is None or not e["actor"].startswith("citizen") for e in log)

    doc = (await ikd_client.query(EXPORT, token=token))["data"]["me"]["export"]
    (appeal,) = doc["appeals"]
    assert appeal["status"] == "UPHELD" and appeal["corrected_facts"] == {"electricity_va": 900}
    assert [(f["kind"], f["content_type"], f["size_bytes"], f["sha256"]) for f in appeal["evidence"]] == [
        ("SUPPORTING_DOCUMENT", "application/pdf", len(pdf), hashlib.sha256(pdf).hexdigest())]
    (registration,) = doc["registrations"]
    versions = [(d["version"], d["cause"], d["is_current"]) for d in registration["decisions"]]
    assert versions == [(1, "SELECTION", False), (2, "APPEAL", True)]
    assert all(d["inputs"] and d["reasons"] for d in registration["decisions"])
    assert doc["notifications"] and {n["template"] for n in doc["notifications"]} >= {"APPEAL_UPHELD"}
    assert doc["consents"][0]["scopes"] == list(consent.SCOPES)
    # the IKD grant id is a handle on the grant at the provider: GraphQL never shows it, nor the export
    assert "provider_reference" not in doc["consents"][0] and "grant_" not in json.dumps(doc)
    assert isinstance(await audit.verify(db), audit.Verified)


async def test_staff_with_every_role_are_logged_with_all_of_them(client, db, pilot):
    await setup(client, db, pilot)
    for role, region in (("FACILITATOR", seed.KEMIREN), ("REVIEWER", "35.10"), ("ADMIN", "35")):
        await seed.staff(db, "all-roles", role, region)
    assert "errors" not in await client.query(LIST, token="staff:all-roles")
    roles = {e["node"]["actorRole"] for e in (await log_of(client, OWNER))["edges"] if e["node"]["actor"] == "all-roles"}
    assert roles == {"ADMIN,FACILITATOR,REVIEWER"}
