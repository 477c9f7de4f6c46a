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
    """Every field name selected below the current field (fragments are looked through)."""
    names: set[str] = set()

    def walk(selections) -> None:
        for sel in selections:
            name = getattr(sel, "name", None)
            if name and not hasattr(sel, "type_condition"):
                names.add(name)
            walk(getattr(sel, "selections", ()) or ())

    for field in info.selected_fields:
        walk(field.selections)
    return names
