"""The outbox: claiming due rows, delivering them through their channel, recording the result.

Rows are claimed in a short write transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
several dispatchers never take the same row; SQLite: ``BEGIN IMMEDIATE`` makes the claim atomic).
A claim is a lease, measured on the database's clock (machines' clocks may be minutes apart), kept
short and renewed while its dispatcher works (:func:`renew`): a dispatcher killed mid-send leaves
the row SENDING until the lease runs out, then the next claim takes it first — before the pending
backlog, as its citizen has waited longest — and sends it again with the same idempotency key: the
gateway drops the duplicate (and may say it was delivered meanwhile). Results are
written only if the row is still this claim's (``attempts`` matches), so a stale dispatcher can
never overwrite a newer attempt. A dispatcher writes its results through a :class:`Recorder`: the
results that arrive while one write transaction is running share the next one (group commit), so
16 sends in flight cost a few transactions, not 16.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from perlinsos import audit
from perlinsos.contract import DeliveryResult, OutgoingMessage, Principal
from perlinsos.db.clock import db_now
from perlinsos.db.engine import Database
from perlinsos.db.models import Notification, NotificationStatus, Person
from perlinsos.db.types import utcnow
from perlinsos.errors import Undeliverable
from perlinsos.notification.broker import BROKER
from perlinsos.notification.rendering import Renderer

log = logging.getLogger(__name__)
S = NotificationStatus


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    base_delay: float = 2.0  # seconds before the first retry; doubles each attempt
    max_delay: float = 3600.0
    lease: float = 30.0  # a claim not renewed for this long is taken to be a dead dispatcher's
    send_timeout: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter (half fixed, half random) so retries spread out."""
        delay = min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0))
        return delay / 2 + random.uniform(0, delay / 2)


@dataclass(frozen=True)
class Claimed:
    id: int
    attempt: int
    row: Any
    person: Any


async def claim(db: Database, limit: int, policy: Policy) -> list[Claimed]:
    """Claim up to ``limit`` due rows: dead dispatchers' claims (SENDING, lease run out) first,
    then PENDING rows in the order they fell due. Due and lease are judged on the database's clock."""
    n = Notification.__table__
    async with db.write() as session:
        conn = await session.connection()
        now = await db_now(conn)
        ids: list[int] = []
        for status in (S.SENDING.value, S.PENDING.value):  # each one index range (status, next_attempt_at)
            if len(ids) >= limit:
                break
            stmt = (select(n.c.id).where(n.c.status == status, n.c.next_attempt_at <= now)
                    .order_by(n.c.next_attempt_at, n.c.id).limit(limit - len(ids)))
            if not db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            ids += (await conn.execute(stmt)).scalars()
        if not ids:
            return []
        await conn.execute(update(n).where(n.c.id.in_(ids)).values(
            status=S.SENDING.value, attempts=n.c.attempts + 1, next_attempt_at=now + timedelta(seconds=policy.lease)))
        await _audit(session, "NOTIFICATIONS_CLAIMED", ids, {S.SENDING.value: len(ids)})
        rows = {r.id: r for r in (await conn.execute(select(n).where(n.c.id.in_(ids)))).all()}
        p = Person.__table__
        people = {r.id: r for r in await conn.execute(
            select(p.c.id, p.c.nik, p.c.name, p.c.phone).where(p.c.id.in_({r.person_id for r in rows.values()})))}
    return [Claimed(r.id, r.attempts, r, people.get(r.person_id)) for r in (rows[i] for i in ids)]


async def renew(db: Database, items: list[Claimed], policy: Policy) -> int:
    """Extend the leases of the rows still this dispatcher's (SENDING, same ``attempts``) by
    ``policy.lease`` from the database's now; returns how many were renewed."""
    if not items:
        return 0
    n = Notification.__table__
    async with db.write() as session:
        conn = await session.connection()
        until = await db_now(conn) + timedelta(seconds=policy.lease)
        result = await conn.execute(
            update(n).where(n.c.id == bindparam("_id"), n.c.status == S.SENDING.value,
                            n.c.attempts == bindparam("_attempt")).values(next_attempt_at=until),
            [{"_id": item.id, "_attempt": item.attempt} for item in items])
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(items)


def _on_db_clock(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``retry_in`` (seconds) becomes ``next_attempt_at`` on the database's clock: a retry is due
    when the database says so, whatever this machine's clock says."""
    if "retry_in" not in values:
        return values
    values = dict(values)
    values["next_attempt_at"] = now + timedelta(seconds=values.pop("retry_in"))
    return values


async def _record(db: Database, item: Claimed, **values: Any) -> bool:
    """Write the attempt's result unless the row was claimed again meanwhile."""
    n = Notification.__table__
    async with db.write() as session:
        conn = await session.connection()
        result = await conn.execute(
            update(n).where(n.c.id == item.id, n.c.status == S.SENDING.value, n.c.attempts == item.attempt)
            .values(**_on_db_clock(values, await db_now(conn))))
        if result.rowcount == 1:
            await _audit(session, "NOTIFICATIONS_ATTEMPTED", [item.id], Counter([values.get("status")]))
    if result.rowcount != 1:
        log.warning("notification %s: attempt %s result dropped (claimed again meanwhile)", item.id, item.attempt)
    return result.rowcount == 1


async def _record_many(db: Database, results: list[tuple[Claimed, dict[str, Any]]]) -> list[bool]:
    """``_record`` for several attempts in one write transaction: the rows still this claim's
    (SENDING, same ``attempts``; locked on PostgreSQL) are read first, then updated with one
    ``executemany`` per set of columns. Returns, per result, whether it was written."""
    n = Notification.__table__
    async with db.write() as session:
        conn = await session.connection()
        stmt = select(n.c.id, n.c.attempts).where(n.c.id.in_([item.id for item, _ in results]),
                                                 n.c.status == S.SENDING.value).order_by(n.c.id)
        if not db.is_sqlite:
            stmt = stmt.with_for_update()
        current = dict((await conn.execute(stmt)).all())
        written = [current.get(item.id) == item.attempt for item, _ in results]
        if any("retry_in" in values for _, values in results):
            now = await db_now(conn)
            results = [(item, _on_db_clock(values, now)) for item, values in results]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for (item, values), ours in zip(results, written, strict=True):
            if ours:
                groups[tuple(sorted(values))].append({"_id": item.id, "_attempt": item.attempt, **values})
        for params in groups.values():
            await conn.execute(update(n).where(n.c.id == bindparam("_id"), n.c.status == S.SENDING.value,
                                               n.c.attempts == bindparam("_attempt")), params)
        mine = [(item, values) for (item, values), ours in zip(results, written, strict=True) if ours]
        if mine:
            await _audit(session, "NOTIFICATIONS_ATTEMPTED", [item.id for item, _ in mine],
                         Counter(values.get("status") for _, values in mine))
    for (item, _), ours in zip(results, written, strict=True):
        if not ours:
            log.warning("notification %s: attempt %s result dropped (claimed again meanwhile)", item.id, item.attempt)
    return written


class Recorder:
    """Writes attempts' results with group commit: the first result is written at once; those that
    arrive while a write transaction runs wait for it, then share the next one. ``record`` returns
    (like ``_record``) once the result is committed, or raises what the write raised. One per
    event loop (a dispatcher makes one per run of batches).

    ``linger``: a group's first result waits up to this long (or until ``group`` results are
    waiting) for others to join it. The dispatcher writes results outside its send slots, so the
    wait holds up no send, and fewer, larger transactions cost less per result (one lock of the
    audit chain, one audit row, one statement per kind of result per group)."""

    def __init__(self, db: Database, *, linger: float = 0.0, group: int = 500):
        self.db, self.linger, self.group = db, linger, group
        self._pending: list[tuple[Claimed, dict[str, Any], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task | None = None
        self._full = asyncio.Event()

    async def record(self, item: Claimed, **values: Any) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((item, values, future))
        if len(self._pending) >= self.group:
            self._full.set()
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())
        return await future

    async def _write(self) -> None:
        group: list[tuple[Claimed, dict[str, Any], asyncio.Future[bool]]] = []
        try:
            while self._pending:
                if self.linger > 0 and len(self._pending) < self.group:
                    try:
                        await asyncio.wait_for(self._full.wait(), self.linger)
                    except TimeoutError:
                        pass
                self._full.clear()
                group, self._pending = self._pending[:self.group], self._pending[self.group:]
                try:
                    written = await _record_many(self.db, [(item, values) for item, values, _ in group])
                except Exception as exc:  # noqa: BLE001 - each waiting delivery raises it, as _record would
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, _, future), ours in zip(group, written, strict=True):
                        if not future.done():
                            future.set_result(ours)
                group = []
        finally:
            self._writer = None
            for _, _, future in group + self._pending:  # cancelled mid-write: no delivery left waiting
                future.cancel()  # (a no-op for the ones already answered)
            self._pending = []


async def deliver(db: Database, renderer: Renderer, item: Claimed, policy: Policy,
                  recorder: Recorder | None = None) -> str:
    """Deliver one claimed row; returns the status it ends in. The result is written through
    ``recorder`` (group commit) when given, else in a transaction of its own."""
    status, values = await attempt(renderer, item, policy)
    written = await (recorder.record(item, **values) if recorder is not None else _record(db, item, **values))
    settled(item, status, written)
    return status


def settled(item: Claimed, status: str, written: bool) -> None:
    """After an attempt's result is written: a portal message is in the citizen's inbox now."""
    if written and item.row.channel == "portal" and status == S.DELIVERED.value:
        BROKER.publish(item.row.person_id)


async def attempt(renderer: Renderer, item: Claimed, policy: Policy) -> tuple[str, dict[str, Any]]:
    """Render and send one claimed row, writing nothing: (the status it ends in, the values its
    result write sets). The dispatcher writes the values after freeing the send slot, so the
    next send does not wait for the write (:class:`Recorder`)."""
    now = utcnow()
    row = item.row
    if row.channel == "portal":  # the inbox is the database itself: delivered once written
        return S.DELIVERED.value, {"status": S.DELIVERED.value, "sent_at": now, "last_error": None}
    try:
        channel = await renderer.channel(row.pilot_id, row.channel)
        if channel is None:
            raise Undeliverable(f"channel {row.channel!r} is not enabled in this pilot")
        person = {"phone": item.person.phone, "name": item.person.name, "nik": item.person.nik} if item.person else {}
        recipient = channel.recipient_for(person)
    except Undeliverable as exc:
        return S.UNDELIVERABLE.value, {"status": S.UNDELIVERABLE.value, "last_error": str(exc)[:500]}
    text = await renderer.render(row, item.person)
    message = OutgoingMessage(notification_id=row.id, idempotency_key=row.idempotency_key, recipient=recipient,
                              template=row.template, language=row.language, title=text.title, body=text.body,
                              short=text.short, params=row.params or {}, attempt=item.attempt)
    try:
        async with asyncio.timeout(policy.send_timeout):  # in this task: no task per send (as wait_for makes)
            result = await channel.send(message)
        if not isinstance(result, DeliveryResult):
            raise TypeError(f"send returned {type(result).__name__}, not a DeliveryResult")
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is a (temporary) failed attempt
        result = DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    if result.ok and result.delivery_status in (S.DELIVERED.value, S.FAILED.value):
        # A re-send the gateway recognised (same idempotency key) whose fate it already knows: the
        # first attempt's result and its delivery report were lost, and no report will come again.
        delivered = result.delivery_status == S.DELIVERED.value
        return result.delivery_status, {
            "status": result.delivery_status, "sent_at": utcnow(), "provider_reference": result.provider_reference,
            "recipient": recipient, "last_error": None if delivered else (result.error or "delivery failed")[:500]}
    if result.ok:
        return S.SENT.value, {"status": S.SENT.value, "sent_at": utcnow(),
                              "provider_reference": result.provider_reference, "recipient": recipient,
                              "last_error": None}
    if result.permanent or item.attempt >= policy.max_attempts:
        return S.DEAD.value, {"status": S.DEAD.value, "last_error": (result.error or "failed")[:500],
                              "recipient": recipient}
    return S.PENDING.value, {"status": S.PENDING.value, "retry_in": policy.backoff(item.attempt),
                             "last_error": (result.error or "failed")[:500], "recipient": recipient}


async def requeue(db: Database, notification_id: int, principal: Principal | None = None) -> bool:
    """Put a DEAD (or FAILED) row back in the queue, due now."""
    n = Notification.__table__
    async with db.write() as session:
        conn = await session.connection()
        result = await conn.execute(
            update(n).where(n.c.id == notification_id, or_(n.c.status == S.DEAD.value, n.c.status == S.FAILED.value))
            .values(status=S.PENDING.value, next_attempt_at=await db_now(conn), attempts=0))
        if result.rowcount == 1:
            await audit.record_change(session, principal, action="NOTIFICATION_REQUEUED", entity_type="notification",
                                      entity_id=notification_id, purpose="notification")
    return result.rowcount == 1


async def _audit(session, action: str, ids: list[int], statuses: Counter | dict) -> None:
    """One audit row per batch of delivery state changes (counts per new status, id range), not
    one per message: the rows themselves keep each message's status and attempts."""
    await audit.record_change(session, None, actor="system:notification", action=action,
                              entity_type="notification", entity_id=None, purpose="notification",
                              details={"count": len(ids), "ids": [min(ids), max(ids)],
                                       "statuses": {str(k): v for k, v in statuses.items()}})
