"""Candidate platform changes, applied as patches so they can be measured before anyone edits code.

MEASUREMENT ONLY — nothing here is imported by the platform. Pick candidates with
``BENCH_CANDIDATES=name,name`` (or ``all``) and run the platform side through this factory:

    BENCH_CANDIDATES=all .venv/bin/python bench/graphql_list.py --platform-factory candidates:create_app

Each candidate names the platform file a real change would touch:

* ``vrules``   graphql/schema.py: build the depth/alias validation rule classes once. As lambdas,
               ``QueryDepthLimiter``/``MaxAliasesLimiter`` create new rule *classes* per request, so
               ``ValidationCache`` (keyed by the rules) never hits: the document is re-validated each time.
* ``audit``    audit.py: ``record_reads`` inserts through Core (``insert(AuditEvent.__table__)`` on the
               session's connection) instead of the ORM bulk-insert path.
* ``oneconn``  graphql/registrations.py + loaders.py: the list's prefetch runs its loader queries on one
               connection instead of checking one out (and on PostgreSQL pre-pinging it) per loader.
* ``fastexec`` graphql/schema.py: an execution context that completes "basic" scalar/enum fields (no
               resolver, no field extension: strawberry's ``_get_basic_result``) inline — getattr +
               ``coerce_output_value`` — without ResolveInfo, Path and the complete_value dispatch.
               Anything unusual falls back to the normal path, which reports errors as before.
* ``wlock``    db/engine.py: SQLite write transactions of one process queue on an ``asyncio.Lock``
               instead of contending for the file lock (the busy handler sleeps up to 100 ms a try).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from graphql import GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

ALL = ("vrules", "audit", "oneconn", "fastexec", "wlock")


def basic_leaf_fields(gql_schema) -> dict:
    """{object type: {field name: (python attribute, coerce, non_null)}} for inline completion."""
    table = {}
    for t in gql_schema.type_map.values():
        if not isinstance(t, GraphQLObjectType) or t.name.startswith("__"):
            continue
        fields = {}
        for name, gf in t.fields.items():
            sf = (gf.extensions or {}).get("strawberry-definition")
            rtype = gf.type.of_type if isinstance(gf.type, GraphQLNonNull) else gf.type
            if (sf is not None and getattr(gf.resolve, "__name__", "") == "_get_basic_result"
                    and is_leaf_type(rtype) and not gf.args):
                fields[name] = (sf.python_name, rtype.coerce_output_value, isinstance(gf.type, GraphQLNonNull))
        table[t] = fields
    return table


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    basic: dict = {}

    def execute_fields(self, parent_type, source_value, path, grouped_field_set, position_context):
        basic = self.basic.get(parent_type)
        mm = self.middleware_manager
        if not basic or (mm is not None and mm.middlewares):
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results, awaitable_fields, is_awaitable = {}, [], self.is_awaitable
        for response_name, details in grouped_field_set.items():
            entry = basic.get(details[0].node.name.value)
            if entry is not None:
                attr, coerce, non_null = entry
                value = getattr(source_value, attr, Undefined)
                if value is None and not non_null:
                    results[response_name] = None
                    continue
                if value is not None and value is not Undefined and not is_awaitable(value):
                    try:
                        coerced = coerce(value)
                    except Exception:  # noqa: BLE001 - the normal path below reports it properly
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        results[response_name] = coerced
                        continue
            result = self.execute_field(parent_type, source_value, details,
                                        Path(path, response_name, parent_type.name), position_context)
            if result is not Undefined:
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        if not awaitable_fields:
            return results

        async def gather() -> dict:
            values = await asyncio.gather(*(results[f] for f in awaitable_fields))
            results.update(zip(awaitable_fields, values, strict=True))
            return results

        return gather()


def apply(names: set[str]) -> None:
    import perlinsos.app as app_module
    import perlinsos.graphql.schema as schema_module

    if "vrules" in names:
        from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter

        rules: dict = {}

        def depth(max_depth):
            key = ("depth", max_depth)
            rules.setdefault(key, QueryDepthLimiter(max_depth=max_depth).validation_rules)
            return AddValidationRules(rules[key])

        def aliases(max_alias_count):
            key = ("aliases", max_alias_count)
            rules.setdefault(key, MaxAliasesLimiter(max_alias_count=max_alias_count).validation_rules)
            return AddValidationRules(rules[key])

        schema_module.QueryDepthLimiter, schema_module.MaxAliasesLimiter = depth, aliases
    if "audit" in names:
        from sqlalchemy import insert

        from perlinsos import audit
        from perlinsos.db.models import AuditEvent

        async def record_reads(session, principal, person_ids, *, purpose, operation=None):
            ids = sorted(set(person_ids))
            if not ids:
                return
            actor, role = audit._actor(principal)
            now = audit.utcnow()
            conn = await session.connection()
            await conn.execute(insert(AuditEvent.__table__), [
                {"occurred_at": now, "actor": actor, "actor_role": role, "action": "READ_PERSONAL_DATA",
                 "entity_type": "person", "entity_id": str(pid), "subject_person_id": pid, "purpose": purpose,
                 "details": {"operation": operation} if operation else {}} for pid in ids])

        audit.record_reads = record_reads
    if "oneconn" in names:
        import perlinsos.graphql.loaders as loaders
        import perlinsos.graphql.registrations as registrations

        prefetch, rows = registrations._prefetch, loaders.Loaders._rows

        async def _prefetch(c, page, fields):
            async with c.db.engine.connect() as conn:
                c.loaders._conn = conn
                try:
                    await prefetch(c, page, fields)
                finally:
                    c.loaders._conn = None

        async def _rows(self, stmt):
            conn = getattr(self, "_conn", None)
            return list((await conn.execute(stmt)).all()) if conn is not None else await rows(self, stmt)

        registrations._prefetch, loaders.Loaders._rows = _prefetch, _rows
    if "fastexec" in names:
        build = schema_module.build_schema

        def build_schema(plugins, settings):
            schema = build(plugins, settings)
            schema.execution_context_class = type(
                "FastExecutionContext", (FastExecutionContext,), {"basic": basic_leaf_fields(schema._schema)})
            return schema

        app_module.build_schema = build_schema
    if "wlock" in names:
        from perlinsos.db.engine import Database

        write = Database.write

        @contextlib.asynccontextmanager
        async def locked_write(self):
            if not self.is_sqlite:
                async with write(self) as session:
                    yield session
                return
            lock = self.__dict__.setdefault("_write_lock", asyncio.Lock())
            async with lock, write(self) as session:
                yield session

        Database.write = locked_write


def selected() -> set[str]:
    raw = os.environ.get("BENCH_CANDIDATES", "")
    names = set(ALL) if raw.strip() == "all" else {n.strip() for n in raw.split(",") if n.strip()}
    unknown = names - set(ALL)
    if unknown:
        raise SystemExit(f"unknown BENCH_CANDIDATES {sorted(unknown)}; known: {', '.join(ALL)}")
    return names


def create_app():
    """``uvicorn --factory candidates:create_app``: the platform with ``BENCH_CANDIDATES`` applied."""
    apply(selected())
    from perlinsos.app import create_app as platform_app

    return platform_app()
