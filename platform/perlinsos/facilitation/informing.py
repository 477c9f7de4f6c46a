"""A facilitator records that they explained a decision to its household (in person, by a phone
call, at a village meeting): the decision's ``facilitator`` outbox row becomes DELIVERED — opened
as a task when the pilot's channels failed, or written now when the facilitator went first.

Retry-safe: the request's client key is kept with the record; the same key again gets the same
answer, another key ``ALREADY_INFORMED``. Refused with nothing stored: outside the facilitator's
villages, a decision no longer current, a time in the future or before the decision.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from perlinsos import audit, policy
from perlinsos.contract import PilotContext, Principal, Role
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, Notification, NotificationStatus, Registration
from perlinsos.db.types import utcnow
from perlinsos.facilitation.errors import problem
from perlinsos.facilitation.tasks import CHANNEL, task_key

n, d, r = Notification.__table__, Decision.__table__, Registration.__table__
DELIVERED = NotificationStatus.DELIVERED.value
CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock a little ahead is not "the future"


class How(enum.StrEnum):
    IN_PERSON = "IN_PERSON"
    PHONE_CALL = "PHONE_CALL"
    VILLAGE_MEETING = "VILLAGE_MEETING"


@dataclass(frozen=True)
class Informed:
    notification_id: int
    registration_id: int
    decision_id: int
    informed_at: datetime
    how: How
    note: str | None


def facilitates_in(principal: Principal | None, pilot: PilotContext | None) -> None:
    """Refuses anyone who is not a facilitator of some village of ``pilot``."""
    if principal is None:
        raise problem("UNAUTHENTICATED")
    if pilot is None:
        raise problem("PILOT_REQUIRED")
    if not any(s.role == Role.FACILITATOR and s.pilot_id in (None, pilot.id) for s in principal.scopes):
        raise problem("NOT_A_FACILITATOR")


def _answer(row, registration_id: int) -> Informed:
    record = (row.params or {})["informed"]
    return Informed(notification_id=row.id, registration_id=registration_id, decision_id=row.decision_id,
                    informed_at=datetime.fromisoformat(record["at"]), how=How(record["how"]), note=record.get("note"))


async def _task(conn, decision_id: int, lock: bool):
    stmt = select(n.c.id, n.c.decision_id, n.c.status, n.c.params).where(n.c.idempotency_key == task_key(decision_id))
    return (await conn.execute(stmt.with_for_update() if lock else stmt)).first()


async def record_informed(db: Database, principal: Principal | None, pilot: PilotContext | None, *,
                          notification_id: int | None, registration_id: int | None, informed_at: datetime,
                          how: How, note: str | None, client_key: str) -> Informed:
    facilitates_in(principal, pilot)
    if not 8 <= len(client_key) <= 100:
        raise problem("CLIENT_KEY_INVALID", field="clientKey")
    note = (note or "").strip() or None
    if note is not None and len(note) > 500:
        raise problem("NOTE_TOO_LONG", field="note")
    if informed_at.tzinfo is None or informed_at > utcnow() + CLOCK_SKEW:
        raise problem("INFORMED_AT_INVALID", field="informedAt")
    async with db.write() as session:
        conn = await session.connection()
        if notification_id is not None:
            target = (await conn.execute(select(n.c.decision_id).where(
                n.c.id == notification_id, n.c.pilot_id == pilot.id, n.c.decision_id.is_not(None)))).first()
            if target is None:
                raise problem("NOTIFICATION_OR_REGISTRATION_NOT_FOUND", field="id")
            decision = (await conn.execute(select(d).where(d.c.id == target.decision_id))).first()
        else:
            if (await conn.execute(select(r.c.id).where(r.c.id == registration_id, r.c.pilot_id == pilot.id))
                    ).first() is None:
                raise problem("NOTIFICATION_OR_REGISTRATION_NOT_FOUND", field="id")
            decision = (await conn.execute(select(d).where(d.c.registration_id == registration_id,
                                                           d.c.is_current.is_(True)))).first()
            if decision is None:
                raise problem("NOT_DECIDED", field="id")
        reg = (await conn.execute(select(r.c.id, r.c.region_code, r.c.person_id)
                                  .where(r.c.id == decision.registration_id))).one()
        if not policy.facilitator_covers(principal, reg.region_code, pilot.code):
            raise problem("FACILITATOR_OUT_OF_AREA", field="id")
        task = await _task(conn, decision.id, lock=not db.is_sqlite)
        if task is not None and task.status == DELIVERED:
            # the same request again (a dropped connection): the same answer; another: refused
            if (task.params or {}).get("informed", {}).get("client_key") == client_key:
                return _answer(task, reg.id)
            raise problem("ALREADY_INFORMED", field="id")
        if not decision.is_current:
            raise problem("DECISION_NOT_CURRENT", field="id")
        if informed_at < decision.decided_at:
            raise problem("INFORMED_AT_INVALID", field="informedAt")
        record = {"client_key": client_key, "at": informed_at.isoformat(), "how": how.value, "note": note,
                  "by": principal.subject, "by_issuer": principal.issuer}
        now = utcnow()
        if task is not None:
            await conn.execute(update(n).where(n.c.id == task.id, n.c.status != DELIVERED).values(
                status=DELIVERED, params={**(task.params or {}), "informed": record}, last_error=None))
        else:  # informed before any channel gave up (or the pilot lists no facilitator channel)
            dialect = sqlite if db.is_sqlite else postgresql
            await conn.execute(dialect.insert(n).on_conflict_do_nothing(index_elements=["idempotency_key"]).values(
                person_id=reg.person_id, pilot_id=pilot.id, decision_id=decision.id, channel=CHANNEL,
                recipient=None, template=f"DECISION_{getattr(decision.outcome, 'value', decision.outcome)}",
                language="id", params={"informed": record}, status=DELIVERED, attempts=0, next_attempt_at=now,
                sent_at=now, created_at=now, idempotency_key=task_key(decision.id)))
        task = await _task(conn, decision.id, lock=False)
        if (task.params or {}).get("informed", {}).get("client_key") != client_key:
            raise problem("ALREADY_INFORMED", field="id")  # another facilitator's record won the race
        await audit.record_change(session, principal, action="HOUSEHOLD_INFORMED", entity_type="notification",
                                  entity_id=task.id, subject_person_id=reg.person_id, purpose="notification",
                                  details={"decision_id": decision.id, "how": how.value})
        return _answer(task, reg.id)
