"""A faster execution context: plain fields, and object fields available at once, are completed inline.

Most of a list response's ~7,500 fields are plain attributes (no resolver, no field
extension). graphql-core resolves each through ResolveInfo, Path and the complete_value
dispatch; this context reads the attribute and serializes it directly. Fields of object type (or
lists of them) are completed inline too when their value is at hand: a plain attribute, or a
resolver marked with ``context_resolver`` (``fn(source, context)``: the same function the
strawberry resolver calls, minus the ResolveInfo), and an object whose selected fields are all plain
leaves in one loop. The same result in a fraction of the execution time (bench/README.md, the list
query). Anything unusual (an awaitable, a value that does not serialize, a null in
a non-null field, an exception) takes graphql-core's own path or its error handling, so errors are
reported exactly as before. It overrides graphql-core's ``execute_fields``, so graphql-core is
pinned to the 3.3 series and ``tests/core/test_execution.py`` compares both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path, Undefined, gather_with_cancel

from perlinsos.graphql.extensions import MarkingExecutionContext

#: Strawberry's resolver for fields without one of their own (attribute access).
_BASIC_RESOLVER = "_get_basic_result"
_FAST_ATTR = "__perlinsos_context_resolver__"
LEAF, OBJECT, LIST = 0, 1, 2
#: values that are never awaitable (skips the awaitable check on most leaves)
_PLAIN = frozenset({str, int, float, bool})


def context_resolver(fast: Callable[[Any, Any], Any]):
    """Mark a strawberry resolver ``(self, info)`` whose whole work is ``fast(self, info.context)``.

    The resolver must return ``fast(self, info.context)`` and take no arguments; the execution
    context then calls ``fast`` directly when the field has no extension or permission.
    """

    def mark(resolver):
        setattr(resolver, _FAST_ATTR, fast)
        return resolver

    return mark


def _unwrap(gql_type) -> tuple[Any, bool]:
    return (gql_type.of_type, True) if isinstance(gql_type, GraphQLNonNull) else (gql_type, False)


def _plan(field) -> tuple | None:
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or field.args or definition.extensions or definition.permission_classes:
        return None
    if getattr(field.resolve, "__name__", "") == _BASIC_RESOLVER:
        attr, fast = definition.python_name, None
    else:
        resolver = getattr(definition, "base_resolver", None)
        fast = getattr(getattr(resolver, "wrapped_func", None), _FAST_ATTR, None)
        if fast is None:
            return None
        attr = None
    named, non_null = _unwrap(field.type)
    if is_leaf_type(named):
        # graphql-core serializes a str as itself for String and ID, a bool as itself for Boolean.
        same = str if named in (GraphQLString, GraphQLID) else bool if named is GraphQLBoolean else None
        return (LEAF, attr, _enum_serializer(named), non_null, same) if fast is None else None
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        return (OBJECT, attr, fast, named, non_null)
    if isinstance(named, GraphQLList):
        item, item_non_null = _unwrap(named.of_type)
        if isinstance(item, GraphQLObjectType) and item.is_type_of is None:
            return (LIST, attr, fast, item, non_null, named.of_type)
    return None


def _enum_serializer(named) -> Callable[[Any], Any]:
    """Strawberry's enum serialize scans every value per call; its answer for each member of the
    Python enum is computed once here (anything else still goes to ``serialize``)."""
    serialize = named.serialize
    enum_cls = getattr(named, "wrapped_cls", None)
    if enum_cls is None:
        return serialize
    names = {}
    for member in enum_cls:
        try:
            names[member] = serialize(member)
        except Exception:  # noqa: BLE001 - such a member keeps the normal path
            pass

    def enum_serialize(value):
        if type(value) is enum_cls and value in names:
            return names[value]
        return serialize(value)

    return enum_serialize


def basic_leaf_fields(schema: GraphQLSchema) -> dict[GraphQLObjectType, dict[str, tuple]]:
    """{object type: {field: plan}} for fields safe to complete inline (see ``_plan``)."""
    table: dict[GraphQLObjectType, dict[str, tuple]] = {}
    for gql_type in schema.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType) or gql_type.name.startswith("__"):
            continue
        fields = {name: plan for name, field in gql_type.fields.items() if (plan := _plan(field)) is not None}
        if fields:
            table[gql_type] = fields
    return table


class FastExecutionContext(MarkingExecutionContext):
    basic: dict[GraphQLObjectType, dict[str, tuple]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plan_cache: dict[tuple, tuple] = {}
        self._leaf_cache: dict[tuple, tuple] = {}

    def execute_fields(self, parent_type, source_value, path, grouped_field_set, position_context):
        basic = self.basic.get(parent_type)
        middleware = self.middleware_manager
        if not basic or (middleware is not None and middleware.middlewares):
            # Field middleware (extensions with a `resolve` hook) must see every field.
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        plan_cache = self._plan_cache
        try:
            cached = plan_cache.get((parent_type, id(grouped_field_set)))
            if cached is None or cached[0] is not grouped_field_set:
                cached = self._field_plans(parent_type, basic, grouped_field_set)
            for response_name, details, plan in cached[1]:
                if plan is not None:
                    if plan[0] == LEAF:
                        value = getattr(source_value, plan[1], Undefined)
                        if type(value) is plan[4]:
                            results[response_name] = value
                            continue
                        if value is None and not plan[3]:
                            results[response_name] = None
                            continue
                        if value is not None and value is not Undefined and (
                                type(value) in _PLAIN or not is_awaitable(value)):
                            try:
                                serialized = plan[2](value)
                            except Exception:  # noqa: BLE001 - the normal path reports it properly
                                serialized = Undefined
                            if serialized is not None and serialized is not Undefined:
                                results[response_name] = serialized
                                continue
                    else:
                        result = self._complete_inline(plan, parent_type, source_value, details,
                                                       Path(path, response_name, parent_type.name), position_context)
                        if result is not Undefined:
                            results[response_name] = result
                            if is_awaitable(result):
                                awaitable_fields.append(response_name)
                            continue
                result = self.execute_field(parent_type, source_value, details,
                                            Path(path, response_name, parent_type.name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        # Fall back to graphql-core's own gathering for the awaitable remainder.
        return super_gather(results, awaitable_fields)

    def _field_plans(self, parent_type, basic, grouped_field_set) -> tuple:
        """(field set, [(response name, details, plan or None)]), memoized per field set for this
        operation (graphql-core hands the same field-set object to every item of a list)."""
        plans = [(name, details, basic.get(details[0].node.name.value)) for name, details in grouped_field_set.items()]
        cached = self._plan_cache[(parent_type, id(grouped_field_set))] = (grouped_field_set, plans)
        return cached  # the set is kept alive with its plans, so its id is not reused meanwhile

    def _complete_inline(self, plan, parent_type, source, details, path, position_context):
        """An object (or list of objects) field's completed value; Undefined: take the normal path."""
        kind, attr, fast = plan[0], plan[1], plan[2]
        if fast is None:
            value = getattr(source, attr, Undefined)
            if value is Undefined or self.is_awaitable(value) or (value is None and plan[4]):
                return Undefined  # nothing was called yet: graphql-core may do it all
        else:
            try:
                value = fast(source, self.context_value)
            except Exception as raw_error:  # as execute_field reports a resolver's error
                return self._field_error(raw_error, parent_type, details, path)
            if self.is_awaitable(value) or (value is None and plan[4]):
                return self._complete_normally(parent_type, source, details, path, value, position_context)
        if value is None:
            return None
        try:
            if kind == OBJECT:
                leaves = self._leaf_plan(plan[3], details, position_context)
                if leaves is not None and (row := _leaf_row(leaves, value, self.is_awaitable)) is not Undefined:
                    if plan[3] is self.person_type:
                        self.mark_person(path, value)
                    return row
                completed = self.collect_and_execute_subfields(plan[3], details, path, value, position_context)
            else:
                if isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__"):
                    return self._complete_normally(parent_type, source, details, path, value, position_context)
                value = list(value)
                if (isinstance(plan[5], GraphQLNonNull) and any(item is None for item in value)) or _any_awaitable(
                        value, self.is_awaitable):
                    # graphql-core words that error (and nulls the field) itself, and awaits items.
                    return self._complete_normally(parent_type, source, details, path, value, position_context)
                completed = self._complete_list(plan[3], plan[5], details, path, value, position_context)
        except Exception as raw_error:
            return self._field_error(raw_error, parent_type, details, path)
        if self.is_awaitable(completed):
            return self._await_field(completed, parent_type, details, path)
        return completed

    def _leaf_plan(self, object_type, details, position_context) -> list[tuple] | None:
        """The leaf plans of every field selected on ``object_type`` when ALL are plain leaves (an
        object completed by one tight loop, no method calls per item); else None. Memoized."""
        if position_context is not None:  # incremental delivery (@defer) is graphql-core's to do
            return None
        key = (object_type, id(details))
        cached = self._leaf_cache.get(key)
        if cached is None or cached[0] is not details:
            leaves = None
            basic = self.basic.get(object_type)
            middleware = self.middleware_manager
            if basic and not (middleware is not None and middleware.middlewares):
                grouped, new_defer_usages, *_ = self.collect_subfields(object_type, details)
                plans = [(name, basic.get(d[0].node.name.value)) for name, d in grouped.items()]
                if not new_defer_usages and all(p is not None and p[0] == LEAF for _, p in plans):
                    leaves = [(name, *p[1:]) for name, p in plans]
            cached = self._leaf_cache[key] = (details, leaves)  # details kept alive: its id stays unique
        return cached[1]

    def _complete_list(self, item_type, item_gql_type, details, path, items, position_context):
        completed: list[Any] = []
        pending = False
        # The item fields are collected at the first item, inside its error handling, as
        # graphql-core does per item: collecting can fail (an explicit null in @include's `if`),
        # and then that item reports it at its own index, and an empty list never collects.
        leaves = Undefined
        is_awaitable = self.is_awaitable
        for index, item in enumerate(items):
            if item is None:  # a nullable item (non-null ones were checked first)
                completed.append(None)
                continue
            try:
                if leaves is Undefined:
                    leaves = self._leaf_plan(item_type, details, position_context)
                if leaves is not None:
                    row = _leaf_row(leaves, item, is_awaitable)
                    if row is not Undefined:
                        if item_type is self.person_type:
                            self.mark_person(Path(path, index, None), item)
                        completed.append(row)
                        continue
                value = self.collect_and_execute_subfields(item_type, details, Path(path, index, None), item,
                                                           position_context)
                if is_awaitable(value):
                    value = self._await_item(value, item_gql_type, details, Path(path, index, None))
                    pending = True
                completed.append(value)
            except Exception as raw_error:
                self.handle_field_error(raw_error, item_gql_type, details, Path(path, index, None))
                completed.append(None)
        if not pending:
            return completed

        async def gather() -> list[Any]:
            indices = [i for i, v in enumerate(completed) if self.is_awaitable(v)]
            values = await gather_with_cancel(*(completed[i] for i in indices))
            for i, v in zip(indices, values, strict=True):
                completed[i] = v
            return completed

        return gather()

    async def _await_item(self, awaitable, item_gql_type, details, item_path):
        try:
            return await awaitable
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_gql_type, details, item_path)
            return None

    async def _await_field(self, awaitable, parent_type, details, path):
        try:
            return await awaitable
        except Exception as raw_error:
            return self._field_error(raw_error, parent_type, details, path)

    def _field_error(self, raw_error, parent_type, details, path):
        field_def = self.schema.get_field(parent_type, details[0].node.name.value)
        self.handle_field_error(raw_error, field_def.type, details, path)
        return None

    def _complete_normally(self, parent_type, source, details, path, result, position_context):
        """graphql-core's completion of an already resolved value (what execute_field does after resolving)."""
        field_def = self.schema.get_field(parent_type, details[0].node.name.value)
        info = self.build_resolve_info(field_def, to_nodes(details), parent_type, path)
        return_type = field_def.type
        try:
            if self.is_awaitable(result):
                return self.complete_awaitable_value(return_type, details, info, path, result, position_context)
            completed = self.complete_value(return_type, details, info, path, result, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None
        if self.is_awaitable(completed):
            return self._await_field(completed, parent_type, details, path)
        return completed


def _any_awaitable(items: list, is_awaitable) -> bool:
    """Whether a list holds an awaitable item (checked once per item type: a list is one type)."""
    plain: set[type] = set()
    for item in items:
        kind = type(item)
        if kind not in plain:
            if is_awaitable(item):
                return True
            plain.add(kind)
    return False


def _leaf_row(leaves: list[tuple], source: Any, is_awaitable) -> dict[str, Any] | Any:
    """An object of plain leaves as execute_fields' inline path completes it; Undefined as soon as
    one field needs graphql-core's path (then the whole object takes it)."""
    row: dict[str, Any] = {}
    for name, attr, serialize, non_null, same in leaves:
        value = getattr(source, attr, Undefined)
        if type(value) is same:
            row[name] = value
            continue
        if value is None:
            if non_null:
                return Undefined
            row[name] = None
            continue
        if value is Undefined or (type(value) not in _PLAIN and is_awaitable(value)):
            return Undefined
        try:
            serialized = serialize(value)
        except Exception:  # noqa: BLE001 - the normal path reports it properly
            return Undefined
        if serialized is None or serialized is Undefined:
            return Undefined
        row[name] = serialized
    return row


async def super_gather(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
        return results
    values = await gather_with_cancel(*(results[f] for f in awaitable_fields))
    results.update(zip(awaitable_fields, values, strict=True))
    return results


def context_class_for(schema: GraphQLSchema, *, fast: bool) -> type[MarkingExecutionContext]:
    """The execution context of ``schema``: the inline (fast) one, or graphql-core's own path; both
    mark where the access log's people are completed."""
    person = schema.type_map.get("Registrant")
    if fast:
        return type("PerlinsosExecutionContext", (FastExecutionContext,),
                    {"basic": basic_leaf_fields(schema), "person_type": person})
    return type("PerlinsosExecutionContext", (MarkingExecutionContext,), {"person_type": person})
