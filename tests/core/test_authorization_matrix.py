"""Authorization as a matrix: every root query and mutation × every role.

A citizen asking for another citizen's record gets exactly what a missing record gets. A new
root field without a row here fails `test_every_root_field_is_in_the_matrix`.

Every row acts on real records: the appeal rows on a real appeal in each state (``field@state``),
so a row tests the rule and not "not found". Three reviewers of A's district are tied to M's appeal
(separation of duties, perlinsos.policy.duties): M themselves, a member of M's household, and
the facilitator who assisted M's registration.
"""

from __future__ import annotations

import pytest

from fixtures import seed
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.schema import build_schema
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings

A, B = seed.nik(0), seed.nik(1, "351016")
M, H = seed.nik(2), seed.nik(3)  # M appeals; H is on M's family card
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
# Reviewers of A's and M's district tied to M's appeal (separation of duties). Kept apart from
# ROLES and STAFF, which the fuzz suite reuses for its own world (without M).
TIED_ROLES = {
    "reviewer_appellant": f"citizen:{M}",
    "reviewer_household": f"citizen:{H}",
    "reviewer_facilitator": "staff:fac-rev",
}
TIED_STAFF = [(f"citizen-{M}", "REVIEWER", "35.10.15"), (f"citizen-{H}", "REVIEWER", "35.10.15"),
              ("fac-rev", "FACILITATOR", seed.KEMIREN), ("fac-rev", "REVIEWER", "35.10.15")]
# Village office operators (issue 14): they record in-person appeals in their villages only.
OPERATOR_ROLES = {"operator_in": "staff:op-in", "operator_out": "staff:op-out"}
OPERATOR_STAFF = [("op-in", "VILLAGE_OPERATOR", seed.KEMIREN), ("op-out", "VILLAGE_OPERATOR", seed.LATENG)]
MATRIX_ROLES = ROLES | TIED_ROLES | OPERATOR_ROLES

REG_A = to_global_id("Registration", 1)
CONSENT_A = to_global_id("Consent", 1)
ASSIGNMENT = to_global_id("StaffAssignment", 1)
DECISION_B = to_global_id("Decision", 2)  # B's only decision, with no appeal
# A's appeals, one in each state (see `world`), and M's
APPEAL = {"withdrawn": 1, "resolved": 2, "submitted": 3, "claimed": 4, "tied": 5, "tied_claimed": 6}


def _appeal(state: str) -> str:
    return to_global_id("Appeal", APPEAL[state])


TIED_STATES = ("submitted", "claimed", "resolved", "withdrawn", "tied", "tied_claimed")
CLAIM = "mutation($id: ID!) { claimAppeal(id: $id) { appeal { status } errors { code } } }"
RESOLVE = ("mutation($id: ID!) { resolveAppeal(input: {appeal: $id, upheld: false, note: \"Tagihan tidak cocok.\"}) "
           "{ appeal { status } errors { code } } }")
WITHDRAW = "mutation($id: ID!) { withdrawAppeal(id: $id) { appeal { status } errors { code } } }"
APPEAL_OPS = {f"{field}@{state}": (query, {"id": _appeal(state)})
              for field, query, states in (
                  ("claimAppeal", CLAIM, TIED_STATES),
                  ("resolveAppeal", RESOLVE, TIED_STATES),
                  ("withdrawAppeal", WITHDRAW, ("submitted", "claimed", "resolved", "withdrawn")))
              for state in states}

OPS = {
    "viewer": ("{ viewer { kind } }", {}),
    "me": ("{ me { person { nik } } }", {}),
    "pilots": ("{ pilots { nodes { code } } }", {}),
    "pilot": ('{ pilot(code: "BWI-2025") { code } }', {}),
    "registrations": ('{ registrations(pilot: "BWI-2025") { nodes { registrant { nik } } } }', {}),
    "registration": ("query($id: ID!) { registration(id: $id) { registrant { nik } } }", {"id": REG_A}),
    # the appeals read through the registrations: their statement, comparison data and evidence
    "registrations@appeals": ('{ registrations(pilot: "BWI-2025") { nodes { decision { appeals { id } } } } }', {}),
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
    "appealGrounds": ("{ appealGrounds { code } }", {}),
    "appealGrounds@decision": ("query($d: ID) { appealGrounds(decision: $d) { code appliesTo } }", {"d": DECISION_B}),
    "evidenceKinds": ("{ evidenceKinds { code } }", {}),
    "programmes": ("{ programmes { code } }", {}),
    "correctedFactFields": ("{ correctedFactFields { name type } }", {}),
    "revokeStaff": ("mutation($id: ID!) { revokeStaff(id: $id) { assignment { subject } errors { code } } }",
                    {"id": ASSIGNMENT}),
    "outbox": ("{ outbox(status: DEAD) { nodes { id } } }", {}),
    "appeals": ('{ appeals(pilot: "BWI-2025") { nodes { id } } }', {}),
    "fileAppeal": ("mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id } errors { code } } }",
                   {"i": {"decision": DECISION_B, "ground": "DATA_INCORRECT",
                          "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"], "statement": "Data listrik keliru sekali.",
                          "comparisonData": {}, "evidence": []}}),
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
    # the real pilot is no training pilot: an admin passes authorization and stops at that check (nothing deleted)
    "resetTrainingPilot": ('mutation { resetTrainingPilot(code: "BWI-2025") { pilot { code } errors { code } } }', {}),
    # the households of the facilitator's villages (assisted or not), with where each stands
    "worklist": ("{ worklist { nodes { nik } } }", {}),
    "worklistCounts": ("{ worklistCounts { count } }", {}),
    # B's household (Lateng); a time before its decision: its village's facilitator stops at that check
    "recordInformed": ('mutation($id: ID!) { recordInformed(input: {id: $id, informedAt: "2020-01-01T00:00:00Z", '
                       'how: IN_PERSON, clientKey: "matrix-key-1"}) { informed { how } errors { code } } }',
                       {"id": to_global_id("Registration", 2)}),
    # B in person at the Lateng office with their KK, no original document seen: Lateng's operator
    # passes every check of the role and stops at the ground's missing evidence
    "fileAppealInPerson": ("mutation($i: FileAppealInPersonInput!) { fileAppealInPerson(input: $i) "
                           "{ appeal { id } errors { code } } }",
                           {"i": {"nik": B, "kk": "3510160101000001", "decision": DECISION_B,
                                  "ground": "DATA_INCORRECT",
                                  "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
                                  "statement": "Data listrik keliru sekali.", "comparisonData": {},
                                  "identityCheck": {"ownerPresent": True, "ktpSeen": True}}}),
} | APPEAL_OPS

FULL_A, MASKED_A = A, A[:4] + "********" + A[-4:]
MASKED_B, MASKED_M = B[:4] + "********" + B[-4:], M[:4] + "********" + M[-4:]
# What each role sees: "unauth"/"forbidden" (error codes), "none" (null or empty), a value, or a
# payload error code. Mutations that pass authorization stop at the next check (no IKD here).
ALL = list(MATRIX_ROLES)
TIED = ["reviewer_appellant", "reviewer_household", "reviewer_facilitator"]
STAFF_ROLES = ["facilitator_in", "facilitator_out", "reviewer_in", "reviewer_out", "admin", "reviewer_facilitator",
               *OPERATOR_ROLES]
CITIZEN_REVIEWERS = ["reviewer_appellant", "reviewer_household"]  # signed in as citizens, assigned as reviewers
IN_REGION = ["reviewer_in", *TIED]  # the reviewers of A's and M's district
FACILITATORS = ["facilitator_in", "facilitator_out", "reviewer_facilitator"]


def _only(values: dict, default) -> dict:
    """``values`` for the roles named, ``default`` for every other role."""
    return {r: values.get(r, default) for r in ALL}


def _admin_only(ok, refused, anonymous) -> dict:
    return _only({"anonymous": anonymous, "admin": ok}, refused)


def _review(state_code: str, tied_code: str | None = None) -> dict:
    """A review step: the district's reviewers get ``state_code`` (the tied ones ``tied_code``);
    everyone else is told the appeal does not exist."""
    tied = tied_code or state_code
    return _only({"anonymous": "UNAUTHENTICATED", "reviewer_in": state_code} | {r: tied for r in TIED},
                 "APPEAL_NOT_FOUND")


def _withdraw(owner_code: str) -> dict:
    return _only({"anonymous": "UNAUTHENTICATED", "citizen_a": owner_code}
                 | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES}, "APPEAL_NOT_FOUND")


EXPECT = {
    "viewer": {r: "ok" for r in ALL},
    "pilots": {r: "ok" for r in ALL},
    "pilot": {r: "ok" for r in ALL},
    "consentScopes": {r: "ok" for r in ALL},  # what a citizen is asked to consent to: public
    "appealGrounds": {r: "ok" for r in ALL},  # the forms: public
    "evidenceKinds": {r: "ok" for r in ALL},
    "programmes": {r: "ok" for r in ALL},
    "correctedFactFields": {r: "ok" for r in ALL},  # a description of the reviewer's form, no data
    # which of B's reasons each ground fits: whoever may see B's registration
    "appealGrounds@decision": _only({r: "ok" for r in ("citizen_b", "reviewer_out", "admin")},
                                    "error:DECISION_NOT_FOUND"),
    "me": {"anonymous": "unauth", "citizen_a": FULL_A, "citizen_b": B, "reviewer_appellant": M,
           "reviewer_household": H} | {r: "none" for r in STAFF_ROLES},
    "registrations": _only({"anonymous": "unauth", "facilitator_in": [MASKED_A, MASKED_A], "reviewer_out": [B],
                            "admin": [MASKED_A, MASKED_B, MASKED_M, MASKED_A, MASKED_M]}
                           | {r: [FULL_A, M, FULL_A, M] for r in IN_REGION}, []),
    # the appeals each reads through registrations: a reviewer tied to M's two (separation of duties)
    # reads neither; M keeps the appellant's rights, fac-rev a facilitator's (it assisted both)
    "registrations@appeals": _only({"anonymous": "unauth", "facilitator_in": 4, "reviewer_household": 4, "admin": 6}
                                   | {r: 6 for r in ("reviewer_in", "reviewer_appellant", "reviewer_facilitator")}, 0),
    "registration": _only({"anonymous": "unauth", "citizen_a": FULL_A, "facilitator_in": MASKED_A, "admin": MASKED_A}
                          | {r: FULL_A for r in IN_REGION}, "none"),
    "staffAssignments": _admin_only("ok", "forbidden", "unauth"),
    "giveConsent": _only({"anonymous": "UNAUTHENTICATED", "citizen_a": "ok"}  # its live consent, returned again
                         | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES}, "IDENTITY_PROVIDER_UNSUPPORTED"),
    "withdrawConsent": _only({"anonymous": "UNAUTHENTICATED", "citizen_a": "ok"}
                             | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES}, "CONSENT_NOT_FOUND"),
    "registerHousehold": _only({"anonymous": "UNAUTHENTICATED", "citizen_a": "PERSON_UNKNOWN"}
                               | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES}, "CONSENT_REQUIRED"),
    "assignStaff": _admin_only("ok", "FORBIDDEN", "UNAUTHENTICATED"),
    "revokeStaff": _admin_only("ok", "FORBIDDEN", "UNAUTHENTICATED"),
    # how many appeals each sees: the district's reviewers all but those they are tied to
    "appeals": _only({"anonymous": "unauth", "reviewer_in": 6, "admin": 6} | {r: 4 for r in TIED}, 0),
    # B's decision: only B gets past "not found" (and stops at the missing evidence)
    "fileAppeal": _only({"anonymous": "UNAUTHENTICATED", "citizen_b": "EVIDENCE_MISSING"}
                        | {r: "CITIZEN_TOKEN_REQUIRED" for r in STAFF_ROLES}, "DECISION_NOT_FOUND"),
    "claimAppeal@submitted": _review("ok"),
    "claimAppeal@claimed": _review("ok", "APPEAL_CONFLICT"),  # rev-in holds it: claiming again is a no-op
    "claimAppeal@resolved": _review("APPEAL_TRANSITION_NOT_ALLOWED"),
    "claimAppeal@withdrawn": _review("APPEAL_TRANSITION_NOT_ALLOWED"),
    "claimAppeal@tied": _review("ok", "CONFLICT_OF_INTEREST"),
    "claimAppeal@tied_claimed": _review("APPEAL_CONFLICT", "CONFLICT_OF_INTEREST"),
    "resolveAppeal@submitted": _review("APPEAL_TRANSITION_NOT_ALLOWED"),
    "resolveAppeal@claimed": _review("ok", "APPEAL_CONFLICT"),  # only the reviewer who claimed it
    "resolveAppeal@resolved": _review("APPEAL_TRANSITION_NOT_ALLOWED"),
    "resolveAppeal@withdrawn": _review("APPEAL_TRANSITION_NOT_ALLOWED"),
    "resolveAppeal@tied": _review("APPEAL_TRANSITION_NOT_ALLOWED", "CONFLICT_OF_INTEREST"),
    # fac-rev claimed it (before being tied to it, or around the rule): still may not decide it
    "resolveAppeal@tied_claimed": _review("APPEAL_CONFLICT", "CONFLICT_OF_INTEREST"),
    # only the appellant withdraws, and only an open appeal
    "withdrawAppeal@submitted": _withdraw("ok"),
    "withdrawAppeal@claimed": _withdraw("ok"),
    "withdrawAppeal@resolved": _withdraw("APPEAL_TRANSITION_NOT_ALLOWED"),
    "withdrawAppeal@withdrawn": _withdraw("APPEAL_TRANSITION_NOT_ALLOWED"),
    "outbox": _admin_only("ok", "forbidden", "unauth"),
    "markNotificationsRead": {"anonymous": "unauth"} | {r: "ok" for r in ALL if r != "anonymous"},
    "requeueNotification": _admin_only("NOTIFICATION_NOT_REQUEUEABLE", "FORBIDDEN", "UNAUTHENTICATED"),
    "selectionRun": _admin_only("none", "forbidden", "unauth"),
    "selectionPreview": _admin_only("ok", "FORBIDDEN", "UNAUTHENTICATED"),
    "runSelection": _admin_only("PROGRAMME_NOT_IN_PILOT", "FORBIDDEN", "UNAUTHENTICATED"),
    "pilotStats": _only({"anonymous": "UNAUTHENTICATED", "admin": "ok"} | {r: "ok" for r in IN_REGION}, "FORBIDDEN"),
    "pluginSettingsSchemas": _admin_only("ok", "forbidden", "unauth"),
    "createPilot": _admin_only("PILOT_EXISTS", "FORBIDDEN", "UNAUTHENTICATED"),
    "updatePilot": _admin_only("ok", "FORBIDDEN", "UNAUTHENTICATED"),
    "resetTrainingPilot": _admin_only("NOT_A_TRAINING_PILOT", "FORBIDDEN", "UNAUTHENTICATED"),
    "fileAppealInPerson": _only({"anonymous": "UNAUTHENTICATED", "operator_out": "EVIDENCE_MISSING",
                                 "operator_in": "OPERATOR_OUT_OF_AREA"}, "NOT_A_VILLAGE_OPERATOR"),
    # facilitators only, each their villages' households (fac-rev also reviews the district: NIKs in full)
    "worklist": _only({"anonymous": "unauth", "facilitator_in": [MASKED_A, MASKED_M, MASKED_A, MASKED_M],
                       "facilitator_out": [MASKED_B], "reviewer_facilitator": [FULL_A, M, FULL_A, M]},
                      "error:NOT_A_FACILITATOR"),
    "worklistCounts": _only({"anonymous": "unauth"} | {r: "ok" for r in FACILITATORS}, "error:NOT_A_FACILITATOR"),
    "recordInformed": _only({"anonymous": "UNAUTHENTICATED", "facilitator_out": "INFORMED_AT_INVALID",
                             "facilitator_in": "FACILITATOR_OUT_OF_AREA",
                             "reviewer_facilitator": "FACILITATOR_OUT_OF_AREA"}, "NOT_A_FACILITATOR"),
}


def test_every_root_field_is_in_the_matrix():
    schema = build_schema(PluginManager(), Settings())._schema
    fields = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    assert fields == {name.partition("@")[0] for name in OPS} and set(OPS) == set(EXPECT)
    assert all(set(row) == set(MATRIX_ROLES) for row in EXPECT.values())


def observed(name: str, data: dict):
    errors = data.get("errors") or []
    if errors:
        code = errors[0].get("extensions", {}).get("code")
        return {"UNAUTHENTICATED": "unauth", "FORBIDDEN": "forbidden"}.get(code, f"error:{code}")
    if name == "registrations@appeals":
        return sum(len(n["decision"]["appeals"]) for n in data["data"]["registrations"]["nodes"] if n["decision"])
    name = name.partition("@")[0]
    value = data["data"][name]
    if name == "appeals":
        return len(value["nodes"])
    if name in ("registrations",):
        return [n["registrant"]["nik"] for n in value["nodes"]]
    if name == "worklist":
        return [n["nik"] for n in value["nodes"]]
    if name == "registration":
        return "none" if value is None else value["registrant"]["nik"]
    if name == "me":
        return "none" if value is None else value["person"]["nik"]
    if isinstance(value, dict) and "errors" in value:
        return value["errors"][0]["code"] if value["errors"] else "ok"
    return "ok" if value is not None else "none"


@pytest.fixture
async def world(client, db, pilot):
    await seed.registrations(db, pilot, 1, assisted_by="fac-in")  # 1: A's, in Kemiren
    await seed.registrations(db, pilot, 1, region=seed.LATENG, start=1)  # 2: B's, in Lateng
    await seed.registrations(db, pilot, 1, start=2, assisted_by="fac-rev")  # 3: M's, in Kemiren
    await seed.member(db, M, H)
    await seed.another_programme(db, pilot, A, "SEMBAKO", assisted_by="fac-in")  # 4: A's
    await seed.another_programme(db, pilot, M, "SEMBAKO")  # 5: M's
    await seed.consent(db, A)
    for subject, role, region in STAFF + TIED_STAFF + OPERATOR_STAFF:
        await seed.staff(db, subject, role, region)
    # A's appeals in every state (at most one open per decision), then M's (ids as in APPEAL)
    assert [await seed.appeal(db, 1, "WITHDRAWN"), await seed.appeal(db, 1, "DISMISSED", reviewer="rev-in"),
            await seed.appeal(db, 1, "SUBMITTED"), await seed.appeal(db, 4, "UNDER_REVIEW", reviewer="rev-in"),
            await seed.appeal(db, 3, "SUBMITTED"),
            await seed.appeal(db, 5, "UNDER_REVIEW", reviewer="fac-rev", assisted_by="fac-rev")] == [1, 2, 3, 4, 5, 6]
    return client


@pytest.mark.parametrize("operation", sorted(OPS))
@pytest.mark.parametrize("role", list(MATRIX_ROLES))
async def test_matrix(world, role, operation):
    query, variables = OPS[operation]
    data = await world.query(query, variables, token=MATRIX_ROLES[role])
    assert observed(operation, data) == EXPECT[operation][role], data
