"""The house's import directions, checked on the source (an import-linter-like contract).

* The four stages (``registration``, ``selection``, ``notification``, ``appeals``) use each other
  only through a stage's package (its ``__init__``), never a stage's inner modules.
* Nothing below the API layer imports ``perlinsos.graphql``: domain services know nothing of it.
* The shared layers (contract, policy, audit, db, identity, ...) import no stage at all.

A module breaking a rule is named with the line, so the fix is obvious.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "perlinsos"
STAGES = ("registration", "selection", "notification", "appeals")
# The API and entry layers: they may import anything.
TOP = ("graphql", "app", "cli", "commands", "demo", "demo_script", "graphiql", "devservers", "testing")
# Below the stages: they import none of them.
SHARED = ("contract", "hookspecs", "plugins", "policy", "audit", "db", "identity", "errors", "problems",
          "idnumbers", "regions", "messages", "settings", "httpclients", "globalids", "languages")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every perlinsos module this file imports (``from a import b`` counts as ``a.b`` when ``b``
    is a module, since importing it loads it)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("perlinsos")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "perlinsos":
            for a in node.names:
                full = f"{node.module}.{a.name}"
                is_module = (PACKAGE.parent / Path(*full.split("."))).with_suffix(".py").exists() \
                    or (PACKAGE.parent / Path(*full.split("."))).is_dir()
                found.append((node.lineno, full if is_module else node.module))
    return found


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def violations() -> list[str]:
    found = []
    for path in SOURCES:
        me = _module_name(path)
        mine = _top(me)
        if mine in TOP:
            continue
        for line, target in _imports(path):
            theirs = _top(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if theirs == "graphql":
                found.append(f"{where}: only the API layer imports perlinsos.graphql")
            elif mine in SHARED and theirs in STAGES:
                found.append(f"{where}: a shared layer imports no stage")
            elif theirs in STAGES and theirs != mine and target != f"perlinsos.{theirs}":
                found.append(f"{where}: use the stage's package (perlinsos.{theirs}), not its internals")
    return found


def test_sources_are_found():
    names = {_module_name(p) for p in SOURCES}
    assert {"perlinsos.registration.service", "perlinsos.appeals.evidence.service",
            "perlinsos.graphql.appeals.types"} <= names


def test_import_directions_hold():
    assert violations() == []


@pytest.mark.parametrize("source, rule", [
    ("from perlinsos.graphql.relay import encode_cursor\n", "API layer"),
    ("from perlinsos.selection.engine import work\n", "internals"),
    ("from perlinsos import audit\nimport perlinsos.notification.outbox\n", "internals"),
])
def test_a_broken_rule_is_reported(tmp_path, monkeypatch, source, rule):
    # The checker itself can fail: a stage module with a forbidden import is reported.
    fake = PACKAGE / "appeals" / "_contract_probe.py"
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", [fake])
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake else original(self, *a, **k))
    found = violations()
    assert len(found) == 1 and rule in found[0], found


def test_shared_layer_importing_a_stage_is_reported(monkeypatch):
    fake = PACKAGE / "policy.py"
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", [fake])
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text",
                        lambda self, *a, **k: "from perlinsos import selection\n" if self == fake else original(self, *a, **k))
    assert ["shared layer" in v for v in violations()] == [True]
