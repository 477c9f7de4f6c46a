"""Both execution paths answer alike: graphql-core's own and the inline one (perlinsos.graphql.execution).

Queries generated from schema/schema.graphql (hypothesis-graphql, the fuzz suite's scalars) are
reworked the way a frontend writes them: literal arguments become variables (sometimes sent as an
explicit null), fields get aliases, @include/@skip with Boolean variables that have a default
(sent as true, false, an explicit null or not at all), and selections repeated in inline fragments
(merged). Each runs on both paths, on one frozen database, as several roles; the answers (data,
errors with message, path and code, their order) and the access-log rows written must be identical.

CI runs a short fixed-seed corpus (PERLINSOS_DIFF_EXAMPLES per role, default 40). A long run::

    PERLINSOS_DIFF_EXAMPLES=2000 PERLINSOS_DIFF_SEED=7 ./scripts/test tests/core/test_differential.py -s
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import replace

import graphql
import httpx
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    is_non_null_type,
    print_ast,
)
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from sqlalchemy import func, select

from perlinsos.app import create_app
from perlinsos.db.models import AuditEvent
from test_fuzz import PROBES, SCALARS, SCHEMA, world  # noqa: F401 - world is the fixture used below

EXAMPLES = int(os.environ.get("PERLINSOS_DIFF_EXAMPLES", "40"))
SEED = int(os.environ.get("PERLINSOS_DIFF_SEED", "2025"))
ROLES = {"admin": "staff:admin", "reviewer": "staff:rev-in", "facilitator": "staff:fac-in",
         "citizen": f"citizen:{__import__('test_authorization_matrix').A}"}
HAND = [  # the cases, by hand
    ('query($b: Boolean = true) { registrations(pilot: "BWI-2025", regionCode: "99") { nodes { id @include(if: $b) } } }',
     {"b": None}),
    ('query($b: Boolean = true) { registrations(pilot: "BWI-2025") { nodes { id @include(if: $b) registrant { name } } } }',
     {"b": None}),
    ('query($b: Boolean = true) { me { registrations { id @include(if: $b) } notifications(after: "x") { nodes { id } } } }',
     {"b": None}),
]


def _literal(node):
    """A literal as the JSON a client would send for it in a variable."""
    if isinstance(node, graphql.NullValueNode):
        return None
    if isinstance(node, graphql.IntValueNode):
        return int(node.value)
    if isinstance(node, graphql.FloatValueNode):
        return float(node.value)
    if isinstance(node, graphql.BooleanValueNode):
        return node.value
    if isinstance(node, graphql.ListValueNode):
        return [_literal(v) for v in node.values]
    if isinstance(node, graphql.ObjectValueNode):
        return {f.name.value: _literal(f.value) for f in node.fields}
    return node.value  # String, Enum (its name)


class Rework:
    """Rewrites one generated query as a frontend would write it (see the module docstring)."""

    def __init__(self, rnd: random.Random):
        self.rnd, self.defs, self.values, self.n = rnd, [], {}, 0

    def var(self, type_node, value, default=None) -> VariableNode:
        self.n += 1
        name = f"v{self.n}"
        self.defs.append(VariableDefinitionNode(variable=VariableNode(name=NameNode(value=name)), type=type_node,
                                                default_value=default, directives=()))
        if value is not ...:
            self.values[name] = value
        return VariableNode(name=NameNode(value=name))

    def directive(self) -> DirectiveNode:
        which = self.rnd.choice(["include", "skip"])
        default = BooleanValueNode(value=which == "include")
        sent = self.rnd.choice([True, False, None, ..., ...])  # ...: not sent (the default applies)
        var = self.var(NamedTypeNode(name=NameNode(value="Boolean")), sent, default)
        return DirectiveNode(name=NameNode(value=which), arguments=(ArgumentNode(name=NameNode(value="if"), value=var),))

    def selections(self, parent, selection_set):
        if selection_set is None:
            return None
        out = []
        for sel in selection_set.selections:
            if not isinstance(sel, FieldNode):
                out.append(sel)
                continue
            out.append(self.field(parent, sel))
        if out and self.rnd.random() < 0.25:  # repeat some of it in an inline fragment: merged
            copy = self.rnd.sample(out, k=self.rnd.randint(1, len(out)))
            out.append(InlineFragmentNode(type_condition=None, directives=(), selection_set=SelectionSetNode(
                selections=tuple(copy))))
        return SelectionSetNode(selections=tuple(out))

    def field(self, parent, node: FieldNode) -> FieldNode:
        definition = getattr(parent, "fields", {}).get(node.name.value)
        if definition is None:  # __typename
            return node
        args = []
        for arg in node.arguments or ():
            arg_def = definition.args.get(arg.name.value)
            if arg_def is None or self.rnd.random() < 0.4:
                args.append(arg)
                continue
            value = _literal(arg.value)
            if not is_non_null_type(arg_def.type) and self.rnd.random() < 0.3:
                value = None  # an explicit null
            type_node = graphql.parse_type(str(arg_def.type))
            args.append(ArgumentNode(name=arg.name, value=self.var(type_node, value)))
        directives = tuple(node.directives or ())
        if self.rnd.random() < 0.3:
            directives += (self.directive(),)
        alias = node.alias
        if self.rnd.random() < 0.2:
            alias = NameNode(value=f"al{self.n}_{node.name.value}")
            self.n += 1
        return FieldNode(alias=alias, name=node.name, arguments=tuple(args), directives=directives,
                         selection_set=self.selections(get_named_type(definition.type), node.selection_set))

    def document(self, source: str) -> tuple[str, dict]:
        doc = graphql.parse(source)
        operation = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
        body = self.selections(SCHEMA.query_type, operation.selection_set)
        op = OperationDefinitionNode(operation=operation.operation, name=None, directives=(),
                                     variable_definitions=tuple(self.defs), selection_set=body)
        return print_ast(DocumentNode(definitions=(op,))), self.values



def corpus(role_index: int, count: int) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = list(HAND) + [(p, {}) for p in PROBES]

    @seed(SEED * 100 + role_index)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(queries(SCHEMA, custom_scalars=SCALARS), st.randoms(use_true_random=False))
    def collect(document: str, rnd: random.Random) -> None:
        found.append(Rework(rnd).document(document))

    collect()
    return found


def _comparable(text: str) -> object:
    """The answer, less the values that differ by design: when something was generated (an export's
    ``generated_at``, the statistics' ``generatedAt``, under any alias: ours end with the field name)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not k.endswith(("generated_at", "generatedAt"))}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    try:
        return strip(json.loads(text))
    except ValueError:
        return text


async def _audit_rows(db, after: int) -> tuple[int, list[tuple]]:
    async with db.read() as s:
        rows = (await s.execute(select(AuditEvent.seq, AuditEvent.actor, AuditEvent.action, AuditEvent.subject_person_id,
                                       AuditEvent.purpose).where(AuditEvent.seq > after).order_by(AuditEvent.seq))).all()
        top = (await s.execute(select(func.coalesce(func.max(AuditEvent.seq), 0)))).scalar_one()
    return top, sorted(tuple(r[1:]) for r in rows)


async def test_both_execution_paths_answer_alike(world, settings, plugin_manager, db, caplog, capsys):  # noqa: F811
    caplog.set_level(logging.CRITICAL, logger="strawberry.execution")
    apps = {fast: create_app(replace(settings, fast_execution=fast), plugin_manager) for fast in (True, False)}
    clients = {fast: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
               for fast, app in apps.items()}
    differences, total, clean, started = [], 0, 0, time.perf_counter()
    top, _ = await _audit_rows(db, 0)
    try:
        for index, (role, token) in enumerate(ROLES.items()):
            headers = {"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025", "X-Request-Id": "diff"}
            for document, variables in corpus(index, EXAMPLES):
                answers = {}
                for fast in (True, False):
                    response = await clients[fast].post("/graphql", json={"query": document, "variables": variables},
                                                        headers=headers)
                    top, rows = await _audit_rows(db, top)
                    answers[fast] = (response.status_code, _comparable(response.text), rows)
                total += 1
                clean += isinstance(answers[True][1], dict) and "errors" not in answers[True][1]
                if answers[True] != answers[False]:
                    differences.append(f"[{role}] {document} {variables}\n  fast: {answers[True]}\n  core: {answers[False]}")
    finally:
        for fast in apps:
            await clients[fast].aclose()
            await apps[fast].state.perlinsos.db.dispose()
    with capsys.disabled():
        print(f"\ndifferential: {total} documents x 2 paths in {time.perf_counter() - started:.1f} s "
              f"(seed {SEED}; {clean} without errors), {len(differences)} differences")
    assert not differences, f"{len(differences)} differences; first ones:\n" + "\n".join(differences[:5])
    assert clean > total // 10  # not a comparison of refusals only
