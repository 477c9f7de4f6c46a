"""Global ids and cursors at their edges, through every field that takes one.

The targets are found in the schema itself: every argument (or input field) of type ``ID`` and
every ``after``/``before`` cursor, on any type reachable from the roots, so a new field is covered
without touching this file. Each gets out-of-range keys (2^63, 2^64), other digit forms (``١``,
``" 1_0"``, ``+1``, ``1e3``, leading zeros), the wrong kind, garbage and in-range keys of rows that do
not exist (2^31 beyond PostgreSQL's INTEGER, 2^63-1). The answer must be typed (BAD_USER_INPUT or
the payload's "not found"), over HTTP 200, never the masked "unexpected error", and nothing may be
logged at ERROR. ``GET /evidence/<id>`` answers a clean 404 JSON for the same ids.

The hypothesis part (the fuzz suite's integer edge cases) uses the fuzz suite's
``PERLINSOS_FUZZ_EXAMPLES``/``PERLINSOS_FUZZ_SEED`` with fixed seeds.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from urllib.parse import quote

import graphql
import pytest
import sqlalchemy
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from fixtures import seed as data
from fixtures import static_auth
from perlinsos import globalids
from perlinsos.graphql.errors import MASKED_MESSAGE
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.schema import build_schema
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings

EXAMPLES = int(os.environ.get("PERLINSOS_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("PERLINSOS_FUZZ_SEED", "2025"))
A = data.nik(0)
# between them, every id reaches its parser (the facilitator: the worklist and recordInformed)
ROLES = {"citizen": f"citizen:{A}", "admin": "staff:admin", "facilitator": "staff:fac"}
SCHEMA = build_schema(PluginManager(extra_plugins=[(static_auth.NAME, static_auth)], national=static_auth.NATIONAL),
                      Settings())._schema
KINDS = sorted({name for name, t in SCHEMA.type_map.items()
                if isinstance(t, graphql.GraphQLObjectType) and "id" in t.fields}
               | {name.removesuffix("Connection") for name in SCHEMA.type_map if name.endswith("Connection")})


def b64(text: str | bytes) -> str:
    return base64.urlsafe_b64encode(text.encode() if isinstance(text, str) else text).decode()


# Keys that are no id: beyond BIGINT, signed, zero, spaced, underscored, non-ASCII digits, exponent,
# leading zeros, empty, thousands of digits.
BAD_KEYS = [str(2**63), str(2**64), "-1", "0", "\u0661", "\uff11", " 1_0", "1_0", "+1",
            "1e3", "01", "1 ", "", "9" * 400]
ABSENT_KEYS = [2**31 - 1, 2**31, 2**63 - 1]  # well-formed, in range, no such row
GARBAGE = [b64("Nope:1"), "", "!!!", "Pilot:1", "1\x00", "%00", "\u00e9", b64("Pilot:1").rstrip("="),
           b64(b"\xff\xfe:1"), "A" * 10_000]


def bad_values(kinds: list[str]) -> list[str]:
    return GARBAGE + [b64(f"{kind}:{key}") for kind in kinds for key in BAD_KEYS]


# --- the targets, from the schema -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    operation: str  # "query" or "mutation"
    path: tuple[str, ...]  # fields from the root to the one taking the id, without arguments
    arg: str
    input_field: str | None  # the ID field inside an input object argument
    kinds: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.path) + f"({self.arg}{'.' + self.input_field if self.input_field else ''})"


def _guess_kinds(*words: str) -> tuple[str, ...]:
    """The kinds an id could be of, from the names around it ("claimAppeal", "evidence", ...)."""
    text = " ".join(words).lower()
    found = [k for k in KINDS if k.lower() in text or any(k.lower().startswith(w.lower()) for w in words[1:2]
                                                           if w.lower() not in ("id", "ids"))]
    return tuple(found) or tuple(KINDS)


def _is_id(type_) -> bool:
    return graphql.get_named_type(type_).name == "ID"


def targets() -> list[Target]:
    found, seen = [], set()
    queue = [(op, root, ()) for op, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type))]
    while queue:
        op, owner, path = queue.pop(0)
        if (op, owner.name) in seen:
            continue
        seen.add((op, owner.name))
        for name, field in owner.fields.items():
            returns = graphql.get_named_type(field.type)
            for arg_name, arg in field.args.items():
                arg_type = graphql.get_named_type(arg.type)
                if arg_name in ("after", "before"):
                    found.append(Target(op, (*path, name), arg_name, None, (returns.name.removesuffix("Connection"),)))
                elif _is_id(arg.type):
                    found.append(Target(op, (*path, name), arg_name, None, _guess_kinds(name, arg_name, returns.name)))
                elif isinstance(arg_type, graphql.GraphQLInputObjectType):
                    found += [Target(op, (*path, name), arg_name, f, _guess_kinds(name, f, returns.name))
                              for f, t in arg_type.fields.items() if _is_id(t.type)]
            if isinstance(returns, graphql.GraphQLObjectType) and op == "query":
                queue.append((op, returns, (*path, name)))
    return found


TARGETS = targets()


def filler(type_, name: str = ""):
    """A harmless value for a required argument that is not the one tested."""
    if isinstance(type_, graphql.GraphQLNonNull):
        return filler(type_.of_type, name)
    if isinstance(type_, graphql.GraphQLList):
        return []
    if isinstance(type_, graphql.GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, graphql.GraphQLInputObjectType):
        return {f: filler(t.type, f) for f, t in type_.fields.items()
                if graphql.is_required_input_field(t)}
    return {"ID": to_global_id(_guess_kinds(name, name)[0], 999_999), "String": "BWI-2025", "Int": 1, "Float": 1.0,
            "Boolean": False, "JSON": {}, "Date": "2025-08-01",
            "DateTime": "2025-08-01T00:00:00+07:00"}.get(type_.name, "x")


def request(target: Target, value: str) -> tuple[str, dict]:
    """The document asking ``target`` with ``value`` where the id goes, and its variables."""
    root = SCHEMA.query_type if target.operation == "query" else SCHEMA.mutation_type
    owner, fields = root, []
    for name in target.path:
        fields.append(owner.fields[name])
        owner = graphql.get_named_type(owner.fields[name].type)
    declared, variables, parts = [], {}, []
    for depth, (name, field) in enumerate(zip(target.path, fields, strict=True)):
        args = []
        for arg_name, arg in field.args.items():
            tested = depth == len(fields) - 1 and arg_name == target.arg
            if not tested and not graphql.is_required_argument(arg):
                continue
            var = f"v{depth}_{arg_name}"
            declared.append(f"${var}: {arg.type}")
            args.append(f"{arg_name}: ${var}")
            variables[var] = filler(arg.type, arg_name)
            if tested:
                if target.input_field:
                    input_type = graphql.get_named_type(arg.type)
                    wrap = isinstance(graphql.get_nullable_type(input_type.fields[target.input_field].type),
                                      graphql.GraphQLList)
                    variables[var][target.input_field] = [value] if wrap else value
                else:
                    wrap = isinstance(graphql.get_nullable_type(arg.type), graphql.GraphQLList)
                    variables[var] = [value] if wrap else value
        parts.append(name + (f"({', '.join(args)})" if args else ""))
    selection = "__typename"
    if isinstance(owner, graphql.GraphQLObjectType) and "errors" in owner.fields:
        selection = "__typename errors { code }"
    if not isinstance(owner, graphql.GraphQLObjectType):
        selection = ""
    document = " { ".join(parts) + (f" {{ {selection} }}" if selection else "") + " }" * (len(parts) - 1)
    header = f"{target.operation}({', '.join(declared)})" if declared else target.operation
    return f"{header} {{ {document} }}", variables


# --- what an answer is ------------------------------------------------------------------------------

REFUSALS = {"BAD_USER_INPUT", "INPUT_INVALID", "NOTIFICATION_NOT_REQUEUEABLE"}


def refusal(code: str) -> bool:
    """An answer about the id itself (as opposed to who is asking)."""
    return code in REFUSALS or code.endswith("_NOT_FOUND")


def outcome(target: Target, status: int, text: str, body: dict | None) -> tuple[str, list[str]]:
    """("refused" | "absent" | "answered" | "unreached" | "denied", problems) for one response:
    refused as an id, null (not found), a value, a parent that is null (not asked), refused as a
    caller."""
    problems = []
    if status != 200:
        problems.append(f"HTTP {status}")
    if MASKED_MESSAGE in text:
        problems.append("an unexpected (masked) error")
    if body is None:
        return "broken", problems + ["no JSON body"]
    codes = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if not code:
            problems.append(f"an error without a code: {error.get('message')!r}")
        codes.append(code or "")
    value, reached = body.get("data"), True
    for name in target.path:
        if not isinstance(value, dict):
            reached = False
            break
        value = value.get(name)
    if isinstance(value, dict):
        codes += [e["code"] for e in value.get("errors") or []]
    if any(refusal(c) for c in codes):
        return "refused", problems
    if codes:
        return "denied", problems
    if not reached:
        return "unreached", problems
    return ("answered" if value is not None else "absent"), problems


@pytest.fixture
async def world(client, db, pilot):
    await data.registrations(db, pilot, 2)
    await data.consent(db, A)
    await data.staff(db, "admin", "ADMIN", "35")
    await data.staff(db, "fac", "FACILITATOR", data.KEMIREN, pilot_code=pilot)
    return client


def no_errors_logged(caplog) -> list[str]:
    return [f"logged at {r.levelname}: {r.getMessage()[:200]}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_schema_walk_finds_the_id_fields():
    """The walk finds nested fields and input fields too (so it finds new ones)."""
    names = {str(t) for t in TARGETS}
    assert {"registration(id)", "claimAppeal(id)", "markNotificationsRead(ids)", "fileAppeal(input.evidence)",
            "fileAppeal(input.decision)", "resolveAppeal(input.appeal)", "pilots(after)",
            "me.notifications(after)", "me.dataAccessLog(after)"} <= names, names
    assert next(t for t in TARGETS if str(t) == "pilots(after)").kinds == ("Pilot",)
    assert "EvidenceFile" in next(t for t in TARGETS if str(t) == "fileAppeal(input.evidence)").kinds
    # Subscriptions are not walked (they need the websocket): should one take an id, walk it too.
    subscriptions = SCHEMA.subscription_type.fields.values() if SCHEMA.subscription_type else []
    assert not [a for f in subscriptions for a in f.args], "a subscription takes arguments: test its ids"


async def test_every_id_column_holds_the_whole_key_range(db):
    """globalids.MAX_KEY is 2^63-1 because every id column is BIGINT: a table whose id were a 32-bit
    INTEGER on PostgreSQL would fail on keys the parser lets through (2^31 and up)."""
    def integer_ids(connection) -> dict[str, str]:
        inspector = sqlalchemy.inspect(connection)
        found = {}
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                if column["name"] == "id" and isinstance(column["type"], sqlalchemy.Integer):
                    found[table] = type(column["type"]).__name__
        return found

    async with db.engine.connect() as conn:
        found = await conn.run_sync(integer_ids)
    assert {"pilot", "registration", "decision", "appeal", "notification", "evidence_file"} <= set(found)
    # one-row tables (id 1), never named by a client: the audit chain head, the schema compatibility row
    found.pop("audit_chain_head")
    found.pop("schema_compat")
    if db.engine.dialect.name == "postgresql":
        assert set(found.values()) == {"BIGINT"}, found
    assert globalids.MAX_KEY == 2**63 - 1


@pytest.mark.parametrize("target", TARGETS, ids=str)
async def test_every_id_argument_answers_bad_ids_in_kind(world, caplog, target):
    caplog.set_level(logging.INFO)
    failures = []

    roles = dict(ROLES)

    async def ask(value: str) -> dict[str, str]:
        document, variables = request(target, value)
        seen = {}
        for role, token in roles.items():
            response = await world.post(document, variables, token=token)
            try:
                body = response.json()
            except ValueError:
                body = None
            kind, problems = outcome(target, response.status_code, response.text, body)
            seen[role] = kind
            failures.extend(f"[{role}] {value[:60]!r}: {p} -> {response.text[:300]}" for p in problems)
        return seen

    for number, value in enumerate(bad_values(list(target.kinds))):
        seen = await ask(value)
        if "answered" in seen.values() or not {"refused", "absent"} & set(seen.values()):
            failures.append(f"{value[:60]!r} was not refused as an id: {seen}")
        if number == 0:  # a role turned away before the id is read is turned away whatever the id
            roles = {r: t for r, t in roles.items() if seen[r] in ("refused", "absent")} or roles
    if target.arg not in ("after", "before"):  # a cursor past the end is simply the end
        for kind in target.kinds:
            for key in ABSENT_KEYS:
                await ask(to_global_id(kind, key))  # well-formed, no such row: any typed answer
    failures += no_errors_logged(caplog)
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:15])


async def test_evidence_downloads_answer_bad_ids_with_a_json_404(world, caplog):
    caplog.set_level(logging.INFO)
    ids = [b64(f"EvidenceFile:{key}") for key in (*BAD_KEYS, *ABSENT_KEYS)] + [g for g in GARBAGE if g]
    failures = []
    for gid in ids:
        for method in ("GET", "HEAD", "DELETE"):
            response = await world.http.request(method, f"/evidence/{quote(gid, safe='')}", headers={
                "Authorization": f"Bearer {ROLES['citizen']}", "X-Perlinsos-Pilot": world.pilot})
            json_404 = response.status_code == 404 and (method == "HEAD" or (
                response.headers["content-type"].startswith("application/json")
                and response.json()["errors"][0]["extensions"]["code"] == "EVIDENCE_NOT_FOUND"))
            if not json_404:
                failures.append(f"{method} {gid[:60]!r}: HTTP {response.status_code} {response.text[:200]}")
    failures += no_errors_logged(caplog)
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:15])


# --- hypothesis: integers at the edges, in every spelling -----------------------------------------------

EDGES = [0, 1, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**19, 10**30]
NUMBERS = st.one_of(st.sampled_from(EDGES), st.sampled_from(EDGES).map(lambda n: -n),
                    st.sampled_from(EDGES).flatmap(lambda n: st.integers(n - 2, n + 2)), st.integers(-(2**70), 2**70))
ARABIC_INDIC, FULLWIDTH = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"), str.maketrans("0123456789", "０１２３４５６７８９")
SPELLINGS = {
    "plain": lambda s: s, "plus": lambda s: "+" + s, "zero": lambda s: "0" + s, "space": lambda s: f" {s} ",
    "underscore": lambda s: s[:1] + "_" + s[1:] if len(s) > 1 else s + "_",
    "arabic": lambda s: s.translate(ARABIC_INDIC), "fullwidth": lambda s: s.translate(FULLWIDTH), "exponent": lambda s: s + "e0", "newline": lambda s: s + "\n",
}


def accepted(number: int, spelling: str) -> bool:
    """What the strict reader takes: the plain ASCII spelling of 1..2^63-1."""
    return 1 <= number <= 2**63 - 1 and spelling == "plain"


def cases() -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    @seed(SEED)
    @settings(max_examples=EXAMPLES, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(NUMBERS, st.sampled_from(sorted(SPELLINGS)))
    def collect(number: int, spelling: str) -> None:
        found.append((number, spelling))

    collect()
    return found


async def test_fuzz_integer_edges_in_ids_and_cursors(world, caplog):
    caplog.set_level(logging.INFO)
    failures = []
    for number, spelling in cases():
        key = SPELLINGS[spelling](str(number))
        ok = accepted(number, spelling)
        asked = {
            "registration": ("query($id: ID!) { registration(id: $id) { id } }", "Registration", ROLES["admin"]),
            "pilots": ("query($id: String) { pilots(after: $id) { nodes { code } } }", "Pilot", None),
            "notifications": ("query($id: String) { me { notifications(after: $id) { nodes { id } } } }",
                              "Notification", ROLES["citizen"]),
        }
        for name, (document, kind, token) in asked.items():
            response = await world.post(document, {"id": b64(f"{kind}:{key}")}, token=token)
            errors = response.json().get("errors") or [] if response.status_code == 200 else None
            codes = [(e.get("extensions") or {}).get("code") for e in errors or []]
            if response.status_code != 200 or codes != ([] if ok else ["BAD_USER_INPUT"]):
                failures.append(f"{name} {key!r} ({spelling}): HTTP {response.status_code} {response.text[:200]}")
        response = await world.http.get(f"/evidence/{quote(b64(f'EvidenceFile:{key}'), safe='')}", headers={
            "Authorization": f"Bearer {ROLES['citizen']}", "X-Perlinsos-Pilot": world.pilot})
        if response.status_code != 404 or "EVIDENCE_NOT_FOUND" not in response.text:
            failures.append(f"/evidence {key!r}: HTTP {response.status_code} {response.text[:200]}")
    failures += no_errors_logged(caplog)
    assert not failures, f"{len(failures)} problems (seed {SEED}):\n" + "\n".join(failures[:15])
