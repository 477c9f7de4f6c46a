"""Benchmark: the staff list query over HTTP, platform vs. a hand-written endpoint, same run.

    .venv/bin/python bench/graphql_list.py [--items 100] [--seconds 10] [--concurrency 16]
                                           [--database-url postgresql://user@host:5432/db]

Builds a fresh database (a SQLite file in a temp dir, or a new PostgreSQL database created beside
the one named by ``--database-url`` and dropped afterwards), loads the bundled Banyuwangi pilot with
the bench identity plugin (``bench_auth.py``), seeds synthetic registrations with a current decision
of 7 reasons (every third also has a superseded older version) and an ADMIN assignment for the
bench principal. It then starts two uvicorn servers (one worker each, loopback):

* platform: ``uvicorn --factory perlinsos.app:create_app`` answering the GraphQL query ``QUERY``;
* baseline: ``uvicorn --factory baseline_list:create_app`` (Starlette + SQLAlchemy Core) answering
  the same request with the same JSON, and writing the same access-log rows.

Both answers must be equal (as parsed JSON; every list in it has a defined order: edges by
registration id, reasons failed-unknown-passed then by id) before anything is measured. Both servers are loaded alternately (A B B A
...) by asyncio + httpx workers. Exit 0 whatever the ratio (it is a measurement); 2 if the answers
differ; 1 if a server fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_auth  # noqa: E402
from _common import (  # noqa: E402
    Server,
    alternate,
    bench_pilot_data,
    diff,
    engine_name,
    load,
    print_table,
    run_in_fresh_database,  # noqa: E402
    server_env,
)
from perlinsos.db.engine import Database  # noqa: E402
from perlinsos.db.models import (  # noqa: E402
    Decision,
    DecisionReason,
    Household,
    Person,
    Registration,
    StaffAssignment,
    StaffRole,
)
from perlinsos.pilots.files import parse_pilot  # noqa: E402
from perlinsos.pilots.store import save_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402

TARGET, GOAL = 0.35, 0.6
SUBJECT = "bench-admin"
VILLAGES = ("35.10.15.2004", "35.10.16.1014")  # Kemiren (Glagah), Lateng (Banyuwangi)
QUERY = """
query BenchList($pilot: String!, $first: Int!) {
  registrations(pilot: $pilot, first: $first) {
    edges { node {
      id programme channel submittedAt region { code name }
      registrant { id nik name birthDate }
      decision { id version outcome decidedAt
        reasons { code verdict passed observed limit source asOf message } }
    } }
  }
}"""


# --- database ------------------------------------------------------------------------------------


def nik(i: int, district: str) -> str:
    """A valid synthetic NIK (as tests/fixtures/seed.py makes them): born in March 1980, serial i."""
    return f"{district}{1 + i % 28:02d}0380{(i % 9999) + 1:04d}"


def _reasons(i: int, decision_id: int, version: int) -> list[dict]:
    rnd = random.Random(i * 10 + version)
    va, income, decile = rnd.choice([450, 900, 1300, 2200]), rnd.randrange(500_000, 4_000_000, 50_000), rnd.randint(1, 7)
    car_unknown = i % 5 == 0

    def row(code, verdict, observed, limit, source, as_of):
        return {"decision_id": decision_id, "code": code, "verdict": verdict,
                "observed": None if observed is None else {"value": observed},
                "limit": None if limit is None else {"value": limit},
                "source": source, "as_of": as_of, "criterion_version": "1", "detail": None}

    return [
        row("ELECTRICITY_ABOVE_LIMIT", "FAIL" if va > 1300 else "PASS", va, 1300, "PLN", date(2025, 8, 1)),
        row("INCOME_ABOVE_LIMIT", "FAIL" if income > 2_810_139 else "PASS", income, 2_810_139,
            "BPJS Ketenagakerjaan", date(2025, 8, 1)),
        row("WELFARE_DECILE_ABOVE_LIMIT", "FAIL" if decile > 4 else "PASS", decile, 4, "DTSEN", date(2025, 7, 1)),
        row("OWNS_CAR", "UNKNOWN" if car_unknown else "PASS", None if car_unknown else False, None, "Polri",
            None if car_unknown else date(2025, 6, 30)),
        row("STATE_EMPLOYEE", "PASS", None, None, "BKN", date(2025, 7, 15)),
        row("UNUSUAL_TRANSACTIONS", "PASS", None, None, "PPATK", date(2025, 7, 31)),
        row("ALREADY_REGISTERED", "PASS", None, None, None, None),
    ]


async def seed(url: str, count: int) -> str:
    """Pilot (with ``bench_auth`` enabled), ``count`` registrations with decisions, the ADMIN principal."""
    plugins = PluginManager(extra_plugins=["bench_auth"], national=bench_auth.NATIONAL)
    data = bench_pilot_data()
    spec = parse_pilot(data, plugins, source="bench")
    db = Database(url)
    now = datetime.now(UTC)
    try:
        async with db.write() as s:
            pilot, _ = await save_pilot(s, spec)
            s.add(StaffAssignment(issuer=bench_auth.ISSUER, subject=SUBJECT, role=StaffRole.ADMIN, region_code="35",
                                  created_by="bench"))
            await s.flush()
            pilot_id = pilot.id
        hh, people, regs, decisions, reasons = [], [], [], [], []
        for i in range(count):
            n, village = i + 1, VILLAGES[i % 2]
            district = village[:8].replace(".", "")
            hh.append({"id": n, "kk_number": f"{district}{n:010d}", "region_code": village, "created_at": now,
                       "updated_at": now})
            people.append({"id": n, "nik": nik(i, district), "household_id": n, "name": f"Warga Sintetis {n}",
                           "birth_date": date(1980, 3, 1 + i % 28), "sex": "MF"[i % 2], "region_code": village,
                           "relationship": "KEPALA KELUARGA", "created_at": now, "updated_at": now})
            assisted = "fasilitator-glagah" if i % 3 == 0 else None
            regs.append({"id": n, "pilot_id": pilot_id, "programme": "PKH", "person_id": n, "household_id": n,
                         "region_code": village, "channel": "ASSISTED" if assisted else "SELF",
                         "assisted_by": assisted, "submitted_at": now - timedelta(days=30, minutes=i)})
            versions = 2 if i % 3 == 0 else 1
            for v in range(1, versions + 1):
                did = len(decisions) + 1
                rs = _reasons(i, did, v)
                verdicts = {r["verdict"] for r in rs}
                outcome = "NOT_ELIGIBLE" if "FAIL" in verdicts else "PENDING" if "UNKNOWN" in verdicts else "ELIGIBLE"
                current = v == versions
                decisions.append({"id": did, "registration_id": n, "version": v, "outcome": outcome,
                                  "is_current": current, "criteria_versions": {r["code"]: "1" for r in rs},
                                  "inputs_digest": f"{did:064x}", "cause": "SELECTION" if v == 1 else "APPEAL",
                                  "decided_at": now - timedelta(days=20 - 5 * v, minutes=i),
                                  "superseded_at": None if current else now - timedelta(days=10)})
                reasons += rs
        async with db.write() as s:
            for model, rows in ((Household, hh), (Person, people), (Registration, regs), (Decision, decisions),
                                (DecisionReason, reasons)):
                for k in range(0, len(rows), 2000):
                    await s.execute(insert(model.__table__), rows[k:k + 2000])
        return spec.code
    finally:
        await db.dispose()


async def bench(args, url: str, workdir: Path) -> int:
    t = time.perf_counter()
    pilot = await seed(url, args.registrations)
    print(f"seeded {args.registrations} registrations (7 reasons per decision) in {time.perf_counter() - t:.1f}s")
    env = server_env(PERLINSOS_DATABASE_URL=url, PERLINSOS_EXTRA_PLUGINS="bench_auth", PERLINSOS_PRODUCTION="1",
                     PERLINSOS_MAX_PAGE_SIZE=str(max(100, args.items)))
    servers: list[Server] = []
    try:
        servers.append(Server("platform", args.platform_factory, env, workdir))
        servers.append(Server("baseline", "baseline_list:create_app", env, workdir))
        await asyncio.gather(*(s.wait_ready() for s in servers))
        body = json.dumps({"query": QUERY, "variables": {"pilot": pilot, "first": args.items},
                           "operationName": "BenchList"}).encode()
        headers = {"Authorization": f"Bearer staff:{SUBJECT}", "X-Perlinsos-Pilot": pilot,
                   "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            answers = []
            for s in servers:
                r = await client.post(s.url + "/graphql", content=body, headers=headers)
                if r.status_code != 200:
                    print(f"{s.name} answered {r.status_code}: {r.text[:500]}\n{s.tail()}")
                    return 1
                answers.append(r.json())
            if answers[0] != answers[1]:
                print("DIFFERENT ANSWERS — nothing measured:\n" + diff(*answers))
                return 2
            edges = answers[0].get("data", {}).get("registrations", {}).get("edges", [])
            if len(edges) != min(args.items, args.registrations):
                print(f"expected {args.items} items, got {len(edges)}")
                return 2
            print(f"answers equal: {len(edges)} registrations, {len(json.dumps(answers[0]))} bytes of JSON")

            def request(server: Server):
                async def one() -> bool:
                    r = await client.post(server.url + "/graphql", content=body, headers=headers)
                    return r.status_code == 200 and b'"errors"' not in r.content
                return one

            for s in servers:  # warm-up: caches, pools, the first collections
                await load(s, request(s), seconds=args.warmup, concurrency=args.concurrency,
                           max_requests=args.max_requests, stats=None)

            async def run_round(s: Server, stats) -> None:
                await load(s, request(s), seconds=args.seconds / args.rounds, concurrency=args.concurrency,
                           max_requests=args.max_requests, stats=stats)

            stats = await alternate(servers, run_round, args.rounds)
        report(args, url, stats)
        return 0
    finally:
        for s in servers:
            s.stop()


def report(args, url: str, stats) -> None:
    print(f"\ngraphql_list: {args.items} registrations/request, {engine_name(url)}, {args.concurrency} concurrent, "
          f"{args.rounds} alternating rounds, {args.seconds:.0f}s per server, 1 uvicorn worker each")
    print("both servers write one audit_event row per person shown (the platform's AccessLog), "
          "one bulk insert per request")
    if args.platform_factory != "perlinsos.app:create_app":
        print(f"platform side: {args.platform_factory} (BENCH_CANDIDATES={os.environ.get('BENCH_CANDIDATES', '')!r})")
    ratio, cpu_ratio = print_table(stats)
    print(f"ratio platform/baseline = {ratio:.2f}x   (target >= {TARGET}x, goal >= {GOAL}x)"
          + (f"   cpu-per-request ratio = {cpu_ratio:.2f}x" if cpu_ratio else ""))
    if ratio < TARGET:
        print(f"BELOW TARGET: {ratio:.3f}x < {TARGET}x")
    elif ratio < GOAL:
        print(f"meets the target ({TARGET}x), below the goal ({GOAL}x)")
    if stats["platform"].errors or stats["baseline"].errors:
        print("WARNING: errors during measurement; see the figures above")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100, help="registrations per request (page size)")
    ap.add_argument("--registrations", type=int, default=1000, help="registrations seeded (>= items)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server, all rounds")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds the seconds are split into")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-requests", type=int, default=100_000, help="cap per server per round")
    ap.add_argument("--platform-factory", default="perlinsos.app:create_app",
                    help="uvicorn factory of the platform side (to measure a candidate change without editing "
                    "the platform: a module on PYTHONPATH that patches, then calls perlinsos.app.create_app)")
    ap.add_argument("--database-url", help="PostgreSQL server to use (a fresh database is created beside "
                    "the one named, and dropped afterwards); default: a SQLite file in a temp dir")
    args = ap.parse_args()
    args.registrations = max(args.registrations, args.items)
    return run_in_fresh_database(ap, args.database_url, lambda url, workdir: bench(args, url, workdir),
                                 prefix="perlinsos-bench-")

if __name__ == "__main__":
    sys.exit(main())
