"""A region's plugin is a normal distribution: build and install the example one with pip, then
see the platform load it beside the built-ins (in a fresh process, as a deployment would)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "example_plugin"
BUILTINS = ("appeals", "criteria", "ikd", "notify_sms", "oidc")


def _run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(target directory, environment with it on PYTHONPATH) after ``pip install --target``."""
    base = tmp_path_factory.mktemp("example_plugin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERLINSOS_")}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_INDEX": "1"}
    if _run([sys.executable, "-m", "pip", "--version"], env=env, cwd=base, timeout=60).returncode != 0:
        pytest.skip("pip is not available in this interpreter")
    # Build from a copy, so no build/ or *.egg-info lands in the repository.
    source = base / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "site"
    done = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                 "--target", str(target), str(source)], env=env, cwd=base, timeout=300)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    assert list(target.glob("perlinsos_example_region-0.1.0.dist-info")), sorted(p.name for p in target.iterdir())

    env["PYTHONPATH"] = os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PERLINSOS_DATABASE_URL"] = f"sqlite+aiosqlite:///{base / 'perlinsos.db'}"  # never the cwd default
    return base, env


def _listing(output: str) -> dict[str, tuple[str, list[str]]]:
    """``perlinsos plugins`` output as {name: (source, hooks)}."""
    plugins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in output.splitlines():
        if line and not line.startswith(" "):
            name, _, source = line.partition("  ")
            plugins[name] = (source.strip("[] "), [])
        elif line.strip().startswith("hooks:") and name:
            hooks = line.split(":", 1)[1].strip()
            plugins[name][1].extend([] if hooks == "(none)" else hooks.split(", "))
    return plugins


def test_installed_plugin_is_listed_beside_the_builtins(installed):
    base, env = installed
    done = _run([sys.executable, "-m", "perlinsos.cli", "plugins"], env=env, cwd=base, timeout=120)
    assert done.returncode == 0, done.stderr
    listing = _listing(done.stdout)
    assert sorted(listing) == sorted([*BUILTINS, "example_region"]), done.stdout
    source, hooks = listing["example_region"]
    assert source == "perlinsos-example-region 0.1.0"
    assert hooks == ["appeal_grounds", "plugin_settings_schema"]
    assert listing["appeals"][1] == ["appeal_grounds", "check_appeal", "plugin_settings_schema"]


CHECK = """
import asyncio, tomllib
from perlinsos.contract import PilotContext
from perlinsos.pilots.files import PilotFileError, bundled_pilot_file, parse_pilot
from perlinsos.plugins import PluginManager

pm = PluginManager()
data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
data["plugins"]["example_region"] = {"evidence": "SURAT_PINDAH"}
spec = parse_pilot(data, pm)
ctx = PilotContext(None, spec.code, spec.name, tuple(spec.regions), tuple(spec.programmes),
                   {n: pm.validate_settings(n, s) for n, s in spec.plugins.items()})
grounds = asyncio.run(pm.for_pilot(ctx).merged("appeal_grounds"))
print(sorted((g.code, g.required_evidence[0]) for g in grounds))
data["plugins"]["example_region"] = {"evidense": "x"}
try:
    parse_pilot(data, pm)
except PilotFileError as exc:
    print(exc.problems)
"""


def test_installed_plugin_takes_part_in_a_pilot(installed):
    base, env = installed
    done = _run([sys.executable, "-c", CHECK], env=env, cwd=base, timeout=120)
    assert done.returncode == 0, done.stderr
    grounds, problems = done.stdout.strip().splitlines()
    assert "('DOMICILE_CHANGED', 'SURAT_PINDAH')" in grounds and "('NIK_MISUSE', 'KTP')" in grounds
    assert problems == "[('plugins.example_region.evidense', 'unknown setting')]"


def test_plugin_is_not_visible_without_the_install(installed):
    # The same command without the target on the path: proves the listing comes from the install.
    base, env = installed
    env = {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = _run([sys.executable, "-m", "perlinsos.cli", "plugins"], env=env, cwd=base, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(_listing(done.stdout)) == sorted(BUILTINS)
