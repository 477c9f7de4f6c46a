"""What-if: evaluate a pilot's current decisions' stored inputs under proposed settings.

Nothing is written and no source is asked: the national office tunes a threshold on the facts
the last run saw, before rolling it out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import select

from perlinsos.contract import Fact, PilotContext, RegistrantRef
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, Registration
from perlinsos.plugins import PluginManager
from perlinsos.selection import evaluate as ev

CHUNK = 2000


@dataclass
class Preview:
    total: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failed_reasons: Counter = field(default_factory=Counter)
    pending_reasons: Counter = field(default_factory=Counter)


def with_settings(pilot: PilotContext, plugins: PluginManager, raw: dict[str, Any],
                  proposed: dict[str, dict[str, Any]]) -> PilotContext:
    """The pilot with ``proposed`` settings merged over the stored ones, validated per plugin
    (a wrong type raises ``PluginSettingsError`` naming the setting)."""
    merged = dict(pilot.plugins)
    for name, values in proposed.items():
        if name not in pilot.plugins:
            from perlinsos.plugins import UnknownPlugin

            raise UnknownPlugin(name, sorted(pilot.plugins))
        merged[name] = plugins.validate_settings(name, {**raw.get(name, {}), **values})
    return replace(pilot, plugins=merged)


async def preview(db: Database, plugins: PluginManager, pilot: PilotContext, raw_settings: dict[str, Any],
                  proposed: dict[str, dict[str, Any]], programme: str | None = None) -> Preview:
    hooks = plugins.for_pilot(with_settings(pilot, plugins, raw_settings, proposed))
    criteria: dict[str, list] = {}
    result = Preview()
    after = 0
    decision, reg = Decision.__table__, Registration.__table__
    while True:
        stmt = (select(decision.c.id, decision.c.registration_id, decision.c.inputs, reg.c.programme, reg.c.region_code)
                .join(reg, reg.c.id == decision.c.registration_id)
                .where(reg.c.pilot_id == pilot.id, decision.c.is_current.is_(True), decision.c.id > after)
                .order_by(decision.c.id).limit(CHUNK))
        if programme is not None:
            stmt = stmt.where(reg.c.programme == programme)
        async with db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return result
        for row in rows:
            if row.programme not in criteria:
                criteria[row.programme] = await ev.criteria_for(hooks, row.programme)
            facts = {name: Fact(row.registration_id, name, f.get("value"), f.get("source") or "",
                                _date(f.get("as_of")), f.get("error"))
                     for name, f in (row.inputs or {}).get("facts", {}).items()}
            ref = RegistrantRef(registration_id=row.registration_id, nik="", kk_number="",
                                region_code=row.region_code, programme=row.programme)
            evaluation = ev.evaluate(criteria[row.programme], facts, ref)
            result.total += 1
            result.outcomes[evaluation.outcome] += 1
            for r in evaluation.results:
                if r.verdict.value == "FAIL":
                    result.failed_reasons[r.code] += 1
                elif r.verdict.value == "UNKNOWN":
                    result.pending_reasons[r.code] += 1
        after = rows[-1].id


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value
