"""Turning an outbox row into texts and finding its channel: per claimed batch, everything the
texts need (decision reasons, programme, pilot) is read in a few queries, not per row."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from perlinsos.db.engine import Database
from perlinsos.db.models import Appeal, Decision, DecisionReason, Pilot, Registration
from perlinsos.idnumbers import mask_nik
from perlinsos.notification.minimal import MINIMAL, detail_of, minimal_values
from perlinsos.notification.templates import Rendered, render
from perlinsos.pilots import store
from perlinsos.plugins import PluginManager

log = logging.getLogger(__name__)
ORDER = {"FAIL": 0, "UNKNOWN": 1, "PASS": 2}


class Renderer:
    def __init__(self, db: Database, plugins: PluginManager, portal_url: str):
        self.db, self.plugins, self.portal_url = db, plugins, portal_url
        self._pilots: dict[int, Any] = {}
        self._channels: dict[int, dict[str, Any]] = {}
        self._context: dict[int, dict[str, Any]] = {}  # notification id → values for its texts

    async def _pilot(self, pilot_id: int):
        if pilot_id not in self._pilots:
            async with self.db.read() as session:
                row = await session.get(Pilot, pilot_id)
            self._pilots[pilot_id] = (row, store.pilot_context(row, self.plugins)) if row else (None, None)
        return self._pilots[pilot_id]

    async def channel(self, pilot_id: int | None, name: str):
        if pilot_id is None:
            return None
        if pilot_id not in self._channels:
            _, context = await self._pilot(pilot_id)
            found: dict[str, Any] = {}
            if context is not None:
                for plugin, result in await self.plugins.for_pilot(context).settled("notification_channels"):
                    if isinstance(result, Exception):
                        log.warning("plugin %s: notification_channels failed: %r", plugin, result)
                        continue
                    for channel in result or ():
                        found.setdefault(channel.name, channel)
            self._channels[pilot_id] = found
        return self._channels[pilot_id].get(name)

    async def prepare(self, rows: Sequence[Any]) -> None:
        """Read what the batch's texts need: reasons, programme and ground, in a few queries."""
        decision_ids = {r.decision_id for r in rows if r.decision_id}
        appeal_ids = {r.appeal_id for r in rows if r.appeal_id}
        d, reg, reason, appeal = Decision.__table__, Registration.__table__, DecisionReason.__table__, Appeal.__table__
        async with self.db.engine.connect() as conn:
            appeals = {a.id: a for a in await conn.execute(select(appeal).where(appeal.c.id.in_(appeal_ids)))} \
                if appeal_ids else {}
            decision_ids |= {a.decision_id for a in appeals.values()}
            decisions = {x.id: x for x in await conn.execute(
                select(d.c.id, d.c.version, reg.c.programme, reg.c.pilot_id)
                .join(reg, reg.c.id == d.c.registration_id).where(d.c.id.in_(decision_ids)))} if decision_ids else {}
            reasons: dict[int, list[Any]] = defaultdict(list)
            if decision_ids:
                # the texts name failed and unknown reasons only: passed ones are not read
                for x in await conn.execute(select(reason.c.decision_id, reason.c.code, reason.c.verdict,
                                                   reason.c.messages)
                                            .where(reason.c.decision_id.in_(decision_ids),
                                                   reason.c.verdict != "PASS")
                                            .order_by(reason.c.decision_id, reason.c.id)):
                    reasons[x.decision_id].append(x)
        for row in rows:
            a = appeals.get(row.appeal_id) if row.appeal_id else None
            decision = decisions.get(row.decision_id or (a.decision_id if a else None))
            pilot_row, _ = await self._pilot(row.pilot_id) if row.pilot_id else (None, None)
            texts = [x for x in sorted(reasons.get(decision.id, []) if decision else [],
                                       key=lambda x: ORDER.get(getattr(x.verdict, "value", x.verdict), 3))
                     if getattr(x.verdict, "value", x.verdict) != "PASS"]
            # the texts' values are made in render, for the row's language and detail only
            self._context[row.id] = (decision, a, pilot_row, texts)

    def _values(self, row: Any, lang: str, minimal: bool) -> dict[str, Any]:
        decision, a, pilot_row, texts = self._context.pop(row.id)
        values = {
            "programme": decision.programme if decision else "", "version": decision.version if decision else "",
            "pilot": pilot_row.name if pilot_row else "", "portal_url": self.portal_url,
            "ground": a.ground if a else "", "resolution": (a.resolution_note or "") if a else "",
        }
        if minimal:
            values.update(minimal_values([x.code for x in texts], lang))
        else:
            values["reasons"] = "\n".join(f"- {(x.messages or {}).get(lang, '')}" for x in texts)
            values["main_reason"] = (texts[0].messages or {}).get(lang, "") if texts else ""
        return values

    async def render(self, row: Any, person: Any) -> Rendered:
        """The texts of ``row``: in full for the portal inbox (read behind sign-in) and for a channel
        that declares ``detail = "full"``; minimal for every other channel (no amounts, no flags
        about anyone: :mod:`perlinsos.notification.minimal`)."""
        if row.id not in self._context:
            await self.prepare([row])
        lang = row.language if row.language in ("id", "en") else "id"
        minimal = row.channel != "portal" and detail_of(await self.channel(row.pilot_id, row.channel)) == MINIMAL
        values = self._values(row, lang, minimal)
        values["nik"] = mask_nik(person.nik) if person is not None else ""
        pilot_row, _ = await self._pilot(row.pilot_id) if row.pilot_id else (None, None)
        text = render(row.template, lang, values, pilot_row.templates if pilot_row else None, minimal=minimal)
        if pilot_row is not None and getattr(pilot_row, "training", False):
            # a class's texts must never pass for a real decision (perlinsos.pilots.training)
            from perlinsos.pilots.training import mark

            text = Rendered(title=mark(text.title, lang), body=mark(text.body, lang), short=mark(text.short, lang))
        return text
