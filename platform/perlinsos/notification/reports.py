"""Delivery reports from a gateway: DELIVERED or FAILED for a sent row, if the caller proves to be
the pilot's gateway (``verify``, e.g. a signature with the pilot's key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from perlinsos.contract import PilotContext
from perlinsos.db.models import Notification, NotificationStatus, Pilot
from perlinsos.pilots import store

S = NotificationStatus


async def record_delivery_report(state: Any, *, channel: str, provider_reference: str, delivered: bool,
                                 error: str | None, verify: Callable[[PilotContext], bool]) -> str:
    """"ok", "unknown" (no such sent message on this channel) or "forbidden" (not its gateway)."""
    n = Notification.__table__
    async with state.db.read() as session:
        row = (await session.execute(select(n.c.id, n.c.pilot_id, n.c.status).where(
            n.c.channel == channel, n.c.provider_reference == provider_reference))).first()
        pilot = await session.get(Pilot, row.pilot_id) if row is not None and row.pilot_id else None
    if row is None or pilot is None:
        return "unknown"
    if not verify(store.pilot_context(pilot, state.plugins)):
        return "forbidden"
    values = {"status": S.DELIVERED.value, "last_error": None} if delivered else \
        {"status": S.FAILED.value, "last_error": (error or "delivery failed")[:500]}
    async with state.db.write() as session:
        # Only a sent row moves on; a report repeated or arriving late changes nothing.
        await (await session.connection()).execute(update(n).where(n.c.id == row.id, n.c.status == S.SENT.value)
                                                   .values(**values))
    return "ok"


__all__ = ["record_delivery_report"]
