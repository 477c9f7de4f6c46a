"""A selection worker's way through database outages (:mod:`perlinsos.db.outages`): its guard
(retries, one log line per outage episode, each episode counted on the run) and the clean-up when
it stops on an error — which never raises itself, so the error the operator sees is the real one."""

from __future__ import annotations

import logging

from sqlalchemy import update

from perlinsos.db.engine import Database
from perlinsos.db.models import RunStatus, SelectionRun
from perlinsos.db.outages import DEFAULT_PATIENCE, Outages, first_line, kind_of
from perlinsos.db.types import utcnow
from perlinsos.selection import partitions as parts

log = logging.getLogger(__name__)
#: how long the last writes of a failing worker (its partition given back, the run marked FAILED)
#: wait for the database; past it they are left: the lease runs out, the next `select` resumes
CLEANUP_PATIENCE = 10.0


def guard(db: Database, run_id: str, worker: str, patience: float = DEFAULT_PATIENCE) -> Outages:
    async def counted(seconds: float, kind: str) -> None:
        await parts.note_outage(db, run_id, seconds, kind)
    return Outages(f"selection worker {worker}", patience, on_recovered=counted)


async def after_outage(g: Outages, db: Database, claim: parts.Claim, exc: BaseException) -> parts.Claim:
    """Wait out the outage ``exc`` began, then the claim as the database holds it: whether the
    chunk in hand committed is unknown, so the work goes on from the partition's recorded progress
    (a chunk is never written twice). Raises :class:`~.partitions.PartitionLost` if another worker
    took the partition meanwhile."""
    await g.wait(exc)
    # a read proves nothing on SQLite (readers pass another process's write lock): the episode
    # ends with the next committed chunk
    held = await g.call(lambda: parts.reread(db, claim), ends_outage=False)
    if held is None:
        raise parts.PartitionLost(f"selection partition {claim.id} ({claim.region_code}) was taken over "
                                  "during a database outage")
    return held


async def let_go(db: Database, claim: parts.Claim, worker: str) -> None:
    """Give the partition back at once (the next claim resumes after its committed chunks); if the
    database does not take it, the lease runs out instead."""
    try:
        await Outages(f"selection worker {worker}", CLEANUP_PATIENCE).call(lambda: parts.release(db, claim))
    except Exception as exc:  # noqa: BLE001 - clean-up must not hide the error that stopped the worker
        log.warning("selection worker %s: partition %s (%s) not given back (%s: %s); another worker takes it "
                    "over when its lease runs out", worker, claim.id, claim.region_code, kind_of(exc),
                    first_line(exc))


async def mark_failed(db: Database, run_id: str, error: BaseException | str) -> None:
    """The run FAILED with its error (its counts kept: the next `select` resumes it), waiting a
    little for the database; never raises."""
    text = (error if isinstance(error, str) else f"{type(error).__name__}: {first_line(error)}")[:2000]

    async def write() -> None:
        async with db.write() as session:
            await session.execute(update(SelectionRun).where(SelectionRun.id == run_id).values(
                status=RunStatus.FAILED, finished_at=utcnow(), error=text))
            await parts.audit_run_end(session, run_id, RunStatus.FAILED.value, None, text)
    try:
        await Outages(f"selection run {run_id}", CLEANUP_PATIENCE).call(write)
    except Exception as exc:  # noqa: BLE001
        log.warning("selection run %s: could not be marked FAILED (%s: %s); it stays RUNNING until resumed",
                    run_id, kind_of(exc), first_line(exc))
