"""Where a registration's time goes: both apps in-process, one request at a time.

    .venv/bin/python tools/profiling/profile_register.py [--requests 200] [--cprofile out.prof] [--database-url postgresql://...]

Same pilot, IKD simulator (a subprocess, as in ``register.py``), consents and request as
``register.py`` (SQLite, or PostgreSQL with ``--database-url``), but no HTTP server for the two apps
and no concurrency: requests go through ``httpx.ASGITransport``, alternating between the apps, so
the figures are per-registration costs without uvicorn and queueing. Phases are measured by wrapping platform functions (wall time; SQL includes waiting for
aiosqlite's thread, IKD calls the simulator's answer). Indented phases are inside their parent;
"the rest" of a parent is what it spends outside the phases listed under it. Also counts the SQL
statements per registration of both apps. Honours ``BENCH_CANDIDATES`` (``tools/profiling/candidates_register.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
from sqlalchemy import event

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "bench"), str(Path(__file__).resolve().parent)]

import register as rg  # noqa: E402  (puts tests/ on sys.path for the simulator)
from _common import UsageError, engine_name, fresh_database  # noqa: E402
from perlinsos.db import migrate  # noqa: E402
from perlinsos.settings import Settings  # noqa: E402

PHASES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
TREE = [  # (label, parent label)
    ("context: pilot, token, roles, household", None),
    ("  JWT verification (ikd plugin)", "context: pilot, token, roles, household"),
    ("  SQL: staff roles", "context: pilot, token, roles, household"),
    ("schema.execute", None),
    ("  auth.acting", "schema.execute"),
    ("  registration.register", "schema.execute"),
    ("    SQL: consent.live_consent", "  registration.register"),
    ("    IKD: consent.fetch_person", "  registration.register"),
    ("      HTTP to the simulator (client.request)", "    IKD: consent.fetch_person"),
    ("    write transaction (_store, with commit)", "  registration.register"),
    ("      people.upsert_person", "    write transaction (_store, with commit)"),
    ("    hooks.notify", "  registration.register"),
    ("json.dumps of the result", None),
]


def _timed(owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    async def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return await original(*a, **k)
        finally:
            PHASES[label] += time.perf_counter() - t0
            CALLS[label] += 1

    def sync_wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            PHASES[label] += time.perf_counter() - t0
            CALLS[label] += 1

    chosen = wrapper if asyncio.iscoroutinefunction(original) else sync_wrapper
    setattr(owner, name, functools.wraps(original)(chosen))


def instrument() -> None:
    import strawberry.schema.schema as strawberry_schema
    from perlinsos_ikd import client, tokens

    from perlinsos.identity import auth
    from perlinsos.registration import consent
    from perlinsos.registration import people
    from perlinsos.registration import service as registration
    from perlinsos.graphql import view
    from perlinsos.plugins import PilotHooks

    _timed(view.GraphQLView, "get_context", TREE[0][0])
    _timed(tokens, "authenticate", TREE[1][0])
    _timed(auth, "with_staff_roles", TREE[2][0])
    _timed(strawberry_schema.Schema, "execute", TREE[3][0])
    _timed(auth, "acting", TREE[4][0])
    _timed(registration, "register", TREE[5][0])
    _timed(consent, "live_consent", TREE[6][0])
    _timed(consent, "fetch_person", TREE[7][0])
    _timed(client, "request", TREE[8][0])
    _timed(registration, "_store", TREE[9][0])
    _timed(people, "upsert_person", TREE[10][0])
    _timed(PilotHooks, "notify", TREE[11][0])
    _timed(view.GraphQLView, "encode_json", TREE[12][0])
    _timed(people, "person_by_nik", "SQL: people.person_by_nik (in register and upsert_person)")


async def run(args, url: str) -> None:
    import candidates_register

    candidates_register.apply(candidates_register.selected())  # BENCH_CANDIDATES, before the wrappers
    instrument()
    import baseline_register
    from perlinsos.app import create_app

    per_side = 15 + args.requests
    with rg.IkdSimulator(people=max(5000, per_side * 8), seed=2025) as ikd:
        pilot = await rg.load_pilot(url, ikd)
        citizens = rg.heads(ikd, 2 * per_side)
        apps = {"platform": create_app(Settings(database_url=url, production=True)),
                "baseline": baseline_register.create_app(url, pilot=pilot, issuer=ikd.issuer, audience=ikd.audience,
                                                         secret=ikd.client_secret)}
        statements = {name: count_statements(engine) for name, engine in (
            ("platform", apps["platform"].state.perlinsos.db.engine), ("baseline", apps["baseline"].state.db.engine))}
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)  # as both apps' lifespans do
        clients = {k: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://bench", timeout=60)
                   for k, a in apps.items()}
        async with apps["baseline"].router.lifespan_context(apps["baseline"]), httpx.AsyncClient() as sim:
            for c in citizens:
                c.token = (await sim.post(ikd.url + "/sim/sign-in", json={"nik": c.nik})).json()["access_token"]
                r = await clients["platform"].post("/graphql", json={"query": rg.CONSENT, "variables": {
                    "scopes": rg.SCOPES}}, headers={"Authorization": f"Bearer {c.token}", "X-Perlinsos-Pilot": pilot})
                assert not r.json()["data"]["giveConsent"]["errors"], r.text
            body = json.dumps({"query": rg.MUTATION, "operationName": "Register",
                               "variables": {"programme": rg.PROGRAMME}}).encode()

            async def one(name: str, c) -> None:
                r = await clients[name].post("/graphql", content=body, headers={
                    "Authorization": f"Bearer {c.token}", "X-Perlinsos-Pilot": pilot, "Content-Type": "application/json"})
                payload = r.json()["data"]["registerHousehold"] if r.status_code == 200 else None
                if not payload or payload["errors"] or not payload["created"]:
                    raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")

            halves = {name: iter(citizens[i::2]) for i, name in enumerate(apps)}
            for _ in range(15):  # warm-up
                for name in apps:
                    await one(name, next(halves[name]))
            PHASES.clear()
            CALLS.clear()
            for counts in statements.values():
                counts.clear()
            profiler = cProfile.Profile() if args.cprofile else None
            times: dict[str, list[float]] = {name: [] for name in apps}
            cpu: dict[str, list[float]] = {name: [] for name in apps}
            for i in range(args.requests):  # alternating, so a disturbance hits both
                for name in apps if i % 2 == 0 else list(apps)[::-1]:
                    c0, t0 = time.process_time(), time.perf_counter()
                    if profiler and name == "platform":
                        profiler.enable()
                    await one(name, next(halves[name]))
                    if profiler and name == "platform":
                        profiler.disable()
                    times[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
            if profiler:
                profiler.dump_stats(args.cprofile)
            phases, calls = dict(PHASES), dict(CALLS)
    report(args, times, cpu, phases, calls, statements)


def count_statements(engine) -> dict[str, int]:
    """SQL statements by their first word (BEGIN, COMMIT and ROLLBACK included), as run."""
    counts: dict[str, int] = defaultdict(int)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def on_execute(conn, cursor, statement, parameters, context, executemany):
        counts[statement.split(None, 1)[0].upper()] += 1

    @event.listens_for(engine.sync_engine, "commit")
    def on_commit(conn):
        counts["COMMIT"] += 1

    @event.listens_for(engine.sync_engine, "rollback")
    def on_rollback(conn):
        counts["ROLLBACK"] += 1

    return counts


def report(args, times, cpu, phases, calls, statements) -> None:
    p, b = (statistics.median(times[k]) * 1000 for k in ("platform", "baseline"))
    n = args.requests
    print(f"{n} registrations per app, {args.engine}, sequential, in-process"
          + (" (cProfile on: times inflated)" if args.cprofile else "")
          + (f"; platform with BENCH_CANDIDATES={os.environ['BENCH_CANDIDATES']}"
             if os.environ.get("BENCH_CANDIDATES") else ""))
    pc, bc = (statistics.median(cpu[k]) * 1000 for k in ("platform", "baseline"))
    print(f"median per registration: platform {p:.2f} ms, baseline {b:.2f} ms, ratio {b / p:.2f}x; "
          f"CPU of this process (app, driver threads, client): platform {pc:.2f} ms, baseline {bc:.2f} ms, "
          f"ratio {bc / pc:.2f}x")
    print("platform, mean per registration (calls per registration):")
    total = sum(times["platform"])
    for label, parent in TREE:
        print(f"  {phases.get(label, 0) / n * 1000:7.2f} ms  {label}  ({calls.get(label, 0) / n:g})")
        children = [lbl for lbl, par in TREE if par == label]
        if children:
            rest = phases.get(label, 0) - sum(phases.get(c, 0) for c in children)
            indent = " " * (len(label) - len(label.lstrip()) + 2)
            print(f"  {rest / n * 1000:7.2f} ms  {indent}the rest of {label.strip()}")
    outside = total - sum(phases.get(label, 0) for label, parent in TREE if parent is None)
    print(f"  {outside / n * 1000:7.2f} ms  outside these: ASGI, strawberry's view (parse, validate), the client")
    for label in phases:
        if label not in dict(TREE):
            print(f"  {phases[label] / n * 1000:7.2f} ms  {label}  ({calls[label] / n:g})")
    for name, counts in statements.items():
        shown = ", ".join(f"{k} {v / n:g}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f"SQL statements per registration, {name}: {sum(counts.values()) / n:g} ({shown})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--cprofile", metavar="FILE", help="also write a cProfile of the platform's requests")
    ap.add_argument("--database-url", help="PostgreSQL server (a fresh database beside the one named, dropped "
                    "afterwards); default: a SQLite file in a temp dir")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="perlinsos-profile-"))
    try:
        with fresh_database(args.database_url, workdir) as url:
            migrate.upgrade(url)
            args.engine = engine_name(url)
            asyncio.run(run(args, url))
    except UsageError as exc:
        ap.error(str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
