"""The database layer on the engine under test: migrations, SQLite tuning, integrity, errors."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from perlinsos.db import migrate
from perlinsos.db.engine import Database
from perlinsos.db.models import Base, Household, Registration
from perlinsos.errors import DatabaseError

PG = os.environ.get("PERLINSOS_TEST_DATABASE_URL")


async def test_models_and_migrations_do_not_drift(db):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_drift_check_sees_a_model_change(db):
    """Guard for the test above: a column the migrations lack must show up as a difference."""
    from sqlalchemy import Column, MetaData, String

    changed = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["person"].append_column(Column("nickname", String(50)))

    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), changed)

    async with db.engine.connect() as conn:
        assert [d[0] for d in await conn.run_sync(diff)] == ["add_column"]


async def test_database_is_at_the_head_revision(db):
    assert await migrate.current_revision(db) == migrate.head_revision()
    assert await migrate.is_current(db)


def test_migrations_go_down_and_up_again(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    migrate.upgrade(url)

    async def tables() -> set[str]:
        database = Database(url)
        try:
            async with database.engine.connect() as conn:
                rows = await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
                return {r[0] for r in rows}
        finally:
            await database.dispose()

    assert {t.name for t in Base.metadata.sorted_tables} <= asyncio.run(tables())


@pytest.mark.skipif(bool(PG), reason="SQLite tuning")
async def test_sqlite_runs_wal_with_foreign_keys_and_a_busy_timeout(db):
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 15_000


async def test_foreign_keys_are_enforced(db):
    with pytest.raises(IntegrityError):
        async with db.write() as s:
            s.add(Registration(pilot_id=999, programme="PKH", person_id=1, household_id=1,
                               region_code="35.10.15.2004", channel="SELF"))
    async with db.read() as s:
        assert (await s.execute(select(func.count(Registration.id)))).scalar_one() == 0


async def test_concurrent_read_modify_write_transactions_never_lock_up(db):
    """32 writers that read, then write, at once: BEGIN IMMEDIATE serialises them cleanly
    (with deferred BEGIN, SQLite answers 'database is locked' to the loser of the upgrade)."""
    seen: list[int] = []

    async def writer(i: int) -> None:
        async with db.write() as s:
            count = (await s.execute(select(func.count(Household.id)))).scalar_one()
            await asyncio.sleep(0.001)
            s.add(Household(kk_number=f"3510150101{i:06d}", region_code="35.10.15.2004"))
            seen.append(count)

    await asyncio.gather(*(writer(i) for i in range(32)))
    async with db.read() as s:
        assert (await s.execute(select(func.count(Household.id)))).scalar_one() == 32
    if db.is_sqlite:
        # serialised from the read on: each writer saw exactly what the writers before it committed
        assert sorted(seen) == list(range(32))
    else:  # PostgreSQL (READ COMMITTED) lets them overlap: each read only committed rows
        assert len(seen) == 32 and max(seen) < 32


async def test_a_failed_transaction_writes_nothing(db):
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            s.add(Household(kk_number="3510150101000001", region_code="35.10.15.2004"))
            await s.flush()
            raise RuntimeError("crash before commit")
    async with db.read() as s:
        assert (await s.execute(select(func.count(Household.id)))).scalar_one() == 0


async def test_naive_datetimes_are_refused(db):
    with pytest.raises(Exception, match="naive datetime"):
        async with db.write() as s:
            s.add(Household(kk_number="3510150101000002", region_code="35.10.15.2004",
                            created_at=datetime(2025, 1, 1)))


@pytest.mark.parametrize("url", ["not a url", "mysql://root@localhost/x", "oracle://x"])
def test_malformed_or_unsupported_urls_are_named(url):
    with pytest.raises(DatabaseError) as info:
        Database(url)
    assert "database URL" in str(info.value)


async def test_unreachable_database_is_a_clear_error_without_the_password():
    database = Database("postgresql://perlinsos:s3cret@127.0.0.1:1/perlinsos")
    try:
        with pytest.raises(DatabaseError) as info:
            await database.ping()
    finally:
        await database.dispose()
    message = str(info.value)
    assert "cannot reach database" in message and "127.0.0.1:1" in message
    assert "s3cret" not in message
