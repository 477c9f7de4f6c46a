"""The built-in channel ``facilitator``: when the channels a pilot lists before it have all failed
for a decision (no reachable phone: UNDELIVERABLE; a gateway's FAILED report; retries used up:
DEAD), the decision becomes a task — an outbox row on channel ``facilitator``, SENT (handed to the
village's facilitators, never claimed by a dispatcher) — until a facilitator records that they
explained it (:mod:`.informing`), which makes it DELIVERED.

The task's idempotency key is the decision's (``decision-<id>-facilitator``): it never reaches a
gateway, and two dispatchers escalating the same decision at once write one task.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from perlinsos import audit
from perlinsos.db.clock import db_now
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, Notification, NotificationStatus, Pilot

log = logging.getLogger(__name__)
S = NotificationStatus
CHANNEL = "facilitator"
#: a channel's final failures: the next channel in the pilot's order takes over
GAVE_UP = (S.UNDELIVERABLE.value, S.FAILED.value, S.DEAD.value)


def channel_order(setting: Mapping[str, Any] | None) -> list[str]:
    """The pilot's ``[notification] channels`` ([] when not set: every enabled channel, no fallback)."""
    return list((setting or {}).get("channels") or [])


def task_key(decision_id: int) -> str:
    return f"decision-{decision_id}-{CHANNEL}"


def _before_facilitator(order: list[str]) -> list[str] | None:
    return order[:order.index(CHANNEL)] if CHANNEL in order else None


async def escalate(db: Database, notification_ids: Iterable[int]) -> int:
    """Open a facilitator task for each current decision among ``notification_ids``' whose channels
    before ``facilitator`` (in its pilot's order) all gave up; returns how many were opened. Called
    with the rows whose delivery just ended (a dispatcher's batch, a gateway's FAILED report)."""
    ids = sorted(set(notification_ids))
    if not ids:
        return 0
    n, d, p = Notification.__table__, Decision.__table__, Pilot.__table__
    async with db.write() as session:
        conn = await session.connection()
        failed = (await conn.execute(select(n.c.decision_id, n.c.pilot_id, n.c.channel).where(
            n.c.id.in_(ids), n.c.decision_id.is_not(None), n.c.status.in_(GAVE_UP),
            n.c.channel.not_in(("portal", CHANNEL))))).all()
        if not failed:
            return 0
        orders = {row.id: _before_facilitator(channel_order(row.notification)) for row in await conn.execute(
            select(p.c.id, p.c.notification).where(p.c.id.in_({f.pilot_id for f in failed})))}
        candidates = {f.decision_id: orders[f.pilot_id] for f in failed
                      if orders.get(f.pilot_id) is not None and f.channel in orders[f.pilot_id]}
        if not candidates:
            return 0
        current = set((await conn.execute(select(d.c.id).where(
            d.c.id.in_(candidates), d.c.is_current.is_(True)))).scalars())
        rows: dict[int, list[Any]] = defaultdict(list)
        for r in await conn.execute(select(n.c.decision_id, n.c.channel, n.c.status, n.c.person_id, n.c.pilot_id,
                                           n.c.template, n.c.language, n.c.params)
                                    .where(n.c.decision_id.in_(current)).order_by(n.c.id)):
            rows[r.decision_id].append(r)
        now = await db_now(conn)
        tasks = []
        for decision_id in sorted(current):
            before, own = candidates[decision_id], rows[decision_id]
            if any(r.channel == CHANNEL for r in own):
                continue
            if any(r.channel in before and r.status not in GAVE_UP for r in own):
                continue  # a channel before it is still trying, or reached the citizen
            first = next(r for r in own if r.channel in before)
            tasks.append({"person_id": first.person_id, "pilot_id": first.pilot_id, "decision_id": decision_id,
                          "channel": CHANNEL, "recipient": None, "template": first.template,
                          "language": first.language, "params": first.params or {}, "status": S.SENT.value,
                          "attempts": 0, "next_attempt_at": now, "sent_at": now, "created_at": now,
                          "idempotency_key": task_key(decision_id)})
        if not tasks:
            return 0
        dialect = sqlite if db.is_sqlite else postgresql
        result = await conn.execute(dialect.insert(n).on_conflict_do_nothing(index_elements=["idempotency_key"])
                                    .returning(n.c.id), tasks)
        opened = list(result.scalars())
        if opened:
            await audit.record_change(session, None, actor="system:notification", action="FACILITATOR_TASKS_OPENED",
                                      entity_type="notification", entity_id=None, purpose="notification",
                                      details={"count": len(opened), "ids": [min(opened), max(opened)]})
    log.info("facilitator channel: %d task(s) opened", len(opened))
    return len(opened)
