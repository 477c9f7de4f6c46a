"""Small helpers for resolvers that may answer from the loader cache synchronously."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from strawberry.types import Info

T = TypeVar("T")


def then(value: Any, fn: Callable[[Any], T]) -> T | Any:
    """Apply ``fn`` now when ``value`` is ready, or after awaiting it (keeps cached paths sync)."""
    if inspect.isawaitable(value):

        async def later() -> T:
            return fn(await value)

        return later()
    return fn(value)


def selected_names(info: Info) -> set[str]:
    """Every field name selected below the current field (fragments are looked through).

    Read from graphql-core's document nodes, not strawberry's ``selected_fields`` (which converts
    the whole selection to new objects on each call: a citizen's request paid for that)."""
    raw = info._raw_info
    names: set[str] = set()
    seen: set[str] = set()

    def walk(selection_set) -> None:
        for sel in selection_set.selections if selection_set is not None else ():
            if sel.kind == "field":
                names.add(sel.name.value)
                walk(sel.selection_set)
            elif sel.kind == "inline_fragment":
                walk(sel.selection_set)
            elif sel.kind == "fragment_spread" and sel.name.value not in seen:
                seen.add(sel.name.value)
                fragment = raw.fragments.get(sel.name.value)
                walk(fragment.selection_set if fragment is not None else None)

    for node in raw.field_nodes:
        walk(node.selection_set)
    return names
