"""Closed sets are GraphQL enums (a generated client gets a union type, not `string`), with the
values clients always received; a passed consent check is not shown as "CONSENT_MISSING"; `passed`
is deprecated for `verdict`; times come back in UTC on every path; REST evidence says `sizeBytes`."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import PILOT, GraphQLClient, ikd_pilot_data
from fixtures import seed
from fixtures.servers import free_port
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.registration.consent import SCOPES

#: field -> the enum it is now (each was a String)
ENUMS = {
    ("Decision", "cause"): "DecisionCause", ("SelectionRun", "status"): "SelectionRunStatus",
    ("Notification", "template"): "NotificationTemplate", ("TimelineEntry", "kind"): "TimelineEntryKind",
    ("Viewer", "kind"): "ViewerKind", ("Viewer", "roles"): "Role", ("Consent", "channel"): "RegistrationChannel",
    ("Appeal", "channel"): "RegistrationChannel", ("Region", "level"): "RegionLevel",
    ("IdentityProvider", "capabilities"): "ProviderCapability", ("RegionStats", "level"): "StatsLevel",
}
#: extensible sets (plugins add to them): strings
STRINGS = {("Notification", "channel"), ("DecisionReason", "code"), ("EvidenceFile", "kind"), ("Appeal", "ground")}
TYPE_OF = """query($t: String!) { __type(name: $t) { fields(includeDeprecated: true) {
  name isDeprecated deprecationReason
  type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }"""
ENUM_VALUES = """query($t: String!) { __type(name: $t) { kind enumValues { name } } }"""
PDF = b"%PDF-1.4\n% Tagihan listrik PLN\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
MINE = """{ viewer { kind roles } me {
  consents { channel }
  registrations { channel decision { cause reasons { code verdict passed } } }
  notifications(first: 10) { nodes { channel template } }
  timeline { kind } } }"""


def named(t: dict) -> tuple[str, str]:
    while t.get("ofType"):
        t = t["ofType"]
    return t["kind"], t["name"]


async def fields_of(client: GraphQLClient, type_name: str) -> dict[str, dict]:
    body = await client.query(TYPE_OF, {"t": type_name})
    return {f["name"]: f for f in body["data"]["__type"]["fields"]}


async def test_closed_sets_are_enums_and_open_ones_strings(client):
    for (type_name, field), enum in ENUMS.items():
        found = named((await fields_of(client, type_name))[field]["type"])
        assert found == ("ENUM", enum), (type_name, field, found)
    for type_name, field in STRINGS:
        assert named((await fields_of(client, type_name))[field]["type"]) == ("SCALAR", "String"), (type_name, field)
    # One source of truth: the enums carry the domain's values.
    values = (await client.query(ENUM_VALUES, {"t": "NotificationTemplate"}))["data"]["__type"]["enumValues"]
    assert {v["name"] for v in values} == {"DECISION_ELIGIBLE", "DECISION_NOT_ELIGIBLE", "DECISION_PENDING",
                                           "APPEAL_RECEIVED", "APPEAL_UPHELD", "APPEAL_DISMISSED"}
    values = (await client.query(ENUM_VALUES, {"t": "ViewerKind"}))["data"]["__type"]["enumValues"]
    assert [v["name"] for v in values] == ["citizen", "staff", "anonymous"]  # as clients read them before

    passed = (await fields_of(client, "DecisionReason"))["passed"]
    assert passed["isDeprecated"] is True and "verdict" in passed["deprecationReason"]


@pytest.fixture
async def api(app, db, plugin_manager, ikd):
    data = ikd_pilot_data(ikd)
    data["plugins"]["notify_sms"]["gateway_url"] = f"http://127.0.0.1:{free_port()}"  # down: SMS end DEAD
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    await seed.staff(db, "kantor-pusat", "ADMIN", "35", issuer=ikd.issuer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        yield GraphQLClient(http)
    await app.state.perlinsos.db.dispose()


async def test_a_citizens_journey_answers_enum_values(api, db, plugin_manager, ikd):
    person = ikd.people(limit=1, role="HEAD")[0]
    citizen, admin = ikd.sign_in(person["nik"]), ikd.sign_in_staff("kantor-pusat")
    consent = """mutation($s: [String!]!) {
      giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) { errors { code } } }"""
    assert (await api.query(consent, {"s": list(SCOPES)}, token=citizen))["data"]["giveConsent"]["errors"] == []
    register = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
    assert (await api.query(register, token=citizen))["data"]["registerHousehold"]["errors"] == []

    started = await api.query('mutation($p: String!) { runSelection(pilot: $p, programme: "PKH") { run { id status } '
                              'errors { code } } }', {"p": PILOT}, token=admin)
    run = started["data"]["runSelection"]["run"]
    assert run["status"] in ("RUNNING", "FINISHED")
    run_id = run["id"]
    for _ in range(200):
        run = (await api.query('query($id: ID!) { selectionRun(id: $id) { status } }', {"id": run_id},
                               token=admin))["data"]["selectionRun"]
        if run["status"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "FINISHED"
    await Dispatcher(db, plugin_manager, portal_url="https://portal.test",
                     policy=Policy(max_attempts=1, base_delay=0.0, lease=5.0, send_timeout=2.0)).drain()

    body = await api.query(MINE, token=citizen)
    assert "errors" not in body, body
    assert body["data"]["viewer"] == {"kind": "citizen", "roles": ["CITIZEN"]}
    me = body["data"]["me"]
    assert me["consents"] == [{"channel": "SELF"}]
    decision = me["registrations"][0]["decision"]
    assert decision["cause"] == "SELECTION"
    # The consent was in force: no "CONSENT_MISSING" with PASS among the reasons, every criterion there.
    codes = [r["code"] for r in decision["reasons"]]
    assert "CONSENT_MISSING" not in codes and len(codes) == len(set(codes)) == 9, codes
    assert all(r["passed"] == (r["verdict"] == "PASS") for r in decision["reasons"])
    assert me["notifications"]["nodes"][0]["channel"] == "portal"
    assert me["notifications"]["nodes"][0]["template"].startswith("DECISION_")
    assert [e["kind"] for e in me["timeline"]] == ["CONSENT_GIVEN", "REGISTERED", "DECIDED", "NOTIFIED"]

    staff = (await api.query("{ viewer { kind roles } }", token=admin))["data"]["viewer"]
    assert staff == {"kind": "staff", "roles": ["ADMIN"]}
    assert (await api.query("{ viewer { kind roles } }"))["data"]["viewer"] == {"kind": "anonymous", "roles": []}

    upload = await api.http.post("/evidence", content=PDF, headers={
        "Authorization": f"Bearer {citizen}", "X-Perlinsos-Pilot": PILOT, "Content-Type": "application/pdf",
        "X-Filename": "tagihan.pdf", "X-Evidence-Kind": "SUPPORTING_DOCUMENT"})
    assert upload.status_code == 201, upload.text
    assert upload.json()["sizeBytes"] == upload.json()["size"] == len(PDF)


CREATE = """mutation($i: PilotInput!) { createPilot(input: $i) {
  pilot { registrationOpensAt registrationClosesAt appealOpensAt appealClosesAt } errors { code } } }"""


async def test_every_time_comes_back_in_utc(client, db):
    # createPilot answered the times as given (+07:00); reading the pilot back answered UTC.
    await seed.staff(db, "admin", "ADMIN", "35")
    phases = {"registrationOpens": "2026-01-01T00:00:00+07:00", "registrationCloses": "2026-06-30T23:59:59+07:00",
              "appealOpens": "2026-07-01T00:00:00+07:00", "appealCloses": "2026-07-31T23:59:59+07:00"}
    pilot = {"code": "JBR-2026", "name": "Uji coba Jember", "regions": ["35.09"], "programmes": ["PKH"],
             "phases": phases, "plugins": [{"name": "static_auth", "settings": {}}, {"name": "criteria", "settings": {}}]}
    created = (await client.query(CREATE, {"i": pilot}, token="staff:admin"))["data"]["createPilot"]
    assert created["errors"] == []
    expected = {"registrationOpensAt": "2025-12-31T17:00:00+00:00",
                "registrationClosesAt": "2026-06-30T16:59:59+00:00",
                "appealOpensAt": "2026-06-30T17:00:00+00:00", "appealClosesAt": "2026-07-31T16:59:59+00:00"}
    assert created["pilot"] == expected
    read = await client.query('{ pilot(code: "JBR-2026") { registrationOpensAt registrationClosesAt appealOpensAt '
                              'appealClosesAt } }', token="staff:admin")
    assert read["data"]["pilot"] == expected
