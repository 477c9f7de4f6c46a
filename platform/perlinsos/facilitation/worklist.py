"""The facilitator's worklist: every registered household of the villages they facilitate in the
pilot, with where it stands, a page at a time (keyset on the registration id), and the counts per
village and state. Identifiers leave masked as :mod:`perlinsos.policy.identifiers` says.

Households the platform does not know before they register (it learns a household from IKD when
it registers) are not listed: the worklist starts from registrations.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos import policy
from perlinsos.contract import Principal
from perlinsos.db.models import (Appeal, AppealStatus, Consent, Decision, DecisionReason, Notification,
                                 NotificationStatus, Person, Registration)
from perlinsos.facilitation.reasons import reason_text
from perlinsos.facilitation.tasks import CHANNEL
from perlinsos.policy import identifiers

OPEN_APPEALS = (AppealStatus.SUBMITTED.value, AppealStatus.UNDER_REVIEW.value)
DECIDED_APPEALS = (AppealStatus.UPHELD.value, AppealStatus.DISMISSED.value)
r, pe, d, co = Registration.__table__, Person.__table__, Decision.__table__, Consent.__table__
n, a, reason = Notification.__table__, Appeal.__table__, DecisionReason.__table__


class State(enum.StrEnum):
    CONSENT_MISSING = "CONSENT_MISSING"  # no consent in force (never given, withdrawn, expired)
    REGISTERED = "REGISTERED"  # registered, no decision yet (or still pending)
    NOT_INFORMED = "NOT_INFORMED"  # decided; no channel has reached the household yet
    INFORMED = "INFORMED"  # decided and delivered (SMS delivery report, or a facilitator in person)
    APPEAL_OPEN = "APPEAL_OPEN"
    APPEAL_DECIDED = "APPEAL_DECIDED"


@dataclass(frozen=True)
class Filters:
    village: str | None = None
    outcome: str | None = None
    not_informed: bool = False
    appeal_within_days: int | None = None
    search: str | None = None


@dataclass
class Item:
    registration_id: int
    person_id: int
    name: str
    nik: str
    village: str
    programme: str
    state: State
    outcome: str | None
    decision_id: int | None
    failed: list[tuple[str, str]] = field(default_factory=list)
    informed_via: str | None = None
    task_id: int | None = None
    appeal_status: str | None = None
    appeal_deadline: datetime | None = None


def _consent_ok(now: datetime):
    return and_(r.c.consent_id.is_not(None), co.c.withdrawn_at.is_(None),
                or_(co.c.expires_at.is_(None), co.c.expires_at > now))


def _base(columns, principal: Principal, pilot_id: int):
    current = and_(d.c.registration_id == r.c.id, d.c.is_current.is_(True))
    return (select(*columns).select_from(r.join(pe, pe.c.id == r.c.person_id).outerjoin(d, current)
                                         .outerjoin(co, co.c.id == r.c.consent_id))
            .where(policy.facilitator_villages_filter(principal, pilot_id)))


def _informed():
    return exists().where(n.c.decision_id == d.c.id, n.c.status == NotificationStatus.DELIVERED.value,
                          n.c.channel != "portal")


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(stmt, f: Filters, now: datetime, appeal_closes: datetime | None):
    if f.village is not None:
        stmt = stmt.where(r.c.region_code == f.village)
    if f.outcome is not None:
        stmt = stmt.where(d.c.outcome == f.outcome)
    if f.search:
        stmt = stmt.where(func.lower(pe.c.name).like(_like(f.search), escape="\\"))
    if f.not_informed:
        stmt = stmt.where(d.c.id.is_not(None), d.c.outcome != "PENDING", not_(_informed()))
    if f.appeal_within_days is not None:
        until = now + timedelta(days=f.appeal_within_days)
        ad = d.alias("appealed")
        due = exists().select_from(a.join(ad, ad.c.id == a.c.decision_id)).where(
            ad.c.registration_id == r.c.id, a.c.status.in_(OPEN_APPEALS), a.c.review_due_at >= now,
            a.c.review_due_at <= until)
        clauses = [due]
        if appeal_closes is not None and now <= appeal_closes <= until:
            # not eligible and not yet appealed: the pilot's appeal window closes within the days
            clauses.append(and_(d.c.outcome == "NOT_ELIGIBLE", not_(exists().where(a.c.decision_id == d.c.id))))
        stmt = stmt.where(or_(*clauses))
    return stmt


def _state(consent_ok: bool, outcome: str | None, informed: bool, appeal_status: str | None) -> State:
    if appeal_status in OPEN_APPEALS:
        return State.APPEAL_OPEN
    if appeal_status in DECIDED_APPEALS:
        return State.APPEAL_DECIDED
    if outcome is not None and outcome != "PENDING":
        return State.INFORMED if informed else State.NOT_INFORMED
    return State.REGISTERED if consent_ok else State.CONSENT_MISSING


async def _appeals(conn: AsyncConnection, *where) -> dict[int, Any]:
    """The latest appeal of each registration (against any of its decisions) ``where`` selects."""
    ad = d.alias("appealed")
    latest: dict[int, Any] = {}
    for row in await conn.execute(select(ad.c.registration_id, a.c.status, a.c.review_due_at, a.c.decision_id)
                                  .join(ad, ad.c.id == a.c.decision_id).join(r, r.c.id == ad.c.registration_id)
                                  .where(*where).order_by(a.c.id)):
        latest[row.registration_id] = row
    return latest


async def page(conn: AsyncConnection, principal: Principal, *, pilot_id: int, appeal_closes: datetime | None,
               filters: Filters, after_id: int | None, limit: int, language: str, now: datetime) -> list[Item]:
    """A page of the worklist in registration id order (``limit`` + 1 rows tell there is more)."""
    stmt = _base([r.c.id, r.c.person_id, r.c.region_code, r.c.programme, pe.c.name, pe.c.nik,
                  pe.c.region_code.label("person_region"), d.c.id.label("decision_id"), d.c.outcome,
                  _consent_ok(now).label("consent_ok")], principal, pilot_id)
    stmt = _filtered(stmt, filters, now, appeal_closes)
    if after_id is not None:
        stmt = stmt.where(r.c.id > after_id)
    rows = (await conn.execute(stmt.order_by(r.c.id).limit(limit))).all()
    if not rows:
        return []
    decision_ids = [x.decision_id for x in rows if x.decision_id is not None]
    sent: dict[int, list[Any]] = defaultdict(list)
    failed: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if decision_ids:
        for x in await conn.execute(select(n.c.id, n.c.decision_id, n.c.channel, n.c.status).where(
                n.c.decision_id.in_(decision_ids), n.c.channel != "portal").order_by(n.c.id)):
            sent[x.decision_id].append(x)
        for x in await conn.execute(select(reason).where(reason.c.decision_id.in_(decision_ids),
                                                         reason.c.verdict == "FAIL").order_by(reason.c.id)):
            failed[x.decision_id].append((x.code, reason_text(x, language)))
    appeals = await _appeals(conn, r.c.id.in_([x.id for x in rows]))
    items = []
    for x in rows:
        outcome = getattr(x.outcome, "value", x.outcome)
        notes = sent.get(x.decision_id, [])
        via = next((m.channel for m in notes if m.status == NotificationStatus.DELIVERED.value), None)
        task = next((m.id for m in notes if m.channel == CHANNEL and via is None), None)
        appeal = appeals.get(x.id)
        status = getattr(appeal.status, "value", appeal.status) if appeal else None
        deadline = appeal.review_due_at if status in OPEN_APPEALS else None
        if appeal is None and outcome == "NOT_ELIGIBLE" and appeal_closes is not None and appeal_closes >= now:
            deadline = appeal_closes  # the last day to appeal
        shown = identifiers.show_person(principal, nik=x.nik, birth_date=None, sex=None, region_code=x.person_region,
                                        pilot_id=pilot_id)  # assignments of this pilot count
        items.append(Item(
            registration_id=x.id, person_id=x.person_id, name=x.name, nik=shown.nik, village=x.region_code,
            programme=x.programme, state=_state(bool(x.consent_ok), outcome, via is not None, status),
            outcome=outcome, decision_id=x.decision_id, failed=failed.get(x.decision_id, []), informed_via=via,
            task_id=task, appeal_status=status, appeal_deadline=deadline))
    return items


async def counts(conn: AsyncConnection, principal: Principal, *, pilot_id: int, village: str | None,
                 now: datetime) -> list[tuple[str, State, int]]:
    """(village, state, households) for every state present, in village then state order."""
    stmt = _base([r.c.id, r.c.region_code, d.c.outcome, _consent_ok(now).label("consent_ok"),
                  _informed().label("informed")], principal, pilot_id)
    if village is not None:
        stmt = stmt.where(r.c.region_code == village)
    rows = (await conn.execute(stmt)).all()
    # the appeals of the same villages, joined rather than listed: a village has thousands
    appeals = await _appeals(conn, policy.facilitator_villages_filter(principal, pilot_id),
                             *([r.c.region_code == village] if village is not None else [])) if rows else {}
    found: Counter = Counter()
    for x in rows:
        appeal = appeals.get(x.id)
        status = getattr(appeal.status, "value", appeal.status) if appeal else None
        outcome = getattr(x.outcome, "value", x.outcome)
        found[(x.region_code, _state(bool(x.consent_ok), outcome, bool(x.informed), status))] += 1
    order = list(State)
    return [(v, s, c) for (v, s), c in sorted(found.items(), key=lambda i: (i[0][0], order.index(i[0][1])))]
