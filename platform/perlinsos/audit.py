"""The audit log: state changes and every read of personal data by someone not its owner.

The log is a hash chain: each row carries a gap-free ``seq``, the previous row's hash and its
own hash over a canonical encoding of its content (:func:`link_hash`). Rows recorded in a
transaction are queued in ``session.info`` and appended just before COMMIT (a ``before_commit``
listener), under the one-row ``audit_chain_head`` locked ``FOR UPDATE`` on PostgreSQL, so the
lock is held only for the insert itself and chain order is commit order across processes.
On SQLite, writers are already serialised by ``BEGIN IMMEDIATE``.
Triggers (migration 0004) refuse UPDATE and DELETE on ``audit_event``; ``perlinsos audit
verify`` (:func:`verify`) detects what a DBA who bypasses them changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from perlinsos.contract import Principal
from perlinsos.db import bulk
from perlinsos.db.engine import Database
from perlinsos.db.models import AuditChainHead, AuditEvent
from perlinsos.db.types import utcnow

GENESIS = "0" * 64
_PENDING = "perlinsos_audit_pending"
_HASHED = ("occurred_at", "actor", "actor_role", "action", "entity_type", "entity_id",
           "subject_person_id", "purpose", "details")


# Built once: json.dumps with these arguments makes a new encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def timestamp(value: datetime) -> str:
    """UTC, ISO 8601 with microseconds (``2026-11-28T10:00:00.000000Z``), whatever the engine returned."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def link_hash(row: Mapping[str, Any], seq: int, prev_hash: str, *, stamp: str | None = None) -> str:
    """sha256 over sorted-key JSON of the row's content and ``seq``, followed by ``prev_hash``.
    ``stamp``: ``timestamp(row["occurred_at"])`` when the caller has it already."""
    doc = {name: row[name] for name in _HASHED}
    doc["occurred_at"] = stamp or timestamp(row["occurred_at"])
    doc["details"] = doc["details"] or {}
    doc["seq"] = seq
    return hashlib.sha256((_CANONICAL.encode(doc) + prev_hash).encode()).hexdigest()


def _actor(principal: Principal | None) -> tuple[str, str | None]:
    if principal is None:
        return "anonymous", None
    roles = sorted(r.value for r in principal.roles())
    return principal.subject, ",".join(roles) or None


def _issuer(principal: Principal | None) -> dict[str, str]:
    """Who acted is (issuer, subject): the row's ``actor`` is the subject, its issuer goes here."""
    return {"actor_issuer": principal.issuer} if principal is not None and principal.issuer else {}


def _whole(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() else number


def _plain(details: Mapping[str, Any] | None) -> dict[str, Any]:
    # Hash what the database will give back: JSON types only (dates etc. become strings), and
    # whole floats as ints (JSONB gives 1e20 back as 100000000000000000000).
    return json.loads(json.dumps(dict(details or {}), default=str), parse_float=_whole) if details else {}


#: the columns of a queued row (record_reads, record_change), in the order they are inserted
_ROW_COLUMNS = ("occurred_at", "actor", "actor_role", "action", "entity_type", "entity_id", "subject_person_id",
                "purpose", "details")


def _queue(session: AsyncSession | Session, rows: list[dict[str, Any]]) -> None:
    session.info.setdefault(_PENDING, []).extend(rows)


async def record_reads(
    session: AsyncSession, principal: Principal | None, person_ids: Iterable[int], *, purpose: str,
    operation: str | None = None, details: Mapping[str, Any] | None = None, actor: str | None = None,
) -> None:
    """One row per person whose data was shown (so each citizen can list who saw their data).

    ``actor`` names a system actor (e.g. ``"system:selection"``) when there is no principal.
    """
    ids = sorted(set(person_ids))
    if not ids:
        return
    name, role = _actor(principal)
    actor = actor or name
    now = utcnow()
    extra = _plain({**_issuer(principal), **({"operation": operation} if operation else {}), **(details or {})})
    _queue(session, [
        {"occurred_at": now, "actor": actor, "actor_role": role, "action": "READ_PERSONAL_DATA",
         "entity_type": "person", "entity_id": str(pid), "subject_person_id": pid,
         "purpose": purpose, "details": extra}
        for pid in ids
    ])


async def record_change(
    session: AsyncSession, principal: Principal | None, *, action: str, entity_type: str,
    entity_id: Any, details: dict[str, Any] | None = None, subject_person_id: int | None = None,
    purpose: str | None = None, occurred_at: datetime | None = None, actor: str | None = None,
) -> None:
    """Queue one state-change row; it is chained and written when the transaction commits.

    ``actor`` names a system actor (e.g. ``"system:selection"``) when there is no principal.
    """
    name, role = _actor(principal)
    _queue(session, [{
        "occurred_at": occurred_at or utcnow(), "actor": actor or name, "actor_role": role,
        "action": action, "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "subject_person_id": subject_person_id, "purpose": purpose,
        "details": _plain({**_issuer(principal), **(details or {})}),
    }])


def append(connection, rows: list[dict[str, Any]]) -> None:
    """Chain ``rows`` after the current head and insert them (sync connection, in a transaction)."""
    head = AuditChainHead.__table__
    # FOR UPDATE: a concurrent appender on PostgreSQL waits here until this transaction commits,
    # then reads the new head (READ COMMITTED re-reads a row it waited for). SQLite omits it.
    seq, prev = connection.execute(
        select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
    ).one()
    values, stamps = [], {}  # a request's reads share one timestamp: format it once
    for row in rows:
        seq += 1
        at = row["occurred_at"]
        stamp = stamps.get(at) or stamps.setdefault(at, timestamp(at))
        digest = link_hash(row, seq, prev, stamp=stamp)
        values.append((*(row.get(c) for c in _ROW_COLUMNS), seq, prev, digest))
        prev = digest
    # a request's access log can be hundreds of rows, a selection chunk's 500: straight to the driver
    bulk.insert_rows_sync(connection, AuditEvent.__table__, (*_ROW_COLUMNS, "seq", "prev_hash", "hash"), values)
    connection.execute(update(head).where(head.c.id == 1).values(seq=seq, hash=prev))


@event.listens_for(Session, "before_commit")
def _append_queued(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if not rows:
        return
    # Flush first (rows may refer to people inserted in this transaction), then take the chain
    # lock as the last thing before COMMIT.
    session.flush()
    append(session.connection(), rows)


@event.listens_for(Session, "after_rollback")
def _drop_queued(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    count: int
    head_seq: int
    head_hash: str


@dataclass(frozen=True)
class Broken:
    """The first link that does not hold: where (seq, row id) and what is wrong."""

    seq: int | None
    id: int | None
    problem: str  # content_altered | row_missing | link_broken | head_mismatch | out_of_order
    detail: str


_ROW = [AuditEvent.__table__.c[name] for name in ("id", "seq", "prev_hash", "hash", *_HASHED)]


async def verify(db: Database, *, batch: int = 5000,
                 progress: Callable[[int], None] | None = None) -> Verified | Broken:
    """Walk the chain in ``seq`` order, ``batch`` rows per query (memory stays flat at any size),
    recompute every hash and compare the end with ``audit_chain_head``.

    Appends may go on meanwhile: rows committed after the walk reached the end are walked too
    when the head has moved on.
    """
    events, head = AuditEvent.__table__, AuditChainHead.__table__
    expected_seq, prev, count, last_id = 1, GENESIS, 0, None
    while True:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(
                select(*_ROW).where(events.c.seq >= expected_seq).order_by(events.c.seq).limit(batch)
            )).mappings().all()
        for row in rows:
            if row["seq"] != expected_seq:
                return Broken(expected_seq, row["id"], "row_missing",
                              f"seq {expected_seq}..{row['seq'] - 1} missing: seq {expected_seq - 1} "
                              f"is followed by seq {row['seq']} (id {row['id']})")
            if row["prev_hash"] != prev:
                return Broken(row["seq"], row["id"], "link_broken",
                              f"prev_hash is not the hash of seq {expected_seq - 1}: rows reordered or "
                              "replaced, or the previous row and its hash rewritten")
            if link_hash(row, row["seq"], row["prev_hash"]) != row["hash"]:
                return Broken(row["seq"], row["id"], "content_altered",
                              "the row's content (or seq) no longer gives its stored hash")
            prev, last_id = row["hash"], row["id"]
            expected_seq += 1
            count += 1
        if progress and rows:
            progress(count)
        if len(rows) == batch:
            continue
        async with db.engine.connect() as conn:
            head_row = (await conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1))).first()
        last_seq = expected_seq - 1
        if head_row is None:
            return Broken(None, None, "head_mismatch", "the chain head row is missing")
        if head_row.seq > last_seq and rows:
            continue  # appended while we walked: walk the new rows (an empty pass ends it below)
        if head_row.seq != last_seq or head_row.hash != prev:
            truncated = head_row.seq > last_seq
            return Broken(last_seq + 1 if truncated else head_row.seq, None if truncated else last_id,
                          "head_mismatch",
                          f"the chain head is seq {head_row.seq} but the rows end at seq {last_seq}"
                          + (": rows at the end were deleted" if truncated else
                             ": the head was rewound" if head_row.seq < last_seq else
                             " with another hash: the last row was rewritten or replaced"))
        return Verified(count, last_seq, prev)
