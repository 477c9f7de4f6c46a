"""``perlinsos.db.bulk``: rows inserted straight through the driver are stored exactly as
``insert(table)`` stores them (the selection and audit write paths rely on it), on the engine
under test."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Boolean, Column, Date, Enum, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from perlinsos.db import bulk
from perlinsos.db.models import Decision
from perlinsos.db.types import BigId, Json, UTCDateTime


class Colour(str, enum.Enum):
    RED = "RED"
    GREEN = "GREEN"


def _table(name: str) -> Table:
    return Table(name, MetaData(),
                 Column("id", BigId, primary_key=True),
                 Column("label", String(40)),
                 Column("doc", Json),
                 Column("at", UTCDateTime),
                 Column("day", Date),
                 Column("colour", Enum(Colour, native_enum=False, create_constraint=True, length=20,
                                       values_callable=lambda e: [m.value for m in e])),
                 Column("flag", Boolean))


COLUMNS = ("id", "label", "doc", "at", "day", "colour", "flag")
ROWS = [
    (1, "plain", {"value": 1_500_000, "texts": {"id": "Penghasilan", "en": "Income"}},
     datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC), date(2026, 1, 31), "RED", True),
    (2, None, None, datetime(2026, 12, 6, 8, 0, 0, tzinfo=timezone(timedelta(hours=7))), None, "GREEN", False),
    (3, "whole second", [1, "dua", None], datetime(2026, 12, 6, 0, 0, 0, 0, tzinfo=UTC), date(1999, 12, 31),
     Colour.RED, None),
]


async def _raw(conn, table: Table) -> list[tuple]:
    """The values as the driver returns them: what is stored, not what SQLAlchemy makes of it."""
    result = await conn.exec_driver_sql(f"SELECT {', '.join(COLUMNS[1:])} FROM {table.name} ORDER BY id")
    return [tuple(row) for row in result]


async def test_rows_are_stored_as_sqlalchemy_stores_them(db):
    via_orm, via_bulk = _table("bulk_check_orm"), _table("bulk_check_driver")
    async with db.engine.begin() as conn:
        await conn.run_sync(via_orm.metadata.create_all)
        await conn.run_sync(via_bulk.metadata.create_all)
        await conn.execute(insert(via_orm), [dict(zip(COLUMNS, row, strict=True)) for row in ROWS])
        await bulk.insert_rows(conn, via_bulk, COLUMNS, ROWS)
        stored = await _raw(conn, via_bulk)
        assert stored == await _raw(conn, via_orm)
        assert len(stored) == 3
        # and read back through SQLAlchemy, the values are the ones given (times in UTC)
        back = (await conn.execute(select(via_bulk).order_by(via_bulk.c.id))).all()
        assert back[1].at == datetime(2026, 12, 6, 1, 0, 0, tzinfo=UTC)
        assert back[0].doc == ROWS[0][2] and back[2].doc == [1, "dua", None]
        await conn.run_sync(via_orm.metadata.drop_all)
        await conn.run_sync(via_bulk.metadata.drop_all)


async def test_columns_may_come_in_any_order(db):
    table = _table("bulk_check_order")
    order = ("flag", "colour", "day", "at", "doc", "label", "id")
    async with db.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
        await bulk.insert_rows(conn, table, order, [tuple(reversed(row)) for row in ROWS])
        back = (await conn.execute(select(table).order_by(table.c.id))).all()
        assert [(r.id, r.label, r.day) for r in back] == [(1, "plain", date(2026, 1, 31)), (2, None, None),
                                                          (3, "whole second", date(1999, 12, 31))]
        await conn.run_sync(table.metadata.drop_all)


async def test_a_value_outside_an_enum_is_refused_and_nothing_is_stored(db):
    table = _table("bulk_check_enum")
    async with db.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    with pytest.raises((LookupError, IntegrityError)):
        async with db.engine.begin() as conn:
            await bulk.insert_rows(conn, table, COLUMNS, [ROWS[0], (9, "bad", None, None, None, "BLUE", None)])
    async with db.engine.begin() as conn:
        assert await _raw(conn, table) == []
        await conn.run_sync(table.metadata.drop_all)


async def test_a_column_with_a_python_default_left_out_is_refused(db):
    """Left out, ``insert(table)`` would fill a Python-side default; the driver cannot: refuse."""
    async with db.write() as session:
        conn = await session.connection()
        with pytest.raises(ValueError, match="positionally"):
            await bulk.insert_rows(conn, Decision.__table__,
                                   ("registration_id", "version", "outcome", "inputs_digest", "run_id", "cause"),
                                   [(1, 1, "ELIGIBLE", "x", None, "SELECTION")])


async def test_next_ids_are_fresh_and_distinct(db):
    async with db.write() as session:
        conn = await session.connection()
        first = await bulk.next_ids(conn, Decision.__table__, 3)
        second = await bulk.next_ids(conn, Decision.__table__, 2) if db.is_sqlite is False else None
    assert len(first) == len(set(first)) == 3
    if second is not None:  # a sequence never gives the same id twice, even in one transaction
        assert not set(first) & set(second)
    assert await bulk.next_ids(conn, Decision.__table__, 0) == []


async def test_next_ids_on_sqlite_need_the_write_lock(db):
    if not db.is_sqlite:
        pytest.skip("PostgreSQL takes ids from the sequence, safe outside a transaction")
    async with db.engine.connect() as conn:
        with pytest.raises(RuntimeError, match="write transaction"):
            await bulk.next_ids(conn, Decision.__table__, 1)


async def test_many_rows_are_stored_as_sqlalchemy_stores_them(db):
    """Past ``COPY_FROM`` rows PostgreSQL gets them by COPY: the same stored values."""
    many = [(i, *row[1:]) for i, row in enumerate(ROWS * (bulk.COPY_FROM // len(ROWS) + 2), start=1)]
    assert len(many) > bulk.COPY_FROM
    via_orm, via_bulk = _table("bulk_many_orm"), _table("bulk_many_driver")
    async with db.engine.begin() as conn:
        await conn.run_sync(via_orm.metadata.create_all)
        await conn.run_sync(via_bulk.metadata.create_all)
        await conn.execute(insert(via_orm), [dict(zip(COLUMNS, row, strict=True)) for row in many])
        await bulk.insert_rows(conn, via_bulk, COLUMNS, many)
        assert await _raw(conn, via_bulk) == await _raw(conn, via_orm)
        await conn.run_sync(via_orm.metadata.drop_all)
        await conn.run_sync(via_bulk.metadata.drop_all)


@pytest.mark.parametrize("after_other_writes", [False, True], ids=["first-statement", "after-other-writes"])
async def test_many_rows_roll_back_with_their_transaction(db, after_other_writes):
    """First in a transaction, or after its other writes (selection's case): a rollback undoes
    them (on PostgreSQL a COPY before the first statement would have committed on its own)."""
    table = _table("bulk_many_rollback")
    async with db.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    many = [(i, "x", None, None, None, "RED", None) for i in range(2, bulk.COPY_FROM + 10)]
    with pytest.raises(RuntimeError):
        async with db.engine.begin() as conn:
            if after_other_writes:
                await conn.execute(insert(table).values(id=1, label="first"))
            await bulk.insert_rows(conn, table, COLUMNS, many)
            assert len(await _raw(conn, table)) == len(many) + after_other_writes  # seen inside
            raise RuntimeError("the chunk's later write failed")
    async with db.engine.begin() as conn:
        assert await _raw(conn, table) == []
        await conn.run_sync(table.metadata.drop_all)
