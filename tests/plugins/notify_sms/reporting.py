"""Helpers for the delivery-report tests: two pilots with their own gateway keys in a real database,
SMS outbox rows to report on, and signed posts to the platform's route (the platform's own
``record_delivery_report`` records them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.db.models import AuditEvent, Notification, NotificationStatus, Registration
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos_notify_sms.reports import PATH, sign
from sqlalchemy import select

BWI, SMB = "BWI-2025", "BWI-SMB"
KEY_A = pilot_data()["plugins"]["notify_sms"]["api_key"]  # the fixture pilot's gateway key
KEY_B = "key-of-the-sembako-pilot"
S = NotificationStatus


async def second_pilot(db, plugin_manager, key: str = KEY_B) -> None:
    """A Sembako pilot over the same regency whose gateway signs with ``key``."""
    data = pilot_data() | {"code": SMB, "name": "Sembako Banyuwangi", "programmes": ["SEMBAKO"]}
    data["plugins"]["notify_sms"] = data["plugins"]["notify_sms"] | {"api_key": key}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))


@dataclass
class Outbox:
    """SMS rows written straight to the outbox, as the dispatcher leaves them."""

    db: Any
    made: int = 0

    async def sms(self, pilot: str, reference: str | None, status: NotificationStatus = S.SENT, *,
                  key: str | None = None, last_error: str | None = None) -> int:
        person = await self._person(pilot)
        pid = await seed.pilot_id(self.db, pilot)
        self.made += 1
        async with self.db.write() as s:
            row = Notification(person_id=person, pilot_id=pid, channel="sms", recipient="+6281234560001",
                               template="DECISION_ELIGIBLE", language="id", params={}, status=status,
                               attempts=1, idempotency_key=key or f"test-sms-{self.made}",
                               provider_reference=reference, last_error=last_error)
            s.add(row)
            await s.flush()
            return row.id

    async def _person(self, pilot: str) -> int:
        [rid] = await seed.registrations(self.db, pilot, 1, start=1000 + self.made, with_decision=False,
                                         programme="PKH" if pilot == BWI else "SEMBAKO")
        async with self.db.read() as s:
            return (await s.execute(select(Registration.person_id).where(Registration.id == rid))).scalar_one()

    async def row(self, notification_id: int) -> tuple[str, str | None, str | None]:
        """(status, last_error, provider_reference) as stored."""
        async with self.db.read() as s:
            n = await s.get(Notification, notification_id)
            return n.status.value, n.last_error, n.provider_reference

    async def reported(self) -> list[tuple[str, str, str]]:
        """The audit rows of recorded reports: (actor, notification id, status)."""
        async with self.db.read() as s:
            rows = (await s.execute(select(AuditEvent).where(AuditEvent.action == "NOTIFICATION_DELIVERY_REPORTED")
                                    .order_by(AuditEvent.seq))).scalars()
            return [(r.actor, r.entity_id, r.details["status"]) for r in rows]


async def post(http: httpx.AsyncClient, body: bytes | dict, *, key: str | None = KEY_A,
               signature: str | None = None, headers: dict | None = None) -> httpx.Response:
    """A gateway's report to the platform: the raw body, signed with ``key`` (or ``signature`` as given)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = dict(headers or {})
    if signature is not None:
        sent["X-Signature"] = signature
    elif key is not None:
        sent["X-Signature"] = sign(raw, key)
    return await http.post(PATH, content=raw, headers={"Content-Type": "application/json", **sent})
