"""The audit log: state changes and every read of personal data by someone not its owner.

The log is a hash chain: each row carries a gap-free ``seq``, the previous row's hash and its
own hash over a canonical encoding of its content (:func:`link_hash`). Rows recorded in a
transaction are queued in ``session.info`` and appended just before COMMIT (a ``before_commit``
listener), under the one-row ``audit_chain_head`` locked ``FOR UPDATE`` on PostgreSQL, so the
lock is held only for the insert itself and chain order is commit order across processes.
On SQLite, writers are already serialised by ``BEGIN IMMEDIATE``.
Triggers (migration 0004) refuse UPDATE and DELETE on ``audit_event``; ``perlinsos audit
verify`` (:mod:`perlinsos.audit_verify`) detects what a DBA who bypasses them changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from perlinsos.contract import Principal
from perlinsos.db.models import AuditChainHead, AuditEvent
from perlinsos.db.types import utcnow

GENESIS = "0" * 64
_PENDING = "perlinsos_audit_pending"
_HASHED = ("occurred_at", "actor", "actor_role", "action", "entity_type", "entity_id",
           "subject_person_id", "purpose", "details")


def timestamp(value: datetime) -> str:
    """UTC, ISO 8601 with microseconds: the same text whatever the engine returned."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link_hash(row: Mapping[str, Any], seq: int, prev_hash: str) -> str:
    """sha256 over sorted-key JSON of the row's content and ``seq``, followed by ``prev_hash``."""
    doc = {name: row[name] for name in _HASHED}
    doc["occurred_at"] = timestamp(row["occurred_at"])
    doc["details"] = doc["details"] or {}
    doc["seq"] = seq
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((body + prev_hash).encode()).hexdigest()


def _actor(principal: Principal | None) -> tuple[str, str | None]:
    if principal is None:
        return "anonymous", None
    roles = sorted(r.value for r in principal.roles())
    return principal.subject, ",".join(roles) or None


def _plain(details: Mapping[str, Any] | None) -> dict[str, Any]:
    # Hash what the database will give back: JSON types only (dates etc. become strings).
    return json.loads(json.dumps(dict(details or {}), default=str)) if details else {}


def _queue(session: AsyncSession | Session, rows: list[dict[str, Any]]) -> None:
    session.info.setdefault(_PENDING, []).extend(rows)


async def record_reads(
    session: AsyncSession, principal: Principal | None, person_ids: Iterable[int], *, purpose: str,
    operation: str | None = None, details: Mapping[str, Any] | None = None,
) -> None:
    """One row per person whose data was shown (so each citizen can list who saw their data)."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    actor, role = _actor(principal)
    now = utcnow()
    extra = _plain({**({"operation": operation} if operation else {}), **(details or {})})
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
        "subject_person_id": subject_person_id, "purpose": purpose, "details": _plain(details),
    }])


def append(connection, rows: list[dict[str, Any]]) -> None:
    """Chain ``rows`` after the current head and insert them (sync connection, in a transaction)."""
    head = AuditChainHead.__table__
    # FOR UPDATE: a concurrent appender on PostgreSQL waits here until this transaction commits,
    # then reads the new head (READ COMMITTED re-reads a row it waited for). SQLite omits it.
    seq, prev = connection.execute(
        select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
    ).one()
    values = []
    for row in rows:
        seq += 1
        digest = link_hash(row, seq, prev)
        values.append({**row, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    connection.execute(insert(AuditEvent.__table__), values)
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
