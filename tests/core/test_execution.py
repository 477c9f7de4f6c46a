"""The inline execution of plain fields (perlinsos.graphql.execution) answers exactly as
graphql-core's own path — data and errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import strawberry

from fixtures import seed
from perlinsos.app import create_app
from perlinsos.contract import SchemaPart
from perlinsos.graphql.execution import FastExecutionContext
from perlinsos.plugins import PluginManager

OPERATIONS = sorted((Path(__file__).resolve().parents[2] / "schema" / "operations").glob("*.graphql"))
WIDE = """{ registrations(pilot: "BWI-2025", first: 50) { edges { cursor node { id programme channel assistedBy
  submittedAt region { code name level } registrant { id nik name birthDate sex region { code }
  household { id kkNumber members { nik name } } }
  decision { id version outcome isCurrent cause decidedAt supersededAt criteriaVersions
    reasons { code verdict passed observed limit source asOf criterionVersion message } } } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def _answers(settings, plugins, query, token):
    app = create_app(settings, plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/graphql", json={"query": query},
                                   headers={"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025"})
    await app.state.perlinsos.db.dispose()
    return response.json()


@pytest.mark.parametrize("query", [WIDE, *[p.read_text() for p in OPERATIONS if "$" not in p.read_text()]])
async def test_fast_and_standard_execution_agree(settings, plugin_manager, db, pilot, query):
    await seed.registrations(db, pilot, 30)
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    fast = await _answers(settings, plugin_manager, query, "staff:rev")
    standard = await _answers(replace(settings, fast_execution=False), plugin_manager, query, "staff:rev")
    assert "errors" not in fast
    assert fast == standard


@strawberry.type
class Odd:
    label: str  # declared non-null; the source below breaks that promise
    count: int


@strawberry.type
class Sound:
    label: str


def odd_rows(info: strawberry.Info) -> list[Odd] | None:
    class Row:  # what a buggy resolver might hand back
        def __init__(self, label, count):
            self.label, self.count = label, count

    return [Row("ok", 1), Row(None, 2), Row("big", 2**40)]


def sound(info: strawberry.Info) -> Sound:
    return Sound(label="x")


def big(info: strawberry.Info) -> Odd | None:
    return Odd(label="big", count=2**40)  # not a GraphQL Int: serializing fails


class OddPlugin:
    from perlinsos import hookimpl

    @hookimpl
    def graphql_schema_parts(self):
        return SchemaPart(query_fields={"odd_rows": strawberry.field(resolver=odd_rows),
                                        "sound": strawberry.field(resolver=sound),
                                        "big": strawberry.field(resolver=big)}, types=[Odd, Sound])


async def test_broken_values_fail_the_same_way_on_both_paths(settings, db, pilot):
    from fixtures import static_auth

    plugins = PluginManager(extra_plugins=[("static_auth", static_auth), ("odd", OddPlugin())])
    query = "{ sound { label } oddRows { label count } big { label count } }"
    fast = await _answers(settings, plugins, query, "citizen:x")
    standard = await _answers(replace(settings, fast_execution=False), plugins, query, "citizen:x")
    assert fast == standard
    # a null in a non-null list item; an Int that does not fit
    assert fast["data"] == {"sound": {"label": "x"}, "oddRows": None, "big": None}
    assert [e["path"] for e in fast["errors"]] == [["oddRows", 1, "label"], ["big", "count"]]
    assert fast["errors"][0]["message"] == "Terjadi kesalahan tak terduga. / An unexpected error occurred."


def test_the_fast_context_is_in_use_by_default(plugin_manager, settings):
    app = create_app(settings, plugin_manager)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    assert issubclass(route.endpoint.schema.execution_context_class, FastExecutionContext)
