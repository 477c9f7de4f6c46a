"""Where the list query's time goes: both apps in-process, one request at a time.

    .venv/bin/python tools/profiling/profile_list.py [--items 100] [--requests 80] [--cprofile out.prof] [--plain]
                                           [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Same database, query and answers as ``graphql_list.py`` (SQLite), but no HTTP server and no
concurrency: requests go through ``httpx.ASGITransport``, so the figures are per-request costs
without uvicorn, the network and queueing. Phases are measured by wrapping platform functions
(wall time; the SQL figures include waiting for aiosqlite's thread). Indented phases are inside
``schema.execute``; what ``schema.execute`` spends outside them is GraphQL execution itself
(graphql-core + strawberry: walking the selection, resolver wrappers, value completion).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
BENCH = HERE.parents[1] / "bench"  # the benchmarks these profile
sys.path[:0] = [str(BENCH), str(HERE)]

import graphql_list as gl  # noqa: E402
from _common import engine_name, fresh_database  # noqa: E402
from perlinsos.db import migrate  # noqa: E402
from perlinsos.settings import Settings  # noqa: E402

PHASES: dict[str, float] = defaultdict(float)


def _timed(owner, name: str, label: str) -> None:
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):
        async def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return await original(*a, **k)
            finally:
                PHASES[label] += time.perf_counter() - t0
    else:
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                PHASES[label] += time.perf_counter() - t0
    setattr(owner, name, functools.wraps(original)(wrapper))


def instrument() -> None:
    import strawberry.schema.schema as strawberry_schema
    from strawberry.extensions import ValidationCache

    from perlinsos.registration import service as registration
    from perlinsos.graphql import extensions, loaders, view
    from perlinsos.graphql.selection import types as decisions
    from perlinsos.graphql.registration import types as registrations

    _timed(view.GraphQLView, "get_context", "context: pilot, token, staff roles (SQL)")
    _timed(strawberry_schema.Schema, "execute", "schema.execute, of which:")
    _timed(registration, "registration_rows", "  SQL: page query")
    _timed(loaders.Loaders, "_rows", "  SQL: loaders (person, current decision, reasons)")
    for cls in (registrations.Registration, registrations.Registrant, decisions.Decision, decisions.DecisionReason):
        _timed(cls, "from_row", f"  our resolvers: {cls.__name__}.from_row")
    _timed(view.GraphQLView, "encode_json", "json.dumps of the result")

    validate = ValidationCache.on_validate

    def on_validate(self):
        t0 = time.perf_counter()
        steps = validate(self)
        next(steps)
        PHASES["  validation (ValidationCache)"] += time.perf_counter() - t0
        yield

    ValidationCache.on_validate = on_validate
    access_log = extensions.AccessLog.on_operation

    async def on_operation(self):
        steps = access_log(self)
        await steps.__anext__()
        yield
        t0 = time.perf_counter()
        with __import__("contextlib").suppress(StopAsyncIteration):
            await steps.__anext__()
        PHASES["  audit rows (AccessLog)"] += time.perf_counter() - t0

    extensions.AccessLog.on_operation = on_operation


async def run(args, url: str) -> None:
    if not args.plain:
        instrument()
    pilot = await gl.seed(url, max(1000, args.items))
    import baseline_list
    from perlinsos.app import create_app

    apps = {"platform": create_app(Settings(database_url=url, extra_plugins=("bench_auth",), production=True,
                                            max_page_size=max(100, args.items))),
            "baseline": baseline_list.create_app(url)}
    body = json.dumps({"query": gl.QUERY, "variables": {"pilot": pilot, "first": args.items},
                       "operationName": "BenchList"}).encode()
    headers = {"Authorization": f"Bearer staff:{gl.SUBJECT}", "X-Perlinsos-Pilot": pilot,
               "Content-Type": "application/json"}
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)  # as both apps' lifespans do (not run by ASGITransport)
    clients = {k: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://bench") for k, a in apps.items()}

    async def one(name: str) -> bytes:
        r = await clients[name].post("/graphql", content=body, headers=headers)
        if r.status_code != 200 or b'"errors"' in r.content:
            raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
        return r.content

    if json.loads(await one("platform")) != json.loads(await one("baseline")):
        raise SystemExit("the two answers differ; run graphql_list.py for a diff")
    times: dict[str, list[float]] = {name: [] for name in apps}
    cpu_s: dict[str, float] = dict.fromkeys(apps, 0.0)
    for name in apps:
        for _ in range(15):
            await one(name)
    PHASES.clear()
    profiler = cProfile.Profile() if args.cprofile else None
    # Alternating blocks of 10 (platform, baseline, baseline, platform, ...): a shared machine's
    # load drifts, and both sides should see the same drift.
    order, block = list(apps), 10
    for round_no in range((args.requests + block - 1) // block):
        for name in (order if round_no % 2 == 0 else order[::-1]):
            cpu0 = time.process_time()  # this process, all threads (aiosqlite's too): steadier than wall time
            for _ in range(block):
                t0 = time.perf_counter()
                if profiler and name == "platform":
                    profiler.enable()
                await one(name)
                if profiler and name == "platform":
                    profiler.disable()
                times[name].append(time.perf_counter() - t0)
            cpu_s[name] += time.process_time() - cpu0
    cpu = {name: cpu_s[name] / len(times[name]) * 1000 for name in apps}
    if profiler:
        profiler.dump_stats(args.cprofile)
    platform_phases = dict(PHASES)
    args.requests = len(times["platform"])
    p, b = (statistics.median(times[k]) * 1000 for k in ("platform", "baseline"))
    print(f"{args.items} items, {engine_name(url)}, sequential, in-process"
          + (" (cProfile on: times inflated)" if args.cprofile else ""))
    print(f"median per request: platform {p:.1f} ms, baseline {b:.1f} ms, ratio {b / p:.2f}x")
    print(f"CPU per request (client included): platform {cpu['platform']:.1f} ms, baseline {cpu['baseline']:.1f} ms, "
          f"ratio {cpu['baseline'] / cpu['platform']:.2f}x")
    if args.plain:
        return
    print("platform, mean per request:")
    inner = sum(v for k, v in platform_phases.items() if k.startswith("  "))
    for label, total in platform_phases.items():
        print(f"  {total / args.requests * 1000:7.2f} ms  {label}")
    execute = platform_phases.get("schema.execute, of which:", 0.0)
    print(f"  {(execute - inner) / args.requests * 1000:7.2f} ms    GraphQL execution itself (the rest of schema.execute)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--requests", type=int, default=80)
    ap.add_argument("--cprofile", metavar="FILE", help="also write a cProfile of the platform's requests")
    ap.add_argument("--plain", action="store_true",
                    help="no phase wrappers (they cost the platform CPU): medians and CPU per request only")
    ap.add_argument("--database-url", help="PostgreSQL server (a fresh database beside the one named, dropped "
                    "afterwards); default: a SQLite file in a temp dir")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="perlinsos-profile-"))
    try:
        with fresh_database(args.database_url, workdir) as url:
            migrate.upgrade(url)
            asyncio.run(run(args, url))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
