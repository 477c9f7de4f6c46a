"""Every screen's operation in schema/operations/, run as a frontend would: loaded from its file, sent
over GraphQL over HTTP (the subscription over a websocket) by the role whose screen it serves, after
the steps that lead to that screen (IKD sign-in, consent, registration, selection, delivery, appeal).
Citizens and the national office here; facilitators and village offices in test_operations_staff.py;
the helpers and fixtures in tests/fixtures/screens.py.

The guard at the end fails for an operation file that no test runs, and for a stale trusted-documents
manifest."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import re
from dataclasses import replace
from pathlib import Path

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
from conftest import PILOT, GraphQLClient
from fixtures import screens
from fixtures.screens import (  # noqa: F401 - api and decided are fixtures
    OPS_DIR,
    PDF,
    api,
    appeal_input,
    appellant,
    decided,
    deliver,
    op,
    run,
    upload,
)
from perlinsos.app import create_app
from perlinsos.db.engine import Database

#: the operations whose scenario lives here (test_schema_contract.py runs the others)
HOME = frozenset({
    "Viewer", "PilotOverview", "MyDecision", "Inbox", "UnreadCount", "MarkNotificationsRead", "NewNotifications",
    "FileAppeal", "MyAppeals", "WithdrawAppeal", "VillageRegistrations", "AppealQueue", "ClaimAppeal",
    "ResolveAppeal", "RunSelection", "SelectionRun", "SelectionPreview", "Outbox", "RequeueNotification",
    "FacilitatorWorklist", "RecordInformed", "FileAppealInPerson", "ResetTrainingPilot",
})


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

    screen = await run(api, "AppealQueue", {"pilot": PILOT, "status": "SUBMITTED"}, token=reviewer)
    queue, correctable = screen["appeals"], {f["name"]: f["type"] for f in screen["correctedFactFields"]}
    assert correctable["electricity_va"] == "INTEGER"  # the resolve form's field for the disputed fact
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
    """A new file in schema/operations/ needs a scenario: in test_operations*.py (listed in HOME and
    sent with run or op there or in fixtures/screens.py) or in test_schema_contract.py's _scenario (named there)."""
    import test_schema_contract

    sources = [*Path(__file__).parent.glob("test_operations*.py"), Path(screens.__file__)]
    source = "".join(path.read_text(encoding="utf-8") for path in sources)
    run_here = set(re.findall(r'(?:\brun\(\w+, |\bop\()"(\w+)"', source))
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
