"""The aggregate queries behind the transparency figures: one GROUP BY per subject, per village.

Every query counts rows in the database and returns one row per (village, category); the
kecamatan and pilot figures are sums of these few aggregate rows (all counts here are additive:
each record belongs to exactly one village), so no record is ever read into Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from perlinsos.db.models import (
    Appeal,
    AppealStatus,
    Decision,
    DecisionReason,
    Notification,
    Outcome,
    Person,
    Registration,
    Verdict,
)

OPEN_APPEALS = (AppealStatus.SUBMITTED.value, AppealStatus.UNDER_REVIEW.value)
RESOLVED_APPEALS = (AppealStatus.UPHELD.value, AppealStatus.DISMISSED.value, AppealStatus.WITHDRAWN.value)

#: (village, category) -> count
Counts = dict[tuple[str, str], int]


@dataclass
class RawCounts:
    registrations: Counts = field(default_factory=dict)  # category: channel
    decisions: Counts = field(default_factory=dict)  # category: outcome of the current decision
    reasons: Counts = field(default_factory=dict)  # category: criterion code failed by a NOT_ELIGIBLE decision
    appeal_status: Counts = field(default_factory=dict)
    appeal_outcome: Counts = field(default_factory=dict)  # resolved appeals, by the decision they ended with
    overdue: Counts = field(default_factory=dict)  # category: "OVERDUE"
    notifications: Counts = field(default_factory=dict)  # category: "channel|status"


def _value(v) -> str:
    return getattr(v, "value", v)


async def _into(session: AsyncSession, stmt, target: Counts) -> None:
    for region, category, n in (await session.execute(stmt)).all():
        key = (region, _value(category))
        target[key] = target.get(key, 0) + int(n)


async def count_all(session: AsyncSession, pilot_id: int, now: datetime) -> RawCounts:
    """The whole pilot's counts per village: suppression is decided on all of them, whatever region
    is asked for (``figures.build`` cuts the answer), so no region filter here."""
    reg, dec = Registration, Decision
    raw = RawCounts()
    pilot_column = reg.pilot_id
    if session.bind.dialect.name == "sqlite":
        # SQLite otherwise walks the (pilot_id, region_code) index and fetches every row at random
        # (villages interleave in insertion order); a whole pilot reads faster as a plain scan:
        # 5x at 200,000 registrations (bench/stats.py). "+ 0" keeps the index out of the plan.
        pilot_column = reg.pilot_id + 0
    in_scope = pilot_column == pilot_id

    await _into(session, select(reg.region_code, reg.channel, func.count())
                .where(in_scope).group_by(reg.region_code, reg.channel), raw.registrations)

    # the latest version of each registration's decision is the one flagged current
    # (selection clears the flag of the version it supersedes in the same transaction)
    current = and_(dec.registration_id == reg.id, dec.is_current.is_(True))
    await _into(session, select(reg.region_code, dec.outcome, func.count())
                .join(dec, current).where(in_scope).group_by(reg.region_code, dec.outcome), raw.decisions)

    reason = DecisionReason
    await _into(session, select(reg.region_code, reason.code, func.count())
                .join(dec, and_(current, dec.outcome == Outcome.NOT_ELIGIBLE))
                .join(reason, and_(reason.decision_id == dec.id, reason.verdict == Verdict.FAIL))
                .where(in_scope).group_by(reg.region_code, reason.code), raw.reasons)

    # appeals: one query for status, final outcome and the overdue count (appeals are few)
    appealed, final = aliased(Decision), aliased(Decision)
    overdue = func.sum(case((and_(Appeal.status.in_(OPEN_APPEALS), Appeal.review_due_at < now), 1), else_=0))
    rows = (await session.execute(
        select(reg.region_code, Appeal.status, final.outcome, func.count(), overdue)
        .select_from(Appeal)
        .join(appealed, appealed.id == Appeal.decision_id)
        .join(reg, reg.id == appealed.registration_id)
        .join(final, final.id == func.coalesce(Appeal.resulting_decision_id, Appeal.decision_id))
        .where(in_scope).group_by(reg.region_code, Appeal.status, final.outcome)
    )).all()
    for region, status, outcome, n, late in rows:
        status, n = _value(status), int(n)
        raw.appeal_status[(region, status)] = raw.appeal_status.get((region, status), 0) + n
        if status in RESOLVED_APPEALS:
            key = (region, _value(outcome))
            raw.appeal_outcome[key] = raw.appeal_outcome.get(key, 0) + n
        if late:
            raw.overdue[(region, "OVERDUE")] = raw.overdue.get((region, "OVERDUE"), 0) + int(late)

    # notifications belong to a person; their village places them
    n = Notification
    rows = (await session.execute(
        select(Person.region_code, n.channel, n.status, func.count())
        .join(Person, Person.id == n.person_id)
        .where(n.pilot_id == pilot_id)
        .group_by(Person.region_code, n.channel, n.status)
    )).all()
    for region, channel, status, count in rows:
        raw.notifications[(region, f"{channel}|{_value(status)}")] = int(count)
    return raw
