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

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = sorted((ROOT / "schema" / "operations").glob("*.graphql"))


def test_checked_in_schema_matches_the_code():
    sdl = export_sdl(build_schema(PluginManager(), Settings()))
    checked_in = (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")
    assert checked_in == sdl, "schema/schema.graphql is stale: run `perlinsos schema export`"


def test_every_operation_file_holds_one_operation_named_like_the_file():
    assert OPERATIONS
    for path in OPERATIONS:
        (op,) = [d for d in parse(path.read_text()).definitions if isinstance(d, OperationDefinitionNode)]
        assert op.name and op.name.value == path.stem


async def _variables(client, name: str) -> dict:
    if name == "RegistrationDetail":
        data = await client.query('{ registrations(pilot: "BWI-2025", first: 1) { nodes { id } } }',
                                  token="staff:rev")
        return {"id": data["data"]["registrations"]["nodes"][0]["id"]}
    if name == "RegistrationsWithDecisions":
        return {"pilot": "BWI-2025", "first": 5}
    return {}


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.stem)
async def test_operation_runs(path, client, db, pilot):
    await seed.registrations(db, pilot, 3)
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    variables = await _variables(client, path.stem)
    data = await client.query(path.read_text(), variables, token="staff:rev")
    assert "errors" not in data, data
    assert all(value is not None for value in data["data"].values())
