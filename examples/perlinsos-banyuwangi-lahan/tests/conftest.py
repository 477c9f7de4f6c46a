"""The plugin under test for the perlinsos.testing kit (its fixtures are loaded by pytest itself:
the kit is a pytest plugin installed with Perlinsos)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package from its source when not installed
import perlinsos_banyuwangi_lahan as lahan  # noqa: E402
from perlinsos.testing import DEFAULT_PILOT_TOML  # noqa: E402


@pytest.fixture
def perlinsos_plugins():
    """Our plugin: taken from its entry point instead when it is installed (pip install -e .)."""
    return [(lahan.NAME, lahan)]


@pytest.fixture
def perlinsos_pilot_toml():
    """Banyuwangi with our criterion at 7,500 m² (the bundled synthetic extract)."""
    return DEFAULT_PILOT_TOML + """
[plugins.banyuwangi_lahan]
land_limit_m2 = 7500
"""
