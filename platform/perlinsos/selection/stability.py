"""When a re-run writes a new decision version: only when what the citizen is told changes.

A routine run (cause SELECTION) compares each registration's fresh evaluation with its current
decision when their inputs digests differ:

* **A source failed** (a fact now carries an ``error``, or a fact the current decision had is
  missing): the criteria are evaluated again with the current decision's stored value in place of
  each failed read. If that gives what the citizen was already told, the only news is the
  failure: the current version stays (ELIGIBLE stays ELIGIBLE, not PENDING), and the attempt is
  recorded (the run's ``kept`` count, one ``DECISION_KEPT`` audit row per registration).
* **Otherwise** a new version (and its notifications) is written only when the outcome or a
  reason the citizen is shown changes: the set of reasons that did not pass, by code, verdict and
  detail, and the texts of the undecided ones (they say what is missing and what to do). The
  figures inside a failed reason's text (observed value, limit) are not a new reason: a limit
  moved by one rupiah that moves nobody across writes nothing and notifies no one.

A registration without a decision always gets one (PENDING if its sources are down: it has
nothing better). An appeal's re-decision (cause APPEAL) is written whenever its inputs changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos.contract import Criterion, Fact, RegistrantRef
from perlinsos.db.models import Decision, DecisionReason
from perlinsos.selection import evaluate as ev

#: the platform's own facts (consent, NIK, registrations elsewhere) never fail to be read
PLATFORM_PREFIX = "platform."
MISSING = "FACT_NOT_RETURNED"  # what a failed read of a fact the source did not return at all is recorded as
NEW, SAME, KEPT = "NEW", "SAME", "KEPT"

Visible = tuple[str, tuple[tuple[Any, ...], ...]]


@dataclass(frozen=True)
class Current:
    """A registration's current decision, as far as the rule needs it."""

    id: int
    version: int
    inputs: dict[str, Any]
    visible: Visible


@dataclass(frozen=True)
class Choice:
    kind: str  # NEW: write a version; SAME: nothing the citizen sees changed; KEPT: a source failed
    failed: dict[str, str] = field(default_factory=dict)  # fact name → its error, when KEPT


def _reason(code: str, verdict: str, detail: Any, messages: Mapping[str, Any] | None) -> tuple[Any, ...]:
    # An undecided reason's text says what is missing and what the citizen can do; a failed
    # reason's text restates figures (observed, limit) whose change is not a new reason.
    texts = tuple(sorted((str(k), str(v)) for k, v in (messages or {}).items())) if verdict == "UNKNOWN" else ()
    return code, verdict, detail, texts


def visible(outcome: str, reasons: Iterable[tuple[str, str, Any, Mapping[str, Any] | None]]) -> Visible:
    """What the citizen is told: the outcome and every reason that did not pass."""
    return outcome, tuple(sorted((_reason(*r) for r in reasons if r[1] != "PASS"), key=repr))


def visible_of(e: ev.Evaluation) -> Visible:
    return visible(e.outcome, ((r.code, r.verdict.value, r.detail, m) for r, m in zip(e.results, e.messages,
                                                                                    strict=True)))


def _value(v: Any) -> str:
    return getattr(v, "value", v)


async def load(conn: AsyncConnection, decision_ids: Sequence[int]) -> dict[int, Current]:
    """The current decisions ``decision_ids`` (by id) with their inputs and visible reasons."""
    if not decision_ids:
        return {}
    d, r = Decision.__table__, DecisionReason.__table__
    rows = (await conn.execute(select(d.c.id, d.c.version, d.c.outcome, d.c.inputs)
                               .where(d.c.id.in_(list(decision_ids))))).all()
    reasons: dict[int, list[tuple[str, str, Any, Any]]] = {row.id: [] for row in rows}
    for x in await conn.execute(select(r.c.decision_id, r.c.code, r.c.verdict, r.c.detail, r.c.messages)
                                .where(r.c.decision_id.in_(list(decision_ids)), r.c.verdict != "PASS")):
        reasons[x.decision_id].append((x.code, _value(x.verdict), x.detail, x.messages))
    return {row.id: Current(row.id, row.version, row.inputs or {}, visible(_value(row.outcome), reasons[row.id]))
            for row in rows}


def failed_reads(e: ev.Evaluation, current: Current) -> dict[str, str]:
    """Facts this run could not read that it read differently before: fact name → error."""
    now, before = e.inputs.get("facts", {}), (current.inputs or {}).get("facts", {})
    failed = {name: str(entry["error"])[:200] for name, entry in now.items()
              if not str(name).startswith(PLATFORM_PREFIX) and entry.get("error") is not None
              and before.get(name) != entry}
    failed.update({name: MISSING for name in before
                   if name not in now and not str(name).startswith(PLATFORM_PREFIX)})
    return failed


def _stored(registration_id: int, name: str, entry: Mapping[str, Any]) -> Fact:
    as_of = entry.get("as_of")
    return Fact(registration_id, name, entry.get("value"), entry.get("source") or "",
                date.fromisoformat(as_of) if isinstance(as_of, str) else as_of, entry.get("error"))


def choose(criteria: Sequence[Criterion], facts: Mapping[str, Fact], ref: RegistrantRef, e: ev.Evaluation,
           current: Current) -> Choice:
    """Whether ``e`` (from ``facts``) replaces ``current``: see the module's rule."""
    failed = failed_reads(e, current)
    if failed:
        before = current.inputs.get("facts", {})
        patched = {n: f for n, f in facts.items() if n not in failed}
        patched.update({n: _stored(ref.registration_id, n, before[n]) for n in failed if n in before})
        if visible_of(ev.evaluate(criteria, patched, ref)) == current.visible:
            return Choice(KEPT, failed)
    return Choice(SAME if visible_of(e) == current.visible else NEW)


__all__ = ["KEPT", "NEW", "SAME", "Choice", "Current", "choose", "failed_reads", "load", "visible", "visible_of"]
