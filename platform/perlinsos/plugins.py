"""The plugin manager: discovery through entry points, validation, per-pilot hook subsets.

Built-in plugins and a region's plugins are found the same way: entry points in group
``perlinsos``. The entry point's name is the plugin's name, which pilots use to enable it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
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
        national: Iterable[str] = ("ikd",),
        national_issuers: Iterable[str] = (),
        production: bool = False,
    ):
        #: plugins whose identity providers the deployment marks as national (Settings.national_providers),
        #: and the exact issuers they may have (Settings.national_issuers; empty: any)
        self.national = tuple(national)
        self.national_issuers = tuple(national_issuers)
        #: the deployment is production (Settings.production): pilots holding a development
        #: secret (``dev-only-…``) are refused (perlinsos.pilots.files.parse_pilot)
        self.production = production
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
        # Asked once at start-up, so a plugin with a broken settings schema fails here, named.
        self._settings_models: dict[str, Any] = {n: self._load_settings_model(n) for n in self.names()}

    # --- loading and validation ----------------------------------------------------------------

    def _register(self, plugin: Any, name: str, origin: str) -> None:
        if self.pm.has_plugin(name):
            raise PluginError(name, f"registered twice ({self.sources[name]} and {origin})")
        other = self.pm.get_name(plugin)
        if other is not None:
            raise PluginError(name, f"is the same plugin as {other!r} ({self.sources[other]}); register it once")
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
                if opts is None:
                    continue
                if attr not in known and not opts.get("optionalhook"):
                    # pluggy would also catch this in check_pending(); we name the plugin clearly.
                    raise PluginError(
                        name,
                        f"implements unknown hook {attr!r} (known hooks: {', '.join(sorted(known))})",
                    )
                if opts.get("wrapper") or opts.get("hookwrapper"):
                    # The platform calls implementations one by one to await them; a wrapper
                    # would be called as a plain implementation and silently do nothing.
                    raise PluginError(name, f"hook {attr!r}: hook wrappers are not supported")
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
        if plugin is None:
            raise UnknownPlugin(name, self.names())
        implemented = {caller.name for caller in self.pm.get_hookcallers(plugin) or []}
        order = [n for names in hookspecs.FAMILIES.values() for n in names]
        return [n for n in order if n in implemented]

    # --- settings --------------------------------------------------------------------------------

    def settings_model(self, name: str) -> Any:
        """The pydantic settings model plugin ``name`` declares (``None`` when it has none)."""
        return self._settings_models.get(name)

    def _load_settings_model(self, name: str) -> Any:
        others = [p for n, p in self.pm.list_name_plugin() if n != name]
        caller = self.pm.subset_hook_caller("plugin_settings_schema", others)
        results = [r for r in caller() if r is not None]
        model = results[0] if results else None
        if model is not None and not _is_model_class(model):
            _close([model])
            raise PluginError(name, f"plugin_settings_schema must return a pydantic model class, not {model!r}")
        return model

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
            # A model-level validator has no field: its problem is the settings as a whole ("").
            problems = [(".".join(str(p) for p in err["loc"]), _setting_msg(err)) for err in exc.errors()]
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
            subset = self._subsets[enabled] = PilotHooks(self.pm, excluded, national=self.national)
            subset.national_issuers = self.national_issuers
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


    def routes(self) -> list[Any]:
        """Every installed plugin's HTTP routes, each under ``/plugins/<plugin name>/``."""
        routes = []
        for name in self.names():
            others = [p for n, p in self.pm.list_name_plugin() if n != name]
            caller = self.pm.subset_hook_caller("register_routes", others)
            for result in caller():
                for route in result or ():
                    prefix = f"/plugins/{name}/"
                    path = getattr(route, "path", None)
                    if not isinstance(path, str) or not path.startswith(prefix):
                        raise PluginError(name, f"route {path!r} must start with {prefix!r}")
                    routes.append(route)
        return routes


class UnknownPlugin(PluginError):
    def __init__(self, name: str, known: Iterable[str]):
        super().__init__(name, f"is not installed (installed plugins: {', '.join(known) or 'none'})")


class PluginSettingsError(PluginError):
    def __init__(self, name: str, problems: list[tuple[str, str]]):
        detail = "; ".join(f"setting {field!r}: {msg}" if field else f"settings: {msg}" for field, msg in problems)
        super().__init__(name, f"invalid settings: {detail}")
        self.problems = problems


def _setting_msg(error: Mapping[str, Any]) -> str:
    # Same wording as pilot-file fields (perlinsos.pilots.files), so a pilot file reads one way.
    if error["type"] == "missing":
        return "required setting is missing"
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    return str(error["msg"]).removeprefix("Value error, ")


def _is_model_class(value: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(value, type) and issubclass(value, BaseModel)


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _close(values: Iterable[Any]) -> None:
    """Close coroutines that will never be awaited (no "never awaited" warnings)."""
    for value in values:
        if inspect.iscoroutine(value):
            value.close()


#: Hooks with a ``pilot`` argument, which ``PilotHooks`` fills in (computed once, not per call).
_TAKES_PILOT = frozenset(
    name
    for names in hookspecs.FAMILIES.values()
    for name in names
    if "pilot" in inspect.signature(getattr(hookspecs, name)).parameters
)


class PilotHooks:
    """Callers for one set of enabled plugins. ``bind`` fixes the pilot argument."""

    def __init__(self, pm: pluggy.PluginManager, excluded: list[Any], pilot: PilotContext | None = None,
                 national: tuple[str, ...] = ("ikd",)):
        self._pm = pm
        self._excluded = excluded
        self._callers: dict[str, Any] = {}
        self.pilot = pilot
        self.national = national
        self.national_issuers: tuple[str, ...] = ()
        self._trust: Any = None

    def bind(self, pilot: PilotContext) -> PilotHooks:
        bound = PilotHooks(self._pm, self._excluded, pilot, self.national)
        bound.national_issuers = self.national_issuers
        bound._callers = self._callers  # callers are per plugin set, shared between pilots
        return bound

    async def trust(self):
        """The pilot's :class:`~perlinsos.identity.trust.PilotTrust` (asked once per binding)."""
        return self.trust_now()

    def trust_now(self):
        """As :meth:`trust`, synchronously: ``identity_providers`` only reads settings, so its
        implementations answer at once (an awaitable is a plugin error, named)."""
        if self._trust is None:
            from perlinsos.identity import trust

            self._trust = trust.build(self.pilot.code if self.pilot else "?",
                                      self.sync_results("identity_providers"), self.national)
        return self._trust

    def sync_results(self, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin, result or exception)`` of a hook whose implementations must answer at once."""
        results: list[tuple[str, Any]] = []
        for plugin, call in self._calls(name, kwargs):
            try:
                result = call()
            except Exception as exc:  # noqa: BLE001 - named by the caller
                result = exc
            if inspect.isawaitable(result):
                _close([result])
                result = PluginError(plugin, f"{name} must answer synchronously (it only reads settings)")
            results.append((plugin, result))
        return results

    def caller(self, name: str):
        caller = self._callers.get(name)
        if caller is None:
            caller = self._callers[name] = self._pm.subset_hook_caller(name, self._excluded)
        return caller

    def _kwargs(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if name in _TAKES_PILOT:
            kwargs.setdefault("pilot", self.pilot)
        return kwargs

    def has_impls(self, name: str) -> bool:
        return bool(self.caller(name).get_hookimpls())

    def implementers(self, name: str) -> list[str]:
        """The enabled plugins implementing hook ``name``."""
        return [impl.plugin_name for impl in self.caller(name).get_hookimpls()]

    def _calls(self, name: str, kwargs: dict[str, Any], only: Callable[[str], bool] | None = None):
        """Yield ``(plugin name, thunk)`` per enabled implementation, in pluggy's call order
        (tryfirst first, then the latest registered). Calling one by one lets ``first`` stop early.
        ``only`` limits the call to the plugins it accepts (e.g. the ones a provider's grant is for)."""
        kwargs = self._kwargs(name, kwargs)
        for impl in reversed(self.caller(name).get_hookimpls()):
            if only is not None and not only(impl.plugin_name):
                continue
            try:
                args = [kwargs[a] for a in impl.argnames]
            except KeyError as exc:
                raise pluggy.HookCallError(f"hook {name} call must provide argument {exc.args[0]!r}") from None
            extra = {k: kwargs[k] for k in getattr(impl, "kwargnames", ()) if k in kwargs}
            yield impl.plugin_name, (lambda f=impl.function, a=args, k=extra: f(*a, **k))

    async def all(self, name: str, **kwargs: Any) -> list[Any]:
        """Every enabled implementation's result (``None`` left out), awaitables awaited concurrently."""
        results: list[Any] = []
        try:
            for _, call in self._calls(name, kwargs):
                result = call()
                if result is not None:
                    results.append(result)
        except BaseException:
            _close(results)
            raise
        if any(inspect.isawaitable(r) for r in results):
            results = [r for r in await asyncio.gather(*(_resolve(r) for r in results)) if r is not None]
        return results

    async def settled(self, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin name, result or exception)`` per enabled implementation: one failing plugin
        does not take the others' results with it (selection keeps going for everyone else)."""
        return await self.settled_each(name, lambda plugin: kwargs)

    async def settled_each(self, name: str, kwargs_for: Callable[[str], dict[str, Any] | None]
                           ) -> list[tuple[str, Any]]:
        """As :meth:`settled`, with each plugin's own arguments (``None``: that plugin is not called),
        e.g. only the registrants whose grants its provider issued."""

        async def one(plugin: str, call) -> tuple[str, Any]:
            try:
                return plugin, await _resolve(call())
            except Exception as exc:  # noqa: BLE001 - reported to the caller, per plugin
                return plugin, exc

        calls = []
        for impl in reversed(self.caller(name).get_hookimpls()):
            kwargs = kwargs_for(impl.plugin_name)
            if kwargs is not None:
                calls += list(self._calls(name, dict(kwargs), only=lambda p, n=impl.plugin_name: p == n))
        return list(await asyncio.gather(*(one(p, c) for p, c in calls)))

    async def merged(self, name: str, **kwargs: Any) -> list[Any]:
        """``all`` flattened: for hooks whose implementations return iterables."""
        merged: list[Any] = []
        for result in await self.all(name, **kwargs):
            merged.extend(result)
        return merged

    async def first(self, name: str, *, only: Callable[[str], bool] | None = None, **kwargs: Any) -> Any:
        """The first non-``None`` result, awaiting as it goes; later implementations are not called."""
        return (await self.first_with_plugin(name, only=only, **kwargs))[1]

    async def first_with_plugin(self, name: str, *, only: Callable[[str], bool] | None = None,
                                **kwargs: Any) -> tuple[str | None, Any]:
        """As :meth:`first`, with the name of the plugin that answered."""
        for plugin, call in self._calls(name, kwargs, only):
            result = await _resolve(call())
            if result is not None:
                return plugin, result
        return None, None

    async def notify(self, name: str, *, only: Callable[[str], bool] | None = None, **kwargs: Any) -> None:
        """Run an event hook; a failing plugin is logged and never breaks the caller or the others."""
        for plugin_name, call in self._calls(name, kwargs, only):
            try:
                await _resolve(call())
            except Exception:  # noqa: BLE001 - events must not undo committed work
                log.exception("plugin %s failed in event hook %s", plugin_name, name)


def add_plugin_commands(cli: Any, manager: PluginManager) -> None:
    """Let every installed plugin add CLI commands; a name taken twice names the plugin."""
    for name in manager.names():
        others = [p for n, p in manager.pm.list_name_plugin() if n != name]
        caller = manager.pm.subset_hook_caller("register_commands", others)
        if not caller.get_hookimpls():
            continue
        caller(cli=_CommandProbe(cli, name))


class _CommandProbe:
    """Stands in for the root group while one plugin registers, to catch name clashes."""

    def __init__(self, group: Any, plugin: str):
        self._group, self._plugin = group, plugin

    def add_command(self, command: Any, name: str | None = None) -> None:
        name = name or command.name
        if name in self._group.commands:
            raise PluginError(self._plugin, f"adds command {name!r}, which already exists")
        self._group.add_command(command, name)

    def command(self, *args: Any, **kwargs: Any):
        def decorator(func):
            import click

            command = click.command(*args, **kwargs)(func)
            self.add_command(command)
            return command

        return decorator

    def group(self, *args: Any, **kwargs: Any):
        def decorator(func):
            import click

            group = click.group(*args, **kwargs)(func)
            self.add_command(group)
            return group

        return decorator
