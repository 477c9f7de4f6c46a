"""The plugin manager: discovery through entry points, validation, per-pilot hook subsets.

Built-in plugins and a region's plugins are found the same way: entry points in group
``perlinsos``. The entry point's name is the plugin's name, which pilots use to enable it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Iterable, Mapping
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from perlinsos import PROJECT_NAME, hookspecs
from perlinsos.contract import PilotContext, SchemaPart
from perlinsos.errors import PluginError

log = logging.getLogger(__name__)

#: Plugins of the core itself: always enabled, in every pilot (like datasette's default plugins).
CORE_PLUGINS: tuple[str, ...] = ()


def _describe(plugin: Any) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


class PluginManager:
    """Loads and validates plugins once, then hands out per-pilot hook callers."""

    def __init__(
        self,
        *,
        extra_plugins: Iterable[str | ModuleType | tuple[str, Any]] = (),
        disabled: Iterable[str] = (),
        load_entry_points: bool = True,
    ):
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}  # plugin name → where it came from
        disabled = set(disabled)
        for name in CORE_PLUGINS:
            self._register(importlib.import_module(name), name, "core")
        if load_entry_points:
            for ep in sorted(metadata.entry_points(group=PROJECT_NAME), key=lambda e: e.name):
                if ep.name in disabled:
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:  # noqa: BLE001 - any import failure names the plugin
                    raise PluginError(ep.name, f"cannot be imported ({ep.value}): {exc}") from exc
                dist = getattr(ep, "dist", None)
                origin = f"{dist.name} {dist.version}" if dist else ep.value
                self._register(plugin, ep.name, origin)
        for extra in extra_plugins:
            if isinstance(extra, tuple):
                name, plugin = extra
            elif isinstance(extra, str):
                try:
                    plugin = importlib.import_module(extra)
                except ImportError as exc:
                    raise PluginError(extra, f"cannot be imported: {exc}") from exc
                name = extra
            else:
                plugin, name = extra, extra.__name__
            self._register(plugin, name, "extra")
        self._check_pending()
        self._subsets: dict[frozenset[str], PilotHooks] = {}
        self._settings_models: dict[str, Any] | None = None

    # --- loading and validation ----------------------------------------------------------------

    def _register(self, plugin: Any, name: str, origin: str) -> None:
        if self.pm.has_plugin(name):
            raise PluginError(name, f"registered twice ({self.sources[name]} and {origin})")
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(name, f"does not match the hook contract: {exc}") from exc
        self.sources[name] = origin

    def _check_pending(self) -> None:
        known = {n for names in hookspecs.FAMILIES.values() for n in names}
        for name in self.names():
            plugin = self.pm.get_plugin(name)
            for attr in dir(plugin):
                opts = self.pm.parse_hookimpl_opts(plugin, attr)
                if opts is not None and attr not in known:
                    # pluggy would also catch this in check_pending(); we name the plugin clearly.
                    raise PluginError(
                        name,
                        f"implements unknown hook {attr!r} (known hooks: {', '.join(sorted(known))})",
                    )
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(self.pm.get_name(exc.plugin) or "?", str(exc)) from exc

    # --- introspection ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(n for n, _ in self.pm.list_name_plugin())

    def get(self, name: str) -> Any:
        return self.pm.get_plugin(name)

    def hooks_of(self, name: str) -> list[str]:
        """The hooks plugin ``name`` implements, in contract order."""
        plugin = self.pm.get_plugin(name)
        implemented = {caller.name for caller in self.pm.get_hookcallers(plugin) or []}
        order = [n for names in hookspecs.FAMILIES.values() for n in names]
        return [n for n in order if n in implemented]

    # --- settings --------------------------------------------------------------------------------

    def settings_model(self, name: str) -> Any:
        """The pydantic settings model plugin ``name`` declares (``None`` when it has none)."""
        if self._settings_models is None:
            self._settings_models = {}
            for plugin_name in self.names():
                others = [p for n, p in self.pm.list_name_plugin() if n != plugin_name]
                caller = self.pm.subset_hook_caller("plugin_settings_schema", others)
                results = [r for r in caller() if r is not None]
                self._settings_models[plugin_name] = results[0] if results else None
        return self._settings_models.get(name)

    def validate_settings(self, name: str, settings: Mapping[str, Any] | None) -> Any:
        """Validate a pilot's settings for plugin ``name``; raises ``PluginSettingsError``."""
        from pydantic import ValidationError

        if not self.pm.has_plugin(name):
            raise UnknownPlugin(name, self.names())
        model = self.settings_model(name)
        settings = dict(settings or {})
        if model is None:
            if settings:
                raise PluginSettingsError(name, [(k, "this plugin takes no settings") for k in settings])
            return {}
        try:
            return model.model_validate(settings)
        except ValidationError as exc:
            problems = [(".".join(str(p) for p in err["loc"]) or "(root)", err["msg"]) for err in exc.errors()]
            raise PluginSettingsError(name, problems) from None

    # --- calling ---------------------------------------------------------------------------------

    def for_pilot(self, pilot: PilotContext) -> PilotHooks:
        """Hook callers limited to the plugins ``pilot`` enables (plus the core's own)."""
        enabled = frozenset(pilot.plugins) | frozenset(CORE_PLUGINS)
        subset = self._subsets.get(enabled)
        if subset is None:
            unknown = sorted(n for n in pilot.plugins if not self.pm.has_plugin(n))
            if unknown:
                raise UnknownPlugin(unknown[0], self.names())
            excluded = [p for n, p in self.pm.list_name_plugin() if n not in enabled]
            subset = self._subsets[enabled] = PilotHooks(self.pm, excluded)
        return subset.bind(pilot)

    def schema_parts(self) -> list[tuple[str, SchemaPart]]:
        """Every installed plugin's GraphQL contribution, with the plugin's name."""
        parts = []
        for name in self.names():
            others = [p for n, p in self.pm.list_name_plugin() if n != name]
            caller = self.pm.subset_hook_caller("graphql_schema_parts", others)
            for part in caller():
                if part is None:
                    continue
                if not isinstance(part, SchemaPart):
                    raise PluginError(name, "graphql_schema_parts must return a SchemaPart or None")
                parts.append((name, part))
        return parts


class UnknownPlugin(PluginError):
    def __init__(self, name: str, known: Iterable[str]):
        super().__init__(name, f"is not installed (installed plugins: {', '.join(known) or 'none'})")


class PluginSettingsError(PluginError):
    def __init__(self, name: str, problems: list[tuple[str, str]]):
        detail = "; ".join(f"setting {field!r}: {msg}" for field, msg in problems)
        super().__init__(name, f"invalid settings: {detail}")
        self.problems = problems


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class PilotHooks:
    """Callers for one set of enabled plugins. ``bind`` fixes the pilot argument."""

    def __init__(self, pm: pluggy.PluginManager, excluded: list[Any], pilot: PilotContext | None = None):
        self._pm = pm
        self._excluded = excluded
        self._callers: dict[str, Any] = {}
        self.pilot = pilot

    def bind(self, pilot: PilotContext) -> PilotHooks:
        bound = PilotHooks(self._pm, self._excluded, pilot)
        bound._callers = self._callers  # callers are per plugin set, shared between pilots
        return bound

    def caller(self, name: str):
        caller = self._callers.get(name)
        if caller is None:
            caller = self._callers[name] = self._pm.subset_hook_caller(name, self._excluded)
        return caller

    def _kwargs(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        spec = getattr(hookspecs, name)
        if "pilot" in inspect.signature(spec).parameters:
            kwargs.setdefault("pilot", self.pilot)
        return kwargs

    def has_impls(self, name: str) -> bool:
        return bool(self.caller(name).get_hookimpls())

    async def all(self, name: str, **kwargs: Any) -> list[Any]:
        """Call every enabled implementation and await the awaitables (concurrently)."""
        results = self.caller(name)(**self._kwargs(name, kwargs))
        if any(inspect.isawaitable(r) for r in results):
            results = await asyncio.gather(*(_resolve(r) for r in results))
        return list(results)

    async def merged(self, name: str, **kwargs: Any) -> list[Any]:
        """``all`` flattened: for hooks whose implementations return iterables."""
        merged: list[Any] = []
        for result in await self.all(name, **kwargs):
            if result is not None:
                merged.extend(result)
        return merged

    async def first(self, name: str, **kwargs: Any) -> Any:
        """The first non-``None`` result, awaiting as it goes; later awaitables are closed."""
        results = self.caller(name)(**self._kwargs(name, kwargs))
        found = None
        for result in results:
            if found is not None:
                if inspect.iscoroutine(result):
                    result.close()  # not needed; avoid "never awaited" warnings
                continue
            found = await _resolve(result)
        return found

    async def notify(self, name: str, **kwargs: Any) -> None:
        """Run an event hook; a failing plugin is logged and never breaks the caller."""
        for impl in self.caller(name).get_hookimpls():
            try:
                await _resolve(impl.function(**{k: v for k, v in self._kwargs(name, kwargs).items() if k in impl.argnames}))
            except Exception:  # noqa: BLE001 - events must not undo committed work
                log.exception("plugin %s failed in event hook %s", impl.plugin_name, name)
