"""A citizen's own records, for the portal's "me" page: person, household, registrations,
consents, and one timeline across the four stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos.db.models import Appeal, Consent, Decision, Notification, Person, Registration


class TimelineKind(str, enum.Enum):
    CONSENT_GIVEN = "CONSENT_GIVEN"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    REGISTERED = "REGISTERED"
    DECIDED = "DECIDED"
    NOTIFIED = "NOTIFIED"
    APPEAL_FILED = "APPEAL_FILED"
    APPEAL_RESOLVED = "APPEAL_RESOLVED"


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: TimelineKind
    ref_type: str
    ref_id: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnRecords:
    person: Any
    registrations: list[Any]
    consents: list[Any]
    appeals: list[Any]
    timeline: list[TimelineItem]


async def own_records(conn: AsyncConnection, nik: str) -> OwnRecords | None:
    """Everything the platform holds in the citizen's own name (``None`` before first consent)."""
    person = (await conn.execute(select(Person.__table__).where(Person.nik == nik))).first()
    if person is None:
        return None
    regs = (await conn.execute(
        select(Registration.__table__).where(Registration.person_id == person.id).order_by(Registration.id)
    )).all()
    consents = (await conn.execute(
        select(Consent.__table__).where(Consent.person_id == person.id).order_by(Consent.id)
    )).all()
    reg_ids = [r.id for r in regs]
    decisions = (await conn.execute(
        select(Decision.__table__).where(Decision.registration_id.in_(reg_ids)).order_by(Decision.id)
    )).all() if reg_ids else []
    notifications = (await conn.execute(
        select(Notification.__table__).where(Notification.person_id == person.id, Notification.channel == "portal")
        .order_by(Notification.id)
    )).all()
    appeals = (await conn.execute(
        select(Appeal.__table__).where(Appeal.appellant_person_id == person.id).order_by(Appeal.id)
    )).all()

    items: list[TimelineItem] = []
    for c in consents:
        items.append(TimelineItem(c.given_at, TimelineKind.CONSENT_GIVEN, "Consent", c.id, {"scopes": list(c.scopes)}))
        if c.withdrawn_at:
            items.append(TimelineItem(c.withdrawn_at, TimelineKind.CONSENT_WITHDRAWN, "Consent", c.id))
    for r in regs:
        items.append(TimelineItem(r.submitted_at, TimelineKind.REGISTERED, "Registration", r.id,
                                  {"programme": r.programme, "channel": getattr(r.channel, "value", r.channel)}))
    for d in decisions:
        items.append(TimelineItem(d.decided_at, TimelineKind.DECIDED, "Decision", d.id,
                                  {"outcome": getattr(d.outcome, "value", d.outcome), "version": d.version}))
    for n in notifications:
        if n.sent_at:
            items.append(TimelineItem(n.sent_at, TimelineKind.NOTIFIED, "Notification", n.id, {"template": n.template}))
    for a in appeals:
        items.append(TimelineItem(a.submitted_at, TimelineKind.APPEAL_FILED, "Appeal", a.id, {"ground": a.ground}))
        if a.resolved_at:
            items.append(TimelineItem(a.resolved_at, TimelineKind.APPEAL_RESOLVED, "Appeal", a.id,
                                      {"status": getattr(a.status, "value", a.status)}))
    items.sort(key=lambda i: (i.at, i.kind))
    return OwnRecords(person=person, registrations=list(regs), consents=list(consents), appeals=list(appeals),
                      timeline=items)
