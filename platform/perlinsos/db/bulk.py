"""Inserting many rows at once, straight to the driver's ``executemany``.

Selection writes about 5,500 rows per chunk of 500 registrations (decisions, ten reasons each,
outbox rows). Through ``conn.execute(insert(table), rows)`` SQLAlchemy converts every row in
Python (``construct_params``, a dict per row, each column's bind processor called per value),
which measured as much again as SQLite's own insert work (bench/README.md, selection). Here the
statement is compiled once per (dialect, table, columns) and each column's conversion is picked
once, from SQLAlchemy's own bind processor for the column's type, so the values stored are the
ones ``insert(table)`` would store (JSON ``None`` as JSON null, UTC datetimes in SQLite's text
format, enums checked against their values); only the per-row machinery is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

_Plan = tuple[str, tuple[int, ...], tuple[Callable[[Any], Any] | None, ...]]
_plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Plan:
    key = (dialect.name, table.name, columns)
    plan = _plans.get(key)
    if plan is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup or ())
        if sorted(order) != sorted(columns):  # a default or expression would need SQLAlchemy's own path
            raise ValueError(f"{table.name}: cannot insert {columns} positionally (compiled {order})")
        processors = tuple(table.c[name].type._cached_bind_processor(dialect) for name in order)
        plan = _plans[key] = (compiled.string, tuple(columns.index(name) for name in order), processors)
    return plan


async def insert_rows(conn: AsyncConnection, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples of values in the order of ``columns``) into ``table`` in one
    ``executemany``; every column of ``table`` not named gets its server default or NULL."""
    if rows:
        await conn.exec_driver_sql(*_statement(conn.dialect, table, tuple(columns), rows))


def insert_rows_sync(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """:func:`insert_rows` on a sync connection (in a ``before_commit`` hook: the audit chain)."""
    if rows:
        conn.exec_driver_sql(*_statement(conn.dialect, table, tuple(columns), rows))


def _statement(dialect: Dialect, table: Table, columns: tuple[str, ...],
               rows: Sequence[Sequence[Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    sql, positions, processors = _plan(dialect, table, columns)
    if positions == tuple(range(len(positions))):
        convert = [(i, p) for i, p in enumerate(processors) if p is not None]
        params = []
        for row in rows:
            values = list(row)
            for i, process in convert:
                values[i] = process(values[i])
            params.append(tuple(values))
    else:
        params = [tuple(row[i] if p is None else p(row[i]) for i, p in zip(positions, processors, strict=True))
                  for row in rows]
    return sql, params


async def next_ids(conn: AsyncConnection, table: Table, n: int) -> list[int]:
    """``n`` fresh primary keys of ``table`` (integer ``id``) for rows about to be inserted with
    them. PostgreSQL: from the column's sequence, as an insert would take them (safe beside any
    concurrent writer). SQLite: past the largest id; only inside a write transaction (``BEGIN
    IMMEDIATE``: ``Database.write``), whose lock keeps every other writer out until commit."""
    if n <= 0:
        return []
    if conn.dialect.name == "sqlite":
        if not conn.in_transaction():
            raise RuntimeError("next_ids on SQLite needs the write transaction's lock")
        last = (await conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")).scalar_one()
        return list(range(last + 1, last + 1 + n))
    result = await conn.exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, {int(n)})")
    return [row[0] for row in result]
