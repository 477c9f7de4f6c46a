"""Rate limits for what costs money or storage: evidence uploads, appeals, consent (a call to the
identity provider and an audit row each), and notifications a user's action queues (SMS).

Counted per identity — ``(issuer, subject)``, never a bare subject — in fixed windows, in the
database, so every process of a deployment shares one count. A citizen has their own count; a
facilitator acting for a citizen is counted as well, per staff subject, with a higher limit (they
act for many households), and the citizen's count still applies (their phone gets the SMS).

Each pilot sets its limits in its pilot file (``[limits.<action>]``: ``citizen``, ``facilitator``,
``window_seconds``); what a pilot leaves out is :data:`DEFAULTS`.

One counter update is ``INSERT … ON CONFLICT DO UPDATE SET count = count + 1 WHERE count < limit
RETURNING count``: atomic on PostgreSQL (the row lock orders concurrent requests across processes)
and on SQLite (writers take turns). No row back means the limit is reached; the transaction is
rolled back, so a refused request counts nothing and the caller stores nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_serializer
from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from perlinsos.db.engine import Database
from perlinsos.db.models import Pilot, RateLimitWindow
from perlinsos.errors import Problem
from perlinsos.problems import MESSAGES

log = logging.getLogger(__name__)

DAY = 24 * 60 * 60

#: action → (citizen, facilitator, window in seconds) when the pilot file says nothing.
DEFAULTS: dict[str, tuple[int, int, int]] = {
    "evidence_upload": (30, 600, DAY),
    "appeal": (10, 200, DAY),           # filing; a withdraw-and-file loop is counted per filing
    "consent": (20, 500, DAY),          # giveConsent, a repeated one too (it writes an audit row)
    "notification": (10, 200, DAY),     # outbox rows (SMS) queued by a user's own action
}

#: what a person is told the action is
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "evidence_upload": ("unggah berkas bukti", "evidence uploads"),
    "appeal": ("pengajuan sanggah", "filing appeals"),
    "consent": ("pemberian persetujuan data", "giving data consent"),
    "notification": ("pemberitahuan (SMS)", "notifications (SMS)"),
}

#: rows of ended windows deleted when a new window opens (bounded: no request pays for a backlog)
SWEEP_BATCH = 100


class ActionLimit(BaseModel):
    """One action's limits in a pilot file; a key left out keeps its default."""

    model_config = ConfigDict(extra="forbid")

    citizen: StrictInt | None = Field(None, ge=1, le=1_000_000, description="per citizen per window")
    facilitator: StrictInt | None = Field(None, ge=1, le=1_000_000, description="per facilitator per window")
    window_seconds: StrictInt | None = Field(None, ge=60, le=31 * DAY, description="the window's length")

    @model_serializer(mode="wrap")
    def _compact(self, handler):
        # Stored and compared as given: a pilot that sets nothing stores {} (and defaults may evolve).
        return {k: v for k, v in handler(self).items() if v is not None}


class Limits(BaseModel):
    """A pilot file's ``[limits]``."""

    model_config = ConfigDict(extra="forbid")

    evidence_upload: ActionLimit = Field(default_factory=ActionLimit)
    appeal: ActionLimit = Field(default_factory=ActionLimit)
    consent: ActionLimit = Field(default_factory=ActionLimit)
    notification: ActionLimit = Field(default_factory=ActionLimit)

    @model_serializer(mode="wrap")
    def _compact(self, handler):
        return {k: v for k, v in handler(self).items() if v}

    def rule(self, action: str) -> Rule:
        citizen, facilitator, window = DEFAULTS[action]
        given: ActionLimit = getattr(self, action)
        return Rule(action, given.citizen or citizen, given.facilitator or facilitator,
                    given.window_seconds or window)


@dataclass(frozen=True)
class Rule:
    action: str
    citizen: int
    facilitator: int
    window_seconds: int


class RateLimited(Problem):
    """The limit of an action is reached: try again after ``retry_after`` seconds (HTTP 429)."""

    status = 429

    def __init__(self, action: str, retry_after: int):
        id_base, en_base = MESSAGES["RATE_LIMITED"]
        id_action, en_action = ACTION_NAMES[action]
        super().__init__("RATE_LIMITED", {
            "id": f"{id_base} ({id_action}; coba lagi dalam {_wait(retry_after, 'id')})",
            "en": f"{en_base} ({en_action}; try again in {_wait(retry_after, 'en')})",
        })
        self.action = action
        self.retry_after = retry_after


def _wait(seconds: int, lang: str) -> str:
    for size, id_unit, en_unit in ((3600, "jam", "hour"), (60, "menit", "minute"), (1, "detik", "second")):
        if seconds >= size or size == 1:
            amount = math.ceil(seconds / size)
            return f"{amount} {id_unit}" if lang == "id" else f"{amount} {en_unit}{'s' if amount != 1 else ''}"
    raise AssertionError("unreachable")


def limits_of(stored: dict | None) -> Limits:
    """A stored pilot's limits (validated when the pilot was loaded; the defaults should a later
    version no longer read them, logged)."""
    try:
        return Limits.model_validate(stored or {})
    except ValidationError:
        log.error("stored pilot limits no longer valid; using the defaults")
        return Limits()


def _insert(dialect: str):
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def consume(db: Database, pilot, actions: str | Iterable[str], actor, *, now: float | None = None) -> None:
    """Count one of each of ``actions`` for ``actor`` (an :class:`~perlinsos.identity.auth.Actor`)
    in ``pilot``, or raise :class:`RateLimited` and count nothing. Call it before storing anything."""
    actions = (actions,) if isinstance(actions, str) else tuple(actions)
    now = time.time() if now is None else now
    table = RateLimitWindow.__table__
    async with db.write() as session:
        dialect = (await session.connection()).dialect.name
        stored = (await session.execute(select(Pilot.limits).where(Pilot.id == pilot.id))).scalar_one_or_none()
        limits = limits_of(stored)
        # Always the same order (citizen before facilitator, actions as listed): no lock cycles.
        for action in actions:
            rule = limits.rule(action)
            buckets = [("citizen", actor.citizen, rule.citizen)]
            if actor.facilitator is not None:
                buckets.append(("facilitator", actor.facilitator, rule.facilitator))
            start = int(now // rule.window_seconds) * rule.window_seconds
            end = start + rule.window_seconds
            for role, who, limit in buckets:
                stmt = _insert(dialect)(table).values(
                    pilot_id=pilot.id, action=action, role=role, issuer=who.issuer or "", subject=who.subject,
                    window_start=start, count=1, expires_at=end)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.pilot_id, table.c.action, table.c.role, table.c.issuer,
                                    table.c.subject, table.c.window_start],
                    set_={"count": table.c.count + 1}, where=table.c.count < limit,
                ).returning(table.c.count)
                count = (await session.execute(stmt)).scalar_one_or_none()
                if count is None:
                    raise RateLimited(action, max(1, math.ceil(end - now)))
                if count == 1:
                    await _sweep(session, dialect, int(now))


async def _sweep(session, dialect: str, now: int) -> None:
    """Delete a batch of ended windows. Runs when a window opens, so the table holds about one
    row per active identity and action; on PostgreSQL rows another sweeper holds are skipped."""
    table = RateLimitWindow.__table__
    key = (table.c.pilot_id, table.c.action, table.c.role, table.c.issuer, table.c.subject, table.c.window_start)
    ended = select(*key).where(table.c.expires_at <= now).limit(SWEEP_BATCH)
    if dialect == "postgresql":
        ended = ended.with_for_update(skip_locked=True)
    await session.execute(delete(table).where(tuple_(*key).in_(ended)))
