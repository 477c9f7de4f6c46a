"""Stage 2 — selection: stream a pilot's registrations in chunks, gather facts with one hook call
per chunk, evaluate every criterion, and write each chunk's decisions, reasons, notifications and
progress in one transaction, the next chunk being read and evaluated meanwhile
(:mod:`.gather`). A run is split by village (:mod:`.partitions`), so several worker
processes can share it; a crashed run resumes after its last committed chunks; re-running with
unchanged inputs and criteria writes nothing, and a re-run writes a new version only when what the
citizen is told changes (:mod:`.stability`: a source that fails keeps the current decision)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from perlinsos import audit
from perlinsos.contract import PilotContext, Verdict
from perlinsos.db.engine import Database
from perlinsos.db.outages import DEFAULT_PATIENCE, DatabaseUnavailable, is_unavailable
from perlinsos.db.models import (
    Decision,
    Pilot,
    RunStatus,
    SelectionPartition,
    SelectionRun,
)
from perlinsos.db.types import utcnow
from perlinsos.plugins import PilotHooks
from perlinsos.selection import evaluate as ev
from perlinsos.selection import partitions as parts
from perlinsos.selection import recovery
from perlinsos.selection import gather, stability, writes
from perlinsos.selection.chunks import Chunk, load_chunk

log = logging.getLogger(__name__)
DEFAULT_CHUNK = 500


@dataclass
class Summary:
    run_id: str
    processed: int = 0
    decided: int = 0
    unchanged: int = 0
    kept: int = 0  # current decisions kept because a source failed (:mod:`.stability`)
    outcomes: Counter = field(default_factory=Counter)
    failed_reasons: Counter = field(default_factory=Counter)
    pending_reasons: Counter = field(default_factory=Counter)
    failed_facts: Counter = field(default_factory=Counter)  # fact name → registrations it could not be read for
    resumed: bool = False
    outages: dict[str, Any] = field(default_factory=dict)  # database outages ridden out (the run's record)

    def add(self, other: Summary) -> None:
        self.processed += other.processed
        self.decided += other.decided
        self.unchanged += other.unchanged
        self.kept += other.kept
        self.failed_facts.update(other.failed_facts)
        self.outcomes.update(other.outcomes)
        self.failed_reasons.update(other.failed_reasons)
        self.pending_reasons.update(other.pending_reasons)

    def as_counts(self) -> dict[str, Any]:
        return {"processed": self.processed, "decided": self.decided, "unchanged": self.unchanged,
                "kept": self.kept, "outcomes": dict(self.outcomes), "failed_reasons": dict(self.failed_reasons),
                "pending_reasons": dict(self.pending_reasons), "failed_facts": dict(self.failed_facts)}

    @classmethod
    def from_counts(cls, run_id: str, counts: dict[str, Any]) -> Summary:
        return cls(run_id, counts.get("processed", 0), counts.get("decided", 0), counts.get("unchanged", 0),
                   counts.get("kept", 0), Counter(counts.get("outcomes", {})),
                   Counter(counts.get("failed_reasons", {})), Counter(counts.get("pending_reasons", {})),
                   Counter(counts.get("failed_facts", {})), resumed=True)

    @classmethod
    def sum_of(cls, run_id: str, counts: list[dict[str, Any]]) -> Summary:
        """The run's total from its partitions' counts."""
        total = cls(run_id)
        for c in counts:
            total.add(cls.from_counts(run_id, c or {}))
        return total


async def run_selection(db: Database, hooks: PilotHooks, *, programme: str | None = None, started_by: str = "cli",
                        chunk_size: int = DEFAULT_CHUNK, progress: Callable[[Summary, int], None] | None = None,
                        registration_ids: list[int] | None = None,
                        begun: tuple[Summary, int] | None = None, cause: str = "SELECTION",
                        worker: str | None = None, lease: float = parts.DEFAULT_LEASE,
                        partition_size: int = parts.DEFAULT_SIZE, patience: float = DEFAULT_PATIENCE) -> Summary:
    """Select every registration of ``hooks.pilot`` (or of one programme); resumes an unfinished run.

    The run's village partitions are worked through here, alongside any selection workers that
    join it (:func:`work`); returns once every partition is done, with the whole run's counts.
    ``begun`` is what :func:`begin` returned, for callers that need the run id before the run
    proceeds (the API answers with it and runs the rest in the background). A targeted run
    (``registration_ids``: an upheld appeal) is one pass in this process, with no partitions."""
    if registration_ids is not None:
        return await _targeted(db, hooks, registration_ids, started_by, chunk_size, cause)
    summary, _ = begun or await begin(db, hooks.pilot, programme, started_by, partition_size=partition_size)
    result = await work(db, hooks, summary.run_id, programme=programme, worker=worker, chunk_size=chunk_size,
                        lease=lease, progress=progress, cause=cause, patience=patience)
    result.total.resumed = summary.resumed
    return result.total


@dataclass
class WorkResult:
    total: Summary  # the whole run's counts, every worker's
    mine: Summary  # what this worker did
    partitions: list[str] = field(default_factory=list)  # the villages this worker finished
    finished: bool = False


async def work(db: Database, hooks: PilotHooks, run_id: str, *, programme: str | None = None,
               worker: str | None = None, chunk_size: int = DEFAULT_CHUNK, lease: float = parts.DEFAULT_LEASE,
               poll: float = 0.5, progress: Callable[[Summary, int], None] | None = None,
               cause: str = "SELECTION", patience: float = DEFAULT_PATIENCE) -> WorkResult:
    """Claim and select the run's partitions until every one is done. While the last ones are
    held by other workers, wait (``poll`` seconds), ready to take over a lease that runs out.
    A database outage is waited out for up to ``patience`` seconds (:mod:`.recovery`), the work
    continuing where its last committed chunk left it; past that the run is marked FAILED."""
    worker = worker or default_worker()
    criteria: dict[str, list] = {}
    result = WorkResult(Summary(run_id), Summary(run_id))
    refreshed = time.monotonic()
    g = recovery.guard(db, run_id, worker, patience)
    try:
        while True:
            claim = await g.call(lambda: parts.claim(db, run_id, worker, lease))
            if claim is None:
                if not await g.call(lambda: parts.unfinished(db, run_id)):  # a read: waiting workers write nothing
                    state = await g.call(lambda: parts.refresh(db, run_id, finish=True))
                    if state.status == RunStatus.FINISHED.value:
                        result.total, result.finished = Summary.sum_of(run_id, state.counts), True
                        result.total.outages = state.outages or {}
                        return result
                await asyncio.sleep(poll)
                continue
            counts = Summary.from_counts(run_id, claim.counts)
            after_id = claim.after_id
            ahead = _Ahead(db, hooks, programme, chunk_size, claim.region_codes, criteria)
            try:
                while True:
                    try:
                        prepared = await ahead.take(after_id)
                        if prepared is None:
                            break
                        # the next chunk is read and evaluated while this one is written: on
                        # SQLite the write runs in the driver's thread, on PostgreSQL in the server
                        ahead.start(prepared.chunk.last_id)
                        delta = await _write_chunk(db, hooks, prepared, criteria, counts, cause,
                                                   _partition_writer(db, claim, lease))
                    except Exception as exc:
                        await ahead.drop()
                        if not is_unavailable(exc):
                            raise
                        held = await recovery.after_outage(g, db, claim, exc)
                        counts, after_id = Summary.from_counts(run_id, held.counts), held.after_id
                        continue
                    await g.recovered()
                    result.mine.add(delta)
                    after_id = prepared.chunk.last_id
                    if progress:
                        progress(result.mine, len(prepared.chunk.refs))
                    if time.monotonic() - refreshed > 1.0:  # watchers see progress about every second
                        await g.call(lambda: parts.refresh(db, run_id, finish=False))
                        refreshed = time.monotonic()
            except parts.PartitionLost as lost:
                await ahead.drop()
                log.warning("%s: %s", worker, lost)
                continue
            except BaseException as exc:
                await ahead.drop()
                # Given back at once; its committed chunks stay, and the next claim resumes after them.
                await recovery.let_go(db, claim, worker)
                if not isinstance(exc, DatabaseUnavailable):  # that one is recorded below
                    await recovery.mark_failed(db, run_id, exc)
                raise
            if await g.call(lambda c=claim: parts.complete(db, c)):
                result.partitions.append(claim.region_code)
            await g.call(lambda: parts.refresh(db, run_id, finish=True))
            refreshed = time.monotonic()
    except DatabaseUnavailable as gone:
        await recovery.mark_failed(db, run_id, gone)
        raise


class _Ahead:
    """The next chunk of a partition, read and prepared (:func:`gather.prepare`) in a task of its
    own. Only ever one ahead; it is taken only if it starts where the last committed chunk
    ended, and dropped (cancelled, its outcome discarded) on any error or lost partition, so
    the resume point is always the last committed chunk."""

    def __init__(self, db: Database, hooks: PilotHooks, programme: str | None, chunk_size: int,
                 regions: list[str] | None, criteria: dict[str, list]):
        self._args = db, hooks, programme, chunk_size, regions, criteria
        self._task: asyncio.Task | None = None
        self._after: int | None = None

    async def _read(self, after_id: int) -> gather.Prepared | None:
        db, hooks, programme, chunk_size, regions, criteria = self._args
        async with db.engine.connect() as conn:
            chunk = await load_chunk(conn, hooks.pilot.id, programme, after_id, chunk_size, regions=regions)
        return None if chunk is None else await gather.prepare(hooks, chunk, criteria)

    def start(self, after_id: int) -> None:
        if self._args[0].is_sqlite:
            # SQLite's work runs in the driver's thread of this process, under the same GIL as
            # the evaluation: measured, reading ahead only added GIL hand-offs (+4% CPU, no
            # shorter wall time). On PostgreSQL the server works meanwhile (0.9x wall vs 0.72x CPU).
            return
        self._task, self._after = asyncio.ensure_future(self._read(after_id)), after_id

    async def take(self, after_id: int) -> gather.Prepared | None:
        task, self._task = self._task, None
        if task is not None and self._after == after_id:
            return await task
        if task is not None:
            await _discard(task)
        return await self._read(after_id)

    async def drop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await _discard(task)


async def _discard(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait until it has stopped (its connection given back), ignoring its
    outcome: ``asyncio.wait`` raises nothing of the task's, and a cancellation of the caller
    itself still propagates."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _partition_writer(db: Database, claim: parts.Claim, lease: float):
    async def write(conn, phase: str, last_id: int, counts: dict[str, Any], now) -> None:
        if phase == "hold":  # first in the chunk's transaction: is the partition still ours?
            await parts.hold(conn, claim, lease, now, db.is_sqlite)
        else:
            await parts.record(conn, claim, last_id, counts)
    return write


async def _targeted(db: Database, hooks: PilotHooks, registration_ids: list[int], started_by: str,
                    chunk_size: int, cause: str) -> Summary:
    summary, after_id = await begin(db, hooks.pilot, None, started_by, resumable=False, partitioned=False)
    criteria: dict[str, list] = {}

    async def write(conn, phase: str, last_id: int, counts: dict[str, Any], now) -> None:
        if phase == "record":
            await conn.execute(update(SelectionRun.__table__).where(SelectionRun.__table__.c.id == summary.run_id)
                               .values(last_registration_id=last_id, heartbeat_at=now, counts=counts))
    try:
        while True:
            async with db.engine.connect() as conn:
                chunk = await load_chunk(conn, hooks.pilot.id, None, after_id, chunk_size, registration_ids)
            if chunk is None:
                break
            await _select_chunk(db, hooks, chunk, criteria, summary, cause, write)
            after_id = chunk.last_id
    except BaseException as exc:
        await recovery.mark_failed(db, summary.run_id, exc)
        raise
    await _finish(db, summary, RunStatus.FINISHED)
    return summary


async def begin(db: Database, pilot: PilotContext, programme: str | None, started_by: str,
                resumable: bool = True, partitioned: bool = True,
                partition_size: int = parts.DEFAULT_SIZE) -> tuple[Summary, int]:
    """Create the run row and its village partitions (or take over the pilot's unfinished run):
    (summary so far, resume point — 0 for a partitioned run, whose partitions keep their own)."""
    async with db.write() as session:
        if not db.is_sqlite:  # one begin per pilot at a time: two starters never make two runs
            await session.execute(select(Pilot.id).where(Pilot.id == pilot.id).with_for_update())
        conn = await session.connection()
        if resumable:
            same_scope = (SelectionRun.programme.is_(None) if programme is None
                          else SelectionRun.programme == programme)
            latest = (await session.execute(
                select(SelectionRun).where(SelectionRun.pilot_id == pilot.id, same_scope)
                .order_by(SelectionRun.started_at.desc()).limit(1)
            )).scalars().first()
            # A run that did not finish (killed: RUNNING; or failed) is resumed where it stopped.
            unfinished = latest if latest is not None and latest.status != RunStatus.FINISHED else None
            if unfinished is not None:
                unfinished.status = RunStatus.RUNNING
                unfinished.error = None
                unfinished.heartbeat_at = utcnow()
                log.info("resuming selection run %s", unfinished.id)
                # a run begun before partitions existed continues after its last chunk, in every village
                await parts.ensure(conn, unfinished.id, pilot.id, programme, partition_size,
                                   unfinished.last_registration_id, unfinished.counts)
                p = SelectionPartition.__table__
                counts = (await conn.execute(select(p.c.counts).where(p.c.run_id == unfinished.id))).scalars()
                summary = Summary.sum_of(unfinished.id, list(counts))
                summary.resumed = True
                await audit.record_change(session, None, actor=started_by, action="SELECTION_RUN_RESUMED",
                                          entity_type="selection_run", entity_id=unfinished.id, purpose="selection")
                return summary, 0
        run = SelectionRun(id=str(uuid.uuid4()), pilot_id=pilot.id, programme=programme, started_by=started_by,
                           status=RunStatus.RUNNING, counts={}, last_registration_id=0)
        session.add(run)
        await session.flush()
        await audit.record_change(session, None, actor=started_by, action="SELECTION_RUN_STARTED",
                                  entity_type="selection_run", entity_id=run.id, purpose="selection",
                                  details={"pilot_id": pilot.id, "programme": programme})
        if partitioned:
            await parts.ensure(conn, run.id, pilot.id, programme, partition_size)
    return Summary(run.id), 0


async def _finish(db: Database, summary: Summary, status: RunStatus, error: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error,
                              "counts": summary.as_counts()}
    async with db.write() as session:
        await session.execute(update(SelectionRun).where(SelectionRun.id == summary.run_id).values(**values))
        await parts.audit_run_end(session, summary.run_id, status.value, values.get("counts"), error)


async def _select_chunk(db: Database, hooks: PilotHooks, chunk: Chunk, criteria: dict[str, list],
                        summary: Summary, cause: str, write_progress) -> Summary:
    """Decide one chunk in one transaction; ``summary`` (the counts its progress row holds) gains
    the chunk's counts once committed, and they are returned. ``write_progress(conn, phase, ...)``
    is called first ("hold": may refuse, rolling everything back) and last ("record")."""
    return await _write_chunk(db, hooks, await gather.prepare(hooks, chunk, criteria), criteria, summary, cause,
                              write_progress)


async def _write_chunk(db: Database, hooks: PilotHooks, prepared: gather.Prepared, criteria: dict[str, list],
                       summary: Summary, cause: str, write_progress) -> Summary:
    """The write half of :func:`_select_chunk`, for a chunk already prepared."""
    chunk, facts, evaluations = prepared.chunk, prepared.facts, prepared.evaluations
    refs = {ref.registration_id: ref for ref in chunk.refs}
    channels = await writes.channels_of(hooks)
    made: list[dict[str, Any]] = []
    delta = Summary(summary.run_id)  # counted into `summary` only once the chunk is committed
    async with db.write() as session:
        conn = await session.connection()
        now = utcnow()
        await write_progress(conn, "hold", 0, {}, now)
        current = {r.registration_id: r for r in (await conn.execute(
            select(Decision.id, Decision.registration_id, Decision.version, Decision.inputs_digest)
            .where(Decision.registration_id.in_(list(evaluations)), Decision.is_current.is_(True))
        ))}
        new = {rid: e for rid, e in evaluations.items()
               if rid not in current or current[rid].inputs_digest != e.digest}
        kept: dict[int, tuple[stability.Current, dict[str, str]]] = {}
        if cause == "SELECTION":  # a routine run; an appeal's re-decision is written as it comes
            loaded = await stability.load(conn, [current[rid].id for rid in new if rid in current])
            for rid in [rid for rid in new if rid in current]:
                was = loaded[current[rid].id]
                ref = refs[rid]
                choice = stability.choose(criteria[ref.programme], facts[rid], ref, new[rid], was)
                if choice.kind != stability.NEW:
                    del new[rid]
                if choice.kind == stability.KEPT:
                    kept[rid] = (was, choice.failed)
                    delta.failed_facts.update(list(choice.failed))  # names, counted once each
        delta.processed += len(evaluations)
        delta.kept += len(kept)
        delta.unchanged += len(evaluations) - len(new) - len(kept)
        ids: dict[int, int] = {}
        if new:
            ids, made = await writes.decisions(conn, hooks, chunk, new, current, summary.run_id, cause, channels,
                                               now, _notifications)
            for e in new.values():
                _count(delta, e)
            delta.decided += len(new)
        await writes.audit_chunk(session, summary.run_id, cause, chunk, len(evaluations), list(ids.values()))
        await writes.audit_kept(session, summary.run_id, kept)
        after = Summary.from_counts(summary.run_id, summary.as_counts())
        after.add(delta)
        await write_progress(conn, "record", chunk.last_id, after.as_counts(), now)
    summary.add(delta)
    if made:
        await hooks.notify("decisions_made", decisions=made)
    if kept:
        log.warning("selection run %s: %d decisions kept, a source failed (%s)", summary.run_id, len(kept),
                    ", ".join(sorted({n for _, failed in kept.values() for n in failed})))
    return delta


def _count(summary: Summary, e: ev.Evaluation) -> None:
    summary.outcomes[e.outcome] += 1
    for r in e.results:  # verdicts are Verdict members by now (evaluate); `is` spares the enum lookups
        if r.verdict is Verdict.FAIL:
            summary.failed_reasons[r.code] += 1
        elif r.verdict is Verdict.UNKNOWN:
            summary.pending_reasons[r.code] += 1


_notifications = writes.notifications  # looked up per chunk: tests stand in for it to kill a process mid-write


__all__ = ["DEFAULT_CHUNK", "Summary", "WorkResult", "begin", "run_selection", "work"]
