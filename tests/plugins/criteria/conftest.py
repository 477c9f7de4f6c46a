"""Fixtures for the criteria plugin's tests (the IKD simulator, ``ikd_sim``/``ikd``, is in tests/conftest.py):
hooks through the real plugin manager (entry points)."""

from __future__ import annotations

from typing import Any

import pytest

from perlinsos.plugins import PilotHooks, PluginManager

from .helpers import pilot


@pytest.fixture(scope="session")
def entry_points() -> PluginManager:
    """The installed plugins only, found through their entry points."""
    return PluginManager()


@pytest.fixture
def hooks_for(entry_points):
    """``hooks_for(ikd=..., **criteria_settings)``: hook callers through the real plugin manager."""

    def make(**kwargs: Any) -> PilotHooks:
        return entry_points.for_pilot(pilot(**kwargs))

    return make
