"""Plugin managers for tests: your plugins, the installed ones (or not) and the kit's sign-in."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from types import ModuleType
from typing import Any

from perlinsos.plugins import PROJECT_NAME, PluginManager
from perlinsos.testing import signin

Plugin = str | ModuleType | tuple[str, Any]


def plugin_manager(plugins: Iterable[Plugin] = (), *, entry_points: bool = True, sign_in: bool = True,
                   disabled: Iterable[str] = (), national: Iterable[str] = signin.NATIONAL,
                   production: bool = False) -> PluginManager:
    """A :class:`~perlinsos.plugins.PluginManager` as a deployment builds it, for tests.

    ``plugins``: extra plugins, each a ``(name, module or object)`` pair, a module, or a dotted
    import path (as ``PERLINSOS_EXTRA_PLUGINS``). A plugin that is also installed (an entry point of
    the same name loading the same object, e.g. after ``pip install -e .``) is taken once, from its
    entry point, so the same test runs whether or not the plugin is installed.
    ``entry_points``: load the installed plugins (the built-ins among them) — ``False`` for a
    manager with the core and your plugins only. ``sign_in``: add the kit's test sign-in plugin
    (:mod:`perlinsos.testing.signin`), which ``national`` marks national with IKD.
    """
    extra = list(plugins)
    if entry_points and extra:
        installed = {ep.name: ep for ep in metadata.entry_points(group=PROJECT_NAME)}
        extra = [p for p in extra if not _installed_as(p, installed, set(disabled))]
    if sign_in:
        extra.append((signin.NAME, signin))
    return PluginManager(extra_plugins=extra, disabled=disabled, load_entry_points=entry_points,
                         national=national, production=production)


def _installed_as(plugin: Plugin, installed: dict[str, metadata.EntryPoint], disabled: set[str]) -> bool:
    if not isinstance(plugin, tuple):
        return False
    name, obj = plugin
    ep = installed.get(name)
    if ep is None or name in disabled:
        return False
    try:
        return ep.load() is obj
    except Exception:  # noqa: BLE001 - the manager reports an entry point that fails to import
        return False
