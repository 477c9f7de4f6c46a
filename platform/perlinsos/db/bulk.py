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

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import sqltypes

from perlinsos.db.types import UTCDateTime

_Plan = tuple[str, Callable[[Sequence[Any]], tuple[Any, ...]], tuple[str, ...]]
_plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Plan:
    """The compiled INSERT and a function from a row (values in ``columns`` order) to the
    driver's parameters, generated once as one tuple expression: a loop over columns per row
    cost as much as the conversions themselves."""
    key = (dialect.name, table.name, columns)
    plan = _plans.get(key)
    if plan is None:
        # inline(): no RETURNING of the new id, which a single-row compile adds on PostgreSQL
        # and executemany would then fetch for every row
        compiled = insert(table).inline().compile(dialect=dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup or ())
        if sorted(order) != sorted(columns):  # a default or expression would need SQLAlchemy's own path
            raise ValueError(f"{table.name}: cannot insert {columns} positionally (compiled {order})")
        scope: dict[str, Any] = {}
        parts = []
        for n, name in enumerate(order):
            process = _processor(dialect, table.c[name].type)
            value = f"row[{columns.index(name)}]"
            if process is None:
                parts.append(value)
            else:
                scope[f"p{n}"] = process
                parts.append(f"p{n}({value})")
        convert = eval(f"lambda row: ({', '.join(parts)},)", scope)  # noqa: S307 - built from column positions only
        plan = _plans[key] = (compiled.string, convert, order)
    return plan


def _processor(dialect: Dialect, type_: Any) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor for the column, or what it amounts to: for a plain JSON
    column, the dialect's serializer itself (SQLAlchemy's wrapper only checks for its NULL
    markers, which no caller here passes; ``None`` is stored as JSON null either way)."""
    impl = type_.dialect_impl(dialect)
    if (isinstance(impl, sqltypes.JSON) and type(impl).bind_processor is sqltypes.JSON.bind_processor
            and not impl.none_as_null and impl._str_impl.bind_processor(dialect) is None):
        return dialect._json_serializer or json.dumps
    process = type_._cached_bind_processor(dialect)
    if process is not None and isinstance(type_, UTCDateTime):
        return _last_one(process)
    return process


def _last_one(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its last answer: a chunk's rows share one timestamp object. The
    pair is replaced whole, so threads sharing the plan never see one value's answer for another."""
    last: list[tuple[Any, Any]] = [(object(), None)]

    def remembered(value: Any) -> Any:
        seen, answer = last[0]
        if value is not seen:
            answer = process(value)
            last[0] = (value, answer)
        return answer
    return remembered


#: from this many rows on, PostgreSQL (asyncpg) gets them by binary COPY: 7-10 µs a row on the
#: server against 12-21 µs for executemany's one INSERT per row (bench/README.md, selection)
COPY_FROM = 64


async def insert_rows(conn: AsyncConnection, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples of values in the order of ``columns``) into ``table`` in one
    ``executemany`` (or one COPY on PostgreSQL); every column of ``table`` not named gets its
    server default or NULL."""
    if not rows:
        return
    sql, convert, order = _plan(conn.dialect, table, tuple(columns))
    params = [convert(row) for row in rows]
    if len(params) >= COPY_FROM and conn.dialect.driver == "asyncpg":
        driver = (await conn.get_raw_connection()).driver_connection
        # Only inside the server-side transaction: SQLAlchemy begins it at the first statement,
        # and a COPY before that would commit on its own (a rollback would not undo it).
        if driver.is_in_transaction():
            # the parameters are what executemany would bind, so the driver's codecs (SQLAlchemy's
            # JSONB codec among them) encode them the same way
            await driver.copy_records_to_table(table.name, records=params, columns=list(order))
            return
    await conn.exec_driver_sql(sql, params)


def insert_rows_sync(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """:func:`insert_rows` on a sync connection (in a ``before_commit`` hook: the audit chain)."""
    if rows:
        sql, convert, _ = _plan(conn.dialect, table, tuple(columns))
        conn.exec_driver_sql(sql, [convert(row) for row in rows])


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
