"""scripts/check_deps: known-vulnerable versions fail the check, the current environment passes.

Through the script's command line (a subprocess, as CI runs it), with advisory files written
here where a case needs one of its own.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_deps"
ADVISORIES = ROOT / "security" / "advisories.toml"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--offline", *args], capture_output=True, text=True,
                          timeout=60)


def advisory(package: str, affected: str, id: str = "TEST-0001") -> str:
    return (f'[[advisory]]\npackage = "{package}"\naffected = "{affected}"\nid = "{id}"\n'
            f'summary = "test entry"\nsource = "https://example.invalid/{id}"\n')


def test_the_current_environment_and_pins_pass():
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no known-vulnerable dependency" in done.stdout


def test_starlette_0_40_0_is_flagged_by_the_committed_entry(tmp_path):
    entries = tomllib.loads(ADVISORIES.read_text())["advisory"]
    entry = next(e for e in entries if e["id"] == "CVE-2025-54121")
    # A pyproject whose bound is the known-bad release: the pin check must name the advisory.
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["starlette>=0.40.0"]\n')
    done = run("--pyproject", str(tmp_path / "pyproject.toml"))
    assert done.returncode == 1
    assert "starlette>=0.40.0 allows CVE-2025-54121" in done.stdout
    assert entry["affected"] == "<0.47.2"
    # ... and 0.47.2 itself, the fixed release, is not flagged for that advisory.
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["starlette>=0.47.2"]\n')
    assert "CVE-2025-54121" not in run("--pyproject", str(tmp_path / "pyproject.toml")).stdout


def test_an_installed_version_inside_an_affected_range_fails(tmp_path):
    version = importlib.metadata.version("starlette")
    (tmp_path / "advisories.toml").write_text(advisory("Starlette", f"<={version}", "TEST-INSTALLED"))
    done = run("--advisories", str(tmp_path / "advisories.toml"))
    assert done.returncode == 1
    assert f"starlette {version} is affected by TEST-INSTALLED" in done.stdout
    assert "https://example.invalid/TEST-INSTALLED" in done.stdout


def test_a_range_that_misses_the_installed_version_passes(tmp_path):
    version = importlib.metadata.version("starlette")
    (tmp_path / "advisories.toml").write_text(advisory("starlette", f"<{version}", "TEST-OLDER"))
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\ndependencies = ["starlette>={version}"]\n')
    done = run("--advisories", str(tmp_path / "advisories.toml"), "--pyproject", str(tmp_path / "pyproject.toml"))
    assert done.returncode == 0, done.stdout


def test_every_pyproject_lower_bound_clears_the_committed_advisories():
    """Each pin that has advisories sits at or above every listed fix (what CI's run checks too)."""
    entries = tomllib.loads(ADVISORIES.read_text())["advisory"]
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    named = {line.split(">=")[0].split("[")[0].strip().lower() for line in pinned}
    # The advisories' packages that the platform depends on directly or pins for a transitive one.
    for package in ("strawberry-graphql", "starlette", "h11", "pyjwt", "cryptography", "mako", "idna", "anyio"):
        assert package in named, f"{package} has advisories but no lower bound in pyproject.toml"
        assert any(e["package"] == package for e in entries)


def test_a_broken_advisory_file_is_refused_clearly(tmp_path):
    (tmp_path / "advisories.toml").write_text(advisory("starlette", "less than 1.0", "TEST-BAD"))
    done = run("--advisories", str(tmp_path / "advisories.toml"))
    assert done.returncode == 2
    assert "TEST-BAD" in done.stderr and "bad range" in done.stderr
    (tmp_path / "advisories.toml").write_text('[[advisory]]\npackage = "starlette"\naffected = "<1"\n')
    done = run("--advisories", str(tmp_path / "advisories.toml"))
    assert done.returncode == 2 and "lacks id, source" in done.stderr
