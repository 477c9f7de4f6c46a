"""Mutation testing with mutmut, one group of modules at a time (README: "Mutation testing").

    .venv/bin/python tools/mutation/run.py                 # every group, every mutant; prints the scores
    .venv/bin/python tools/mutation/run.py audit policy    # some groups
    .venv/bin/python tools/mutation/run.py --ci            # the CI selection: exit 1 if one survives

Groups are ``[tool.mutmut.groups.<name>]`` in pyproject.toml: ``mutate`` (files, relative to the
package roots: ``perlinsos/audit.py``, ``perlinsos_criteria/criteria.py``), ``tests`` (the test files
that exercise them) and, for CI, ``ci`` (a list of [file, function, a piece of a line]: the
function's mutants that break that piece, found again on each run so edits around it do not
matter) and ``ci_tests``.

Why a runner: mutmut imports mutants from ``mutants/src`` (or the top folder) only, and the packages
here live in ``platform/`` and ``plugins/<name>/``. So each group gets a folder
``build/mutation/<group>/`` with the packages copied under ``src/``, the tests, and a pyproject.toml
holding the pytest settings and the group's mutmut settings. mutmut then runs each mutant against
the tests of the group that call the mutated function.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mutants import mutants_of  # noqa: E402 - beside this file

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")
PACKAGE_ROOTS = [ROOT / "platform", *sorted((ROOT / "plugins").glob("*"))]
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def table(name: str, values: dict) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items()) + "\n"


def package_dir(package: str) -> Path:
    for root in PACKAGE_ROOTS:
        if (root / package / "__init__.py").exists():
            return root / package
    raise SystemExit(f"no package {package} under platform/ or plugins/*/")


def workspace(name: str, group: dict, settings: dict, pytest_options: dict, tests: list[str]) -> Path:
    """build/mutation/<name>: src/<package> for perlinsos and each package mutated, tests/, pyproject.toml."""
    where = BUILD / name
    shutil.rmtree(where, ignore_errors=True)
    (where / "src").mkdir(parents=True)
    packages = dict.fromkeys(["perlinsos", *(m.split("/")[0] for m in group["mutate"])])
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in packages:
        shutil.copytree(package_dir(package), where / "src" / package, ignore=ignore)
    shutil.copytree(ROOT / "tests", where / "tests", ignore=ignore)
    shutil.copytree(ROOT / "schema", where / "schema", ignore=ignore)  # tests read the operations
    mutmut = {k: v for k, v in settings.items() if k != "groups"} | {
        "source_paths": ["src"], "only_mutate": [f"src/{m}" for m in group["mutate"]],
        "pytest_add_cli_args_test_selection": tests, "also_copy": ["schema"]}
    (where / "pyproject.toml").write_text(table("tool.pytest.ini_options", pytest_options) + table("tool.mutmut", mutmut))
    return where


def mutmut(where: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PERLINSOS_TEST_DATABASE_URL"}  # SQLite: no shared server
    out = open(log, "w") if log else subprocess.PIPE
    try:
        return subprocess.run(["nice", "-n", "15", str(MUTMUT), *args], cwd=where, env=env, text=True,
                              stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log:
            out.close()


def results(where: Path) -> dict[str, str]:
    """mutant name -> status, of the mutants mutmut has checked."""
    listed = mutmut(where, "results", "--all", "true").stdout
    found = {}
    for line in listed.splitlines():
        match = re.match(r"\s+(\S+__mutmut_\d+): (.+)$", line)
        if match and match.group(2) != "not checked":
            found[match.group(1)] = match.group(2)
    return found


def module_of(mutant: str) -> str:
    return re.sub(r"\.(x_|xǁ).*$", "", mutant)


def score(found: dict[str, str]) -> dict[str, tuple[int, int]]:
    totals, killed = Counter(), Counter()
    for name, status in found.items():
        totals[module_of(name)] += 1
        killed[module_of(name)] += status in KILLED
    return {m: (killed[m], totals[m]) for m in sorted(totals)}


def ci_selection(group: dict) -> dict[str, list[str]]:
    """The mutants that break a line the CI selection names: ``ci`` is a list of [file, function, a
    piece of a line]; chosen are that function's mutants that remove the piece from a line (so the
    selection survives renumbering when the source around it changes)."""
    chosen = {}
    for file, function, piece in group.get("ci", []):
        package, _, rest = file.partition("/")
        for mutant, changed in mutants_of(package_dir(package) / rest, function).items():
            if any(line.startswith("-") and piece in line for line in changed) and \
                    not any(line.startswith("+") and piece in line for line in changed):
                chosen[mutant] = changed
    return chosen


def run_group(name: str, group: dict, settings: dict, pytest_options: dict, *, ci: bool, jobs: int,
              exclude: list[str], only: list[str] = ()) -> list[str]:
    """Run a group; the CI run answers the problems (survivors, renumbered mutants)."""
    def usable(files: list[str]) -> list[str]:
        return [t for t in files if (ROOT / t).exists() and t not in exclude]

    tests = (usable(group.get("ci_tests", [])) if ci else []) or usable(group["tests"])
    if not tests:
        return [f"{name}: no test file to run"]
    where = workspace(name, group, settings, pytest_options, tests)
    selected = ci_selection(group) if ci else {}
    if ci and not selected:
        return [f"{name}: the CI selection matches no mutant (the source changed: see tools/mutation/mutants.py)"]
    log = where / "mutmut.log"
    print(f"== {name}: mutating {', '.join(group['mutate'])} against {len(tests)} test files"
          + (f" ({len(selected)} selected mutants)" if ci else ""), flush=True)
    done = mutmut(where, "run", "--max-children", str(jobs), *(selected or only), log=log)
    found = results(where)
    problems = []
    if done.returncode != 0 or not found:
        problems.append(f"{name}: mutmut failed (exit {done.returncode}); its log: {log}")
        print(log.read_text(errors="replace")[-3000:].replace("\r", "\n"))
    for module, (killed, total) in score(found).items():
        print(f"   {module}: {killed}/{total} killed")
    for mutant, status in sorted(found.items()):
        if status in KILLED:
            continue
        diff = mutmut(where, "show", mutant).stdout
        print(f"   {status}: {mutant}\n" + "".join(f"      {line}\n" for line in diff.splitlines()
                                                   if line[:1] in "+-" and line[:3] not in ("+++", "---")))
        if ci:
            problems.append(f"{name}: {mutant} {status}")
    for mutant in selected:
        if mutant not in found:
            problems.append(f"{name}: {mutant} was not run")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help="groups to run (default: all)")
    parser.add_argument("--ci", action="store_true", help="only the CI selection; exit 1 when one survives")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--only", nargs="*", default=[], metavar="GLOB",
                        help="only these mutants (mutmut names, globs: 'perlinsos.audit.x_verify__mutmut_*')")
    parser.add_argument("--exclude-tests", nargs="*", default=[], metavar="FILE",
                        help="leave these test files out (to see what they add to the score)")
    args = parser.parse_args()
    os.chdir(ROOT)  # mutmut reads its settings from ./pyproject.toml
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    settings = project["tool"]["mutmut"]
    groups = settings["groups"]
    unknown = [g for g in args.groups if g not in groups]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(groups)}")
    chosen = args.groups or [g for g in groups if not args.ci or groups[g].get("ci")]
    problems = []
    for name in chosen:
        problems += run_group(name, groups[name], settings, project["tool"]["pytest"]["ini_options"], ci=args.ci,
                              jobs=args.jobs, exclude=args.exclude_tests, only=args.only)
    for problem in problems:
        print("MUTATION:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
