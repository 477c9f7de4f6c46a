"""Delivery reports from a gateway: DELIVERED or FAILED for a sent row, if the caller proves to be
the pilot's gateway (``verify``, e.g. a signature with the pilot's key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from perlinsos import audit
from perlinsos.contract import PilotContext
from perlinsos.db.models import Notification, NotificationStatus, Pilot
from perlinsos.pilots import store

S = NotificationStatus


async def record_delivery_report(state: Any, *, channel: str, provider_reference: str, delivered: bool,
                                 error: str | None, verify: Callable[[PilotContext], bool],
                                 idempotency_key: str | None = None) -> str:
    """"ok", "unknown" (no such message on this channel) or "forbidden" (not its gateway).

    The row is found by the gateway's reference or, when the report beats the dispatcher's own
    record of the send (a dispatcher that died after the gateway accepted), by the idempotency key
    the gateway echoes. A repeated or late report changes nothing once the row is final.
    """
    n = Notification.__table__
    async with state.db.read() as session:
        row = (await session.execute(select(n.c.id, n.c.pilot_id).where(
            n.c.channel == channel, n.c.provider_reference == provider_reference))).first()
        if row is None and idempotency_key:
            row = (await session.execute(select(n.c.id, n.c.pilot_id).where(
                n.c.channel == channel, n.c.idempotency_key == idempotency_key))).first()
        pilot = await session.get(Pilot, row.pilot_id) if row is not None and row.pilot_id else None
    if row is None or pilot is None:
        return "unknown"
    if not verify(store.pilot_context(pilot, state.plugins)):
        return "forbidden"
    values = {"status": S.DELIVERED.value, "last_error": None} if delivered else \
        {"status": S.FAILED.value, "last_error": (error or "delivery failed")[:500]}
    open_states = [S.SENT.value, S.SENDING.value, S.PENDING.value]
    async with state.db.write() as session:
        changed = await (await session.connection()).execute(
            update(n).where(n.c.id == row.id, n.c.status.in_(open_states))
            .values(provider_reference=provider_reference, **values))
        if changed.rowcount == 1:
            await audit.record_change(session, None, actor=f"gateway:{channel}", action="NOTIFICATION_DELIVERY_REPORTED",
                                      entity_type="notification", entity_id=row.id, purpose="notification",
                                      details={"status": values["status"]})
    return "ok"
