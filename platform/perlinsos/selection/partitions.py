"""A selection run split by village: the partitions selection workers claim through the database.

A run's partitions are its villages (kode wilayah) in code order: one village each, small
neighbouring villages packed together up to a size (a village is never split). A worker claims one
partition at a time in a short write transaction — PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two
workers never take the same one; SQLite: the single writer (``BEGIN IMMEDIATE``) makes the claim
atomic. A claim is a lease, renewed by every committed chunk; a worker that dies leaves its
partition RUNNING until the lease runs out, then another worker takes it over after the last
committed chunk. Leases are set and judged on the database's clock, never a worker's own (a
worker whose clock runs 5 minutes ahead would otherwise take every live partition). Every chunk's
writes are conditional on the claim (``attempts``), so a worker that lost its lease — paused past
it, say — writes nothing. The run is FINISHED when every
partition is DONE; its counts are the sum of its partitions'.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos import audit
from perlinsos.db.clock import db_now
from perlinsos.db.engine import Database
from perlinsos.db.models import PartitionStatus, Registration, RunStatus, SelectionPartition, SelectionRun
from perlinsos.db.types import utcnow

log = logging.getLogger(__name__)
P = PartitionStatus
DEFAULT_LEASE = 120.0  # seconds; a chunk (its facts fetched from the sources) must fit well inside
#: registrations a partition is packed up to: a few chunks, so small villages do not make tiny
#: fact requests, and enough partitions for the workers of a pilot-sized run to share
DEFAULT_SIZE = 2000


class PartitionLost(RuntimeError):
    """This worker's lease ran out and another worker claimed the partition: its chunk is dropped."""


@dataclass(frozen=True)
class Claim:
    id: int
    run_id: str
    region_code: str
    region_codes: list[str]
    attempt: int
    after_id: int  # resume point: the last registration of the last committed chunk
    counts: dict[str, Any]  # the partition's counts so far


def pack(regions: list[tuple[str, int]], size: int) -> list[list[tuple[str, int]]]:
    """Villages (in code order, with their registration counts) packed into partitions: a village
    of ``size`` or more is a partition of its own; smaller neighbours share one up to ``size``."""
    packed: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    filled = 0
    for code, n in regions:
        if current and filled + n > size:
            packed.append(current)
            current, filled = [], 0
        current.append((code, n))
        filled += n
    if current:
        packed.append(current)
    return packed


async def ensure(conn: AsyncConnection, run_id: str, pilot_id: int, programme: str | None,
                 size: int = DEFAULT_SIZE, resume_after: int = 0, carried: dict[str, Any] | None = None) -> int:
    """Create the run's partitions (its villages, packed up to ``size`` registrations) unless it
    has them. ``resume_after``/``carried``: where an unpartitioned run (begun before partitions
    existed) had got to, and its counts. Runs in the caller's write transaction; returns the count."""
    part = SelectionPartition.__table__
    have = (await conn.execute(select(func.count()).select_from(part).where(part.c.run_id == run_id))).scalar_one()
    if have:
        return have
    reg = Registration.__table__
    stmt = (select(reg.c.region_code, func.count()).where(reg.c.pilot_id == pilot_id)
            .group_by(reg.c.region_code))
    if programme is not None:
        stmt = stmt.where(reg.c.programme == programme)
    # sorted here, not by the database: PostgreSQL collations may order codes differently
    regions = sorted((code, n) for code, n in await conn.execute(stmt))
    rows = [{"run_id": run_id, "region_code": group[0][0], "region_codes": [code for code, _ in group],
             "status": P.PENDING.value, "attempts": 0, "total": sum(n for _, n in group),
             "last_registration_id": resume_after, "processed": 0, "decided": 0, "counts": {}}
            for group in pack(regions, size)]
    if rows and carried:
        first = rows[0]
        first.update(counts=carried, processed=carried.get("processed", 0), decided=carried.get("decided", 0))
    if rows:
        await conn.execute(insert(part), rows)
    return len(rows)


async def claim(db: Database, run_id: str, worker: str, lease: float) -> Claim | None:
    """Take the largest claimable partition of the run (PENDING, or RUNNING with its lease run out
    by the database's clock)."""
    p = SelectionPartition.__table__
    async with db.write() as session:
        conn = await session.connection()
        now = await db_now(conn)
        claimable = and_(p.c.run_id == run_id, or_(p.c.status == P.PENDING.value,
                                                   and_(p.c.status == P.RUNNING.value, p.c.lease_expires_at < now)))
        stmt = select(p).where(claimable).order_by(p.c.total.desc(), p.c.id).limit(1)
        if not db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        if row.status == P.RUNNING.value:
            log.warning("selection partition %s (%s): %s's lease ran out; taken over by %s", row.id,
                        row.region_code, row.claimed_by, worker)
        await conn.execute(update(p).where(p.c.id == row.id).values(
            status=P.RUNNING.value, claimed_by=worker, claimed_at=now, attempts=row.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease)))
    return Claim(row.id, run_id, row.region_code, list(row.region_codes), row.attempts + 1, row.last_registration_id,
                 dict(row.counts or {}))


async def hold(conn: AsyncConnection, c: Claim, lease: float, now: datetime, is_sqlite: bool) -> None:
    """Inside a chunk's write transaction: renew the lease, or raise :class:`PartitionLost`.
    On PostgreSQL the row stays locked to the commit, so no claim can slip in between. The lease
    runs from the database's now (``now``, the worker's clock, is not used for it)."""
    p = SelectionPartition.__table__
    until = await db_now(conn) + timedelta(seconds=lease)
    result = await conn.execute(update(p).where(p.c.id == c.id, p.c.attempts == c.attempt,
                                                p.c.status == P.RUNNING.value)
                                .values(lease_expires_at=until))
    if result.rowcount != 1:
        raise PartitionLost(f"selection partition {c.id} ({c.region_code}) was claimed by another worker")


async def record(conn: AsyncConnection, c: Claim, last_id: int, counts: dict[str, Any]) -> None:
    """Inside the same transaction, after :func:`hold`: the partition's progress."""
    p = SelectionPartition.__table__
    await conn.execute(update(p).where(p.c.id == c.id, p.c.attempts == c.attempt).values(
        last_registration_id=last_id, counts=counts, processed=counts.get("processed", 0),
        decided=counts.get("decided", 0)))


async def complete(db: Database, c: Claim) -> bool:
    p = SelectionPartition.__table__
    async with db.write() as session:
        result = await session.execute(update(p).where(p.c.id == c.id, p.c.attempts == c.attempt,
                                                       p.c.status == P.RUNNING.value)
                                       .values(status=P.DONE.value, finished_at=utcnow(), lease_expires_at=None))
    return result.rowcount == 1


async def release(db: Database, c: Claim) -> None:
    """Give a partition back at once (this worker failed): the next claim resumes it."""
    p = SelectionPartition.__table__
    async with db.write() as session:
        await session.execute(update(p).where(p.c.id == c.id, p.c.attempts == c.attempt,
                                              p.c.status == P.RUNNING.value)
                              .values(status=P.PENDING.value, lease_expires_at=None))


async def reread(db: Database, c: Claim) -> Claim | None:
    """The claim as the database holds it (resume point and counts), or ``None`` if it is no longer
    this worker's: after an outage a chunk's commit may or may not have happened."""
    p = SelectionPartition.__table__
    async with db.read() as session:
        row = (await session.execute(select(p.c.last_registration_id, p.c.counts).where(
            p.c.id == c.id, p.c.attempts == c.attempt, p.c.status == P.RUNNING.value))).first()
    if row is None:
        return None
    return Claim(c.id, c.run_id, c.region_code, c.region_codes, c.attempt, row.last_registration_id,
                 dict(row.counts or {}))


async def note_outage(db: Database, run_id: str, seconds: float, kind: str) -> None:
    """Count a database outage a worker of the run rode out (``counts["outages"]``: count, the last
    one's kind and length), so an operator sees the run was disturbed though it finished."""
    run = SelectionRun.__table__
    async with db.write() as session:
        stmt = select(run.c.counts).where(run.c.id == run_id)
        if not db.is_sqlite:
            stmt = stmt.with_for_update()
        counts = dict((await session.execute(stmt)).scalar_one() or {})
        was = counts.get("outages") or {}
        counts["outages"] = {"count": was.get("count", 0) + 1, "last_kind": kind, "last_seconds": round(seconds, 1)}
        await session.execute(update(run).where(run.c.id == run_id).values(counts=counts))


@dataclass(frozen=True)
class RunState:
    counts: list[dict[str, Any]]
    pending: int  # partitions not DONE
    status: str
    outages: dict[str, Any] | None = None  # :func:`note_outage`'s record


async def refresh(db: Database, run_id: str, *, finish: bool) -> RunState:
    """Write the run's counts (the sum of its partitions') and heartbeat; with ``finish``, mark it
    FINISHED if every partition is DONE. The run row is locked first, so refreshes from several
    workers are applied in order and only one of them finishes the run."""
    from perlinsos.selection.engine import Summary  # the engine imports this module

    p, run = SelectionPartition.__table__, SelectionRun.__table__
    async with db.write() as session:
        conn = await session.connection()
        stmt = select(run.c.status, run.c.counts).where(run.c.id == run_id)
        if not db.is_sqlite:
            stmt = stmt.with_for_update()
        status, run_counts = (await conn.execute(stmt)).one()
        outages = (run_counts or {}).get("outages")
        rows = (await conn.execute(select(p.c.counts, p.c.status).where(p.c.run_id == run_id))).all()
        total = Summary.sum_of(run_id, [counts for counts, _ in rows])
        pending = sum(1 for _, s in rows if s != P.DONE.value)
        status = getattr(status, "value", status)
        now = utcnow()
        values: dict[str, Any] = {"counts": total.as_counts(), "heartbeat_at": now}
        if outages:  # the run's own record, not a sum of partitions'
            values["counts"]["outages"] = outages
        finishing = finish and not pending and status != RunStatus.FINISHED.value
        if finishing:
            values.update(status=RunStatus.FINISHED.value, finished_at=now)
            status = RunStatus.FINISHED.value
        await conn.execute(update(run).where(run.c.id == run_id).values(**values))
        if finishing:  # the one worker that finishes the run records it
            await audit_run_end(session, run_id, RunStatus.FINISHED.value, values["counts"], None)
    return RunState([r.counts or {} for r in rows], pending, status, outages)


async def audit_run_end(session, run_id: str, status: str, counts: dict[str, Any] | None, error: str | None) -> None:
    """The audit row of a run's end (FINISHED or FAILED), whichever path ends it."""
    await audit.record_change(session, None, actor="system:selection", action=f"SELECTION_RUN_{status}",
                              entity_type="selection_run", entity_id=run_id, purpose="selection",
                              details={"counts": counts, "error": error})


async def unfinished(db: Database, run_id: str) -> int:
    """How many of the run's partitions are not DONE yet."""
    p = SelectionPartition.__table__
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(p).where(
            p.c.run_id == run_id, p.c.status != P.DONE.value))).scalar_one()


async def open_run(db: Database, pilot_id: int, programme: str | None) -> str | None:
    """The pilot's newest unfinished partitioned run (of this scope), for a worker to join."""
    run, p = SelectionRun.__table__, SelectionPartition.__table__
    scope = run.c.programme.is_(None) if programme is None else run.c.programme == programme
    stmt = (select(run.c.id).where(run.c.pilot_id == pilot_id, scope, run.c.status != RunStatus.FINISHED.value,
                                   select(p.c.id).where(p.c.run_id == run.c.id).exists())
            .order_by(run.c.started_at.desc()).limit(1))
    async with db.read() as session:
        return (await session.execute(stmt)).scalar()


async def partitions(db: Database, run_id: str) -> list[Any]:
    """The run's partitions (for reports and tests)."""
    p = SelectionPartition.__table__
    async with db.read() as session:
        return (await session.execute(select(p).where(p.c.run_id == run_id).order_by(p.c.region_code))).all()
