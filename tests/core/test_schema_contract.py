"""The published contract: schema/schema.graphql matches the code, and every named operation in
schema/operations runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, parse

from fixtures import seed
from perlinsos.graphql.schema import build_schema, export_sdl
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings
from test_operations import HOME as SCREENS

ROOT = Path(__file__).resolve().parents[2]
OPS_DIR = ROOT / "schema" / "operations"
OPERATIONS = sorted(OPS_DIR.glob("*.graphql"))


def test_checked_in_schema_matches_the_code():
    sdl = export_sdl(build_schema(PluginManager(), Settings()))
    checked_in = (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")
    assert checked_in == sdl, "schema/schema.graphql is stale: run `perlinsos schema export`"


async def test_full_introspection_answers_without_errors():
    """What GraphiQL and codegen tools send: every type, field and default value must print
    (a JSON object default once broke this for one input field)."""
    from graphql import get_introspection_query

    result = await build_schema(PluginManager(), Settings()).execute(
        get_introspection_query(descriptions=True, input_value_deprecation=True))
    assert result.errors is None
    assert result.data["__schema"]["queryType"]["name"] == "Query"


def test_every_operation_file_holds_one_operation_named_like_the_file():
    assert OPERATIONS
    for path in OPERATIONS:
        (op,) = [d for d in parse(path.read_text()).definitions if isinstance(d, OperationDefinitionNode)]
        assert op.name and op.name.value == path.stem


# every scope selection reads: registration refuses a consent lacking one (CONSENT_INSUFFICIENT)
SCOPES = ["person", "facts:income", "facts:bank", "facts:electricity", "facts:welfare", "facts:employment",
          "facts:vehicles"]


async def _scenario(name: str, client, ikd, db) -> tuple[str, dict]:
    """Set the stage for one operation as a frontend would meet it; returns (token, variables)."""
    person = ikd.people(limit=1, role="HEAD")[0]
    citizen = ikd.sign_in(person["nik"])
    await seed.staff(db, "rev", "REVIEWER", "35.10", issuer=ikd.issuer)
    await seed.staff(db, "admin", "ADMIN", "35", issuer=ikd.issuer)
    reviewer, admin = ikd.sign_in_staff("rev"), ikd.sign_in_staff("admin")
    consent_op = (OPS_DIR / "GiveConsent.graphql").read_text()
    if name == "GiveConsent":
        return citizen, {"scopes": SCOPES, "policyVersion": "2025-08"}
    given = await client.query(consent_op, {"scopes": SCOPES, "policyVersion": "2025-08"}, token=citizen)
    consent_id = given["data"]["giveConsent"]["consent"]["id"]
    if name == "WithdrawConsent":
        return citizen, {"id": consent_id}
    if name == "RegisterHousehold":
        return citizen, {"programme": "PKH"}
    await client.query((OPS_DIR / "RegisterHousehold.graphql").read_text(), {"programme": "PKH"}, token=citizen)
    if name in ("MyPortal", "MyExport"):
        return citizen, {}
    if name == "MyDataAccess":  # a reviewer has read the registration: one entry to show
        await client.query('{ registrations(pilot: "BWI-2025", first: 1) { nodes { registrant { name } } } }',
                           token=reviewer)
        return citizen, {"first": 10}
    if name == "CreatePilot":
        return admin, {"input": {"code": "JBR-2026", "name": "Uji coba Jember", "regions": ["35.09"],
                                 "programmes": ["PKH"], "plugins": [{"name": "criteria",
                                                                     "settings": {"electricity_limit_va": 2200}}],
                                 "phases": {"registrationOpens": "2026-01-01T00:00:00+07:00",
                                            "registrationCloses": "2026-06-30T00:00:00+07:00"}}}
    if name == "UpdatePilot":
        return admin, {"code": "BWI-2025", "input": {"name": "Uji coba Banyuwangi, tahap 2"}}
    if name == "PluginSettingsSchemas":
        return admin, {}
    if name == "AssignStaff":
        return admin, {"subject": "pendamping-baru", "role": "FACILITATOR", "regionCode": person["region_code"],
                       "pilot": "BWI-2025", "issuer": ikd.issuer}
    if name == "ConsentScopes":
        return citizen, {"pilot": "BWI-2025"}
    if name in ("ConsentScreen", "AppealForm"):  # with a decision: tests/core/test_forms.py
        return citizen, {}
    if name == "StaffAssignments":
        return admin, {"first": 10}
    if name == "RegistrationsWithDecisions":
        return reviewer, {"pilot": "BWI-2025", "first": 5}
    if name == "PilotStats":  # a reviewer of 35.10: their region by default, the one registration suppressed
        return reviewer, {"pilot": "BWI-2025"}
    if name == "RegistrationDetail":
        data = await client.query('{ registrations(pilot: "BWI-2025", first: 1) { nodes { id } } }', token=reviewer)
        return reviewer, {"id": data["data"]["registrations"]["nodes"][0]["id"]}
    return reviewer, {}


def _no_user_errors(value) -> bool:
    if isinstance(value, dict):
        return value.get("errors", []) == [] and all(_no_user_errors(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_user_errors(v) for v in value)
    return True


# The screens' operations run in test_operations.py, each after the steps that lead to its screen.
@pytest.mark.parametrize("path", [p for p in OPERATIONS if p.stem not in SCREENS], ids=lambda p: p.stem)
async def test_operation_runs(path, ikd_client, ikd, db):
    token, variables = await _scenario(path.stem, ikd_client, ikd, db)
    data = await ikd_client.query(path.read_text(), variables, token=token)
    assert "errors" not in data, data
    assert all(value is not None for value in data["data"].values()), data
    assert _no_user_errors(data["data"]), data
