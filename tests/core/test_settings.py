"""Deployment settings come from PERLINSOS_* variables; a malformed one names itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perlinsos.settings import Settings, SettingsError

# the environment-variable table of the operators' docs (it left README.md for the docs site)
CONFIGURATION = Path(__file__).resolve().parents[2] / "docs/operations/configuration.md"


def test_pilot_cache_seconds_comes_from_the_environment():
    assert Settings.from_env({"PERLINSOS_PILOT_CACHE_SECONDS": "0.5"}).pilot_cache_seconds == 0.5
    assert Settings.from_env({}).pilot_cache_seconds == Settings.pilot_cache_seconds


@pytest.mark.parametrize("name", ["PERLINSOS_PILOT_CACHE_SECONDS", "PERLINSOS_MAX_PAGE_SIZE"])
def test_a_malformed_number_names_the_variable(name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: "lima"})


def test_every_variable_the_configuration_page_documents_is_read():
    """A row of the configuration page for a variable nothing reads, or a variable with no row, misleads operators."""
    documented = set(re.findall(r"`(PERLINSOS_[A-Z_]+)`", CONFIGURATION.read_text(encoding="utf-8")))
    # rows like `PERLINSOS_MAX_EVIDENCE_BYTES` / `_MAX_EVIDENCE_FILES` name the second by suffix
    documented |= {"PERLINSOS" + s for s in re.findall(r"/ `(_[A-Z_]+)`", CONFIGURATION.read_text(encoding="utf-8"))}
    documented -= {"PERLINSOS_TEST_DATABASE_URL", "PERLINSOS_FUZZ_EXAMPLES", "PERLINSOS_FUZZ_SEED"}
    source = (Path(__file__).resolve().parents[2] / "platform/perlinsos/settings.py").read_text(encoding="utf-8")
    read = {f"PERLINSOS_{n}" for n in re.findall(r'get\("([A-Z_]+)"\)', source)}
    assert documented - read == set(), "documented in docs/operations/configuration.md but not read by Settings.from_env"
    assert read - documented == set(), "read by Settings.from_env but missing from docs/operations/configuration.md's table"
