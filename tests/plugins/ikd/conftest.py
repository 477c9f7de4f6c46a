"""Fixtures for the IKD plugin (the session's simulator, `ikd_sim`, is in tests/conftest.py): hooks through the real
plugin manager (entry points), and clean caches and faults around every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from perlinsos.contract import PilotContext
from perlinsos.plugins import PilotHooks, PluginManager
from perlinsos_ikd import tokens


@pytest.fixture(autouse=True)
def _clean_ikd(request) -> Iterator[None]:
    simulator = request.getfixturevalue("ikd_sim") if "ikd_sim" in request.fixturenames else None
    for _ in ("before", "after"):
        tokens.reset()  # no keys cached from another test
        if simulator is not None:
            simulator.reset()  # faults off, counters cleared
        if _ == "before":
            yield


@pytest.fixture(scope="session")
def entry_point_plugins() -> PluginManager:
    """The installed plugins only, found through their entry points."""
    return PluginManager()


def pilot_for(settings: Any) -> PilotContext:
    return PilotContext(id=None, code="BWI-2025", name="Banyuwangi", region_codes=("35.10",),
                        programmes=("PKH",), plugins={"ikd": settings})


@pytest.fixture
def hooks_for(entry_point_plugins):
    """``hooks_for(settings)``: hook callers for a pilot that enables only ``ikd``."""

    def make(settings: Any) -> PilotHooks:
        return entry_point_plugins.for_pilot(pilot_for(settings))

    return make


@pytest.fixture
def hooks(ikd_sim, hooks_for) -> PilotHooks:
    return hooks_for(ikd_sim.settings())


@pytest.fixture(scope="session")
def citizen(ikd_sim) -> dict[str, Any]:
    """An adult head of household from the simulator's population."""
    return ikd_sim.people(limit=1, role="HEAD")[0]
