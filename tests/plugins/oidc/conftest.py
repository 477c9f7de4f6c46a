"""Fixtures for the OIDC plugin: the session's simulator (``oidc_provider``, from fixtures.oidc), hooks
through the real plugin manager (entry points), and no keys cached from one test to the next."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.oidc import oidc_provider  # noqa: F401 - a fixture
from perlinsos.contract import PilotContext
from perlinsos.plugins import PilotHooks, PluginManager
from perlinsos_oidc import tokens


@pytest.fixture(autouse=True)
def _clean_oidc() -> Iterator[None]:
    tokens.reset()
    yield
    tokens.reset()


@pytest.fixture(scope="session")
def entry_point_plugins() -> PluginManager:
    """The installed plugins only, found through their entry points."""
    return PluginManager()


def pilot_for(**plugins: Any) -> PilotContext:
    return PilotContext(id=None, code="JBR-2026", name="Jember", region_codes=("35.09",),
                        programmes=("PKH",), plugins=plugins)


@pytest.fixture
def hooks_for(entry_point_plugins):
    """``hooks_for(settings)``: hook callers for a pilot that enables only ``oidc`` (with ``settings``);
    ``hooks_for(oidc=..., ikd=...)`` for any set of plugins."""

    def make(settings: Any = None, **plugins: Any) -> PilotHooks:
        if settings is not None:
            plugins["oidc"] = settings
        return entry_point_plugins.for_pilot(pilot_for(**plugins))

    return make


@pytest.fixture
def hooks(oidc_provider, hooks_for) -> PilotHooks:  # noqa: F811 - the fixture imported above
    return hooks_for(oidc_provider.settings())


@pytest.fixture(scope="session")
def nik() -> str:
    return "3510151203800001"  # a valid NIK shape (Banyuwangi, born 12 March 1980)
