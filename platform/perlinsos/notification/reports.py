"""Delivery reports from a gateway: DELIVERED or FAILED for a sent row, if the caller proves to be
the pilot's gateway (``verify``, e.g. a signature with the pilot's key).

The caller is verified before anything it sent is looked up: an unsigned or wrongly signed report
never reaches a query about its message. A row closed by a report gets its ``sent_at`` if the
dispatcher's own record of the send was lost; a final row (DELIVERED, FAILED, DEAD, UNDELIVERABLE)
is never changed by a late or repeated report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import bindparam, func, select, update

from perlinsos import audit
from perlinsos.contract import PilotContext
from perlinsos.db.clock import db_now
from perlinsos.db.models import Notification, NotificationStatus
from perlinsos.facilitation import escalate
from perlinsos.pilots import store

S = NotificationStatus
log = logging.getLogger(__name__)


async def signing_pilots(state: Any, verify: Callable[[PilotContext], bool]) -> list[int]:
    """The ids of the pilots whose gateway ``verify`` accepts (e.g. whose key signed the body).
    Reads only the pilots, never the reported message."""
    async with state.db.read() as session:
        pilots = await store.list_pilots(session)
    trusted = []
    for pilot in pilots:
        try:
            context = store.pilot_context(pilot, state.plugins)
        except Exception:  # noqa: BLE001 - a pilot whose settings no longer validate signs nothing
            log.warning("delivery report: pilot %s has settings that do not validate; skipped", pilot.code)
            continue
        if verify(context):
            trusted.append(pilot.id)
    return trusted


async def record_delivery_report(state: Any, *, channel: str, provider_reference: str, delivered: bool,
                                 error: str | None, verify: Callable[[PilotContext], bool],
                                 idempotency_key: str | None = None,
                                 pilot_ids: Collection[int] | None = None) -> str:
    """"ok", "unknown" (no such message on this channel) or "forbidden" (not its gateway).

    ``pilot_ids``: the pilots the caller was verified for (:func:`signing_pilots`); found with
    ``verify`` when not given. None: "forbidden" before any lookup. The row is found by the
    gateway's reference or, when the report beats the dispatcher's own record of the send (a
    dispatcher that died after the gateway accepted), by the idempotency key the gateway echoes.
    """
    trusted = set(await signing_pilots(state, verify) if pilot_ids is None else pilot_ids)
    if not trusted:
        return "forbidden"
    n = Notification.__table__
    async with state.db.read() as session:
        row = (await session.execute(select(n.c.id, n.c.pilot_id).where(
            n.c.channel == channel, n.c.provider_reference == provider_reference))).first()
        if row is None and idempotency_key:
            row = (await session.execute(select(n.c.id, n.c.pilot_id).where(
                n.c.channel == channel, n.c.idempotency_key == idempotency_key))).first()
    if row is None or row.pilot_id is None:
        return "unknown"
    if row.pilot_id not in trusted:
        return "forbidden"
    values = {"status": S.DELIVERED.value, "last_error": None} if delivered else \
        {"status": S.FAILED.value, "last_error": (error or "delivery failed")[:500]}
    open_states = [S.SENT.value, S.SENDING.value, S.PENDING.value]
    async with state.db.write() as session:
        conn = await session.connection()
        # the gateway sent it: a send whose record was lost still gets a time (the report's)
        now = bindparam("reported_at", await db_now(conn), type_=n.c.sent_at.type)
        changed = await conn.execute(
            update(n).where(n.c.id == row.id, n.c.status.in_(open_states))
            .values(provider_reference=provider_reference, sent_at=func.coalesce(n.c.sent_at, now), **values))
        if changed.rowcount == 1:
            await audit.record_change(session, None, actor=f"gateway:{channel}", action="NOTIFICATION_DELIVERY_REPORTED",
                                      entity_type="notification", entity_id=row.id, purpose="notification",
                                      details={"status": values["status"]})
    if not delivered:  # the SMS did not arrive: the facilitator's turn, if listed (a repeated report
        await escalate(state.db, [row.id])  # retries a failed escalation; a task is opened once)
    return "ok"
