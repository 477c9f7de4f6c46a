"""List mutmut's mutants of one function, with the lines each changes, without running any test: to
pick (or re-pick, after the source changed) the CI selection in pyproject.toml.

    .venv/bin/python tools/mutation/mutants.py platform/perlinsos/audit.py verify
    .venv/bin/python tools/mutation/mutants.py plugins/criteria/perlinsos_criteria/criteria.py _FactCriterion.evaluate
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

from mutmut.mutation.file_mutation import mutate_file_contents


def mutants_of(path: str | Path, function: str) -> dict[str, list[str]]:
    """mutmut's mutants of ``function`` (``name`` or ``Class.method``) in ``path``: name -> changed lines."""
    source = Path(path)
    package_root = next(p for p in source.resolve().parents if not (p / "__init__.py").exists())
    module = ".".join(source.resolve().relative_to(package_root).with_suffix("").parts).removesuffix(".__init__")
    cls, _, name = function.rpartition(".")
    mangled = f"xǁ{cls}ǁ{name}" if cls else f"x_{name}"
    mutated = mutate_file_contents(str(source), source.read_text()).code
    bodies, lines = {}, mutated.splitlines()
    for i, line in enumerate(lines):
        match = re.match(rf"(\s*)(?:async )?def ({re.escape(mangled)}__mutmut_(\w+))\(", line)
        if not match:
            continue
        indent, end = len(match.group(1)), i + 1  # the body: blank lines and lines indented deeper
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        bodies[match.group(3)] = [line.replace(match.group(2), "f", 1), *lines[i + 1:end]]
    original = bodies.pop("orig", None)
    if original is None:
        raise LookupError(f"no function {function} in {path}")
    return {f"{module}.{mangled}__mutmut_{number}": [
        line for line in difflib.unified_diff(original, bodies[number], lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        for number in sorted(bodies, key=lambda n: int(n) if n.isdigit() else 0)}


def main(path: str, function: str) -> int:
    try:
        found = mutants_of(path, function)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    for name, changed in found.items():
        print(name)
        print("".join(f"    {line.rstrip()}\n" for line in changed), end="")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
