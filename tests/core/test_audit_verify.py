"""`perlinsos audit verify` compares the end of the chain with its head row: a DBA who rewrites
the last row and gives it a fresh hash (so every link still holds) is caught there, and so is a
head that was rewound or rewritten. Through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner
from sqlalchemy import select, text

from fixtures import seed
from perlinsos import audit
from perlinsos.cli import main
from perlinsos.db.engine import Database
from perlinsos.db.models import AuditChainHead, AuditEvent

LIST = """query List { registrations(pilot: "BWI-2025", first: 20) { edges { node { registrant { nik } } } } }"""
HASHED = ("occurred_at", "actor", "actor_role", "action", "entity_type", "entity_id", "subject_person_id",
          "purpose")


async def verify(url: str, *batch: str) -> tuple[int, str]:
    # The CLI runs its own event loop: in a thread, as from a shell.
    result = await asyncio.to_thread(CliRunner().invoke, main, ["audit", "verify", *batch, "--database-url", url])
    return result.exit_code, result.output


async def chain(client, db, pilot) -> list[AuditEvent]:
    """Six audit rows made the ordinary way: an admin reads six registrations."""
    await seed.registrations(db, pilot, 6)
    await seed.staff(db, "admin", "ADMIN", "35")
    assert "errors" not in await client.query(LIST, token="staff:admin")
    async with db.read() as s:
        rows = list((await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())
    assert len(rows) == 6
    return rows


async def as_dba(db: Database, *statements: str) -> None:
    """Past the append-only triggers, as a DBA could go."""
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
            await conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_delete")
        else:  # for this transaction only (the test database is reused)
            await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for statement in statements:
            await conn.execute(text(statement))


async def test_a_rewritten_last_row_with_a_fresh_hash_is_caught_at_the_head(client, db, database_url, pilot):
    rows = await chain(client, db, pilot)
    last = rows[-1]
    forged = {name: getattr(last, name) for name in HASHED} | {"details": {"operation": "Innocent"}}
    digest = audit.link_hash(forged, last.seq, last.prev_hash)
    await as_dba(db, f"UPDATE audit_event SET details = '{json.dumps(forged['details'])}', hash = '{digest}' "
                     f"WHERE id = {last.id}")
    # every row still hashes to its stored hash and links to the one before: only the head knows
    async with db.read() as s:
        stored = await s.get(AuditEvent, last.id)
        assert audit.link_hash(stored.__dict__, stored.seq, stored.prev_hash) == stored.hash == digest
    for batch in ((), ("--batch", "4"), ("--batch", "6")):  # the end in a full batch and in a partial one
        code, output = await verify(database_url, *batch)
        assert code == 1, output
        assert "head_mismatch" in output and "the last row was rewritten or replaced" in output
        assert f"seq {last.seq}" in output


async def test_a_rewound_head_is_caught(client, db, database_url, pilot):
    rows = await chain(client, db, pilot)
    await as_dba(db, f"UPDATE audit_chain_head SET seq = {rows[-2].seq}, hash = '{rows[-2].hash}' WHERE id = 1")
    code, output = await verify(database_url)
    assert code == 1 and "head_mismatch" in output and "rewound" in output, output


async def test_a_head_with_another_hash_is_caught(client, db, database_url, pilot):
    await chain(client, db, pilot)
    await as_dba(db, f"UPDATE audit_chain_head SET hash = '{'f' * 64}' WHERE id = 1")
    code, output = await verify(database_url)
    assert code == 1 and "head_mismatch" in output and "rewritten or replaced" in output, output


async def test_the_untouched_chain_verifies_and_names_its_head(client, db, database_url, pilot):
    rows = await chain(client, db, pilot)
    async with db.read() as s:
        head = await s.get(AuditChainHead, 1)
    assert (head.seq, head.hash) == (rows[-1].seq, rows[-1].hash)
    for batch in ((), ("--batch", "4"), ("--batch", "6")):
        code, output = await verify(database_url, *batch)
        assert code == 0, output
        assert "6 records" in output and rows[-1].hash in output


async def broken_line(url: str) -> str:
    code, output = await verify(url, "--batch", "4")
    assert code == 1, output
    [line] = [line for line in output.splitlines() if line.startswith("audit chain BROKEN")]
    return line


async def test_missing_rows_are_named_exactly(client, db, database_url, pilot):
    """The line an operator reads: where, which row, what kind, and what it means."""
    rows = await chain(client, db, pilot)
    await as_dba(db, f"DELETE FROM audit_event WHERE id IN ({rows[2].id}, {rows[3].id})")
    assert await broken_line(database_url) == (
        f"audit chain BROKEN at seq 3 (id {rows[4].id}): row_missing: seq 3..4 missing: "
        f"seq 2 is followed by seq 5 (id {rows[4].id})")


async def test_a_reordered_row_is_named_exactly(client, db, database_url, pilot):
    rows = await chain(client, db, pilot)
    a, b = rows[2], rows[3]
    await as_dba(db, f"UPDATE audit_event SET seq = -1 WHERE id = {a.id}",
                 f"UPDATE audit_event SET seq = {a.seq} WHERE id = {b.id}",
                 f"UPDATE audit_event SET seq = {b.seq} WHERE id = {a.id}")
    assert await broken_line(database_url) == (
        f"audit chain BROKEN at seq 3 (id {b.id}): link_broken: prev_hash is not the hash of seq 2: "
        "rows reordered or replaced, or the previous row and its hash rewritten")


async def test_altered_content_is_named_exactly(client, db, database_url, pilot):
    rows = await chain(client, db, pilot)
    await as_dba(db, f"UPDATE audit_event SET actor = 'someone-else' WHERE id = {rows[4].id}")
    assert await broken_line(database_url) == (
        f"audit chain BROKEN at seq 5 (id {rows[4].id}): content_altered: "
        "the row's content (or seq) no longer gives its stored hash")


async def test_head_breaks_are_named_exactly(client, db, database_url, pilot):
    rows = await chain(client, db, pilot)
    code, output = await verify(database_url)
    assert f"audit chain OK: 6 records, head seq 6 hash {rows[-1].hash}" in output.splitlines()
    await as_dba(db, f"UPDATE audit_chain_head SET seq = 5, hash = '{rows[-2].hash}' WHERE id = 1")
    assert await broken_line(database_url) == (
        f"audit chain BROKEN at seq 5 (id {rows[-1].id}): head_mismatch: "
        "the chain head is seq 5 but the rows end at seq 6: the head was rewound")
    await as_dba(db, f"UPDATE audit_chain_head SET seq = 6, hash = '{rows[-1].hash}' WHERE id = 1",
                 f"DELETE FROM audit_event WHERE id = {rows[-1].id}")
    assert await broken_line(database_url) == (
        "audit chain BROKEN at seq 6: head_mismatch: "
        "the chain head is seq 6 but the rows end at seq 5: rows at the end were deleted")
    await as_dba(db, "DELETE FROM audit_chain_head")
    assert await broken_line(database_url) == (
        "audit chain BROKEN at chain head: head_mismatch: the chain head row is missing")
