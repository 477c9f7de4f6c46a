"""Stage 4 end to end: a citizen whose record says 2,200 VA appeals with a 900 VA bill, a
reviewer upholds it, selection re-runs, and the citizen is notified they are now eligible; and
every refusal the issue lists, with nothing stored."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ikd_pilot_data
from fixtures import seed
from perlinsos.registration import consent
from perlinsos.db.models import Appeal, EvidenceFile, Notification
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.selection import run_selection
from sqlalchemy import func, select

SCOPES = list(consent.SCOPES)  # every scope: person and all facts
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FILE = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id status ground overdue
  evidence { kind contentType sizeBytes } } errors { code message field } } }"""
CLAIM = "mutation($id: ID!) { claimAppeal(id: $id) { appeal { status } errors { code } } }"
RESOLVE = """mutation($i: ResolveAppealInput!) { resolveAppeal(input: $i) { appeal { status resolutionNote
  decision { version } } errors { code field } } }"""
MINE = """{ me { registrations { decision { id outcome version reasons { code verdict observed } } decisionHistory {
  version outcome cause isCurrent } } appeals { status } } }"""


async def registered(client, ikd, db, plugin_manager, person) -> str:
    token = ikd.sign_in(person["nik"])
    consent = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
    assert (await client.query(consent, {"s": SCOPES}, token=token))["data"]["giveConsent"]["errors"] == []
    register = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
    assert (await client.query(register, token=token))["data"]["registerHousehold"]["errors"] == []
    async with db.read() as session:
        context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
    await run_selection(db, plugin_manager.for_pilot(context))
    return token


async def upload(client, token, kind="SUPPORTING_DOCUMENT", content=PDF, name="tagihan-pln.pdf") -> str:
    response = await client.http.post("/evidence", content=content, headers={
        "Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025", "Content-Type": "application/pdf",
        "X-Filename": name, "X-Evidence-Kind": kind})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def misrecorded(ikd) -> dict:
    return ikd.people(limit=1, role="HEAD", error="ELECTRICITY_MISRECORDED")[0]


def appeal_input(decision_id, evidence, **changes) -> dict:
    values = {"decision": decision_id, "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
              "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
              "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900}, "evidence": evidence}
    return values | changes


async def counts(db) -> tuple[int, int]:
    async with db.read() as s:
        appeals = (await s.execute(select(func.count(Appeal.id)))).scalar_one()
        attached = (await s.execute(select(func.count(EvidenceFile.id)).where(EvidenceFile.appeal_id.is_not(None)))
                    ).scalar_one()
    return appeals, attached


async def test_an_upheld_appeal_corrects_the_facts_and_the_citizen_is_now_eligible(ikd_client, ikd, db,
                                                                                   plugin_manager):
    person = misrecorded(ikd)
    token = await registered(ikd_client, ikd, db, plugin_manager, person)
    before = (await ikd_client.query(MINE, token=token))["data"]["me"]["registrations"][0]["decision"]
    assert before["outcome"] == "NOT_ELIGIBLE"
    assert [r["observed"] for r in before["reasons"] if r["code"] == "ELECTRICITY_ABOVE_LIMIT"] == [2200]

    evidence = await upload(ikd_client, token)
    filed = (await ikd_client.query(FILE, {"i": appeal_input(before["id"], [evidence])}, token=token))["data"]
    assert filed["fileAppeal"]["errors"] == [], filed
    appeal = filed["fileAppeal"]["appeal"]
    assert appeal["status"] == "SUBMITTED" and appeal["overdue"] is False
    assert appeal["evidence"] == [{"kind": "SUPPORTING_DOCUMENT", "contentType": "application/pdf",
                                   "sizeBytes": len(PDF)}]

    await seed.staff(db, "reviewer-1", "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    reviewer = ikd.sign_in_staff("reviewer-1")
    listed = await ikd_client.query('{ appeals(pilot: "BWI-2025", status: SUBMITTED) { nodes { id } } }',
                                    token=reviewer)
    assert [n["id"] for n in listed["data"]["appeals"]["nodes"]] == [appeal["id"]]
    assert (await ikd_client.query(CLAIM, {"id": appeal["id"]}, token=reviewer))["data"]["claimAppeal"]["errors"] == []
    resolved = await ikd_client.query(RESOLVE, {"i": {"appeal": appeal["id"], "upheld": True,
                                                      "note": "Tagihan PLN menunjukkan 900 VA.",
                                                      "correctedFacts": {"electricity_va": 900}}}, token=reviewer)
    assert resolved["data"]["resolveAppeal"]["errors"] == [], resolved
    assert resolved["data"]["resolveAppeal"]["appeal"]["status"] == "UPHELD"

    after = (await ikd_client.query(MINE, token=token))["data"]["me"]
    decision = after["registrations"][0]["decision"]
    expected = "NOT_ELIGIBLE" if person["pkh_reasons_corrected"] else "ELIGIBLE"
    assert decision["outcome"] == expected and decision["version"] == 2
    assert [(h["version"], h["cause"], h["isCurrent"]) for h in after["registrations"][0]["decisionHistory"]] == [
        (2, "APPEAL", True), (1, "SELECTION", False)]
    assert after["appeals"] == [{"status": "UPHELD"}]
    # a later regular run keeps the correction (no flip back to 2,200 VA)
    async with db.read() as session:
        context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
    assert (await run_selection(db, plugin_manager.for_pilot(context))).decided == 0
    # and the citizen hears of each step
    await Dispatcher(db, plugin_manager, portal_url="https://portal.test").drain()
    async with db.read() as s:
        templates = sorted((await s.execute(select(Notification.template).where(
            Notification.channel == "portal"))).scalars())
    assert templates == sorted(["DECISION_NOT_ELIGIBLE", "APPEAL_RECEIVED", "APPEAL_UPHELD", f"DECISION_{expected}"])


@pytest.fixture
async def filed(ikd_client, ikd, db, plugin_manager):
    person = misrecorded(ikd)
    token = await registered(ikd_client, ikd, db, plugin_manager, person)
    decision = (await ikd_client.query(MINE, token=token))["data"]["me"]["registrations"][0]["decision"]
    return person, token, decision["id"]


async def test_refusals_when_filing_store_nothing(ikd_client, ikd, db, plugin_manager, filed):
    person, token, decision_id = filed
    evidence = await upload(ikd_client, token)
    other = next(p for p in ikd.people(limit=10, role="HEAD") if p["nik"] != person["nik"])
    other_token = ikd.sign_in(other["nik"])
    cases = {
        "DECISION_NOT_FOUND": (other_token, appeal_input(decision_id, [])),  # someone else's decision
        "GROUND_REASON_MISMATCH": (token, appeal_input(decision_id, [evidence], ground="NIK_MISUSE")),
        "EVIDENCE_MISSING": (token, appeal_input(decision_id, [])),
        "COMPARISON_DATA_INVALID": (token, appeal_input(decision_id, [evidence],
                                                        comparisonData={"meter_id": "5123-0099-77",
                                                                        "electricity_va": "banyak"})),
        "GROUND_UNKNOWN": (token, appeal_input(decision_id, [evidence], ground="TETANGGA_IRI")),
        # the ground's required_comparison: a 900 VA claim needs the meter id to be checked
        "COMPARISON_DATA_MISSING": (token, appeal_input(decision_id, [evidence],
                                                        comparisonData={"electricity_va": 900})),
    }
    for code, (who, values) in cases.items():
        result = (await ikd_client.query(FILE, {"i": values}, token=who))["data"]["fileAppeal"]
        assert [e["code"] for e in result["errors"]] == [code], (code, result)
    await seed.staff(db, "fac-x", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
    result = (await ikd_client.query(FILE, {"i": appeal_input(decision_id, [evidence])},
                                     token=ikd.sign_in_staff("fac-x")))["data"]["fileAppeal"]
    assert [e["code"] for e in result["errors"]] == ["CITIZEN_TOKEN_REQUIRED"]
    assert await counts(db) == (0, 0)
    # the first real filing works; a second open appeal on the same decision does not
    ok = (await ikd_client.query(FILE, {"i": appeal_input(decision_id, [evidence])}, token=token))["data"]
    assert ok["fileAppeal"]["errors"] == []
    again = await upload(ikd_client, token, content=PDF + b"%second\n")
    second = (await ikd_client.query(FILE, {"i": appeal_input(decision_id, [again])}, token=token))["data"]
    assert [e["code"] for e in second["fileAppeal"]["errors"]] == ["APPEAL_ALREADY_OPEN"]
    assert await counts(db) == (1, 1)


async def test_the_window_closes(ikd_client, ikd, db, plugin_manager, filed):
    _, token, decision_id = filed
    evidence = await upload(ikd_client, token)
    past = datetime.now(UTC) - timedelta(days=1)
    data = ikd_pilot_data(ikd, phases={"registration_opens": past - timedelta(days=90),
                                       "registration_closes": past - timedelta(days=30),
                                       "appeal_opens": past - timedelta(days=29), "appeal_closes": past})
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    result = (await ikd_client.query(FILE, {"i": appeal_input(decision_id, [evidence])}, token=token))["data"]
    assert [e["code"] for e in result["fileAppeal"]["errors"]] == ["APPEAL_WINDOW_CLOSED"]
    assert await counts(db) == (0, 0)


async def test_review_workflow_conflicts_and_scope(ikd_client, ikd, db, plugin_manager, filed):
    person, token, decision_id = filed
    evidence = await upload(ikd_client, token)
    appeal = (await ikd_client.query(FILE, {"i": appeal_input(decision_id, [evidence])}, token=token))[
        "data"]["fileAppeal"]["appeal"]["id"]
    district = person["region_code"][:8]
    elsewhere = "35.10.01" if district != "35.10.01" else "35.10.02"
    for subject, region in (("rev-a", district), ("rev-b", district), ("rev-far", elsewhere)):
        await seed.staff(db, subject, "REVIEWER", region, issuer=ikd.issuer)
    a, b, far = (ikd.sign_in_staff(s) for s in ("rev-a", "rev-b", "rev-far"))
    # a reviewer outside the region cannot see it; resolving before claiming is not a step
    assert (await ikd_client.query(CLAIM, {"id": appeal}, token=far))["data"]["claimAppeal"]["errors"] == [
        {"code": "APPEAL_NOT_FOUND"}]
    early = await ikd_client.query(RESOLVE, {"i": {"appeal": appeal, "upheld": False, "note": "Tidak cukup."}},
                                   token=a)
    assert [e["code"] for e in early["data"]["resolveAppeal"]["errors"]] == ["APPEAL_TRANSITION_NOT_ALLOWED"]
    # two reviewers at once: one wins, the other gets a clear conflict
    results = await asyncio.gather(*(ikd_client.query(CLAIM, {"id": appeal}, token=t) for t in (a, b)))
    codes = sorted(tuple(e["code"] for e in r["data"]["claimAppeal"]["errors"]) for r in results)
    assert codes == [(), ("APPEAL_CONFLICT",)]
    # the appellant withdraws; nothing more can happen to it
    withdraw = "mutation($id: ID!) { withdrawAppeal(id: $id) { appeal { status } errors { code } } }"
    assert (await ikd_client.query(withdraw, {"id": appeal}, token=token))["data"]["withdrawAppeal"]["appeal"] == {
        "status": "WITHDRAWN"}
    again = (await ikd_client.query(withdraw, {"id": appeal}, token=token))["data"]["withdrawAppeal"]
    assert [e["code"] for e in again["errors"]] == ["APPEAL_TRANSITION_NOT_ALLOWED"]


async def test_the_window_has_not_opened(ikd_client, ikd, db, plugin_manager, filed):
    """Results come first, then the appeal window: a complete appeal before it opens is refused."""
    _, token, decision_id = filed
    evidence = await upload(ikd_client, token)
    now = datetime.now(UTC)

    async def window(opens):
        data = ikd_pilot_data(ikd, phases={"registration_opens": now - timedelta(days=30),
                                           "registration_closes": now + timedelta(days=30),
                                           "appeal_opens": opens, "appeal_closes": opens + timedelta(days=30)})
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugin_manager))

    await window(now + timedelta(days=1))
    early = await ikd_client.query(FILE, {"i": appeal_input(decision_id, [evidence])}, token=token, language="en")
    assert [(e["code"], e["message"]) for e in early["data"]["fileAppeal"]["errors"]] == [
        ("APPEAL_WINDOW_NOT_OPEN", "The appeal window has not opened yet.")]
    assert await counts(db) == (0, 0)
    await window(now - timedelta(minutes=1))  # the same appeal, once the window is open
    opened = await ikd_client.query(FILE, {"i": appeal_input(decision_id, [evidence])}, token=token)
    assert opened["data"]["fileAppeal"]["errors"] == [] and await counts(db) == (1, 1)


# --- the review rules, one by one (each was a surviving mutant, issue 19) ---------------------

REVIEW = """mutation($i: ResolveAppealInput!) { resolveAppeal(input: $i) { appeal { status resolutionNote }
  errors { code field } } }"""
WITHDRAW = "mutation($id: ID!) { withdrawAppeal(id: $id) { appeal { status } errors { code } } }"


async def stored(db, appeal_id: int) -> tuple:
    from perlinsos.db.models import AuditEvent

    async with db.read() as s:
        row = await s.get(Appeal, appeal_id)
        audited = (await s.execute(select(func.count(AuditEvent.id)))).scalar_one()
    return row.status.value, row.resolution_note, row.corrected_facts, row.row_version, audited


@pytest.fixture
async def under_review(client, db, pilot):
    """Two appeals of Kemiren (citizens 0 and 1), each claimed by the district's reviewer rev-1."""
    await seed.registrations(db, pilot, 2)
    await seed.staff(db, "rev-1", "REVIEWER", "35.10.15")
    return [await seed.appeal(db, reg, "UNDER_REVIEW", reviewer="rev-1") for reg in (1, 2)]


async def resolve(client, appeal_id: int, **values):
    from perlinsos.graphql.relay import to_global_id

    data = await client.query(REVIEW, {"i": {"appeal": to_global_id("Appeal", appeal_id)} | values},
                              token="staff:rev-1")
    return data["data"]["resolveAppeal"]


async def test_a_reviewers_note_is_5_to_4000_characters(client, db, under_review):
    first, second = under_review
    before = await stored(db, first)
    for note in ("Oke.", "   Oke.   ", "x" * 4001):
        result = await resolve(client, first, upheld=False, note=note)
        assert result["errors"] == [{"code": "RESOLUTION_NOTE_INVALID", "field": "note"}], note
    assert await stored(db, first) == before
    assert (await resolve(client, first, upheld=False, note=" Tidak "))["appeal"] == {
        "status": "DISMISSED", "resolutionNote": "Tidak"}
    assert (await resolve(client, second, upheld=False, note="y" * 4000))["appeal"]["status"] == "DISMISSED"


async def test_upholding_needs_valid_corrected_facts(client, db, under_review):
    first, _ = under_review
    before = await stored(db, first)
    note = "Tagihan PLN menunjukkan 900 VA."
    cases = {  # corrected facts → the field named in the error
        None: "correctedFacts", "{}": "correctedFacts",
        '{"monthly_income": -1}': "correctedFacts.monthly_income",
        '{"electricity_va": -900}': "correctedFacts.electricity_va",
        '{"electricity_va": "900"}': "correctedFacts.electricity_va",
        '{"car_ownership": true}': "correctedFacts.car_ownership",
        '{"income": 0}': "correctedFacts.income",
    }
    for facts, field in cases.items():
        values = {"upheld": True, "note": note} | ({} if facts is None else {"correctedFacts": json.loads(facts)})
        assert (await resolve(client, first, **values))["errors"] == [{"code": "CORRECTION_INVALID", "field": field}]
    assert await stored(db, first) == before
    # zero is a value (no income at all); the appeal is upheld with exactly those facts
    upheld = await resolve(client, first, upheld=True, note=note, correctedFacts={"monthly_income": 0})
    assert upheld["errors"] == [] and upheld["appeal"]["status"] == "UPHELD"
    assert (await stored(db, first))[:3] == ("UPHELD", note, {"monthly_income": 0})


async def test_only_the_appellant_withdraws(client, db, under_review):
    from perlinsos.graphql.relay import to_global_id

    first, _ = under_review
    before = await stored(db, first)
    appeal = to_global_id("Appeal", first)
    other = await client.query(WITHDRAW, {"id": appeal}, token=f"citizen:{seed.nik(1)}")  # the other appellant
    assert other["data"]["withdrawAppeal"] == {"appeal": None, "errors": [{"code": "APPEAL_NOT_FOUND"}]}
    assert await stored(db, first) == before
    own = await client.query(WITHDRAW, {"id": appeal}, token=f"citizen:{seed.nik(0)}")
    assert own["data"]["withdrawAppeal"] == {"appeal": {"status": "WITHDRAWN"}, "errors": []}
