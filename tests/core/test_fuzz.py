"""Fuzzing /graphql with documents generated from schema/schema.graphql (hypothesis-graphql).

Valid queries and mutations, schema-invalid ones (hypothesis-graphql's negative mode) and
garbled ones (a brace dropped, an unknown field, a literal of the wrong type, garbage, a cut)
are sent through the ASGI app (one in eight as a GET) as each role of the authorization matrix, on the matrix's data.
Every response must be free of: HTTP 5xx, masked (unexpected) errors, traces, class names, SQL,
and any personal datum the role may not see.

CI runs ``PERLINSOS_FUZZ_EXAMPLES`` operations per role (default 160; 8 roles, 1,280 operations)
from fixed seeds, so a failure reproduces. A long run::

    PERLINSOS_FUZZ_EXAMPLES=20000 PERLINSOS_FUZZ_SEED=7 ./scripts/test tests/core/test_fuzz.py -s
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import time
from dataclasses import replace
from pathlib import Path

import graphql
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from sqlalchemy import update

from fixtures import seed as data
from fixtures.servers import free_port
from perlinsos.db.models import DecisionReason
from perlinsos.graphql.errors import MASKED_MESSAGE
from perlinsos.graphql.relay import to_global_id
from test_authorization_matrix import ROLES, STAFF, A, B

EXAMPLES = int(os.environ.get("PERLINSOS_FUZZ_EXAMPLES", "160"))
SEED = int(os.environ.get("PERLINSOS_FUZZ_SEED", "2025"))
SDL = (Path(__file__).parents[2] / "schema" / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SDL)

KK_A, KK_B = "3510150101000000", "3510160101000001"  # fixtures.seed's KK numbers for people 0 and 1
INCOME_A, INCOME_B = 1_234_567, 2_345_678  # set below: distinct, so each can be traced to its owner
BIRTH_A, BIRTH_B = "1980-03-01", "1980-03-02"  # fixtures.seed's birth dates of people 0 and 1
# Who may see each datum (perlinsos.policy): everything else must never find it in a response.
SECRETS = {
    A: {"citizen_a", "reviewer_in"},
    B: {"citizen_b", "reviewer_out"},
    KK_A: {"citizen_a", "reviewer_in"},
    KK_B: {"citizen_b", "reviewer_out"},
    # the whole date with the full NIK only (policy/identifiers.py): everyone else gets the year
    BIRTH_A: {"citizen_a", "reviewer_in"},
    BIRTH_B: {"citizen_b", "reviewer_out"},
    str(INCOME_A): {"citizen_a", "facilitator_in", "reviewer_in", "admin"},
    str(INCOME_B): {"citizen_b", "reviewer_out", "admin"},
    "Warga Sintetis 0": {"citizen_a", "facilitator_in", "reviewer_in", "admin"},
    "Warga Sintetis 1": {"citizen_b", "reviewer_out", "admin"},
}
LEAKS = re.compile(r"Traceback|File \"|\b[A-Z][a-zA-Z]+(Error|Exception)\b|sqlalchemy|\bSELECT |\bINSERT |"
                   r"\bUPDATE \w+ SET|asyncpg|sqlite3|perlinsos\.|0x[0-9a-f]{8,}")
ALLOWED = re.compile(r"Syntax Error")  # graphql-core's parse messages, not a Python class

# Argument values that reach the seeded rows, beside hypothesis' arbitrary ones. No staff
# subject of a role is among them: an admin's fuzzed assignStaff must not grant a role rights.
STRINGS = ["BWI-2025", "BWI-2025", "BWI-2025", "PKH", "BLT", "35", "35.10.15", data.KEMIREN, data.LATENG, A, B, "person", "2025-08",
           "DATA_INCORRECT", "ELECTRICITY_ABOVE_LIMIT", "id", "en", ""]
IDS = [to_global_id(kind, n) for kind in ("Registration", "Decision", "Consent", "StaffAssignment", "Appeal",
                                          "Notification", "Registrant", "Household", "Pilot") for n in (1, 2, 3)]


def values(pool: list, other: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the pool (the seeded rows are what a leak would come from), sometimes anything."""
    return st.one_of(st.sampled_from(pool), st.sampled_from(pool), st.sampled_from(pool), other)


SCALARS = {
    "String": values(STRINGS, st.text(max_size=30)).map(nodes.String),
    "ID": values(IDS, st.text(max_size=30)).map(nodes.String),
    "Int": values([1, 2, 10, 100, 101, 0, -1], st.integers(-(2**31), 2**31 - 1)).map(nodes.Int),
    "Date": values(["2025-08-01", "1980-03-01", "2025-02-30", "kemarin"], st.text(max_size=12)).map(nodes.String),
    "DateTime": values(["2025-08-01T00:00:00+07:00", "2025-08-01T25:00:00"], st.text(max_size=12)).map(nodes.String),
    "JSON": st.one_of(
        st.just(nodes.Object([])),
        st.dictionaries(st.sampled_from(["electricity_va", "meter_id", "value", "x"]), st.integers(0, 10_000),
                        max_size=3).map(lambda d: nodes.Object([
                            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=nodes.Int(v))
                            for k, v in d.items()])),
        st.integers().map(nodes.Int), st.text(max_size=10).map(nodes.String)),
}


def _positive(kind):
    return kind(SCHEMA, custom_scalars=SCALARS)


def _negative(kind):
    return kind(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE)


@st.composite
def garbled(draw, source: st.SearchStrategy | None = None) -> str:
    """A valid document broken by hand, the way a fuzzer on the wire would."""
    doc = draw(st.one_of(_positive(queries), _positive(mutations)) if source is None else source)
    how = draw(st.sampled_from(["drop_brace", "unknown_field", "wrong_literal", "garbage", "cut", "nul"]))
    spots = lambda pattern: [m.start() for m in re.finditer(pattern, doc)]  # noqa: E731
    at = lambda positions: positions[draw(st.integers(0, len(positions) - 1))] if positions else 0  # noqa: E731
    if how == "drop_brace":
        i = at(spots(r"[{}]"))
        return doc[:i] + doc[i + 1:]
    if how == "unknown_field":
        i = at(spots(r"\{")) + 1
        return doc[:i] + " zzUnknown " + doc[i:]
    if how == "wrong_literal":
        literal = re.search(r'"(?:[^"\\]|\\.)*"|\b-?\d+\b|\b(?:true|false)\b', doc)
        wrong = draw(st.sampled_from(['"x"', "42", "true", "[1, 2]", "{a: 1}", "null", "NOT_AN_ENUM"]))
        return doc[:literal.start()] + wrong + doc[literal.end():] if literal else doc + wrong
    if how == "garbage":
        i = draw(st.integers(0, len(doc)))
        return doc[:i] + draw(st.text(min_size=1, max_size=20)) + doc[i:]
    if how == "nul":
        return doc.replace(" ", "\x00", 1)
    return doc[:draw(st.integers(0, len(doc)))]


DOCUMENTS = st.one_of(
    _positive(queries), _positive(queries), _positive(mutations), _positive(mutations),
    _negative(queries), _negative(mutations), garbled(),
)


PERSON = "registrant { nik name birthDate birthYear household { kkNumber members { nik name birthDate } } }"
REASONS = "decision { reasons { code observed limit } decisionHistory: registration { id } }"
# Written by hand so every role's corpus asks for the seeded people (random arguments rarely name them).
PROBES = [
    f"{{ me {{ person {{ nik name birthDate household {{ kkNumber }} }} household {{ kkNumber members {{ nik }} }} "
    f"registrations {{ {PERSON} {REASONS} }} }} }}",
    f'{{ registrations(pilot: "BWI-2025", first: 100) {{ nodes {{ {PERSON} {REASONS} }} }} }}',
    *(f'{{ registration(id: "{to_global_id("Registration", n)}") {{ {PERSON} {REASONS} }} }}' for n in (1, 2)),
]


def corpus(role_index: int, count: int) -> list[str]:
    """The probes and ``count`` generated documents, the same ones on every run with one seed."""
    found: list[str] = list(PROBES)

    @seed(SEED * 100 + role_index)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(DOCUMENTS)
    def collect(document: str) -> None:
        found.append(document)

    collect()
    return found


@pytest.fixture
async def world(client, db, pilot):
    """The authorization matrix's data, with incomes that tell A's from B's."""
    await data.registrations(db, pilot, 1, assisted_by="fac-in")  # A's, in Kemiren
    await data.registrations(db, pilot, 1, region=data.LATENG, start=1)  # B's, in Lateng
    await data.consent(db, A)
    for subject, role, region in STAFF:
        await data.staff(db, subject, role, region)
    async with db.write() as s:
        for decision_id, income in ((1, INCOME_A), (2, INCOME_B)):
            await s.execute(update(DecisionReason)
                            .where(DecisionReason.decision_id == decision_id, DecisionReason.code == "INCOME_ABOVE_LIMIT")
                            .values(observed={"value": income}))
    return client


def problems(role: str, document: str, status: int, text: str) -> list[str]:
    found = []
    if status >= 500:
        found.append(f"HTTP {status}")
    if MASKED_MESSAGE in text:
        found.append("an unexpected (masked) server error")
    leak = LEAKS.search(ALLOWED.sub("", text))
    if leak:
        found.append(f"internals in the response: {leak.group(0)!r}")
    for secret, allowed in SECRETS.items():
        # A value the request itself carries may be echoed in an error ("unknown pilot ...").
        if role not in allowed and secret in text and secret not in document:
            found.append(f"{secret} shown to {role}")
    if status != 200:
        try:
            assert json.loads(text)["errors"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            found.append(f"HTTP {status} without a GraphQL-style error body")
    return found


def outcome(status: int, text: str) -> str:
    if status != 200:
        return f"http{status}"
    body = json.loads(text)
    if not body.get("errors"):
        return "data"
    return "partial" if any(v is not None for v in (body.get("data") or {}).values()) else "refused"


def test_the_scan_finds_what_it_looks_for():
    """The checks below can fail: a leak, a trace, a 500 and a masked error are each reported."""
    assert problems("citizen_b", "{ me { person { nik } } }", 200, json.dumps({"data": {"nik": A}})) == [
        f"{A} shown to citizen_b"]
    assert problems("citizen_a", "{ me { person { nik } } }", 200, json.dumps({"data": {"nik": A}})) == []
    assert problems("citizen_b", f'{{ x(nik: "{A}") }}', 400, json.dumps({"errors": [{"message": A}]})) == []
    assert problems("admin", "{ a }", 500, "Traceback ... KeyError") == [
        "HTTP 500", "internals in the response: 'Traceback'", "HTTP 500 without a GraphQL-style error body"]
    assert problems("admin", "{ a }", 200, json.dumps({"errors": [{"message": MASKED_MESSAGE}]})) == [
        "an unexpected (masked) server error"]


async def get(client, document: str, token: str | None):
    """Every eighth document goes as a GET (queries run; mutations must be refused)."""
    headers = {"X-Perlinsos-Pilot": client.pilot} | ({"Authorization": f"Bearer {token}"} if token else {})
    return await client.http.get("/graphql", params={"query": document}, headers=headers)


async def test_fuzz_every_role(world, capsys, caplog):
    # strawberry logs every refused document with its trace; a thousand of them only slow the run.
    caplog.set_level(logging.CRITICAL, logger="strawberry.execution")
    # Admin last: its fuzzed mutations (staff assignments, revocations) change the world.
    roles = sorted(ROLES, key=lambda r: r == "admin")
    failures, outcomes, seen, started = [], {}, set(), time.perf_counter()
    for index, role in enumerate(roles):
        tally = outcomes[role] = {}
        for number, document in enumerate(corpus(index, EXAMPLES)):
            response = await (get(world, document, ROLES[role]) if number % 8 == 7
                              else world.post(document, token=ROLES[role]))
            kind = outcome(response.status_code, response.text)
            tally[kind] = tally.get(kind, 0) + 1
            seen |= {(role, s) for s in SECRETS if s in response.text and s not in document}
            for problem in problems(role, document, response.status_code, response.text):
                failures.append(f"[{role}] {problem}\n  document: {document!r}\n  response: {response.text[:400]}")
    total = sum(sum(t.values()) for t in outcomes.values())
    with capsys.disabled():
        print(f"\nfuzz: {total} operations in {time.perf_counter() - started:.1f} s (seed {SEED})")
        for role, tally in outcomes.items():
            print(f"  {role:16} {sum(tally.values()):6} operations  " + "  ".join(f"{k} {v}" for k, v in sorted(tally.items())))
        print("  personal data reached by roles allowed to see it: " + ", ".join(sorted(f"{r}:{s}" for r, s in seen)))
    assert total >= 8 * EXAMPLES
    assert not failures, f"{len(failures)} problems; first ones:\n" + "\n".join(failures[:10])
    # The responses scanned did carry the seeded personal data (else the scan proves little).
    assert {("citizen_a", A), ("reviewer_in", A), ("citizen_b", B), ("reviewer_out", B),
            ("citizen_a", BIRTH_A), ("reviewer_in", BIRTH_A)} <= seen


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)
BODIES = st.one_of(
    st.binary(max_size=200),  # anything at all, often not UTF-8
    JSON_VALUES.map(json.dumps).map(str.encode),  # JSON of every shape
    st.fixed_dictionaries({}, optional={"query": st.one_of(_positive(queries), JSON_VALUES),
                                        "variables": JSON_VALUES, "operationName": JSON_VALUES,
                                        "extensions": JSON_VALUES}).map(json.dumps).map(str.encode),
)


async def test_fuzz_request_bodies(world, caplog, capsys):
    """Whole bodies, not just documents: every one is answered with a GraphQL-style body, never a 5xx."""
    caplog.set_level(logging.CRITICAL, logger="strawberry.execution")
    found: list[bytes] = []

    @seed(SEED)
    @settings(max_examples=max(100, EXAMPLES), database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(BODIES)
    def collect(body: bytes) -> None:
        found.append(body)

    collect()
    failures, statuses = [], {}
    for number, body in enumerate(found):
        role = "admin" if number % 2 else "anonymous"
        headers = {"X-Perlinsos-Pilot": world.pilot, "Content-Type": "application/json"}
        if ROLES[role]:
            headers["Authorization"] = f"Bearer {ROLES[role]}"
        response = await world.http.post("/graphql", content=body, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        text = body.decode("utf-8", "replace")
        failures += [f"[{role}] {p}: {body[:200]!r} -> {response.text[:300]}"
                     for p in problems(role, text, response.status_code, response.text)]
        if response.status_code == 200:
            assert "errors" in response.json() or "data" in response.json()
    with capsys.disabled():
        print(f"\nfuzzed bodies: {len(found)}, by HTTP status: {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:10])


# --- subscriptions: over HTTP (always refused) and over a real websocket ----------------------

# hypothesis-graphql generates queries only: subscription documents are queries of a schema whose
# query root is the Subscription type, with the keyword added.
SUBSCRIPTION_SCHEMA = graphql.GraphQLSchema(query=SCHEMA.subscription_type,
                                            types=[t for n, t in SCHEMA.type_map.items() if not n.startswith("__")])
_SUBSCRIPTION_QUERIES = queries(SUBSCRIPTION_SCHEMA, custom_scalars=SCALARS).map(lambda d: "subscription " + d)
SUBSCRIPTIONS = st.one_of(_SUBSCRIPTION_QUERIES, _SUBSCRIPTION_QUERIES, garbled(_SUBSCRIPTION_QUERIES))
# Written by hand: what the gate must refuse on subscribe as on HTTP.
SUBSCRIPTION_PROBES = [
    "subscription { " + " ".join(f"a{i}: notifications {{ title }}" for i in range(31)) + " }",
    "subscription { notifications { title } } " * 2,
    "subscription S { __schema { types { name } } }",
    f"subscription {'S' * 200} {{ notifications {{ title body }} }}",
    "subscription { ...F } fragment F on Subscription { notifications { ...G } } fragment G on Notification { title }",
    "subscription { notifications { title } }" + " " * 25_000,
]


@functools.cache  # the HTTP and the websocket runs send the same documents
def subscription_corpus(role_index: int, count: int) -> tuple[str, ...]:
    found: list[str] = list(SUBSCRIPTION_PROBES)

    @seed(SEED * 1000 + role_index)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(SUBSCRIPTIONS)
    def collect(document: str) -> None:
        found.append(document)

    collect()
    return tuple(found)


def _a_subscription(document: str) -> bool:
    try:
        parsed = graphql.parse(document)
    except graphql.GraphQLError:
        return False
    operations = [d for d in parsed.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    return len(operations) == 1 and operations[0].operation is graphql.OperationType.SUBSCRIPTION


async def test_fuzz_subscriptions_over_http_are_always_refused(world, caplog):
    """A subscription sent over HTTP (POST or GET) gets the typed refusal; nothing else runs, nothing is logged."""
    caplog.set_level(logging.INFO)
    failures, count = [], 0
    for index, role in enumerate(sorted(ROLES)):
        for number, document in enumerate(subscription_corpus(index, max(10, EXAMPLES // 16))):
            response = await (get(world, document, ROLES[role]) if number % 2 else world.post(document, token=ROLES[role]))
            count += 1
            found = problems(role, document, response.status_code, response.text)
            if _a_subscription(document) and len(document) < 20_000:
                body = response.json()
                if response.status_code != 400 or body["errors"][0]["extensions"]["code"] != "SUBSCRIPTION_OVER_HTTP":
                    found.append("not refused as a subscription over HTTP")
            elif response.status_code == 200 and response.json().get("data"):
                found.append("data answered to a subscription document")
            failures += [f"[{role}] {p}\n  document: {document[:300]!r}\n  response: {response.text[:300]}" for p in found]
    logged = [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert count >= 8 * 10 and not failures and not logged, (failures[:10], logged[:5])


@contextlib.asynccontextmanager
async def _served(app):
    """``app`` served by uvicorn over TCP from this test's event loop (no lifespan)."""
    import uvicorn

    from perlinsos.app import server_options

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           **server_options(app.state.perlinsos.settings)))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        await app.state.perlinsos.db.dispose()


async def _over_a_socket(url: str, role: str, documents: list[str]) -> tuple[dict[int, list[str]], str | None]:
    """Each document subscribed at once on one graphql-transport-ws socket signed in as ``role``;
    the messages per document until each has ended (or stayed quiet: an open subscription)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    replies: dict[int, list[str]] = {n: [] for n in range(len(documents))}
    token = ROLES[role]
    async with connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:
        params = {"pilot": "BWI-2025"} | ({"Authorization": f"Bearer {token}"} if token else {})
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for n, document in enumerate(documents):
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": document}}))
        pending = set(replies)
        try:
            while pending:
                message = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
                replies[int(message["id"])].append(json.dumps(message))
                if message["type"] in ("complete", "error"):
                    pending.discard(int(message["id"]))
        except TimeoutError:
            pass
        except ConnectionClosed as closed:
            return replies, f"the server closed the socket: {closed.rcvd}"
    return replies, None


async def test_fuzz_over_a_real_websocket(world, settings, plugin_manager, caplog, capsys):
    """Queries and subscriptions (generated and hand-written) over graphql-transport-ws, every role at
    once: the same checks as HTTP (no masked errors, no traces, no personal datum to a wrong role),
    the socket never closed by the server, and nothing logged as an error."""
    from perlinsos.app import create_app

    caplog.set_level(logging.INFO)
    # the caps are tested in test_websocket_gate.py; here every document is in flight at once
    app = create_app(replace(settings, dispatcher_in_process=False, max_subscriptions_per_connection=1000,
                             max_subscriptions_per_user=1000), plugin_manager)
    roles = sorted(r for r in ROLES if r != "admin")  # no mutations here; the admin's queries are in the HTTP run
    corpora = {role: [*subscription_corpus(i, max(10, EXAMPLES // 16)),
                      *(d for d in corpus(i, max(10, EXAMPLES // 16)) if not d.lstrip().startswith("mutation"))]
               for i, role in enumerate(sorted(ROLES)) if role in roles}
    started = time.perf_counter()
    async with _served(app) as url:
        results = await asyncio.gather(*(_over_a_socket(url, role, corpora[role]) for role in roles))
    failures, open_count, seen = [], 0, set()
    for role, (replies, closed) in zip(roles, results, strict=True):
        if closed:
            failures.append(f"[{role}] {closed}")
        for n, document in enumerate(corpora[role]):
            text = "\n".join(replies[n])
            seen |= {(role, s) for s in SECRETS if s in text and s not in document}
            ended = any(json.loads(m)["type"] in ("complete", "error") for m in replies[n])
            if not ended:
                open_count += 1
                if not (_a_subscription(document) and role.startswith("citizen")):
                    failures.append(f"[{role}] no answer to {document[:200]!r}")
            failures += [f"[{role}] {p}\n  document: {document[:300]!r}\n  replies: {text[:300]}"
                         for p in problems(role, document, 200, text)]
    logged = [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    total = sum(len(c) for c in corpora.values())
    with capsys.disabled():
        print(f"\nwebsocket fuzz: {total} operations in {time.perf_counter() - started:.1f} s, "
              f"{open_count} subscriptions left open (citizens')")
    assert not failures and not logged, (failures[:10], logged[:5])
    assert ("citizen_a", A) in seen or ("reviewer_in", A) in seen  # the probes did reach personal data
