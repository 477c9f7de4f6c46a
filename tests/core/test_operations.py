"""Every screen's operation in schema/operations/, run as a frontend would: loaded from its file, sent
over GraphQL over HTTP (the subscription over a websocket) by the role whose screen it serves, after
the steps that lead to that screen (IKD sign-in, consent, registration, selection, delivery, appeal).

The guard at the end fails for an operation file that no test runs."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_ast,
)
from conftest import PILOT, GraphQLClient, ikd_pilot_data
from fixtures import seed
from fixtures.servers import free_port
from perlinsos.app import create_app
from perlinsos.db.engine import Database
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.registration.consent import SCOPES

OPS_DIR = Path(__file__).resolve().parents[2] / "schema" / "operations"
#: the operations whose scenario lives here (test_schema_contract.py runs the others)
HOME = frozenset({
    "Viewer", "PilotOverview", "MyDecision", "Inbox", "UnreadCount", "MarkNotificationsRead", "NewNotifications",
    "FileAppeal", "MyAppeals", "WithdrawAppeal", "VillageRegistrations", "AppealQueue", "ClaimAppeal",
    "ResolveAppeal", "RunSelection", "SelectionRun", "SelectionPreview", "Outbox", "RequeueNotification",
    "FacilitatorWorklist", "RecordInformed", "FileAppealInPerson",
})
PDF = b"%PDF-1.4\n% Tagihan listrik PLN: daya terpasang 900 VA\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
#: the sms gateway is down (nothing listens there): its messages end in the outbox as DEAD
ONE_TRY = Policy(max_attempts=1, base_delay=0.0, lease=5.0, send_timeout=2.0)


def op(name: str) -> str:
    return (OPS_DIR / f"{name}.graphql").read_text(encoding="utf-8")


async def run(client: GraphQLClient, name: str, variables: dict | None = None, *, token: str) -> dict:
    """The operation's data; fails on any GraphQL error or payload error."""
    body = await client.query(op(name), variables, token=token, operation_name=name)
    assert "errors" not in body, body
    for value in body["data"].values():
        assert value is not None, body
        if isinstance(value, dict) and "errors" in value:
            assert value["errors"] == [], value["errors"]
    return body["data"]


@pytest.fixture
async def api(app, db, plugin_manager, ikd) -> GraphQLClient:
    """The Banyuwangi pilot on the IKD simulator, its SMS gateway down; a national officer and a
    reviewer of the district; the client signed out."""
    data = ikd_pilot_data(ikd)
    data["plugins"]["notify_sms"]["gateway_url"] = f"http://127.0.0.1:{free_port()}"
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    await seed.staff(db, "kantor-pusat", "ADMIN", "35", issuer=ikd.issuer)
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        yield GraphQLClient(http)
    await app.state.perlinsos.db.dispose()


def appellant(ikd) -> dict:
    """A head of household whose electricity is misrecorded at the source (2,200 VA; 900 VA really)
    and whose only PKH problem that is."""
    return next(p for p in ikd.people(limit=50, role="HEAD", error="ELECTRICITY_MISRECORDED")
                if p["pkh_reasons"] == ["ELECTRICITY_ABOVE_LIMIT"] and not p["pkh_reasons_corrected"])


async def select(api: GraphQLClient, admin: str) -> dict:
    """National office: run selection and follow it to the end."""
    run_id = (await run(api, "RunSelection", {"pilot": PILOT, "programme": "PKH"}, token=admin))[
        "runSelection"]["run"]["id"]
    for _ in range(200):
        progress = (await run(api, "SelectionRun", {"id": run_id}, token=admin))["selectionRun"]
        if progress["status"] != "RUNNING":
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"selection still running: {progress}")


async def deliver(db: Database, plugin_manager) -> None:
    await Dispatcher(db, plugin_manager, portal_url="https://portal.test", policy=ONE_TRY).drain()


@pytest.fixture
async def decided(api, db, plugin_manager, ikd) -> dict:
    """The citizen consented and registered (their own screens), selection ran, the decision was
    delivered. Returns the tokens and the person."""
    person = appellant(ikd)
    citizen, admin = ikd.sign_in(person["nik"]), ikd.sign_in_staff("kantor-pusat")
    screen = await run(api, "ConsentScreen", token=citizen)  # what to ask for, and the programmes
    scopes = [s["code"] for s in screen["consentScopes"] if s["requiredForSelection"] or s["code"] == "person"]
    assert {"person", "facts:electricity"} <= set(scopes)
    assert "PKH" in [p["code"] for p in screen["programmes"] if p["registrationOpen"]]
    consent = await run(api, "GiveConsent", {"scopes": scopes, "policyVersion": "2025-08"}, token=citizen)
    assert consent["giveConsent"]["consent"]["live"] is True
    registered = await run(api, "RegisterHousehold", {"programme": "PKH"}, token=citizen)
    assert registered["registerHousehold"]["created"] is True
    finished = await select(api, admin)
    assert finished["status"] == "FINISHED" and finished["decided"] == 1
    assert finished["outcomes"] == [{"outcome": "NOT_ELIGIBLE", "count": 1}]
    assert finished["failedReasons"] == [{"code": "ELECTRICITY_ABOVE_LIMIT", "count": 1}]
    await deliver(db, plugin_manager)
    await seed.staff(db, "verifikator", "REVIEWER", person["region_code"][:8], PILOT, issuer=ikd.issuer)
    return {"person": person, "citizen": citizen, "admin": admin, "reviewer": ikd.sign_in_staff("verifikator")}


async def upload(api: GraphQLClient, token: str, *, citizen_token: str | None = None,
                 kind: str = "SUPPORTING_DOCUMENT") -> str:
    """POST /evidence: the raw file, described in headers (REST, not GraphQL)."""
    headers = {"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": PILOT, "Content-Type": "application/pdf",
               "X-Filename": "tagihan-pln-agustus.pdf", "X-Evidence-Kind": kind}
    if citizen_token:
        headers["X-Citizen-Token"] = citizen_token
    response = await api.http.post("/evidence", content=PDF, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def appeal_input(decision_id: str, evidence: list[str], citizen_token: str | None = None) -> dict:
    return {"decision": decision_id, "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
            "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
            "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900}, "evidence": evidence,
            "citizenToken": citizen_token}


# --- citizen ---------------------------------------------------------------------------------------


async def test_landing_page_and_viewer(api, ikd):
    pilots = (await run(api, "PilotOverview", {"first": 10}, token=None))["pilots"]["edges"]
    assert [(e["node"]["code"], e["node"]["registrationOpen"]) for e in pilots] == [(PILOT, True)]
    citizen = ikd.sign_in(appellant(ikd)["nik"])
    viewer = (await run(api, "Viewer", token=citizen))["viewer"]
    assert viewer["kind"] == "citizen" and viewer["pilot"] == PILOT and viewer["language"] == "id"


async def test_my_decision_with_reasons_and_the_inbox(api, decided):
    citizen = decided["citizen"]
    (registration,) = (await run(api, "MyDecision", token=citizen))["me"]["registrations"]
    decision = registration["decision"]
    assert (decision["outcome"], decision["version"], decision["cause"]) == ("NOT_ELIGIBLE", 1, "SELECTION")
    failed = decision["reasons"][0]  # failed ones first, with what was observed and the limit
    assert (failed["code"], failed["verdict"], failed["observed"], failed["limit"]) == (
        "ELECTRICITY_ABOVE_LIMIT", "FAIL", 2200, 1300)
    assert "2.200" in failed["message"] or "2200" in failed["message"]
    assert [h["version"] for h in registration["decisionHistory"]] == [1]

    assert (await run(api, "UnreadCount", token=citizen))["me"]["unreadNotifications"] == 1
    inbox = (await run(api, "Inbox", {"first": 10}, token=citizen))["me"]
    (item,) = [edge["node"] for edge in inbox["notifications"]["edges"]]
    assert item["template"] == "DECISION_NOT_ELIGIBLE" and item["title"] == "Anda belum memenuhi syarat PKH"
    assert item["readAt"] is None and inbox["notifications"]["pageInfo"]["hasNextPage"] is False
    marked = await run(api, "MarkNotificationsRead", {"ids": [item["id"]]}, token=citizen)
    assert marked["markNotificationsRead"]["marked"] == 1
    assert (await run(api, "UnreadCount", token=citizen))["me"]["unreadNotifications"] == 0
    unread = await run(api, "Inbox", {"unreadOnly": True}, token=citizen)
    assert unread["me"]["notifications"]["edges"] == []


def test_new_notifications_arrive_over_the_websocket(settings, plugin_manager, decided):
    """The live inbox: subscribed before the appeal is filed, the citizen gets APPEAL_RECEIVED as the
    dispatcher (another event loop, as another process would be) delivers it."""
    from starlette.testclient import TestClient

    web = create_app(replace(settings, dispatcher_in_process=False), plugin_manager)
    with TestClient(web, base_url="http://perlinsos.test") as http:
        with http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                    headers={"X-Perlinsos-Pilot": PILOT}) as ws:
            ws.send_text(json.dumps({"type": "connection_init",
                                     "payload": {"Authorization": f"Bearer {decided['citizen']}"}}))
            assert json.loads(ws.receive_text())["type"] == "connection_ack"
            ws.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": op("NewNotifications"), "operationName": "NewNotifications"}}))
            asyncio.run(_file_and_deliver(settings, plugin_manager, decided["citizen"]))
            message = json.loads(ws.receive_text())
            assert message["type"] == "next" and "errors" not in message["payload"], message
            received = message["payload"]["data"]["notifications"]
            assert received["template"] == "APPEAL_RECEIVED" and received["title"] and received["readAt"] is None


async def _file_and_deliver(settings, plugin_manager, citizen: str) -> None:
    import httpx

    app = create_app(replace(settings, dispatcher_in_process=False), plugin_manager)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as h:
        api = GraphQLClient(h)
        decision = (await run(api, "MyDecision", token=citizen))["me"]["registrations"][0]["decision"]
        await run(api, "FileAppeal", {"input": appeal_input(decision["id"], [await upload(api, citizen)])},
                  token=citizen)
    await app.state.perlinsos.db.dispose()
    db = Database(settings.database_url)
    try:
        await deliver(db, plugin_manager)
    finally:
        await db.dispose()


async def test_appeal_filed_with_evidence_claimed_and_upheld_with_corrected_facts(api, decided):
    citizen, reviewer = decided["citizen"], decided["reviewer"]
    decision = (await run(api, "MyDecision", token=citizen))["me"]["registrations"][0]["decision"]
    # the appeal form for this decision: the ground that fits its failed reason, what it requires
    form = await run(api, "AppealForm", {"decision": decision["id"]}, token=citizen)
    (ground,) = [g for g in form["appealGrounds"] if "ELECTRICITY_ABOVE_LIMIT" in g["appliesTo"]]
    assert ground["code"] == "DATA_INCORRECT"
    (kind,) = [k["code"] for k in ground["requiredEvidence"]]
    assert kind in [k["code"] for k in form["evidenceKinds"]]
    fields = {f["name"]: f["type"] for f in ground["comparisonFields"] if "ELECTRICITY_ABOVE_LIMIT" in f["requiredFor"]}
    assert fields.items() <= {"meter_id": "STRING", "electricity_va": "INTEGER"}.items() and fields
    evidence = await upload(api, citizen, kind=kind)
    filed = (await run(api, "FileAppeal", {"input": appeal_input(decision["id"], [evidence])},
                       token=citizen))["fileAppeal"]["appeal"]
    assert (filed["status"], filed["channel"], filed["overdue"]) == ("SUBMITTED", "SELF", False)
    assert filed["decision"]["id"] == decision["id"]
    assert [(e["id"], e["kind"], e["sizeBytes"]) for e in filed["evidence"]] == [(evidence, "SUPPORTING_DOCUMENT",
                                                                                  len(PDF))]
    (mine,) = (await run(api, "MyAppeals", token=citizen))["me"]["appeals"]
    assert (mine["id"], mine["status"], mine["decision"]["registration"]["programme"]) == (filed["id"], "SUBMITTED",
                                                                                          "PKH")

    queue = (await run(api, "AppealQueue", {"pilot": PILOT, "status": "SUBMITTED"}, token=reviewer))["appeals"]
    (queued,) = [edge["node"] for edge in queue["edges"]]
    assert queued["id"] == filed["id"] and queued["comparisonData"]["electricity_va"] == 900
    assert queued["decision"]["reasons"][0]["observed"] == 2200 and queued["evidence"][0]["sha256"]
    assert queued["decision"]["registration"]["registrant"]["nik"] == decided["person"]["nik"]  # their region
    claimed = await run(api, "ClaimAppeal", {"id": filed["id"]}, token=reviewer)
    assert claimed["claimAppeal"]["appeal"]["status"] == "UNDER_REVIEW"
    resolution = (await run(api, "ResolveAppeal", {"input": {
        "appeal": filed["id"], "upheld": True, "note": "Tagihan PLN menunjukkan 900 VA.",
        "correctedFacts": {"electricity_va": 900}}}, token=reviewer))["resolveAppeal"]
    resolved = resolution["appeal"]
    assert resolved["status"] == "UPHELD" and resolved["resolvedAt"]
    current = resolution["decision"]  # the decision now in force: the new version
    assert (current["version"], current["outcome"], current["cause"]) == (2, "ELIGIBLE", "APPEAL")
    assert resolved["decision"]["version"] == 1 and resolved["resultingDecision"]["id"] == current["id"]

    (registration,) = (await run(api, "MyDecision", token=citizen))["me"]["registrations"]
    history = registration["decisionHistory"]
    assert [(h["version"], h["cause"], h["isCurrent"]) for h in history] == [(2, "APPEAL", True),
                                                                             (1, "SELECTION", False)]
    assert [(a["status"], a["resolutionNote"]) for a in history[1]["appeals"]] == [
        ("UPHELD", "Tagihan PLN menunjukkan 900 VA.")]


async def test_the_citizen_withdraws_an_appeal(api, decided):
    citizen = decided["citizen"]
    decision = (await run(api, "MyDecision", token=citizen))["me"]["registrations"][0]["decision"]
    filed = await run(api, "FileAppeal", {"input": appeal_input(decision["id"], [await upload(api, citizen)])},
                      token=citizen)
    withdrawn = await run(api, "WithdrawAppeal", {"id": filed["fileAppeal"]["appeal"]["id"]}, token=citizen)
    assert withdrawn["withdrawAppeal"]["appeal"]["status"] == "WITHDRAWN"
    assert [a["status"] for a in (await run(api, "MyAppeals", token=citizen))["me"]["appeals"]] == ["WITHDRAWN"]


# --- facilitator -----------------------------------------------------------------------------------


async def test_facilitator_registers_and_appeals_for_a_citizen_and_lists_their_villages(api, db, plugin_manager,
                                                                                       ikd):
    person = appellant(ikd)
    await seed.staff(db, "pendamping", "FACILITATOR", person["region_code"], PILOT, issuer=ikd.issuer)
    facilitator, citizen = ikd.sign_in_staff("pendamping"), ikd.sign_in(person["nik"])
    assert "FACILITATOR" in (await run(api, "Viewer", token=facilitator))["viewer"]["roles"]
    on_behalf = {"citizenToken": citizen}
    consent = await run(api, "GiveConsent", {"scopes": list(SCOPES), "policyVersion": "2025-08", **on_behalf},
                        token=facilitator)
    assert consent["giveConsent"]["consent"]["assistedBy"] == "pendamping"
    registered = (await run(api, "RegisterHousehold", {"programme": "PKH", **on_behalf},
                            token=facilitator))["registerHousehold"]["registration"]
    assert (registered["channel"], registered["assistedBy"]) == ("ASSISTED", "pendamping")

    await select(api, ikd.sign_in_staff("kantor-pusat"))
    village = (await run(api, "VillageRegistrations", {"pilot": PILOT}, token=facilitator))["registrations"]
    (node,) = [edge["node"] for edge in village["edges"]]
    assert node["id"] == registered["id"] and node["region"]["code"] == person["region_code"]
    assert node["registrant"]["name"] == person["name"] and "*" in node["registrant"]["nik"]  # masked for staff
    assert "*" in node["household"]["kkNumber"] and node["decision"]["outcome"] == "NOT_ELIGIBLE"

    decision_id = (await run(api, "MyDecision", token=citizen))["me"]["registrations"][0]["decision"]["id"]
    evidence = await upload(api, facilitator, citizen_token=citizen)
    filed = (await run(api, "FileAppeal", {"input": appeal_input(decision_id, [evidence], citizen)},
                       token=facilitator))["fileAppeal"]["appeal"]
    assert filed["channel"] == "ASSISTED" and filed["status"] == "SUBMITTED"


async def test_facilitator_sees_who_was_not_reached_and_records_informing_them(api, db, decided, ikd):
    person = decided["person"]  # the SMS gateway is down: their decision reached the portal only
    await seed.staff(db, "pendamping-desa", "FACILITATOR", person["region_code"], PILOT, issuer=ikd.issuer)
    facilitator = ikd.sign_in_staff("pendamping-desa")
    listed = await run(api, "FacilitatorWorklist", {"notInformed": True}, token=facilitator)
    (node,) = [edge["node"] for edge in listed["worklist"]["edges"]]
    assert (node["name"], node["state"], node["outcome"]) == (person["name"], "NOT_INFORMED", "NOT_ELIGIBLE")
    assert "*" in node["nik"] and node["failedReasons"][0]["code"] == "ELECTRICITY_ABOVE_LIMIT"
    assert listed["worklistCounts"] == [{"village": person["region_code"], "state": "NOT_INFORMED", "count": 1}]
    from datetime import UTC, datetime

    record = {"id": node["id"], "informedAt": datetime.now(UTC).isoformat(), "how": "IN_PERSON",
              "note": "Dijelaskan di rumah.", "clientKey": "kunjungan-0001"}
    informed = (await run(api, "RecordInformed", {"input": record}, token=facilitator))["recordInformed"]
    assert informed["informed"]["registration"] == node["id"] and informed["informed"]["how"] == "IN_PERSON"
    after = await run(api, "FacilitatorWorklist", {"notInformed": True}, token=facilitator)
    assert after["worklist"]["edges"] == []
    assert after["worklistCounts"] == [{"village": person["region_code"], "state": "INFORMED", "count": 1}]


async def test_village_operator_records_an_appeal_brought_in_person(api, db, decided, ikd):
    person = decided["person"]
    await seed.staff(db, "operator-desa", "VILLAGE_OPERATOR", person["region_code"], PILOT, issuer=ikd.issuer)
    operator = ikd.sign_in_staff("operator-desa")
    decision_id = (await run(api, "MyDecision", token=decided["citizen"]))["me"]["registrations"][0]["decision"]["id"]
    form = {key: value for key, value in appeal_input(decision_id, []).items()
            if key not in ("evidence", "citizenToken")}
    form |= {"nik": person["nik"], "kk": person["kk_number"], "clientKey": "kantor-desa-0001",
             "identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["SUPPORTING_DOCUMENT"]}}
    filed = (await run(api, "FileAppealInPerson", {"input": form}, token=operator))["fileAppealInPerson"]["appeal"]
    assert (filed["channel"], filed["status"], filed["filedBy"]["subject"]) == ("VILLAGE_OFFICE", "SUBMITTED",
                                                                                "operator-desa")
    assert [a["kind"] for a in filed["attestations"]] == ["OWNER_PRESENT", "KTP_SEEN",
                                                          "DOCUMENT_SEEN:SUPPORTING_DOCUMENT"]
    again = (await run(api, "FileAppealInPerson", {"input": form}, token=operator))["fileAppealInPerson"]["appeal"]
    assert again["id"] == filed["id"]  # a retry after a dropped connection: the same appeal


# --- national office -------------------------------------------------------------------------------


async def test_national_office_previews_a_limit_and_requeues_what_the_gateway_refused(api, decided):
    admin = decided["admin"]
    preview = (await run(api, "SelectionPreview", {"pilot": PILOT, "programme": "PKH",
                                                   "settings": {"criteria": {"electricity_limit_va": 2200}}},
                         token=admin))["selectionPreview"]["preview"]
    assert preview["total"] == 1 and preview["outcomes"] == [{"outcome": "ELIGIBLE", "count": 1}]

    dead = (await run(api, "Outbox", {"status": "DEAD", "pilot": PILOT}, token=admin))["outbox"]["edges"]
    (sms,) = [edge["node"] for edge in dead]  # the portal copy was delivered; the SMS gateway was down
    assert (sms["channel"], sms["template"], sms["attempts"]) == ("sms", "DECISION_NOT_ELIGIBLE", 1)
    assert sms["lastError"]
    requeued = (await run(api, "RequeueNotification", {"id": sms["id"]}, token=admin))["requeueNotification"]
    assert requeued["notification"]["status"] == "PENDING"
    assert (await run(api, "Outbox", {"status": "DEAD"}, token=admin))["outbox"]["edges"] == []


# --- the guard -------------------------------------------------------------------------------------


def test_every_operation_file_is_run_by_a_test():
    """A new file in schema/operations/ needs a scenario: here (listed in HOME and loaded with
    op/run) or in test_schema_contract.py's _scenario (named there)."""
    import test_schema_contract

    source = Path(__file__).read_text(encoding="utf-8")
    run_here = set(re.findall(r'(?:run\(api, |op\()"(\w+)"', source))
    assert HOME <= run_here, f"listed in HOME but never run: {sorted(HOME - run_here)}"
    named_there = set(re.findall(r'"(\w+)"', inspect.getsource(test_schema_contract._scenario)))
    files = {path.stem for path in OPS_DIR.glob("*.graphql")}
    unrun = files - HOME - named_there
    assert not unrun, f"operations no test runs: {sorted(unrun)} (add a scenario to tests/core/test_operations.py)"


def test_the_trusted_documents_manifest_holds_every_operation_as_written():
    """schema/persisted-documents.json (written by codegen: scripts/typescript-client
    --update-manifest) has one entry per operation file, keyed by the sha256 of its document, and
    each is the file's operation (codegen sorts fields and variables; the order is not compared).
    An operation changed without regenerating fails here, also where node is not installed."""
    manifest = json.loads((OPS_DIR.parent / "persisted-documents.json").read_text(encoding="utf-8"))
    written = {}
    for key, document in manifest.items():
        assert key == "sha256:" + hashlib.sha256(document.encode()).hexdigest(), key
        (operation,) = [d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)]
        written[operation.name.value] = _shape(document)
    files = {path.stem: _shape(path.read_text(encoding="utf-8")) for path in OPS_DIR.glob("*.graphql")}
    stale = sorted(name for name in files.keys() | written.keys() if files.get(name) != written.get(name))
    assert not stale, f"stale in schema/persisted-documents.json: {stale} (run scripts/typescript-client " \
                      "--update-manifest)"


def _shape(document: str) -> list[str]:
    """A document's definitions with selections and variables in a canonical order."""
    def canon(node) -> str:
        if node is None:
            return ""
        if isinstance(node, SelectionSetNode):
            return "{" + " ".join(sorted(canon(s) for s in node.selections)) + "}"
        if isinstance(node, FieldNode):
            alias = f"{node.alias.value}:" if node.alias else ""
            arguments = ",".join(sorted(print_ast(a) for a in node.arguments or ()))
            directives = " ".join(print_ast(d) for d in node.directives or ())
            return f"{alias}{node.name.value}({arguments}){directives}{canon(node.selection_set)}"
        if isinstance(node, FragmentSpreadNode):
            return "..." + node.name.value
        if isinstance(node, InlineFragmentNode):
            on = node.type_condition.name.value if node.type_condition else ""
            return f"...on {on}{canon(node.selection_set)}"
        if isinstance(node, OperationDefinitionNode):
            variables = ",".join(sorted(print_ast(v) for v in node.variable_definitions or ()))
            return f"{node.operation.value} {node.name.value}({variables}){canon(node.selection_set)}"
        assert isinstance(node, FragmentDefinitionNode), node
        return f"fragment {node.name.value} on {node.type_condition.name.value}{canon(node.selection_set)}"

    return sorted(canon(d) for d in parse(document).definitions)
