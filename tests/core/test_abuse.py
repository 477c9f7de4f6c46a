"""Abuse of /graphql: oversized, amplified, malformed and cross-site requests.

Each is refused with a clear GraphQL-style error — a 4xx with ``{"errors": [...]}``, or a GraphQL
error with no data — and never a 500, a trace, a Python class name or SQL. Where a request tries
to change something, the test checks nothing changed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace

import httpx
import pytest

from fixtures import seed
from perlinsos.app import create_app

PILOT_HEADERS = {"X-Perlinsos-Pilot": "BWI-2025"}
# the refusals' texts asserted here are the English ones (Bahasa Indonesia is the default: docs/errors.md)
ADMIN = {**PILOT_HEADERS, "Authorization": "Bearer staff:admin", "Accept-Language": "en"}
ASSIGN = 'mutation { assignStaff(input: {subject: "mallory", role: ADMIN, regionCode: "35"}) { errors { code } } }'
LEAKS = re.compile(r"Traceback|File \"|\b[A-Z][a-zA-Z]+(Error|Exception)\b|sqlalchemy|SELECT |INSERT |asyncpg|"
                   r"sqlite3|perlinsos\.")
# graphql-core's own messages start with these words; they are not Python class names.
ALLOWED = re.compile(r"Syntax Error|ValidationAbortedError")


def assert_clean(text: str) -> None:
    leak = LEAKS.search(ALLOWED.sub("", text))
    assert leak is None, f"leaked {leak.group(0)!r} in {text[:300]}"


def refused(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The response is a ``status`` refusal with a JSON error body; returns its message."""
    assert response.status_code == status, response.text[:500]
    assert_clean(response.text)
    body = response.json()
    assert "data" not in body or body["data"] is None
    (error, *_) = body["errors"]
    assert error["message"]
    if code:
        assert error["extensions"]["code"] == code, body
    return error["message"]


def graphql_error(response: httpx.Response, code: str | None = None) -> str:
    """A GraphQL-level refusal (HTTP 200, no data, an error); returns its message."""
    return refused(response, 200, code)


async def post(client, body, *, headers=ADMIN, content_type="application/json"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.http.post("/graphql", content=content, headers={**headers, "Content-Type": content_type})


async def staff_subjects(client) -> list[str]:
    data = await client.query("{ staffAssignments { nodes { subject } } }", token="staff:admin")
    return sorted(n["subject"] for n in data["data"]["staffAssignments"]["nodes"])


@pytest.fixture
async def admin(client, db, pilot):
    await seed.staff(db, "admin", "ADMIN", "35")
    return client


# --- amplification ---------------------------------------------------------------------------


async def test_deep_nesting_is_refused_also_through_fragments(admin):
    fragments = "".join(f"fragment D{i} on Decision {{ registration {{ decision {{ ...D{i + 1} }} }} }}\n"
                        for i in range(8)) + "fragment D8 on Decision { id }"
    query = '{ registrations(pilot: "BWI-2025") { nodes { decision { ...D0 } } } }\n' + fragments
    message = graphql_error(await post(admin, {"query": query}), "QUERY_TOO_DEEP")
    assert "exceeds maximum operation depth of 12" in message


async def test_braces_nested_past_the_parser_are_a_syntax_error(admin):
    message = graphql_error(await post(admin, {"query": "{ viewer " + "{ a " * 2000 + "}" * 2001}))
    assert "nested too deeply" in message


async def test_aliases_are_counted_through_fragment_spreads(admin):
    """A fragment of 10 aliases spread 10 times is 100 aliases, though only 10 are written."""
    fragment = "fragment Ten on Query { " + " ".join(f"a{i}: viewer {{ kind }}" for i in range(10)) + " }"
    message = graphql_error(await post(admin, {"query": "{ " + "...Ten " * 10 + "}\n" + fragment}), "TOO_MANY_ALIASES")
    assert "100 aliases" in message and "Allowed: 30" in message
    # nested fragments multiply: 5 spreads of a fragment spreading Ten once
    nested = "fragment Outer on Query { ...Ten }\n" + fragment
    graphql_error(await post(admin, {"query": "{ ...Outer ...Outer ...Outer ...Outer }\n" + nested}),
                  "TOO_MANY_ALIASES")
    # and the same fragment spread twice (20 aliases) is fine
    data = (await post(admin, {"query": "{ ...Ten ...Ten }\n" + fragment})).json()
    assert "errors" not in data and data["data"]["a9"] == {"kind": "staff"}


async def test_a_fragment_bomb_is_refused_quickly(admin):
    """Each fragment spreads the next twice: 2^40 fields once expanded, 40 lines written."""
    fragments = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(40))
    query = "{ ...F0 }\n" + fragments + "fragment F40 on Query { viewer { kind } }"
    started = time.perf_counter()
    response = await post(admin, {"query": query})
    assert time.perf_counter() - started < 2
    assert "1099511627776" in graphql_error(response, "FIELD_REPEATED")


async def test_repeated_fields_are_refused_before_the_quadratic_validation(admin):
    """graphql-core compares fields of one response path pairwise (400 copies: 1-2 s)."""
    started = time.perf_counter()
    response = await post(admin, {"query": "{ " + "viewer { kind } " * 400 + "}"})
    assert time.perf_counter() - started < 1
    assert "'viewer' is selected 400 times" in graphql_error(response, "FIELD_REPEATED")
    nested = '{ registration(id: "x") { ' + " ".join(["decision { " + "registration { id } " * 10 + "}"] * 10) + " } }"
    assert "registration.decision.registration" in graphql_error(await post(admin, {"query": nested}))


async def test_costly_queries_are_refused(admin):
    """Ten aliased pages of 100 registrations with their reasons: many times the cost limit."""
    page = ('registrations(pilot: "BWI-2025", first: 100) { nodes { id registrant { nik name } '
            "decision { outcome reasons { code verdict observed limit message } } } }")
    query = "{ " + " ".join(f"p{i}: {page}" for i in range(10)) + " }"
    message = graphql_error(await post(admin, {"query": query}), "QUERY_TOO_COSTLY")
    assert "limit 10000" in message
    # a variable page size is priced at the largest page
    variable = "query($n: Int) { " + " ".join(f"p{i}: {page.replace('100', '$n')}" for i in range(10)) + " }"
    graphql_error(await post(admin, {"query": variable, "variables": {"n": 1}}), "QUERY_TOO_COSTLY")
    # one page of 100 is an ordinary request
    assert "errors" not in (await post(admin, {"query": "{ " + page + " }"})).json()


async def test_documents_over_the_token_limit_are_refused(admin):
    """Under the byte limit (15 kB) but over 3,000 tokens."""
    query = "{ viewer { " + "kind " * 3_000 + "} }"
    assert len(query) < admin_settings_bytes()
    assert "more than 3000 tokens" in graphql_error(await post(admin, {"query": query}))


def admin_settings_bytes() -> int:
    from perlinsos.settings import Settings

    return Settings().max_document_bytes


async def test_oversized_document_and_body(admin):
    message = refused(await post(admin, {"query": "{ viewer { kind } }" + " " * 25_000}), 413, "PAYLOAD_TOO_LARGE")
    assert "larger than 20000 bytes" in message
    huge = {"query": "query($x: JSON) { viewer { kind } }", "variables": {"x": "a" * 200_000}}
    assert "larger than 100000 bytes" in refused(await post(admin, huge), 413, "PAYLOAD_TOO_LARGE")


async def test_a_chunked_body_without_length_is_capped_too(admin):
    async def chunks():
        for _ in range(300):
            yield b" " * 1000

    response = await admin.http.post("/graphql", content=chunks(), headers={**ADMIN, "Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    refused(response, 413, "PAYLOAD_TOO_LARGE")


async def test_circular_fragments_are_a_validation_error(admin):
    query = "{ ...A } fragment A on Query { viewer { kind } ...B } fragment B on Query { ...A }"
    assert "Cannot spread fragment 'A' within itself" in graphql_error(await post(admin, {"query": query}))


# --- transport ---------------------------------------------------------------------------------


async def test_batched_operations_are_refused_and_none_runs(admin):
    response = await post(admin, [{"query": ASSIGN}, {"query": "{ viewer { kind } }"}])
    assert "Batched operations" in refused(response, 400, "BAD_REQUEST")
    assert await staff_subjects(admin) == ["admin"]


async def test_mutations_over_get_are_refused(admin):
    response = await admin.http.get("/graphql", params={"query": ASSIGN}, headers=ADMIN)
    assert "Mutations are not allowed when using GET" in refused(response, 400)
    assert await staff_subjects(admin) == ["admin"]


async def test_get_queries_need_a_header_no_cross_site_page_can_send(admin):
    """A link or <img> sends a GET with no custom header: refused (GraphQL-over-HTTP CSRF advice)."""
    plain = await admin.http.get("/graphql", params={"query": "{ viewer { kind } }"})
    assert "X-Perlinsos-Pilot" in refused(plain, 400)
    for header in ({"X-Perlinsos-Pilot": "BWI-2025"}, {"apollo-require-preflight": "true"}):
        ok = await admin.http.get("/graphql", params={"query": "{ viewer { kind } }"}, headers=header)
        assert ok.status_code == 200 and ok.json() == {"data": {"viewer": {"kind": "anonymous"}}}


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/graphql", "",
                                          "application/jsonp", "text/plain;application/json"])
async def test_simple_content_types_are_refused_and_change_nothing(admin, content_type):
    """A cross-site <form> can POST these without a CORS preflight; only application/json runs."""
    response = await post(admin, {"query": ASSIGN}, content_type=content_type)
    assert "application/json" in refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await staff_subjects(admin) == ["admin"]


async def test_json_with_a_charset_is_accepted(admin):
    response = await post(admin, {"query": "{ viewer { kind } }"}, content_type="application/json; charset=utf-8")
    assert response.json() == {"data": {"viewer": {"kind": "staff"}}}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_refused(admin, method):
    response = await admin.http.request(method, "/graphql", json={"query": ASSIGN}, headers=ADMIN)
    assert "Use GET or POST" in refused(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, POST"
    assert await staff_subjects(admin) == ["admin"]


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"query": "{ viewer { kind } }"', "Unable to parse request body as JSON"),
    (b"", "Unable to parse request body as JSON"),
    (b'"{ viewer { kind } }"', "must be a JSON object"),
    (b"42", "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (b'{"query": "{ viewer { kind } }"}\xff\xfe', "not UTF-8"),
    ('{"query": "{ viewer { nama } }"}'.encode("latin-1") + b"\xe9", "not UTF-8"),
    (b'{"query": 5}', "`query` must be a string"),
    (b'{"query": "{ viewer { kind } }", "variables": [1]}', "`variables` must be an object"),
    (b'{"query": "{ viewer { kind } }", "operationName": 5}', "`operationName` must be a string"),
    (b'{"query": ""}', "No GraphQL query found"),
    (b'{"variables": {}}', "No GraphQL query found"),
    (b'{"query": "query A { viewer { kind } }", "operationName": "B"}', 'Unknown operation named "B"'),
])
async def test_malformed_bodies_get_a_clear_400(admin, body, expected):
    assert expected in refused(await post(admin, body), 400, "BAD_REQUEST")


async def test_deeply_nested_json_variables_are_refused(admin):
    query = "query($x: JSON) { viewer { kind } }"
    nested = {"query": query, "variables": {"x": json.loads("[" * 30 + "]" * 30)}}
    assert "nested deeper than 20" in refused(await post(admin, nested), 400)
    in_extensions = {"query": query, "extensions": {"x": json.loads("[" * 30 + "]" * 30)}}
    assert "nested deeper than 20" in refused(await post(admin, in_extensions), 400)
    # deep enough to exhaust Python's JSON decoder, still under the size limit
    raw = b'{"query": "%s", "variables": {"x": ' % query.encode() + b"[" * 40_000 + b"]" * 40_000 + b"}}"
    assert "nested too deeply" in refused(await post(admin, raw), 400)


async def test_variables_of_the_wrong_type_are_a_graphql_error(admin):
    query = 'query($n: Int) { registrations(pilot: "BWI-2025", first: $n) { nodes { id } } }'
    message = graphql_error(await post(admin, {"query": query, "variables": {"n": "sepuluh"}}))
    assert "Variable '$n' has invalid value: Int cannot represent" in message
    mutation = ("mutation($i: AssignStaffInput!) { assignStaff(input: $i) { errors { code } } }")
    bad = {"i": {"subject": "mallory", "role": "OWNER", "regionCode": "35"}}
    graphql_error(await post(admin, {"query": mutation, "variables": bad}))
    assert await staff_subjects(admin) == ["admin"]


@pytest.mark.parametrize("first", [101, 100_000, -5, 2**31])
async def test_page_sizes_beyond_the_cap_are_refused(admin, first):
    query = f'{{ registrations(pilot: "BWI-2025", first: {first}) {{ nodes {{ id }} }} }}'
    response = await post(admin, {"query": query})
    assert_clean(response.text)
    assert response.status_code == 200 and response.json()["data"] is None


# --- production ------------------------------------------------------------------------------


@pytest.fixture
async def production(settings, plugin_manager, db, pilot):
    await seed.staff(db, "admin", "ADMIN", "35")
    app = create_app(replace(settings, production=True), plugin_manager)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield http
    await app.state.perlinsos.db.dispose()


async def test_production_refuses_introspection(production):
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Person") { fields { name } } }'):
        response = await production.post("/graphql", json={"query": query}, headers=ADMIN)
        assert "introspection" in graphql_error(response).lower()
    typename = await production.post("/graphql", json={"query": "{ __typename }"}, headers=ADMIN)
    assert typename.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("query", [
    "{ viewer { kindd } }",  # unknown field
    '{ registrations(pilot: "BWI-2025", firts: 1) { nodes { id } } }',  # unknown argument
    "query($x: Strin) { viewer { kind } }",  # unknown type
    'mutation { assignStaff(input: {subject: "m", role: ADMN, regionCode: "35"}) { errors { code } } }',  # enum
])
async def test_production_gives_no_field_suggestions(production, client, query):
    dev = await client.http.post("/graphql", json={"query": query}, headers=ADMIN)
    assert "Did you mean" in dev.text  # development helps the developer...
    response = await production.post("/graphql", json={"query": query}, headers=ADMIN)
    message = graphql_error(response)  # ...production does not spell out the schema
    assert "Did you mean" not in response.text and message


async def test_production_has_no_graphiql(production):
    response = await production.get("/graphql", headers={"Accept": "text/html"})
    assert refused(response, 404, "NOT_FOUND")


async def test_production_variable_enum_errors_give_no_suggestions(production):
    query = "mutation($r: StaffRole!) { assignStaff(input: {subject: \"m\", role: $r, regionCode: \"35\"}) { errors { code } } }"
    response = await production.post("/graphql", json={"query": query, "variables": {"r": "ADMN"}}, headers=ADMIN)
    graphql_error(response)
    assert "Did you mean" not in response.text


async def test_several_operations_need_an_operation_name_and_none_runs_without(admin):
    """GraphQL spec: which operation to run must be named; never silently the first."""
    document = ASSIGN.replace("mutation {", "mutation First {") + ' query Second { viewer { kind } }'
    response = await post(admin, {"query": document})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "OPERATION_NAME_REQUIRED"
    assert_clean(response.text)
    assert await staff_subjects(admin) == ["admin"]
    named = await post(admin, {"query": document, "operationName": "Second"})
    assert named.json() == {"data": {"viewer": {"kind": "staff"}}}
    assert await staff_subjects(admin) == ["admin"]


# --- subscriptions, operation names and caching over HTTP (issue 15, items 5, 6 and 8) ----------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("query", ["subscription { notifications { title } }",
                                   "subscription S { notificationz { title } }",
                                   "query Q { viewer { kind } } subscription S { notifications { title } }"])
async def test_a_subscription_over_http_is_refused_with_a_typed_error_and_no_trace(admin, caplog, method, query):
    caplog.set_level(logging.INFO)
    body = {"query": query} | ({"operationName": "S"} if "Q" in query else {})
    response = await (post(admin, body) if method == "POST"
                      else admin.http.get("/graphql", params=body, headers=ADMIN))
    message = refused(response, 400, "SUBSCRIPTION_OVER_HTTP")
    assert "websocket" in message and "graphql-transport-ws" in message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # the document's other operation still runs over HTTP
    if "Q" in query:
        assert (await post(admin, {**body, "operationName": "Q"})).json() == {"data": {"viewer": {"kind": "staff"}}}


@pytest.mark.parametrize("name", ["A" * 129, "A" * 19_900, "A-B", "1A", "A B", ""])
async def test_an_operation_name_over_128_characters_or_not_a_name_is_refused(admin, name):
    document = f"query {name or 'A'} {{ viewer {{ kind }} }}"
    message = refused(await post(admin, {"query": document, "operationName": name}), 400, "BAD_REQUEST")
    assert "at most 128 characters" in message and (len(name) < 200 or name not in message)


async def test_the_victims_data_access_log_never_holds_a_long_operation_name(admin, db, pilot):
    """A 19.9 kB operation name was stored in every audit row and shown back to the citizen."""
    await seed.registrations(db, pilot, 1)
    read = 'query {name} {{ registrations(pilot: "BWI-2025", first: 5) {{ nodes {{ registrant {{ name }} }} }} }}'
    for name in ("A" * 128, "B" * 129, "C" * 19_900):
        for body in ({"query": read.format(name=name), "operationName": name}, {"query": read.format(name=name)}):
            await post(admin, body)
    log = await admin.query('{ me { dataAccessLog(first: 100) { edges { node { operation } } } } }',
                            token=f"citizen:{seed.nik(0)}")
    operations = [e["node"]["operation"] for e in log["data"]["me"]["dataAccessLog"]["edges"]]
    assert operations == ["A" * 128] * 2  # the long ones ran nothing (refused before any read)
    document_only = await post(admin, {"query": read.format(name="C" * 19_900)})
    (error,) = document_only.json()["errors"]
    assert error["extensions"]["code"] == "OPERATION_NAME_TOO_LONG" and len(document_only.text) < 1_000


async def test_answers_of_graphql_and_evidence_are_never_stored_by_a_cache(admin):
    answers = [await post(admin, {"query": "{ viewer { kind } }"}),  # personal
               await post(admin, {"query": "{ viewer { kindd } }"}),  # a GraphQL error
               await post(admin, b"[]"),  # a refusal
               await admin.http.get("/graphql", params={"query": "{ viewer { kind } }"}, headers=ADMIN),
               await admin.http.put("/graphql", headers=ADMIN),
               await admin.http.get("/evidence/1", headers=ADMIN),
               await admin.http.post("/evidence", content=b"x", headers=ADMIN)]
    assert [a.headers.get("cache-control") for a in answers] == ["no-store"] * len(answers)


async def test_an_integer_past_the_json_digit_limit_is_a_clear_400(admin):
    body = b'{"query": "query($n: Int) { viewer { kind } }", "variables": {"n": ' + b"9" * 5_000 + b"}}"
    assert "too long" in refused(await post(admin, body), 400, "BAD_REQUEST")
