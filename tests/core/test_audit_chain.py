"""The audit log is a hash chain that `perlinsos audit verify` checks, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from fixtures import seed
from perlinsos import audit
from perlinsos.cli import main
from perlinsos.db import migrate
from perlinsos.db.engine import Database
from perlinsos.db.models import AuditChainHead, AuditEvent

LIST = """query List { registrations(pilot: "BWI-2025", first: 20) { edges { node { registrant { nik } } } } }"""


async def cli_verify(url: str) -> tuple[int, str]:
    # The CLI runs its own event loop: in a thread, as from a shell.
    result = await asyncio.to_thread(CliRunner().invoke, main, ["audit", "verify", "--batch", "3",
                                                                "--database-url", url])
    return result.exit_code, result.output


async def chained_rows(client, db, pilot) -> list[AuditEvent]:
    """Some audit rows made the ordinary way: an admin reads six registrations, twice."""
    await seed.registrations(db, pilot, 6)
    await seed.staff(db, "admin", "ADMIN", "35")
    for _ in range(2):
        assert "errors" not in await client.query(LIST, token="staff:admin")
    async with db.read() as s:
        rows = list((await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())
    assert len(rows) == 12
    return rows


async def tamper(db: Database, *statements: str) -> None:
    """What a DBA could do: get past the append-only triggers, then change rows."""
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("DROP TRIGGER audit_event_no_update")
            await conn.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
        else:  # for this transaction only (the test database is reused)
            await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for statement in statements:
            await conn.execute(text(statement))


async def test_a_clean_chain_verifies_with_its_count_and_head(client, db, database_url, pilot):
    rows = await chained_rows(client, db, pilot)
    assert [r.seq for r in rows] == list(range(1, 13))
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    code, output = await cli_verify(database_url)
    assert code == 0, output
    assert "12 records" in output and rows[-1].hash in output


async def test_the_database_refuses_update_and_delete(client, db, pilot):
    rows = await chained_rows(client, db, pilot)
    for statement in (f"UPDATE audit_event SET actor = 'nobody' WHERE id = {rows[3].id}",
                      f"DELETE FROM audit_event WHERE id = {rows[3].id}"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as conn:
                await conn.execute(text(statement))
    async with db.read() as s:
        assert (await s.get(AuditEvent, rows[3].id)).actor == "admin"
        assert (await s.execute(select(func.count(AuditEvent.id)))).scalar_one() == 12


async def test_altered_details_name_that_record(client, db, database_url, pilot):
    rows = await chained_rows(client, db, pilot)
    target = rows[4]
    await tamper(db, f"""UPDATE audit_event SET details = '{{"operation": "Innocent"}}' WHERE id = {target.id}""")
    code, output = await cli_verify(database_url)
    assert code == 1
    assert f"seq {target.seq} (id {target.id})" in output and "content_altered" in output


async def test_a_deleted_middle_row_is_named_as_a_gap(client, db, database_url, pilot):
    rows = await chained_rows(client, db, pilot)
    await tamper(db, f"DELETE FROM audit_event WHERE id = {rows[6].id}")
    code, output = await cli_verify(database_url)
    assert code == 1
    assert f"seq {rows[6].seq}" in output and "row_missing" in output and f"id {rows[7].id}" in output


async def test_a_deleted_last_row_shows_as_a_head_mismatch(client, db, database_url, pilot):
    rows = await chained_rows(client, db, pilot)
    await tamper(db, f"DELETE FROM audit_event WHERE id = {rows[-1].id}")
    code, output = await cli_verify(database_url)
    assert code == 1
    assert "head_mismatch" in output and "seq 12" in output and "deleted" in output


async def test_rewriting_a_row_with_a_fresh_hash_is_still_caught(client, db, database_url, pilot):
    """The DBA alters a row, recomputes its hash and fixes the next row's prev_hash too."""
    rows = await chained_rows(client, db, pilot)
    target, after = rows[5], rows[6]
    forged = {c: getattr(target, c) for c in ("occurred_at", "actor", "actor_role", "action", "entity_type",
                                              "entity_id", "subject_person_id", "purpose")}
    forged["details"] = {"operation": "Innocent"}
    digest = audit.link_hash(forged, target.seq, target.prev_hash)
    await tamper(db, f"""UPDATE audit_event SET details = '{{"operation": "Innocent"}}', hash = '{digest}'
                         WHERE id = {target.id}""",
                 f"UPDATE audit_event SET prev_hash = '{digest}' WHERE id = {after.id}")
    code, output = await cli_verify(database_url)
    assert code == 1
    assert f"seq {after.seq} (id {after.id})" in output and "content_altered" in output


async def test_swapped_rows_are_caught_as_a_broken_link(client, db, database_url, pilot):
    rows = await chained_rows(client, db, pilot)
    a, b = rows[2], rows[3]
    await tamper(db, f"UPDATE audit_event SET seq = -1 WHERE id = {a.id}",
                 f"UPDATE audit_event SET seq = {a.seq} WHERE id = {b.id}",
                 f"UPDATE audit_event SET seq = {b.seq} WHERE id = {a.id}")
    code, output = await cli_verify(database_url)
    assert code == 1
    assert f"seq {a.seq} (id {b.id})" in output and "link_broken" in output


async def test_a_failed_transaction_leaves_no_audit_row(db, pilot):
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await audit.record_change(session, None, action="TEST", entity_type="thing", entity_id=1)
            raise RuntimeError("abandoned")
    async with db.write() as session:
        await audit.record_change(session, None, action="TEST", entity_type="thing", entity_id=2)
    async with db.read() as s:
        rows = (await s.execute(select(AuditEvent.entity_id, AuditEvent.seq))).all()
        head = await s.get(AuditChainHead, 1)
    assert [tuple(r) for r in rows] == [("2", 1)] and head.seq == 1


async def test_concurrent_writers_on_separate_connections_keep_one_chain(database_url, pilot):
    """Several engines (as several processes would have) append at once; PostgreSQL really
    runs them concurrently, so only the chain-head lock keeps the chain whole."""
    databases = [Database(database_url) for _ in range(6)]

    async def writer(index: int, database: Database) -> None:
        for n in range(15):
            async with database.write() as session:
                for k in range(3):
                    await audit.record_change(session, None, action="TEST", entity_type="thing",
                                              entity_id=f"{index}-{n}-{k}", actor=f"system:w{index}")
                await asyncio.sleep(0)  # let the others interleave inside their transactions

    try:
        await asyncio.gather(*(writer(i, d) for i, d in enumerate(databases)))
        result = await audit.verify(databases[0], batch=50)
    finally:
        for database in databases:
            await database.dispose()
    assert isinstance(result, audit.Verified), result
    assert result.count == 6 * 15 * 3


def test_rows_from_before_the_chain_are_chained_by_the_migration(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0003")

    async def old_rows_then_verify():
        database = Database(url)
        try:
            async with database.engine.begin() as conn:
                for i in range(3):
                    await conn.execute(text(
                        "INSERT INTO audit_event (occurred_at, actor, action, entity_type, entity_id, details) "
                        f"VALUES ('2026-01-0{i + 1} 10:00:00.123456', 'admin', 'STAFF_ASSIGNED', 'staff', '{i}', "
                        """'{"role": "ADMIN"}')"""))
            await asyncio.to_thread(migrate.upgrade, url)
            async with database.write() as session:  # and the chain goes on from there
                await audit.record_change(session, None, action="TEST", entity_type="thing", entity_id=9)
            return await audit.verify(database)
        finally:
            await database.dispose()

    result = asyncio.run(old_rows_then_verify())
    assert isinstance(result, audit.Verified), result
    assert result.count == 4


async def test_selection_is_audited_per_chunk_and_the_chain_holds(db, hooks):
    from fixtures import fixture_criteria as fc
    from perlinsos.registration import consent
    from perlinsos.selection import run_selection

    await seed.registrations(db, "BWI-2025", 25, with_decision=False)
    for i in range(25):
        fc.FACTS[seed.nik(i)] = 900
        await seed.consent(db, seed.nik(i), consent.SCOPES)
    await run_selection(db, hooks, chunk_size=10)
    await run_selection(db, hooks, chunk_size=10)  # nothing changed: facts read again, nothing decided
    async with db.read() as s:
        reads = (await s.execute(select(AuditEvent.subject_person_id, AuditEvent.actor).where(
            AuditEvent.purpose == "selection", AuditEvent.action == "READ_PERSONAL_DATA"))).all()
        made = list((await s.execute(select(AuditEvent.details).where(
            AuditEvent.action == "DECISIONS_MADE"))).scalars())
        runs = list((await s.execute(select(AuditEvent.action).where(
            AuditEvent.entity_type == "selection_run", AuditEvent.action.like("SELECTION_RUN_%")))).scalars())
    assert sorted(r.subject_person_id for r in reads) == sorted(list(range(1, 26)) * 2)
    assert {r.actor for r in reads} == {"system:selection"}
    assert sum(d["decided"] for d in made) == 25 and [d["processed"] for d in made] == [10, 10, 5]
    assert runs.count("SELECTION_RUN_STARTED") == 2
    assert runs.count("SELECTION_RUN_FINISHED") == 2  # each run's end is recorded once
    result = await audit.verify(db, batch=7)
    assert isinstance(result, audit.Verified), result


async def test_details_hash_as_the_database_gives_them_back(db):
    """JSONB normalises numbers and key order; dates are stored as text: the hash must still hold."""
    from datetime import date

    async with db.write() as session:
        await audit.record_change(session, None, action="TEST", entity_type="thing", entity_id=1,
                                  details={"z": 1e20, "a": 0.1, "whole": 2.0, "when": date(2026, 1, 2), "é": "ñ"})
    result = await audit.verify(db)
    assert isinstance(result, audit.Verified) and result.count == 1, result
