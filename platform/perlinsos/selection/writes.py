"""Writing a chunk's outcome in its transaction: new decision versions with their reasons and the
notifications they cause (outbox), the audit rows, and the record of decisions kept because a
source failed (:mod:`.stability`)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update

from perlinsos import audit
from perlinsos.db import bulk
from perlinsos.contract import Verdict
from perlinsos.db.models import Decision, DecisionReason, Notification
from perlinsos.notification import idempotency_key
from perlinsos.plugins import PilotHooks
from perlinsos.selection import evaluate as ev
from perlinsos.selection.chunks import Chunk
from perlinsos.selection.stability import Current

log = logging.getLogger(__name__)


async def decisions(conn, hooks: PilotHooks, chunk: Chunk, new: dict[int, ev.Evaluation], current: dict[int, Any],
                    run_id: str, cause: str, channels: list[Any], now,
                    note=None) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """Version n+1 (or 1) of each registration in ``new``, superseding its current one, with one
    reason row per criterion and the outbox rows; (registration id → decision id, the
    ``decisions_made`` event's items). ``note`` makes a decision's outbox rows (:func:`notifications`)."""
    note = note or notifications
    superseded = [current[rid].id for rid in new if rid in current]
    if superseded:
        await conn.execute(update(Decision.__table__).where(Decision.__table__.c.id.in_(superseded))
                           .values(is_current=False, superseded_at=now))
    rows = [{"registration_id": rid, "version": (current[rid].version + 1) if rid in current else 1,
             "outcome": e.outcome, "is_current": True, "criteria_versions": e.versions,
             "inputs_digest": e.digest, "cause": cause, "run_id": run_id,
             "decided_at": now, "inputs": e.inputs} for rid, e in new.items()]
    # Ids are taken before the insert (the sequence on PostgreSQL; past the largest on SQLite,
    # whose write lock this transaction holds), so the rows go in one executemany and need no
    # RETURNING, which SQLAlchemy sends as one statement per row on SQLite.
    table = Decision.__table__
    taken = await bulk.next_ids(conn, table, len(rows))
    ids = {row["registration_id"]: did for row, did in zip(rows, taken, strict=True)}
    await bulk.insert_rows(conn, table, ("id", *DECISION_COLUMNS),
                           [(ids[row["registration_id"]], *(row[c] for c in DECISION_COLUMNS)) for row in rows])
    reasons, notes, made = [], [], []
    plain = ev._plain
    for (rid, e), row in zip(new.items(), rows, strict=True):
        decision_id = ids[rid]
        versions = e.versions
        for result, texts in zip(e.results, e.messages, strict=True):
            observed, limit = result.observed, result.limit
            reasons.append((decision_id, result.code, result.verdict.value,
                            None if observed is None else {"value": plain(observed)},
                            None if limit is None else {"value": plain(limit)},
                            result.source, result.as_of, versions[result.code], result.detail, texts))
        notes += note(decision_id, chunk.person_ids[rid], hooks.pilot.id, e, row, channels, now)
        made.append({"decision_id": decision_id, "registration_id": rid, "version": row["version"],
                     "outcome": e.outcome, "failed": [r.code for r in e.results if r.verdict is Verdict.FAIL]})
    # Straight to the driver's executemany (db/bulk.py): the same values, without SQLAlchemy's
    # per-row parameter handling, which cost as much as SQLite's own work for these ~5,000 rows.
    await bulk.insert_rows(conn, DecisionReason.__table__, REASON_COLUMNS, reasons)
    if notes:
        columns = tuple(notes[0])
        await bulk.insert_rows(conn, Notification.__table__, columns, [tuple(n[c] for c in columns) for n in notes])
    return ids, made


DECISION_COLUMNS = ("registration_id", "version", "outcome", "is_current", "criteria_versions", "inputs_digest",
                    "cause", "run_id", "decided_at", "inputs")
REASON_COLUMNS = ("decision_id", "code", "verdict", "observed", "limit", "source", "as_of", "criterion_version",
                  "detail", "messages")


async def audit_chunk(session, run_id: str, cause: str, chunk: Chunk, processed: int, decision_ids: list[int]) -> None:
    """The chunk's audit rows, in its transaction: a read of each registrant's facts (so each
    citizen's access log shows the selection), and one row for the chunk's decisions with counts
    and id range rather than one per decision (a national run makes millions; each decision row
    names its run and cause, so the range and run identify them)."""
    await audit.record_reads(session, None, chunk.person_ids.values(), purpose="selection",
                             actor="system:selection", details={"run_id": run_id})
    if decision_ids:
        await audit.record_change(session, None, actor="system:selection", action="DECISIONS_MADE",
                                  entity_type="selection_run", entity_id=run_id, purpose="selection",
                                  details={"cause": cause, "processed": processed, "decided": len(decision_ids),
                                           "decision_ids": [min(decision_ids), max(decision_ids)]})


async def audit_kept(session, run_id: str, kept: dict[int, tuple[Current, dict[str, str]]]) -> None:
    """One row per registration whose decision stayed because a source failed: the failed attempt,
    which facts could not be read and why, and the version that stays (no personal data)."""
    for rid, (current, failed) in kept.items():
        await audit.record_change(session, None, actor="system:selection", action="DECISION_KEPT",
                                  entity_type="registration", entity_id=rid, purpose="selection",
                                  details={"run_id": run_id, "decision_id": current.id, "version": current.version,
                                           "reason": "SOURCE_FAILED", "failed_facts": dict(sorted(failed.items()))})


async def channels_of(hooks: PilotHooks) -> list[Any]:
    channels = []
    for plugin, result in await hooks.settled("notification_channels"):
        if isinstance(result, Exception):
            log.warning("plugin %s: notification_channels failed: %r", plugin, result)
            continue
        channels.extend(result or ())
    return channels


def notifications(decision_id: int, person_id: int, pilot_id: int, e: ev.Evaluation, row: dict[str, Any],
                  channels: list[Any], now) -> list[dict[str, Any]]:
    """The outbox rows a decision causes: the portal inbox always, plus each enabled channel."""
    params = {"outcome": e.outcome, "version": row["version"],
              "reasons": [r.code for r in e.results if r.verdict is not Verdict.PASS]}
    template = f"DECISION_{e.outcome}"
    names = ["portal", *(getattr(c, "name", None) for c in channels)]
    return [{"person_id": person_id, "pilot_id": pilot_id, "decision_id": decision_id, "channel": name, "recipient": None,
             "template": template, "language": "id", "params": params, "status": "PENDING", "attempts": 0,
             "next_attempt_at": now, "idempotency_key": idempotency_key("decision", decision_id, name), "created_at": now}
            for name in dict.fromkeys(n for n in names if n)]
