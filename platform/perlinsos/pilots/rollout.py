"""Rolling out pilots: the one path by which a pilot is created or changed, for the admin API and
the CLI alike. Everything is validated before anything is written; a refusal changes nothing.

Rules beyond the pilot file's own validation (:func:`perlinsos.pilots.files.parse_pilot`):

* a region may belong to only one pilot per programme at a time: two pilots whose active periods
  (registration opens .. the later of registration/appeal closing) overlap may not cover nested
  regions (35.10 and 35.10.15) for the same programme, or a household would have two pilots;
* codes are unique; an update names an existing pilot;
* a stored secret is never sent to a new place: an update that changes a setting saying where a
  plugin's secrets go (marked ``secret_destination``, :func:`secret_destinations`) must give those
  secrets again; a masked one is refused (:class:`SecretReentryRequired`), not kept;
* in production, no development secret (``dev-only-…``): refused in a pilot by ``parse_pilot``,
  and in a stored pilot at start-up (:func:`refuse_development_secrets`).

Every change is written to the audit log (which fields changed, never plugin setting values:
they may hold gateway credentials).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit, regions
from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Pilot
from perlinsos.pilots.files import PilotFileError, PilotSpec, development_secrets, parse_pilot
from perlinsos.pilots.store import get_pilot, list_pilots, save_pilot
from perlinsos.errors import ConfigurationError, PluginError
from perlinsos.plugins import PluginManager

#: How a secret setting is shown to an admin (pydantic's SecretStr in JSON); sent back unchanged in
#: an update it means "keep the stored value", so an edit form never needs the secret itself.
MASK = "**********"

#: JSON-schema keys of a plugin's settings (pydantic ``Field(json_schema_extra=...)``), see
#: docs/plugins.md, Settings: ``secret_destination`` marks a setting naming where the plugin's
#: secrets are sent; ``falls_back_to: "<plugin>"`` says that, left out, the setting is that
#: plugin's (a destination: where it sends its secrets; a secret: its secret).
SECRET_DESTINATION = "secret_destination"
FALLS_BACK_TO = "falls_back_to"


class RolloutRefused(PilotFileError):
    """The pilot may not be stored as given. ``code`` is the problem catalogue's code."""

    def __init__(self, code: str, source: str, problems: list[tuple[str, str]]):
        super().__init__(source, problems)
        self.code = code


class SecretReentryRequired(RolloutRefused):
    """An update would send a stored secret to a new place: the secret must be given again.
    The problems name the secret settings (``plugins.<name>.<setting>``)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        super().__init__("PILOT_INVALID", source, problems)


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
        "limits": dict(row.limits or {}),
        "notification": dict(row.notification or {}),
        "training": bool(row.training),
    }


def _active(opens: datetime, closes: datetime, appeal_closes: datetime | None) -> tuple[datetime, datetime]:
    return opens, max(closes, appeal_closes) if appeal_closes else closes


async def overlap_problems(session: AsyncSession, spec: PilotSpec) -> list[tuple[str, str]]:
    """Other pilots sharing a programme and a (nested) region with ``spec`` while both are active."""
    start, end = _active(spec.phases.registration_opens, spec.phases.registration_closes, spec.phases.appeal_closes)
    problems: list[tuple[str, str]] = []
    others = (await session.execute(select(Pilot).where(Pilot.code != spec.code).order_by(Pilot.id))).scalars()
    for other in others:
        if spec.training or other.training:  # a class on the synthetic population takes no one's place
            continue
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


def _set(section: dict[str, Any] | None) -> dict[str, Any]:
    """What a section sets ([notification] is stored without its unset keys)."""
    return {k: v for k, v in (section or {}).items() if v is not None}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of what changed (``plugins.<name>`` per plugin added, removed or re-set), no values."""
    changed = [key for key in ("name", "regions", "programmes", "languages", "templates", "limits")
               if before.get(key) != after.get(key)]
    if _set(before.get("notification")) != _set(after.get("notification")):
        changed.append("notification")
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
    if before is not None and bool(before.get("training")) != spec.training:
        # Fixed at creation: a real pilot turned training could be reset (its data deleted).
        raise RolloutRefused("PILOT_INVALID", spec.code,
                             [("training", "whether a pilot is a training pilot is fixed when it is created")])
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
            data["plugins"] = keep_secrets(changes["plugins"], before["plugins"], plugins, source=code)
        spec = parse_pilot(data, plugins, source=code)
        stored, _ = await store(session, principal, spec, before=before)
        return stored


def keep_secrets(new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]],
                 plugins: PluginManager, *, source: str = "<update>") -> dict[str, dict[str, Any]]:
    """Secret settings sent back masked keep their stored value (only for secret fields), unless
    the update moves where they are sent: then :class:`SecretReentryRequired` (see
    :func:`reentry_problems`), and nothing is kept."""
    problems = reentry_problems(new, old, plugins)
    if problems:
        raise SecretReentryRequired(source, problems)
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


def reentry_problems(new: dict[str, Any], old: dict[str, Any], plugins: PluginManager) -> list[tuple[str, str]]:
    """The secrets an update must give again because it changes where they are sent.

    A plugin's secrets go where its ``secret_destination`` settings say; one left out that
    ``falls_back_to`` another plugin follows that plugin's. When that place changes (compared with
    the stored pilot ``old``), each secret of the plugin sent masked is refused: the stored value
    would go to the new place, perhaps an attacker's. A secret left out that falls back to another
    plugin's is refused too when the plugin's own destination is set to a new place: the other
    plugin's stored secret would go there. Settings that are not valid are left to ``parse_pilot``."""
    problems: list[tuple[str, str]] = []
    for name, settings in new.items():
        if not isinstance(settings, dict):
            continue
        own, followed = _moved(plugins, name, new, old, frozenset())
        if not own and not followed:
            continue
        reason = ", ".join([*own, *followed])
        properties = _properties(plugins, name)
        for key in secret_fields(plugins, name):
            fallback = properties[key].get(FALLS_BACK_TO)
            if settings.get(key) == MASK:
                problems.append((f"plugins.{name}.{key}", f"re-enter the secret: {reason} changed, and a stored "
                                                          "secret is not sent to a new address"))
            elif settings.get(key) is None and fallback in new and (moved := [f for f, v in own.items() if v]):
                problems.append((f"plugins.{name}.{key}", f"enter the secret: {', '.join(moved)} changed, and "
                                                          f"without it the {fallback} plugin's would be sent there"))
    return problems


def _moved(plugins: PluginManager, name: str, new: dict[str, Any], old: dict[str, Any],
           seen: frozenset[str]) -> tuple[dict[str, str | None], list[str]]:
    """Why plugin ``name``'s secrets would go to a new place: its own destination settings that
    changed (with their new values), and, named ``plugins.<other>.<setting>``, those of the plugin
    a left-out destination follows. Both empty: the place did not change (or the new settings are
    not valid)."""
    fields = secret_destinations(plugins, name)
    if not fields or name in seen:
        return {}, []
    now = _destinations(plugins, name, new.get(name), fields)
    if now is None:
        return {}, []
    before = _destinations(plugins, name, old.get(name), fields) if name in old else dict.fromkeys(fields)
    own = {f: now[f] for f in fields if before is None or before[f] != now[f]}
    followed: list[str] = []
    properties = _properties(plugins, name)
    for field in fields:
        other = properties[field].get(FALLS_BACK_TO)
        if now[field] is None and isinstance(other, str) and other in new:
            other_own, other_followed = _moved(plugins, other, new, old, seen | {name})
            followed += [f"plugins.{other}.{f} (followed while {field} is not set)" for f in other_own]
            followed += other_followed
    return own, followed


def _destinations(plugins: PluginManager, name: str, settings: Any, fields: list[str]) -> dict[str, str | None] | None:
    """The destination settings as validated (``http://a`` and ``http://a/`` are one place); ``None``
    when the settings are not valid."""
    if not isinstance(settings, dict):
        return None
    try:
        model = plugins.validate_settings(name, settings)
    except PluginError:
        return None
    values = {f: getattr(model, f, None) for f in fields}
    return {f: None if v is None else str(v) for f, v in values.items()}


def _properties(plugins: PluginManager, name: str) -> dict[str, Any]:
    model = plugins.settings_model(name) if name in plugins.names() else None
    return _schema(model).get("properties", {}) if model is not None else {}


@functools.cache
def _schema(model: Any) -> dict[str, Any]:
    return model.model_json_schema()


def secret_fields(plugins: PluginManager, name: str) -> list[str]:
    """Settings of plugin ``name`` that hold secrets (``SecretStr``: write-only in its JSON schema)."""
    return sorted(k for k, prop in _properties(plugins, name).items() if _write_only(prop))


def secret_destinations(plugins: PluginManager, name: str) -> list[str]:
    """Settings of plugin ``name`` that say where its secrets are sent (``secret_destination`` in
    their JSON schema): changing one means giving the secrets again."""
    return sorted(k for k, prop in _properties(plugins, name).items() if prop.get(SECRET_DESTINATION))


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


async def development_secrets_in_use(db: Database, plugins: PluginManager) -> list[tuple[str, str, str]]:
    """(pilot, plugin, setting) of each stored pilot's secret that is a development default
    (``dev-only-…``: given, or the plugin's default). Settings that no longer validate are skipped
    (reading the pilot names them)."""
    async with db.read() as session:
        rows = await list_pilots(session)
    found = []
    for row in rows:
        for name, settings in row.plugins.items():
            try:
                validated = plugins.validate_settings(name, settings)
            except PluginError:
                continue
            found += [(row.code, name, path.rsplit(".", 1)[1]) for path in development_secrets({name: validated})]
    return found


class DevelopmentSecretsInUse(ConfigurationError):
    """Production may not start: stored pilots hold development secrets. ``found`` lists
    (pilot, plugin, setting)."""

    def __init__(self, found: list[tuple[str, str, str]]):
        listed = "; ".join(f"pilot {code}, plugin {name}, setting {key} (plugins.{name}.{key})"
                           for code, name, key in found)
        super().__init__(f"production refuses to start with development secrets (dev-only-…): {listed}. "
                         "Set the real secrets (perlinsos pilot load, or the plugin's environment variable) "
                         "and start again")
        self.found = found


async def refuse_development_secrets(db: Database, plugins: PluginManager) -> None:
    """Production start-up: raise :class:`DevelopmentSecretsInUse` when a stored pilot holds a
    development secret."""
    found = await development_secrets_in_use(db, plugins)
    if found:
        raise DevelopmentSecretsInUse(found)
