"""Rolling out pilots: the one path by which a pilot is created or changed, for the admin API and
the CLI alike. Everything is validated before anything is written; a refusal changes nothing.

Rules beyond the pilot file's own validation (:func:`perlinsos.pilots.files.parse_pilot`):

* a region may belong to only one pilot per programme at a time: two pilots whose active periods
  (registration opens .. the later of registration/appeal closing) overlap may not cover nested
  regions (35.10 and 35.10.15) for the same programme, or a household would have two pilots;
* codes are unique; an update names an existing pilot.

Every change is written to the audit log (which fields changed, never plugin setting values:
they may hold gateway credentials).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit, regions
from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Pilot
from perlinsos.pilots.files import PilotFileError, PilotSpec, parse_pilot
from perlinsos.pilots.store import get_pilot, save_pilot
from perlinsos.errors import PluginError
from perlinsos.plugins import PluginManager

#: How a secret setting is shown to an admin (pydantic's SecretStr in JSON); sent back unchanged in
#: an update it means "keep the stored value", so an edit form never needs the secret itself.
MASK = "**********"


class RolloutRefused(PilotFileError):
    """The pilot may not be stored as given. ``code`` is the problem catalogue's code."""

    def __init__(self, code: str, source: str, problems: list[tuple[str, str]]):
        super().__init__(source, problems)
        self.code = code


def spec_data(row: Pilot) -> dict[str, Any]:
    """A stored pilot as pilot-file data (the input of :func:`parse_pilot`)."""
    # the columns are UTCDateTime: aware on both engines
    phases = {"registration_opens": row.registration_opens_at, "registration_closes": row.registration_closes_at}
    if row.appeal_opens_at is not None or row.appeal_closes_at is not None:
        phases |= {"appeal_opens": row.appeal_opens_at, "appeal_closes": row.appeal_closes_at}
    return {
        "code": row.code, "name": row.name, "regions": list(row.region_codes), "programmes": list(row.programmes),
        "languages": list(row.languages), "phases": phases,
        "plugins": {name: dict(settings) for name, settings in row.plugins.items()},
        "templates": dict(row.templates or {}),
    }


def _active(opens: datetime, closes: datetime, appeal_closes: datetime | None) -> tuple[datetime, datetime]:
    return opens, max(closes, appeal_closes) if appeal_closes else closes


async def overlap_problems(session: AsyncSession, spec: PilotSpec) -> list[tuple[str, str]]:
    """Other pilots sharing a programme and a (nested) region with ``spec`` while both are active."""
    start, end = _active(spec.phases.registration_opens, spec.phases.registration_closes, spec.phases.appeal_closes)
    problems: list[tuple[str, str]] = []
    others = (await session.execute(select(Pilot).where(Pilot.code != spec.code).order_by(Pilot.id))).scalars()
    for other in others:
        o_start, o_end = _active(other.registration_opens_at, other.registration_closes_at, other.appeal_closes_at)
        if not (start < o_end and o_start < end):
            continue
        shared = [p for p in spec.programmes if p in other.programmes]
        if not shared:
            continue
        for i, code in enumerate(spec.regions):
            clash = next((r for r in other.region_codes
                          if regions.is_within(code, r) or regions.is_within(r, code)), None)
            if clash is not None:
                problems.append((f"regions.{i}", f"{code} overlaps {clash} of pilot {other.code} for "
                                                 f"{', '.join(shared)} while both are active"))
    return problems


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of what changed (``plugins.<name>`` per plugin added, removed or re-set), no values."""
    changed = [key for key in ("name", "regions", "programmes", "languages", "templates")
               if before.get(key) != after.get(key)]
    phases_before, phases_after = before.get("phases") or {}, after.get("phases") or {}
    changed += [f"phases.{k}" for k in sorted(set(phases_before) | set(phases_after))
                if phases_before.get(k) != phases_after.get(k)]
    plugins_before, plugins_after = before.get("plugins") or {}, after.get("plugins") or {}
    changed += [f"plugins.{n}" for n in sorted(set(plugins_before) | set(plugins_after))
                if plugins_before.get(n) != plugins_after.get(n)]
    return changed


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Plugin settings as stored (JSON column): what a pilot file gave, datetimes as ISO text."""
    return {name: {k: v.isoformat() if isinstance(v, datetime) else v for k, v in settings.items()}
            for name, settings in data.items()}


async def store(session: AsyncSession, principal: Principal | None, spec: PilotSpec, *,
                before: dict[str, Any] | None, actor: str | None = None) -> tuple[Pilot, bool]:
    """Check the cross-pilot rules, store ``spec`` and audit it, in the caller's transaction.
    ``actor`` names who acted when there is no principal (the CLI)."""
    if (await session.connection()).dialect.name == "postgresql":
        # Two concurrent rollouts could each pass the overlap check against the other's old state;
        # pilot writes take turns (SQLite's writers already do, BEGIN IMMEDIATE).
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('perlinsos.pilot-rollout', 0))"))
    problems = await overlap_problems(session, spec)
    if problems:
        raise RolloutRefused("PILOT_REGION_OVERLAP", spec.code, problems)
    spec = spec.model_copy(update={"plugins": _json_safe(spec.plugins)})
    row, created = await save_pilot(session, spec)
    after = spec.model_dump()
    if created:
        details = {"fields": sorted(k for k, v in after.items() if v), "plugins": sorted(spec.plugins)}
        await audit.record_change(session, principal, action="PILOT_CREATED", entity_type="pilot",
                                  entity_id=row.code, details=details, actor=actor)
    else:
        fields = changed_fields(before or {}, after)
        if fields:  # an update that changes nothing is no state change
            await audit.record_change(session, principal, action="PILOT_UPDATED", entity_type="pilot",
                                      entity_id=row.code, details={"fields": fields}, actor=actor)
    return row, created


async def create(db: Database, principal: Principal | None, data: dict[str, Any],
                 plugins: PluginManager) -> Pilot:
    """A new pilot from ``data`` (pilot-file shape). Raises :class:`PilotFileError` / :class:`RolloutRefused`."""
    spec = parse_pilot(data, plugins, source=str(data.get("code") or "<new pilot>"))
    try:
        async with db.write() as session:
            if await get_pilot(session, spec.code) is not None:
                raise RolloutRefused("PILOT_EXISTS", spec.code, [("code", f"{spec.code} already exists")])
            row, _ = await store(session, principal, spec, before=None)
            return row
    except IntegrityError:  # created by someone else between our check and our insert
        raise RolloutRefused("PILOT_EXISTS", spec.code, [("code", f"{spec.code} already exists")]) from None


async def update(db: Database, principal: Principal | None, code: str, changes: dict[str, Any],
                 plugins: PluginManager) -> Pilot:
    """Apply ``changes`` (pilot-file keys; absent = unchanged; ``phases`` merged key by key;
    ``plugins`` replaces the plugin set, a masked secret keeping the stored one) to pilot ``code``."""
    async with db.write() as session:
        row = await get_pilot(session, code)
        if row is None:
            raise RolloutRefused("PILOT_UNKNOWN", code, [("code", f"no pilot {code}")])
        before = spec_data(row)
        data = before | {k: v for k, v in changes.items() if k not in ("phases", "plugins", "code")}
        data["phases"] = before["phases"] | (changes.get("phases") or {})
        if "plugins" in changes:
            data["plugins"] = keep_secrets(changes["plugins"], before["plugins"], plugins)
        spec = parse_pilot(data, plugins, source=code)
        stored, _ = await store(session, principal, spec, before=before)
        return stored


def keep_secrets(new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]],
                 plugins: PluginManager) -> dict[str, dict[str, Any]]:
    """Secret settings sent back masked keep their stored value (only for secret fields)."""
    result = {}
    for name, settings in new.items():
        if not isinstance(settings, dict):  # not a table: parse_pilot refuses it, naming the plugin
            result[name] = settings
            continue
        settings = dict(settings)
        for key in secret_fields(plugins, name):
            if settings.get(key) == MASK and key in old.get(name, {}):
                settings[key] = old[name][key]
        result[name] = settings
    return result


def secret_fields(plugins: PluginManager, name: str) -> list[str]:
    """Settings of plugin ``name`` that hold secrets (``SecretStr``: write-only in its JSON schema)."""
    model = plugins.settings_model(name) if name in plugins.names() else None
    if model is None:
        return []
    properties = model.model_json_schema().get("properties", {})
    return sorted(k for k, prop in properties.items() if _write_only(prop))


def _write_only(prop: dict[str, Any]) -> bool:
    return bool(prop.get("writeOnly")) or any(_write_only(p) for p in prop.get("anyOf", []))


def shown_settings(plugins: PluginManager, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Stored settings as an admin sees them: validated, secrets masked."""
    try:
        model = plugins.validate_settings(name, settings)
    except PluginError:  # a plugin since upgraded or removed: show the keys, hide every value
        return {key: MASK for key in settings}
    if not hasattr(model, "model_dump"):
        return {}
    return model.model_dump(mode="json", exclude_unset=True)
