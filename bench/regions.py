"""The region-list benchmark: ``perlinsos.regions`` vs. a careful hand-written lookup, same run.

    .venv/bin/python bench/regions.py [--rounds 7] [--lookups 2000] [--file PATH]

The list is the shipped ``regions_indonesia.csv`` (~92,000 rows), or ``--file`` (which the platform
side reads through ``PERLINSOS_REGIONS_FILE``). The baseline is what a careful engineer writes without
the module: the ``csv`` module into a ``{code: name}`` dict (names stripped, nothing checked), a dict
lookup for a name, a linear scan of the dict for a regency's villages, and ``str.startswith`` on
``scope + "."`` for containment.

1. **Load.** Each round starts a fresh interpreter per side (alternating which goes first): it imports
   the side's code, times the first lookup (the platform reads and checks the whole file there; the
   baseline builds its dict), then forgets the list and loads it again under ``tracemalloc`` for the
   peak and the retained Python memory of a load. Medians over the rounds.
2. **Lookups**, in this process, both sides loaded and warm: ``get`` of random codes from every level,
   the villages of random regencies, and ``is_within`` on random pairs (half inside). Each round times
   the same inputs on both sides (alternating order); medians per call.

Ratios are platform / baseline: above 1 the platform is slower (or bigger). Measurements, not a test:
exits 0 whatever the figures (2 only when it cannot measure, e.g. the sides disagree on an answer).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "platform" / "perlinsos" / "data" / "regions_indonesia.csv"
FIRST_CODE = "35.10.15.2004"  # Kemiren: the first lookup of a load round


# --- the baseline: what one would write without perlinsos.regions -----------------------------


def baseline_load(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        next(reader)  # header
        return {code: name.strip() for code, name in reader}


def baseline_villages(names: dict[str, str], regency: str) -> list[tuple[str, str]]:
    prefix = regency + "."
    return [(c, n) for c, n in names.items() if len(c) == 13 and c.startswith(prefix)]


def baseline_is_within(code: str, scope: str) -> bool:
    return code == scope or code.startswith(scope + ".")


# --- load, in a fresh interpreter per round -------------------------------------------------------


def child(side: str, path: Path) -> None:
    """One load round of one side; prints its figures as JSON."""
    started = time.perf_counter()
    if side == "platform":
        from perlinsos import regions

        imported = time.perf_counter()
        assert regions.get(FIRST_CODE) is not None
        first = time.perf_counter()

        def load() -> None:
            regions._reset()
            regions.get(FIRST_CODE)
    else:
        imported = time.perf_counter()
        assert baseline_load(path).get(FIRST_CODE) is not None
        first = time.perf_counter()

        def load() -> None:
            global _kept
            _kept = baseline_load(path)
    if side == "platform":
        regions._reset()
    gc.collect()
    tracemalloc.start()
    load()
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (first - imported) * 1000,
                      "peak_mb": peak / 1e6, "retained_mb": retained / 1e6}))


_kept: dict[str, str] = {}


def load_rounds(rounds: int, path: Path, env: dict[str, str]) -> dict[str, dict[str, float]]:
    results: dict[str, list[dict[str, float]]] = {"platform": [], "baseline": []}
    for i in range(rounds):
        for side in ("platform", "baseline") if i % 2 == 0 else ("baseline", "platform"):
            out = subprocess.run([sys.executable, __file__, "--child", side, "--file", str(path)], env=env,
                                 capture_output=True, text=True, check=True)
            results[side].append(json.loads(out.stdout))
    return {side: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            for side, runs in results.items()}


# --- lookups, in this process -------------------------------------------------------------------


def per_call_us(fn, inputs: list, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for args in inputs:
            fn(*args)
        times.append((time.perf_counter() - started) / len(inputs) * 1e6)
    return times


def lookup_rounds(rounds: int, lookups: int, path: Path) -> dict[str, tuple[float, float]]:
    from perlinsos import regions

    names = baseline_load(path)
    rng = random.Random(2025)
    codes = list(names)
    by_length: dict[int, list[str]] = {}
    for c in codes:
        by_length.setdefault(len(c), []).append(c)
    get_inputs = [(rng.choice(by_length[length]),) for length in (2, 5, 8, 13) for _ in range(lookups // 4)]
    get_inputs += [("35.10.99.9999",)] * (lookups // 20)  # a few unknown codes
    regencies = [(rng.choice(by_length[5]),) for _ in range(max(lookups // 100, 10))]
    within_inputs = []
    for _ in range(lookups):
        code = rng.choice(by_length[13])
        scope = code[: rng.choice((2, 5, 8))] if rng.random() < 0.5 else rng.choice(by_length[5])
        within_inputs.append((code, scope))

    # Same answers first: a benchmark of two sides that disagree measures nothing.
    for (code,) in get_inputs:
        found = regions.get(code)
        if (found.name if found else None) != names.get(code):
            raise SystemExit(f"get({code!r}) disagrees: {found} vs {names.get(code)!r}")
    for (regency,) in regencies:
        if [(v.code, v.name) for v in regions.villages(regency)] != baseline_villages(names, regency):
            raise SystemExit(f"villages({regency!r}) disagree")
    for code, scope in within_inputs:
        if regions.is_within(code, scope) != baseline_is_within(code, scope):
            raise SystemExit(f"is_within({code!r}, {scope!r}) disagrees")

    cases = {
        "get (us/call)": (regions.get, names.get, get_inputs),
        "villages of a regency (us/call)": (regions.villages, lambda r: baseline_villages(names, r), regencies),
        "is_within (us/call)": (regions.is_within, baseline_is_within, within_inputs),
    }
    figures = {}
    for label, (platform, baseline, inputs) in cases.items():
        p: list[float] = []
        b: list[float] = []
        for i in range(rounds):
            pair = ((platform, p), (baseline, b)) if i % 2 == 0 else ((baseline, b), (platform, p))
            for fn, into in pair:
                into += per_call_us(fn, inputs, 1)
        figures[label] = (statistics.median(p), statistics.median(b))
    return figures


# --- report -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--file", type=Path, default=SHIPPED, help="a region file (default: the shipped list)")
    parser.add_argument("--child", choices=("platform", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.file.resolve()
    env = {**os.environ}
    if path != SHIPPED.resolve():
        env["PERLINSOS_REGIONS_FILE"] = str(path)
    else:
        env.pop("PERLINSOS_REGIONS_FILE", None)
    if args.child:
        child(args.child, path)
        return 0
    os.environ.clear()
    os.environ.update(env)  # this process's platform side reads the same file

    with open("/proc/loadavg") as f:
        load_average = " ".join(f.read().split()[:3])
    print(f"region list: {path} ({sum(1 for _ in open(path, encoding='utf-8')) - 1:,} rows)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load_average}, "
          f"{args.rounds} rounds, medians")
    try:
        loads = load_rounds(args.rounds, path, env)
        lookups = lookup_rounds(args.rounds, args.lookups, path)
    except (subprocess.CalledProcessError, SystemExit) as exc:
        print(f"cannot measure: {getattr(exc, 'stderr', None) or exc}", file=sys.stderr)
        return 2
    rows = [
        ("first lookup after import (ms)", loads["platform"]["first_ms"], loads["baseline"]["first_ms"]),
        ("load: peak memory (MB, tracemalloc)", loads["platform"]["peak_mb"], loads["baseline"]["peak_mb"]),
        ("load: retained memory (MB)", loads["platform"]["retained_mb"], loads["baseline"]["retained_mb"]),
        *((label, p, b) for label, (p, b) in lookups.items()),
    ]
    print(f"\n{'':38}{'platform':>10}{'baseline':>10}{'ratio':>9}")
    for label, p, b in rows:
        print(f"{label:38}{p:>10.2f}{b:>10.2f}{p / b:>8.3g}x")
    print(f"\nimport perlinsos.regions (reads nothing): {loads['platform']['import_ms']:.1f} ms")
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
