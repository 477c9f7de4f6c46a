"""Authorization as a matrix: every root query and mutation × every role.

A citizen asking for another citizen's record gets exactly what a missing record gets. A new
root field without a row here fails `test_every_root_field_is_in_the_matrix`.
"""

from __future__ import annotations

import pytest

from fixtures import seed
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.schema import build_schema
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings

A, B = seed.nik(0), seed.nik(1, "351016")
ROLES = {
    "anonymous": None,
    "citizen_a": f"citizen:{A}",
    "citizen_b": f"citizen:{B}",
    "facilitator_in": "staff:fac-in",
    "facilitator_out": "staff:fac-out",
    "reviewer_in": "staff:rev-in",
    "reviewer_out": "staff:rev-out",
    "admin": "staff:admin",
}
STAFF = [("fac-in", "FACILITATOR", seed.KEMIREN), ("fac-out", "FACILITATOR", seed.LATENG),
         ("rev-in", "REVIEWER", "35.10.15"), ("rev-out", "REVIEWER", "35.10.16"), ("admin", "ADMIN", "35")]

REG_A = to_global_id("Registration", 1)
CONSENT_A = to_global_id("Consent", 1)
ASSIGNMENT = to_global_id("StaffAssignment", 1)

OPS = {
    "viewer": ("{ viewer { kind } }", {}),
    "me": ("{ me { person { nik } } }", {}),
    "pilots": ("{ pilots { nodes { code } } }", {}),
    "pilot": ('{ pilot(code: "BWI-2025") { code } }', {}),
    "registrations": ('{ registrations(pilot: "BWI-2025") { nodes { registrant { nik } } } }', {}),
    "registration": ("query($id: ID!) { registration(id: $id) { registrant { nik } } }", {"id": REG_A}),
    "staffAssignments": ("{ staffAssignments { nodes { subject } } }", {}),
    "giveConsent": ('mutation { giveConsent(input: {scopes: ["person"], policyVersion: "2025-08"}) '
                    "{ consent { id } errors { code } } }", {}),
    "withdrawConsent": ("mutation($id: ID!) { withdrawConsent(id: $id) { consent { id } errors { code } } }",
                        {"id": CONSENT_A}),
    "registerHousehold": ('mutation { registerHousehold(input: {programme: "PKH"}) '
                          "{ registration { id } errors { code } } }", {}),
    "assignStaff": ('mutation { assignStaff(input: {subject: "new", role: REVIEWER, regionCode: "35.10.15", '
                    'pilot: "BWI-2025", issuer: "urn:perlinsos:test:static-auth"}) '
                    "{ assignment { subject } errors { code } } }", {}),
    "consentScopes": ("{ consentScopes { code text } }", {}),
    "revokeStaff": ("mutation($id: ID!) { revokeStaff(id: $id) { assignment { subject } errors { code } } }",
                    {"id": ASSIGNMENT}),
    "outbox": ("{ outbox(status: DEAD) { nodes { id } } }", {}),
    "appeals": ('{ appeals(pilot: "BWI-2025") { nodes { id } } }', {}),
    "fileAppeal": ("mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id } errors { code } } }",
                   {"i": {"decision": "RGVjaXNpb246OTk5", "ground": "DATA_INCORRECT",
                          "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"], "statement": "Data listrik keliru sekali.",
                          "comparisonData": {}, "evidence": []}}),
    "claimAppeal": ('mutation { claimAppeal(id: "QXBwZWFsOjk5") { errors { code } } }', {}),
    "resolveAppeal": ('mutation { resolveAppeal(input: {appeal: "QXBwZWFsOjk5", upheld: false, note: "tidak"}) '
                      "{ errors { code } } }", {}),
    "withdrawAppeal": ('mutation { withdrawAppeal(id: "QXBwZWFsOjk5") { errors { code } } }', {}),
    "markNotificationsRead": ("mutation { markNotificationsRead(ids: []) { marked errors { code } } }", {}),
    "requeueNotification": ('mutation { requeueNotification(id: "Tm90aWZpY2F0aW9uOjk5") { errors { code } } }', {}),
    "selectionRun": ('{ selectionRun(id: "00000000-0000-0000-0000-000000000000") { status } }', {}),
    "selectionPreview": ('{ selectionPreview(pilot: "BWI-2025", settings: {}) { preview { total } errors { code } } }',
                         {}),
    # programme BLT is not in the pilot: an admin passes authorization and stops at that check
    "runSelection": ('mutation { runSelection(pilot: "BWI-2025", programme: "BLT") { run { id } errors { code } } }',
                     {}),
    # aggregate figures: the national office anywhere, a reviewer within their region
    "pilotStats": ('{ pilotStats(pilot: "BWI-2025", regionCode: "35.10.15") '
                   "{ stats { overall { registrations { total { count } } } } errors { code } } }", {}),
    "pluginSettingsSchemas": ("{ pluginSettingsSchemas { plugin } }", {}),
    # the code is taken: an admin passes authorization and stops at that check
    "createPilot": ('mutation { createPilot(input: {code: "BWI-2025", name: "Uji coba Jember", regions: ["35.09"], '
                    'programmes: ["PKH"], phases: {registrationOpens: "2026-01-01T00:00:00+07:00", '
                    'registrationCloses: "2026-06-30T00:00:00+07:00"}}) { pilot { code } errors { code } } }', {}),
    "updatePilot": ('mutation { updatePilot(code: "BWI-2025", input: {}) { pilot { code } errors { code } } }', {}),
}

FULL_A, MASKED_A = A, A[:4] + "********" + A[-4:]
# What each role sees: "unauth"/"forbidden" (error codes), "none" (null or empty), a value, or a
# payload error code. Mutations that pass authorization stop at the next check (no IKD here).
ALL = list(ROLES)
STAFF_ROLES = ["facilitator_in", "facilitator_out", "reviewer_in", "reviewer_out", "admin"]
EXPECT = {
    "viewer": {r: "ok" for r in ALL},
    "pilots": {r: "ok" for r in ALL},
    "pilot": {r: "ok" for r in ALL},
    "consentScopes": {r: "ok" for r in ALL},  # what a citizen is asked to consent to: public
    "me": {"anonymous": "unauth", "citizen_a": FULL_A, "citizen_b": B} | {r: "none" for r in STAFF_ROLES},
    "registrations": {"anonymous": "unauth", "citizen_a": [], "citizen_b": [], "facilitator_in": [MASKED_A],
                      "facilitator_out": [], "reviewer_in": [FULL_A], "reviewer_out": [B],
                      "admin": [MASKED_A, B[:4] + "********" + B[-4:]]},
    "registration": {"anonymous": "unauth", "citizen_a": FULL_A, "citizen_b": "none", "facilitator_in": MASKED_A,
                     "facilitator_out": "none", "reviewer_in": FULL_A, "reviewer_out": "none", "admin": MASKED_A},
    "staffAssignments": {"anonymous": "unauth", "admin": "ok"}
    | {r: "forbidden" for r in ALL if r not in ("anonymous", "admin")},
    "giveConsent": {"anonymous": "UNAUTHENTICATED", "citizen_a": "ok",  # its live consent, returned again
                    "citizen_b": "IDENTITY_PROVIDER_UNSUPPORTED"} | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES},
    "withdrawConsent": {"anonymous": "UNAUTHENTICATED", "citizen_a": "ok", "citizen_b": "CONSENT_NOT_FOUND"}
    | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES},
    "registerHousehold": {"anonymous": "UNAUTHENTICATED", "citizen_a": "PERSON_UNKNOWN",
                          "citizen_b": "CONSENT_REQUIRED"} | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES},
    "assignStaff": {"anonymous": "UNAUTHENTICATED", "admin": "ok"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
    "revokeStaff": {"anonymous": "UNAUTHENTICATED", "admin": "ok"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
    "appeals": {"anonymous": "unauth"} | {r: "ok" for r in ALL if r != "anonymous"},
    "fileAppeal": {"anonymous": "UNAUTHENTICATED", "citizen_a": "DECISION_NOT_FOUND", "citizen_b": "DECISION_NOT_FOUND"}
    | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES},
    "claimAppeal": {"anonymous": "UNAUTHENTICATED"} | {r: "APPEAL_NOT_FOUND" for r in ALL if r != "anonymous"},
    "resolveAppeal": {"anonymous": "UNAUTHENTICATED"} | {r: "APPEAL_NOT_FOUND" for r in ALL if r != "anonymous"},
    "withdrawAppeal": {"anonymous": "UNAUTHENTICATED", "citizen_a": "APPEAL_NOT_FOUND", "citizen_b": "APPEAL_NOT_FOUND"}
    | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES},
    "outbox": {"anonymous": "unauth", "admin": "ok"} | {r: "forbidden" for r in ALL if r not in ("anonymous", "admin")},
    "markNotificationsRead": {"anonymous": "unauth"} | {r: "ok" for r in ALL if r != "anonymous"},
    "requeueNotification": {"anonymous": "UNAUTHENTICATED", "admin": "NOTIFICATION_NOT_REQUEUEABLE"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
    "selectionRun": {"anonymous": "unauth", "admin": "none"}
    | {r: "forbidden" for r in ALL if r not in ("anonymous", "admin")},
    "selectionPreview": {"anonymous": "UNAUTHENTICATED", "admin": "ok"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
    "runSelection": {"anonymous": "UNAUTHENTICATED", "admin": "PROGRAMME_NOT_IN_PILOT"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
    "pilotStats": {"anonymous": "UNAUTHENTICATED", "reviewer_in": "ok", "admin": "ok"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "reviewer_in", "admin")},
    "pluginSettingsSchemas": {"anonymous": "unauth", "admin": "ok"}
    | {r: "forbidden" for r in ALL if r not in ("anonymous", "admin")},
    "createPilot": {"anonymous": "UNAUTHENTICATED", "admin": "PILOT_EXISTS"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
    "updatePilot": {"anonymous": "UNAUTHENTICATED", "admin": "ok"}
    | {r: "FORBIDDEN" for r in ALL if r not in ("anonymous", "admin")},
}


def test_every_root_field_is_in_the_matrix():
    schema = build_schema(PluginManager(), Settings())._schema
    fields = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    assert fields == set(OPS) == set(EXPECT)
    assert all(set(row) == set(ROLES) for row in EXPECT.values())


def observed(name: str, data: dict):
    errors = data.get("errors") or []
    if errors:
        code = errors[0].get("extensions", {}).get("code")
        return {"UNAUTHENTICATED": "unauth", "FORBIDDEN": "forbidden"}.get(code, f"error:{code}")
    value = data["data"][name]
    if name in ("registrations",):
        return [n["registrant"]["nik"] for n in value["nodes"]]
    if name == "registration":
        return "none" if value is None else value["registrant"]["nik"]
    if name == "me":
        return "none" if value is None else value["person"]["nik"]
    if isinstance(value, dict) and "errors" in value:
        return value["errors"][0]["code"] if value["errors"] else "ok"
    return "ok" if value is not None else "none"


@pytest.fixture
async def world(client, db, pilot):
    await seed.registrations(db, pilot, 1, assisted_by="fac-in")  # A's, in Kemiren
    await seed.registrations(db, pilot, 1, region=seed.LATENG, start=1)  # B's, in Lateng
    await seed.consent(db, A)
    for subject, role, region in STAFF:
        await seed.staff(db, subject, role, region)
    return client


@pytest.mark.parametrize("operation", sorted(OPS))
@pytest.mark.parametrize("role", list(ROLES))
async def test_matrix(world, role, operation):
    query, variables = OPS[operation]
    data = await world.query(query, variables, token=ROLES[role])
    assert observed(operation, data) == EXPECT[operation][role], data
