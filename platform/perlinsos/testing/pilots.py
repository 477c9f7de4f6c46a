"""Pilots for tests: from TOML text, validated exactly as ``perlinsos pilot load`` validates a file.

    pilot = pilot_from_toml(DEFAULT_PILOT_TOML + '''
    [plugins.banyuwangi_lahan]
    land_limit_m2 = 7500
    ''', pm)
    pilot.settings_for("banyuwangi_lahan").land_limit_m2   # 7500: your settings model, not a dict

Hooks receive the same :class:`~perlinsos.contract.PilotContext` in a deployment: each enabled
plugin's settings as the instance of the model its ``plugin_settings_schema`` returns (a plain
``dict`` only for a plugin without a schema).
"""

from __future__ import annotations

import tomllib
from typing import Any

from perlinsos.contract import PilotContext
from perlinsos.pilots.files import PilotFileError, PilotSpec, parse_pilot
from perlinsos.plugins import PluginManager

#: A minimal valid pilot: Kabupaten Banyuwangi (35.10), PKH, registration and appeals open, no
#: plugins. Append ``[plugins.<name>]`` tables to enable yours (and the kit's sign-in, which the
#: ``perlinsos_pilot`` fixture enables for you).
DEFAULT_PILOT_TOML = """\
code = "BWI-2025"
name = "Uji coba Kabupaten Banyuwangi"
regions = ["35.10"]
programmes = ["PKH"]
languages = ["id", "en"]

[phases]
registration_opens = 2025-08-01T00:00:00+07:00
registration_closes = 2030-06-30T23:59:59+07:00
appeal_opens = 2025-09-01T00:00:00+07:00
appeal_closes = 2030-07-31T23:59:59+07:00
"""


def parse_pilot_toml(text: str, plugins: PluginManager, *, source: str = "<toml>") -> PilotSpec:
    """The validated :class:`~perlinsos.pilots.files.PilotSpec` of pilot-file ``text`` (raises
    :class:`~perlinsos.pilots.files.PilotFileError` naming each bad field, as ``pilot load`` does)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PilotFileError(source, [("(file)", f"not valid TOML: {exc}")]) from None
    return parse_pilot(data, plugins, source=source)


def context_for(spec: PilotSpec, plugins: PluginManager, pilot_id: int | None = None) -> PilotContext:
    """The hook context of ``spec``: each plugin's settings validated into its settings model."""
    validated: dict[str, Any] = {name: plugins.validate_settings(name, settings)
                                 for name, settings in spec.plugins.items()}
    return PilotContext(
        id=pilot_id, code=spec.code, name=spec.name, region_codes=tuple(spec.regions),
        programmes=tuple(spec.programmes), plugins=validated,
        phases={"registration_opens": spec.phases.registration_opens,
                "registration_closes": spec.phases.registration_closes,
                "appeal_opens": spec.phases.appeal_opens, "appeal_closes": spec.phases.appeal_closes},
    )


def pilot_from_toml(text: str, plugins: PluginManager, *, source: str = "<toml>") -> PilotContext:
    """The :class:`~perlinsos.contract.PilotContext` of pilot-file ``text`` (not stored; ``id`` is
    ``None``), validated as ``perlinsos pilot load`` validates a file. Use it to call hooks:
    ``await plugins.for_pilot(pilot).merged("eligibility_criteria", programme="PKH")``."""
    return context_for(parse_pilot_toml(text, plugins, source=source), plugins)


async def store_pilot(db: Any, text: str, plugins: PluginManager, *, source: str = "<toml>") -> PilotContext:
    """Validate pilot-file ``text`` and store it in ``db`` (a :class:`perlinsos.db.engine.Database`)
    as ``perlinsos pilot load`` does (insert or update by code; pilots may not overlap; audited);
    returns the stored pilot's context, read back from the database."""
    from perlinsos.pilots import rollout
    from perlinsos.pilots.store import get_pilot, pilot_context

    spec = parse_pilot_toml(text, plugins, source=source)
    async with db.write() as session:
        existing = await get_pilot(session, spec.code)
        before = rollout.spec_data(existing) if existing is not None else None
        row, _ = await rollout.store(session, None, spec, before=before, actor="system:test")
        return pilot_context(row, plugins)


def enable(text: str, plugin: str, settings_toml: str = "") -> str:
    """``text`` with a ``[plugins.<plugin>]`` table appended unless it already has one."""
    data = tomllib.loads(text)
    if plugin in data.get("plugins", {}):
        return text
    return f"{text.rstrip()}\n\n[plugins.{plugin}]\n{settings_toml}"
