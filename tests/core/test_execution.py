"""The inline execution of plain fields (perlinsos.graphql.execution) answers exactly as
graphql-core's own path — data and errors."""

from __future__ import annotations

import asyncio
import os
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


async def _answers(settings, plugins, query, token, variables=None):
    app = create_app(settings, plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        # One request id for both paths: a masked error carries it, and the answers are compared whole.
        response = await http.post("/graphql", json={"query": query, "variables": variables},
                                   headers={"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025",
                                            "X-Request-Id": "same-on-both-paths"})
    await app.state.perlinsos.db.dispose()
    return response.json()


# Subscriptions run over a websocket (an HTTP POST of one is refused, on both paths alike).
@pytest.mark.parametrize("query", [WIDE, *[p.read_text() for p in OPERATIONS if "$" not in p.read_text()
                                           and "\nsubscription " not in p.read_text()]])
async def test_fast_and_standard_execution_agree(settings, plugin_manager, db, pilot, query):
    await seed.registrations(db, pilot, 30)
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    await seed.staff(db, "adm", "ADMIN", "35")
    clean = 0
    for token in ("staff:rev", "staff:adm"):  # national-office operations refuse a reviewer
        fast = await _answers(settings, plugin_manager, query, token)
        standard = await _answers(replace(settings, fast_execution=False), plugin_manager, query, token)
        assert fast == standard
        clean += "errors" not in fast
    assert clean, "no role ran the operation without errors: the comparison would be of errors only"


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

    plugins = PluginManager(extra_plugins=[("static_auth", static_auth), ("odd", OddPlugin())], national=static_auth.NATIONAL)
    query = "{ sound { label } oddRows { label count } big { label count } }"
    fast = await _answers(settings, plugins, query, "citizen:x")
    standard = await _answers(replace(settings, fast_execution=False), plugins, query, "citizen:x")
    assert fast == standard
    # a null in a non-null list item; an Int that does not fit
    assert fast["data"] == {"sound": {"label": "x"}, "oddRows": None, "big": None}
    assert [e["path"] for e in fast["errors"]] == [["oddRows", 1, "label"], ["big", "count"]]
    assert fast["errors"][0]["message"] == "Terjadi kesalahan tak terduga."  # the request's language: Bahasa Indonesia


def test_the_fast_context_is_in_use_by_default(plugin_manager, settings):
    app = create_app(settings, plugin_manager)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    assert issubclass(route.endpoint.schema.execution_context_class, FastExecutionContext)


# --- fields completed inline: `context_resolver` fields, objects and lists of plain leaves ---------

class _Row:
    def __init__(self, label, count):
        self.label, self.count = label, count


def _rows(self, c):
    return [_Row("ok", 1), _Row(None, 2), _Row("big", 2)]  # a null in a non-null leaf of item 1


def _gap(self, c):
    return [Sound(label="a"), None]  # a null item where items are non-null


def _boom(self, c):
    raise ValueError("boom")


async def _later(self, c):
    return Sound(label="later")


def _nothing(self, c):
    return None  # for a non-null object field


def _big(self, c):
    return _Row("big", 2**40)


def _fine(self, c):
    return [_Row("a", 1), _Row("b", 2)]


def _maybe(self, c):
    return [_Row("a", 1), _Row(None, 2), None, _Row("d", 4)]  # nullable items: item 1 breaks a non-null leaf


async def _sound(label):
    return Sound(label=label)


def _awaited(self, c):
    return [_sound("x"), _sound("y")]  # a list of awaitables, as a loader-backed resolver may return


@strawberry.type
class Shelf:
    from perlinsos.graphql.execution import context_resolver

    @strawberry.field
    @context_resolver(_rows)
    def rows(self, info: strawberry.Info) -> list[Odd]:
        return _rows(self, info.context)

    @strawberry.field
    @context_resolver(_gap)
    def gap(self, info: strawberry.Info) -> list[Sound] | None:
        return _gap(self, info.context)

    @strawberry.field
    @context_resolver(_boom)
    def boom(self, info: strawberry.Info) -> Sound | None:
        return _boom(self, info.context)

    @strawberry.field
    @context_resolver(_later)
    def later(self, info: strawberry.Info) -> Sound:
        return _later(self, info.context)

    @strawberry.field
    @context_resolver(_nothing)
    def nothing(self, info: strawberry.Info) -> Sound:
        return _nothing(self, info.context)

    @strawberry.field
    @context_resolver(_big)
    def big(self, info: strawberry.Info) -> Odd | None:
        return _big(self, info.context)

    @strawberry.field
    @context_resolver(_fine)
    def fine(self, info: strawberry.Info) -> list[Odd]:
        return _fine(self, info.context)

    @strawberry.field
    @context_resolver(_maybe)
    def maybe(self, info: strawberry.Info) -> list[Odd | None]:
        return _maybe(self, info.context)

    @strawberry.field
    @context_resolver(_awaited)
    def awaited(self, info: strawberry.Info) -> list[Sound]:
        return _awaited(self, info.context)


def shelf(info: strawberry.Info) -> Shelf | None:
    return Shelf()


class ShelfPlugin:
    from perlinsos import hookimpl

    @hookimpl
    def graphql_schema_parts(self):
        return SchemaPart(query_fields={"shelf": strawberry.field(resolver=shelf)}, types=[Shelf, Odd, Sound])


@pytest.mark.parametrize(("query", "data", "paths"), [
    ("{ shelf { fine { label count } } }", {"shelf": {"fine": [{"label": "a", "count": 1},
                                                              {"label": "b", "count": 2}]}}, []),
    ("{ shelf { rows { label count } } }", {"shelf": None}, [["shelf", "rows", 1, "label"]]),
    ("{ shelf { gap { label } } }", {"shelf": {"gap": None}}, [["shelf", "gap", 1]]),
    ("{ shelf { boom { label } } }", {"shelf": {"boom": None}}, [["shelf", "boom"]]),
    ("{ shelf { later { label } } }", {"shelf": {"later": {"label": "later"}}}, []),
    ("{ shelf { nothing { label } } }", {"shelf": None}, [["shelf", "nothing"]]),
    ("{ shelf { big { label count } } }", {"shelf": {"big": None}}, [["shelf", "big", "count"]]),
    ("{ shelf { maybe { label count } } }",
     {"shelf": {"maybe": [{"label": "a", "count": 1}, None, None, {"label": "d", "count": 4}]}},
     [["shelf", "maybe", 1, "label"]]),
    ("{ shelf { maybe { label } fine { label } } }",
     {"shelf": {"maybe": [{"label": "a"}, None, None, {"label": "d"}], "fine": [{"label": "a"}, {"label": "b"}]}},
     [["shelf", "maybe", 1, "label"]]),
    ("{ shelf { awaited { label } } }", {"shelf": {"awaited": [{"label": "x"}, {"label": "y"}]}}, []),
    ("{ shelf { a: later { label } b: fine { c: count } } }",
     {"shelf": {"a": {"label": "later"}, "b": [{"c": 1}, {"c": 2}]}}, []),
])
async def test_inline_objects_and_lists_answer_as_graphql_core_does(settings, db, pilot, query, data, paths):
    from fixtures import static_auth

    plugins = PluginManager(extra_plugins=[("static_auth", static_auth), ("shelf", ShelfPlugin())], national=static_auth.NATIONAL)
    fast = await _answers(settings, plugins, query, "citizen:x")
    standard = await _answers(replace(settings, fast_execution=False), plugins, query, "citizen:x")
    assert fast == standard
    assert fast["data"] == data
    assert [e["path"] for e in fast.get("errors", [])] == paths


def test_context_resolvers_and_plain_objects_take_the_inline_path(settings):
    from fixtures import static_auth

    app = create_app(settings, PluginManager(extra_plugins=[("static_auth", static_auth), ("shelf", ShelfPlugin())], national=static_auth.NATIONAL))
    route = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    plans = {t.name: fields for t, fields in route.endpoint.schema.execution_context_class.basic.items()}
    assert set(plans["Shelf"]) == {"rows", "gap", "boom", "later", "nothing", "big", "fine", "maybe", "awaited"}
    # the list query's own: registrant, decision and reasons are called with the context directly
    assert {"registrant", "decision", "household", "region"} <= set(plans["Registration"])
    assert "reasons" in plans["Decision"] and "pilot" not in plans["Registration"]


async def test_two_lists_in_one_query_answer_as_each_alone(settings, plugin_manager, db, pilot):
    """Root fields run concurrently (each list lends its connection to its own task only)."""
    await seed.registrations(db, pilot, 30)
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    part = ('registrations(pilot: "BWI-2025", first: {n}{p}) {{ edges {{ node {{ id programme '
            'registrant {{ nik name }} decision {{ outcome reasons {{ code message }} }} }} }} }}')
    one = part.format(n=12, p="")
    two = part.format(n=5, p=', programme: "PKH"')
    both = await _answers(settings, plugin_manager, f"{{ a: {one} b: {two} }}", "staff:rev")
    alone_a = await _answers(settings, plugin_manager, f"{{ a: {one} }}", "staff:rev")
    alone_b = await _answers(settings, plugin_manager, f"{{ b: {two} }}", "staff:rev")
    assert "errors" not in both
    assert both["data"] == {**alone_a["data"], **alone_b["data"]}
    assert len(both["data"]["a"]["edges"]) == 12


# --- issue 19: what the fast path did differently under variables ---------------------------------

NULL_INCLUDE = ('query($b: Boolean = true) {{ registrations(pilot: "BWI-2025"{args}) {{ nodes {{ id @include(if: $b) '
                'registrant {{ name @skip(if: $b) }} }} }} }}')


@pytest.mark.parametrize("args", [', regionCode: "99"', ", first: 3", ', first: 2, after: "not-a-cursor"'])
async def test_an_explicit_null_directive_variable_in_a_list_answers_as_graphql_core(
        settings, plugin_manager, db, pilot, args):
    """A Boolean variable with a default, sent as explicit null, in @include/@skip inside a list:
    the fields are collected per item, inside the item's error handling (graphql-core's order), so an
    empty list stays empty, an error keeps its item index and a real error is not replaced."""
    await seed.registrations(db, pilot, 3)
    await seed.staff(db, "adm", "ADMIN", "35")
    query = NULL_INCLUDE.format(args=args)
    fast = await _answers(settings, plugin_manager, query, "staff:adm", {"b": None})
    standard = await _answers(replace(settings, fast_execution=False), plugin_manager, query, "staff:adm", {"b": None})
    assert fast == standard
    if "99" in args:
        assert fast == {"data": {"registrations": {"nodes": []}}}
    elif "after" in args:
        assert [e["extensions"]["code"] for e in fast["errors"]] == ["BAD_USER_INPUT"]
    else:
        assert fast["errors"][0]["path"] == ["registrations", "nodes", 0]


async def test_a_real_error_beside_a_list_is_not_replaced_by_an_invented_one(settings, plugin_manager, db, pilot):
    """A citizen with no records yet: an empty `registrations` list and a bad inbox cursor. graphql-core
    answers the cursor's BAD_USER_INPUT; the fast path used to invent an error on the empty list."""
    query = ('query($b: Boolean = true) { me { registrations { id @include(if: $b) } '
             'notifications(after: "not-a-cursor") { nodes { id } } } }')
    token = f"citizen:{seed.nik(7)}"
    fast = await _answers(settings, plugin_manager, query, token, {"b": None})
    standard = await _answers(replace(settings, fast_execution=False), plugin_manager, query, token, {"b": None})
    assert fast == standard
    assert [e.get("extensions", {}).get("code") for e in fast["errors"]] == ["BAD_USER_INPUT"], fast


async def test_nullable_items_are_nulled_one_by_one(settings, db, pilot):
    """`[Odd]` whose fields cannot be collected (explicit null in @include): each item is nulled
    with its own error, as graphql-core does, not the whole list."""
    from fixtures import static_auth

    plugins = PluginManager(extra_plugins=[("static_auth", static_auth), ("shelf", ShelfPlugin())],
                            national=static_auth.NATIONAL)
    query = "query($b: Boolean = true) { shelf { maybe { label @include(if: $b) count } } }"
    fast = await _answers(settings, plugins, query, "citizen:x", {"b": None})
    standard = await _answers(replace(settings, fast_execution=False), plugins, query, "citizen:x", {"b": None})
    assert fast == standard
    assert fast["data"] == {"shelf": {"maybe": [None, None, None, None]}}
    assert [e["path"] for e in fast["errors"]] == [["shelf", "maybe", i] for i in (0, 1, 3)]


# --- issue 19: two branches awaiting one loader future, one of them failing ------------------------

#: the CI size; the issue's 1,000: PERLINSOS_CANCEL_RUNS=1000 ./scripts/test tests/core/test_execution.py -k cancel
CANCEL_RUNS = int(os.environ.get("PERLINSOS_CANCEL_RUNS", "200"))
SHARED = ('{{ a: registration(id: "{r}") {{ pilot {{ pluginSettings {{ name }} }} registrant {{ name }} }} '
          'b: registration(id: "{r}") {{ registrant {{ name }} }} }}')


@pytest.mark.parametrize("fast_execution", [True, False])
async def test_a_failing_branch_never_cancels_a_sibling_into_a_500(settings, plugin_manager, db, pilot, fast_execution):
    """graphql-core cancels a failing field's pending siblings; a sibling awaiting a loader future that
    another branch awaits too must not cancel that future (the other branch got CancelledError, a
    bare HTTP 500). Run concurrently, every answer is the graphql-core path's answer."""
    from perlinsos.graphql.relay import to_global_id

    await seed.registrations(db, pilot, 1)
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    query = SHARED.format(r=to_global_id("Registration", 1))
    expected = await _answers(replace(settings, fast_execution=False), plugin_manager, query, "staff:rev")
    assert expected["data"] == {"a": None, "b": {"registrant": {"name": "Warga Sintetis 0"}}}, expected
    assert [e["path"] for e in expected["errors"]] == [["a", "pilot", "pluginSettings"]]
    app = create_app(replace(settings, fast_execution=fast_execution), plugin_manager)
    headers = {"Authorization": "Bearer staff:rev", "X-Perlinsos-Pilot": "BWI-2025", "X-Request-Id": "same-on-both-paths"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        responses = await asyncio.gather(*(http.post("/graphql", json={"query": query}, headers=headers)
                                           for _ in range(CANCEL_RUNS)))
    await app.state.perlinsos.db.dispose()
    statuses = {}
    for response in responses:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    assert statuses == {200: CANCEL_RUNS}
    assert all(r.json() == expected for r in responses)


# --- request ids, and no bare 500 ---------------------------------------------------------------

async def _stray_cancel(info: strawberry.Info) -> Sound | None:
    raise asyncio.CancelledError  # as a future cancelled by someone else surfaces in a resolver


def _explode(info: strawberry.Info) -> Sound | None:
    raise RuntimeError("a bug with 3510151203800001 in it")


class FaultyPlugin:
    from perlinsos import hookimpl

    @hookimpl
    def graphql_schema_parts(self):
        return SchemaPart(query_fields={"stray": strawberry.field(resolver=_stray_cancel),
                                        "faulty": strawberry.field(resolver=_explode)}, types=[Sound])


async def _post_raw(settings, query, headers):
    from fixtures import static_auth

    plugins = PluginManager(extra_plugins=[("static_auth", static_auth), ("faulty", FaultyPlugin())],
                            national=static_auth.NATIONAL)
    app = create_app(settings, plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/graphql", json={"query": query}, headers={"X-Perlinsos-Pilot": "BWI-2025", **headers})
    await app.state.perlinsos.db.dispose()
    return response


@pytest.mark.parametrize("incoming", [None, "edge-7f3a.1", "bad id\r\nX-Forged: 1", "x" * 200])
async def test_a_masked_error_carries_the_request_id_of_the_header(settings, db, pilot, incoming, caplog):
    response = await _post_raw(settings, "{ faulty { label } }",
                               {"X-Request-Id": incoming} if incoming else {})
    rid = response.headers["x-request-id"]
    if incoming == "edge-7f3a.1":
        assert rid == incoming  # a sane id from a proxy is kept
    else:
        assert rid != incoming and len(rid) == 32  # anything else is replaced
    error = response.json()["errors"][0]
    assert response.status_code == 200 and response.json()["data"] == {"faulty": None}
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": rid}
    logged = [r for r in caplog.records if r.levelname == "ERROR" and rid in r.getMessage()]
    assert len(logged) == 1 and "3510151203800001" not in response.text


async def test_a_stray_cancellation_is_answered_as_the_masked_error_never_a_bare_500(settings, db, pilot, caplog):
    response = await _post_raw(settings, "{ stray { label } }", {"X-Request-Id": "req-1"})
    assert response.status_code == 500 and response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": None, "errors": [{
        "message": "Terjadi kesalahan tak terduga.",  # Bahasa Indonesia, the default
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"}}]}
    assert response.headers["x-request-id"] == "req-1"
    assert len([r for r in caplog.records if r.levelname == "ERROR" and "req-1" in r.getMessage()]) == 1
