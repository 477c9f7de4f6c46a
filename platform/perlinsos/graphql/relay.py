"""Relay-style connections with opaque cursors and a bounded page size (keyset pagination)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from perlinsos import globalids
from perlinsos.graphql.errors import BadInput

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T] = strawberry.field(description="The nodes of `edges`, for clients without cursors.")
    page_info: PageInfo


def encode_cursor(kind: str, key: int) -> str:
    return globalids.encode(kind, key)


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The key after which a page starts; BAD_USER_INPUT for anything :func:`globalids.decode`
    refuses (out of range, other digit forms, another kind), before any query is made."""
    if cursor is None:
        return None
    try:
        return globalids.decode(kind, cursor)
    except globalids.MalformedId:
        raise BadInput("Kursor halaman tidak valid. / The page cursor is not valid.") from None


def page_size(first: int | None, max_size: int, default: int = 20) -> int:
    size = default if first is None else first
    if not 1 <= size <= max_size:
        raise BadInput(
            f"Jumlah per halaman harus 1 sampai {max_size}. / `first` must be between 1 and {max_size}."
        )
    return min(size, max_size)


def build_connection(
    kind: str, rows: Sequence, size: int, after: int | None, to_node: Callable, key=lambda r: r.id
) -> Connection:
    """``rows`` were fetched with ``LIMIT size + 1``: the extra row only tells there is more."""
    has_next = len(rows) > size
    rows = rows[:size]
    nodes = [to_node(r) for r in rows]
    edges = [Edge(cursor=encode_cursor(kind, key(r)), node=n) for r, n in zip(rows, nodes, strict=True)]
    return Connection(
        edges=edges,
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def to_global_id(kind: str, key: int) -> strawberry.ID:
    """Opaque object ids (the same encoding as cursors, so clients treat both as strings)."""
    return strawberry.ID(encode_cursor(kind, key))


def from_global_id(kind: str, value: str) -> int:
    """The key of an object id; BAD_USER_INPUT when it is none (resolvers whose payload answers
    "not found" catch it and say so instead)."""
    try:
        return globalids.decode(kind, value)
    except globalids.MalformedId:
        raise BadInput(f"ID tidak valid untuk {kind}. / Not a valid {kind} id.") from None
