"""Forms a frontend builds from the API alone (issue 13): the consent screen from `consentScopes`,
the appeal form from `appealGrounds` and `evidenceKinds`; `registerHousehold` and `fileAppeal`
report every problem at once, each with its field; the consent trap (a consent selection cannot
decide under) is refused at registration; `resolveAppeal` answers with the new decision and a
reviewer re-claiming their own appeal is told it is theirs."""

from __future__ import annotations

from pathlib import Path

from conftest import ikd_pilot_data
from fixtures import seed
from perlinsos.db.models import Appeal, EvidenceFile, Registration
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.selection import run_selection
from sqlalchemy import func, select

OPS_DIR = Path(__file__).resolve().parents[2] / "schema" / "operations"
CONSENT_SCREEN = (OPS_DIR / "ConsentScreen.graphql").read_text(encoding="utf-8")  # the published operations
FORM = (OPS_DIR / "AppealForm.graphql").read_text(encoding="utf-8")
GIVE = """mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) {
  consent { live } errors { code } } }"""
REGISTER = """mutation($p: String!) { registerHousehold(input: {programme: $p}) { created registration { id }
  errors { code message field } } }"""
MINE = """{ me { registrations { decision { id outcome version reasons { code verdict message } } } } }"""
FILE = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id status ground }
  errors { code message field } } }"""
CLAIM = "mutation($id: ID!) { claimAppeal(id: $id) { appeal { status } errors { code message } } }"
RESOLVE = """mutation($i: ResolveAppealInput!) { resolveAppeal(input: $i) {
  appeal { status decision { version } resultingDecision { version outcome } }
  decision { version outcome isCurrent } errors { code } } }"""
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SAMPLE = {"STRING": "5123-0099-77", "INTEGER": 900, "DATE": "2025-06-30"}


async def select_all(db, plugin_manager) -> None:
    async with db.read() as session:
        context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
    await run_selection(db, plugin_manager.for_pilot(context))


async def consent_screen(client, token, language="id") -> list[str]:
    """What a consent screen asks for: every scope the pilot's steps need, from the API alone."""
    data = await client.query(CONSENT_SCREEN, token=token, language=language)
    scopes = data["data"]["consentScopes"]
    assert all(s["text"] and s["neededFor"] for s in scopes)
    return [s["code"] for s in scopes if s["requiredForSelection"] or "REGISTRATION" in s["neededFor"]]


async def upload(client, token, kind: str, content_type: str, content: bytes = PDF) -> str:
    response = await client.http.post("/evidence", content=content, headers={
        "Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025", "Content-Type": content_type,
        "X-Filename": "bukti.pdf", "X-Evidence-Kind": kind})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def registered(client, ikd, db, plugin_manager, person) -> tuple[str, dict]:
    token = ikd.sign_in(person["nik"])
    given = await client.query(GIVE, {"s": await consent_screen(client, token)}, token=token)
    assert given["data"]["giveConsent"]["errors"] == []
    programme = (await client.query(CONSENT_SCREEN, token=token))["data"]["programmes"][0]
    assert programme["registrationOpen"] and programme["name"]
    done = (await client.query(REGISTER, {"p": programme["code"]}, token=token))["data"]["registerHousehold"]
    assert done["errors"] == [] and done["created"], done
    await select_all(db, plugin_manager)
    return token, (await client.query(MINE, token=token))["data"]["me"]["registrations"][0]["decision"]


def misrecorded(ikd) -> dict:
    return ikd.people(limit=1, role="HEAD", error="ELECTRICITY_MISRECORDED")[0]


async def counts(db) -> tuple[int, int, int]:
    async with db.read() as s:
        return tuple([(await s.execute(select(func.count(t.id)))).scalar_one()
                      for t in (Registration, Appeal, EvidenceFile)])


async def test_a_frontend_renders_the_appeal_form_from_the_api_alone(ikd_client, ikd, db, plugin_manager):
    """No ground, reason, evidence kind or field is written here: all come from the queries."""
    person = misrecorded(ikd)
    token, decision = await registered(ikd_client, ikd, db, plugin_manager, person)
    assert decision["outcome"] == "NOT_ELIGIBLE"
    form = (await ikd_client.query(FORM, {"decision": decision["id"]}, token=token, language="en"))["data"]
    failing = [r["code"] for r in decision["reasons"] if r["verdict"] in ("FAIL", "UNKNOWN")]
    assert all(set(g["appliesTo"]) <= set(failing) & set(g["disputableReasons"]) for g in form["appealGrounds"])
    ground = next(g for g in form["appealGrounds"] if g["appliesTo"])
    assert ground["title"] and all(f["label"] and f["type"] in SAMPLE for f in ground["comparisonFields"])
    kinds = {k["code"]: k for k in form["evidenceKinds"]}
    assert {k["code"] for k in ground["requiredEvidence"]} <= set(kinds)
    # the form: one file of each required kind, each typed field filled as its type says
    evidence = []
    for kind in ground["requiredEvidence"]:
        assert len(PDF) <= kind["maxBytes"] and "application/pdf" in kind["contentTypes"]
        evidence.append(await upload(ikd_client, token, kind["code"], "application/pdf",
                                     PDF + kind["code"].encode()))
    comparison = {f["name"]: SAMPLE[f["type"]] for f in ground["comparisonFields"]}
    filed = (await ikd_client.query(FILE, {"i": {
        "decision": decision["id"], "ground": ground["code"], "disputedReasons": ground["appliesTo"],
        "statement": "Data yang tercatat tidak sesuai dengan keadaan kami; bukti terlampir.",
        "comparisonData": comparison, "evidence": evidence}}, token=token))["data"]["fileAppeal"]
    assert filed["errors"] == [] and filed["appeal"]["status"] == "SUBMITTED", filed
    # labels follow the request's language; without a decision `appliesTo` is null
    id_form = (await ikd_client.query(FORM, token=token, language="id"))["data"]
    same = next(g for g in id_form["appealGrounds"] if g["code"] == ground["code"])
    assert same["appliesTo"] is None and same["title"] != ground["title"]
    # someone else's decision is not described (as for any record one may not see)
    other = next(p for p in ikd.people(limit=10, role="HEAD") if p["nik"] != person["nik"])
    refused = await ikd_client.query(FORM, {"decision": decision["id"]}, token=ikd.sign_in(other["nik"]), language="en")
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "DECISION_NOT_FOUND"


async def test_file_appeal_reports_every_problem_at_once(ikd_client, ikd, db, plugin_manager):
    person = misrecorded(ikd)
    token, decision = await registered(ikd_client, ikd, db, plugin_manager, person)
    form = (await ikd_client.query(FORM, {"decision": decision["id"]}, token=token))["data"]
    ground = next(g for g in form["appealGrounds"] if "ELECTRICITY_ABOVE_LIMIT" in (g["appliesTo"] or ()))
    wrong_kind = next(k["code"] for k in form["evidenceKinds"]
                      if k["code"] not in {e["code"] for e in ground["requiredEvidence"]})
    bill = await upload(ikd_client, token, wrong_kind, "application/pdf")
    required = [f for f in ground["comparisonFields"] if "ELECTRICITY_ABOVE_LIMIT" in f["requiredFor"]]
    assert len(required) >= 2
    partial = {required[1]["name"]: SAMPLE[required[1]["type"]]}  # the first required field left out
    before = await counts(db)
    result = (await ikd_client.query(FILE, {"i": {
        "decision": decision["id"], "ground": ground["code"], "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
        "statement": "salah", "comparisonData": partial, "evidence": [bill]}}, token=token, language="en")
    )["data"]["fileAppeal"]
    assert result["appeal"] is None
    found = {(e["code"], e["field"]) for e in result["errors"]}
    assert found == {("STATEMENT_INVALID", "statement"),
                     ("COMPARISON_DATA_MISSING", f"comparisonData.{required[0]['name']}"),
                     *{("EVIDENCE_MISSING", "evidence") for _ in ground["requiredEvidence"]}}, result
    missing = next(e for e in result["errors"] if e["code"] == "EVIDENCE_MISSING")
    assert ground["requiredEvidence"][0]["code"] in missing["message"]
    assert await counts(db) == before


async def test_register_household_reports_every_problem_at_once(ikd_client, ikd, db):
    person = ikd.people(limit=1, role="HEAD")[0]
    token = ikd.sign_in(person["nik"])
    assert (await ikd_client.query(GIVE, {"s": ["person"]}, token=token))["data"]["giveConsent"]["errors"] == []
    result = (await ikd_client.query(REGISTER, {"p": "BANSOS_LAIN"}, token=token, language="en"))["data"]
    assert [(e["code"], e["field"]) for e in result["registerHousehold"]["errors"]] == [
        ("PROGRAMME_NOT_IN_PILOT", "programme"), ("CONSENT_INSUFFICIENT", "scopes")]
    assert await counts(db) == (0, 0, 0)


async def test_the_consent_trap_is_refused_at_registration(ikd_client, ikd, db, plugin_manager):
    """A consent to `person` alone used to register, then give PENDING for ever: now registration
    names the scopes selection needs, the consent screen marks the same ones, and consenting to
    them leads to a decision with reasons."""
    person = ikd.people(limit=1, role="HEAD")[0]
    token = ikd.sign_in(person["nik"])
    assert (await ikd_client.query(GIVE, {"s": ["person"]}, token=token))["data"]["giveConsent"]["consent"] == {
        "live": True}
    refused = (await ikd_client.query(REGISTER, {"p": "PKH"}, token=token, language="en"))["data"]["registerHousehold"]
    assert [e["code"] for e in refused["errors"]] == ["CONSENT_INSUFFICIENT"] and refused["registration"] is None
    screen = (await ikd_client.query(CONSENT_SCREEN, token=token, language="en"))["data"]["consentScopes"]
    needed = [s for s in screen if s["requiredForSelection"]]
    assert needed and "person" not in {s["code"] for s in needed}
    message = refused["errors"][0]["message"]
    assert all(f"[{s['code']}]" in message and s["text"] in message for s in needed), message
    assert await counts(db) == (0, 0, 0)

    given = await ikd_client.query(GIVE, {"s": await consent_screen(ikd_client, token)}, token=token)
    assert given["data"]["giveConsent"]["errors"] == []
    done = (await ikd_client.query(REGISTER, {"p": "PKH"}, token=token))["data"]["registerHousehold"]
    assert done["errors"] == [] and done["created"]
    await select_all(db, plugin_manager)
    decision = (await ikd_client.query(MINE, token=token, language="en"))["data"]["me"]["registrations"][0]["decision"]
    assert decision["outcome"] in ("ELIGIBLE", "NOT_ELIGIBLE"), decision
    assert decision["reasons"] and all(r["message"] for r in decision["reasons"])
    assert not any("withdrawn or expired" in r["message"] for r in decision["reasons"])



async def test_a_registration_from_before_the_refusal_says_what_its_consent_lacks(db, hooks, client):
    """Registered under a consent to `person` alone (before registration refused it): the decision
    waits, and its reason names the data the consent does not cover, not a withdrawn consent."""
    await seed.registrations(db, "BWI-2025", 1, with_decision=False)
    await seed.consent(db, seed.nik(0), ("person",))
    await run_selection(db, hooks)
    data = await client.query(MINE, token=f"citizen:{seed.nik(0)}", language="en")
    decision = data["data"]["me"]["registrations"][0]["decision"]
    reason = next(r for r in decision["reasons"] if r["code"] == "CONSENT_MISSING")
    assert decision["outcome"] == "PENDING" and reason["verdict"] == "UNKNOWN"
    assert "does not cover" in reason["message"] and "withdrawn" not in reason["message"], reason
    assert "Recorded monthly income" in reason["message"]


async def test_resolve_answers_with_the_new_decision_and_a_reclaim_is_idempotent(ikd_client, ikd, db,
                                                                                  plugin_manager):
    person = misrecorded(ikd)
    token, decision = await registered(ikd_client, ikd, db, plugin_manager, person)
    form = (await ikd_client.query(FORM, {"decision": decision["id"]}, token=token))["data"]
    ground = next(g for g in form["appealGrounds"] if "ELECTRICITY_ABOVE_LIMIT" in (g["appliesTo"] or ()))
    evidence = [await upload(ikd_client, token, k["code"], "application/pdf", PDF + k["code"].encode())
                for k in ground["requiredEvidence"]]
    filed = (await ikd_client.query(FILE, {"i": {
        "decision": decision["id"], "ground": ground["code"], "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
        "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA.",
        "comparisonData": {f["name"]: SAMPLE[f["type"]] for f in ground["comparisonFields"]},
        "evidence": evidence}}, token=token))["data"]["fileAppeal"]
    assert filed["errors"] == []
    appeal = filed["appeal"]["id"]
    await seed.staff(db, "rev-forms", "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    reviewer = ikd.sign_in_staff("rev-forms")
    first = (await ikd_client.query(CLAIM, {"id": appeal}, token=reviewer))["data"]["claimAppeal"]
    again = (await ikd_client.query(CLAIM, {"id": appeal}, token=reviewer, language="en"))["data"]["claimAppeal"]
    assert first == again == {"appeal": {"status": "UNDER_REVIEW"}, "errors": []}
    # another reviewer still gets the conflict
    await seed.staff(db, "rev-other", "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    other = (await ikd_client.query(CLAIM, {"id": appeal}, token=ikd.sign_in_staff("rev-other")))["data"]
    assert [e["code"] for e in other["claimAppeal"]["errors"]] == ["APPEAL_CONFLICT"]
    # the reviewer's form: the facts they may correct, typed and labelled
    fields = (await ikd_client.query("{ correctedFactFields { name label type } }", token=reviewer,
                                     language="en"))["data"]["correctedFactFields"]
    assert {"name": "electricity_va", "label": "Household electricity capacity (VA)", "type": "INTEGER"} in fields
    resolved = (await ikd_client.query(RESOLVE, {"i": {"appeal": appeal, "upheld": True,
                                                       "note": "Tagihan PLN menunjukkan 900 VA.",
                                                       "correctedFacts": {"electricity_va": 900}}},
                                       token=reviewer))["data"]["resolveAppeal"]
    assert resolved["errors"] == [], resolved
    assert resolved["appeal"]["decision"] == {"version": 1}  # the decision appealed
    assert resolved["appeal"]["resultingDecision"]["version"] == 2
    assert resolved["decision"] == {"version": 2, "outcome": resolved["appeal"]["resultingDecision"]["outcome"],
                                    "isCurrent": True}


async def test_a_pilot_without_grounds_plugin_offers_no_grounds(ikd_client, ikd, db, plugin_manager):
    """Grounds come from the pilot's plugins: a pilot not enabling `appeals` describes none."""
    data = ikd_pilot_data(ikd)
    data["plugins"].pop("appeals", None)
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    form = (await ikd_client.query(FORM))["data"]
    assert form["appealGrounds"] == []
    assert "SUPPORTING_DOCUMENT" in {k["code"] for k in form["evidenceKinds"]}  # the platform's own kinds
