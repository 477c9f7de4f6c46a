"""Benchmark: household registrations per second over HTTP, platform vs. a hand-written endpoint, same run.

    .venv/bin/python bench/register.py [--seconds 10] [--concurrency 16] [--max-registrations 1500]
                                       [--people 40000] [--database-url postgresql://user@host:5432/db]

A fresh database (SQLite file in a temp dir, or a new PostgreSQL database beside the one named by
``--database-url``, dropped afterwards), the bundled Banyuwangi pilot with its IKD plugin pointed at
an IKD simulator started here (``tests/fixtures/ikd.py``), and two uvicorn servers (one worker each):

* platform: ``uvicorn --factory perlinsos.app:create_app``, the ``registerHousehold`` mutation;
* baseline: ``uvicorn --factory baseline_register:create_app`` (Starlette, PyJWT, httpx, SQLAlchemy
  Core in one ``Database.write()`` transaction), answering with the same JSON.

Not measured: heads of distinct households are signed in at the simulator and give consent through the
platform's ``giveConsent`` mutation; they are split into two disjoint halves, one per server, so every
registration is new on its side. One registration per side is compared (normalised JSON) before
anything is measured; then a warm-up and alternating rounds (A B, B A, ...) of ``--concurrency``
clients, bounded by time and count. Afterwards: error counts (HTTP, GraphQL/payload, "database is
locked" in the servers' logs), stored rows checked against the successful answers (nothing lost or
duplicated; households, persons and audit rows as expected; a sample of rows equivalent on both
sides), and a sample re-submitted on both sides (``created: false``, no new rows).
Exit 0 whatever the ratio; 2 if the answers differ; 3 if any error, lost, duplicated or
unaccounted registration; 1 if a server fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sys
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import (
    Server,
    backend_cpu,
    backend_cpu_since,
    Stats,
    alternate,
    diff,
    engine_name,
    load,
    print_table,
    proc_cpu_seconds,
    run_in_fresh_database,  # noqa: E402
    server_env,
)
from fixtures.ikd import IkdSimulator  # noqa: E402
from perlinsos import regions  # noqa: E402
from perlinsos.db.engine import Database  # noqa: E402
from perlinsos.db.models import AuditEvent, Consent, Household, Person, Registration  # noqa: E402
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot  # noqa: E402
from perlinsos.pilots.store import save_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402

PROGRAMME = "PKH"
SCOPES = ["person", "facts:income", "facts:bank", "facts:electricity", "facts:welfare", "facts:employment",
          "facts:vehicles"]
MUTATION = """mutation Register($programme: String!) {
  registerHousehold(input: {programme: $programme}) {
    created registration { id programme channel assistedBy submittedAt region { code name } }
    errors { code message field } } }"""
CONSENT = """mutation Consent($scopes: [String!]!) {
  giveConsent(input: {scopes: $scopes, policyVersion: "2025-08"}) { consent { id live } errors { code message } } }"""
R, P, H, C, AE = (m.__table__ for m in (Registration, Person, Household, Consent, AuditEvent))


@dataclass
class Citizen:
    nik: str
    kk: str
    region: str
    size: int
    token: str = ""


class Side:
    """One server, its half of the citizens, and what it answered."""

    def __init__(self, server: Server, citizens: list[Citizen], pilot: str, client: httpx.AsyncClient):
        self.server, self.citizens, self.pilot, self.client = server, citizens, pilot, client
        self.queue = deque(citizens)
        self.done: dict[str, int] = {}  # NIK -> registration id of a successful answer
        self.http_errors = self.payload_errors = 0
        self.samples: list[str] = []
        self.sim_cpu = 0.0
        self.db_cpu = 0.0  # PostgreSQL backends' CPU during this side's rounds
        self.body = httpx.Request("POST", "http://x", json={"query": MUTATION, "operationName": "Register",
                                                           "variables": {"programme": PROGRAMME}}).content

    async def post(self, c: Citizen) -> httpx.Response:
        return await self.client.post(self.server.url + "/graphql", content=self.body, headers={
            "Authorization": f"Bearer {c.token}", "X-Perlinsos-Pilot": self.pilot, "Content-Type": "application/json"})

    def check(self, c: Citizen, r: httpx.Response, created: bool = True) -> dict | None:
        """The payload when the answer is a success (``created`` as expected), else None (counted)."""
        if r.status_code != 200:
            self.http_errors += 1
            self.samples.append(f"HTTP {r.status_code}: {r.text[:200]}")
            return None
        try:
            body = r.json()
        except ValueError:
            body = {"errors": [f"not JSON: {r.text[:100]}"]}
        payload = (body.get("data") or {}).get("registerHousehold") or {}
        if body.get("errors") or payload.get("errors") or payload.get("created") is not created:
            self.payload_errors += 1
            self.samples.append(str(body.get("errors") or payload.get("errors") or payload)[:200])
            return None
        self.done[c.nik] = registration_id(payload["registration"]["id"])
        return body

    def one(self):
        async def one() -> bool | None:
            if not self.queue:
                return None
            c = self.queue.popleft()
            try:
                return self.check(c, await self.post(c)) is not None
            except httpx.HTTPError as exc:
                self.http_errors += 1
                self.samples.append(f"{type(exc).__name__}: {exc}"[:200])
                return False
        return one

    @property
    def errors(self) -> int:
        return self.http_errors + self.payload_errors


def registration_id(gid: str) -> int:
    kind, _, key = base64.urlsafe_b64decode(gid).decode().partition(":")
    assert kind == "Registration", gid
    return int(key)


def normalise(body: dict, c: Citizen) -> dict:
    """The answer with what differs between citizens replaced by what it was checked to be."""
    reg = dict(body["data"]["registerHousehold"]["registration"])
    registration_id(reg["id"])
    when = datetime.fromisoformat(reg["submittedAt"])
    assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0, reg["submittedAt"]
    region = regions.get(c.region)
    reg |= {"id": "<Registration id>", "submittedAt": "<a UTC datetime>", "region": {
        "code": "<the citizen's village>" if reg["region"]["code"] == c.region else reg["region"]["code"],
        "name": "<its name>" if region and reg["region"]["name"] == region.name else reg["region"]["name"]}}
    return {"data": {"registerHousehold": {**body["data"]["registerHousehold"], "registration": reg}}}


# --- set-up (not measured) -----------------------------------------------------------------------


async def load_pilot(url: str, ikd: IkdSimulator) -> str:
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    data["plugins"]["ikd"] = {"issuer": ikd.issuer, "audience": ikd.audience, "client_secret": ikd.client_secret}
    # production mode refuses the bundled development secrets (as bench_pilot_data replaces them)
    data["plugins"]["notify_sms"]["api_key"] = "bench-sms-key"
    spec = parse_pilot(data, PluginManager(), source="bench")
    db = Database(url)
    try:
        async with db.write() as s:
            await save_pilot(s, spec)
    finally:
        await db.dispose()
    return spec.code


def heads(ikd: IkdSimulator, count: int) -> list[Citizen]:
    """Heads of ``count`` distinct households, in population order."""
    found: dict[str, Citizen] = {}
    offset = 0
    while len(found) < count:
        page = ikd.people(limit=1000, offset=offset, role="HEAD")
        if not page:
            break
        for p in page:
            found.setdefault(p["kk_number"], Citizen(p["nik"], p["kk_number"], p["region_code"], p["household_size"]))
        offset += len(page)
    return list(found.values())[:count]


async def consent_all(client: httpx.AsyncClient, ikd_url: str, platform: Server, pilot: str,
                      citizens: list[Citizen], concurrency: int) -> list[str]:
    """Sign every citizen in at the simulator and give consent through the platform; the failures."""
    todo, failures = iter(citizens), []

    async def worker() -> None:
        for c in todo:
            r = await client.post(ikd_url + "/sim/sign-in", json={"nik": c.nik})
            r.raise_for_status()
            c.token = r.json()["access_token"]
            r = await client.post(platform.url + "/graphql", json={"query": CONSENT, "variables": {"scopes": SCOPES}},
                                  headers={"Authorization": f"Bearer {c.token}", "X-Perlinsos-Pilot": pilot})
            payload = r.json().get("data", {}).get("giveConsent") if r.status_code == 200 else None
            if not payload or payload["errors"] or not payload["consent"]["live"]:
                failures.append(f"{r.status_code} {r.text[:200]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


# --- after the run -------------------------------------------------------------------------------


async def table_counts(db: Database) -> dict[str, int]:
    async with db.read() as s:
        return {t.name: (await s.execute(select(func.count()).select_from(t))).scalar_one() for t in (R, P, H, AE)}


async def verify(db: Database, sides: dict[str, Side], sample: int) -> tuple[list[str], int]:
    """Stored rows against the answers, per side; a sample compared across sides. (lines, problems)"""
    async with db.read() as s:
        regs = (await s.execute(select(R, H.c.kk_number, P.c.nik).join(H, H.c.id == R.c.household_id)
                                .join(P, P.c.id == R.c.person_id))).all()
        people = (await s.execute(select(H.c.kk_number, func.count()).join(P, P.c.household_id == H.c.id)
                                  .group_by(H.c.kk_number))).all()
        audits = {a.entity_id: a for a in await s.execute(select(AE).where(AE.c.action == "REGISTRATION_CREATED"))}
        consents = {c.person_id: c.id for c in await s.execute(select(C.c.person_id, C.c.id))}
    persons_by_kk = dict(people)
    lines, problems, shapes = [], 0, {}
    for name, side in sides.items():
        by_kk = {c.kk: c for c in side.citizens}
        mine = [r for r in regs if r.kk_number in by_kk]
        ids = {r.id for r in mine}
        per_household = len({r.household_id for r in mine})
        lost = [i for i in side.done.values() if i not in ids]
        unaccounted = len(ids - set(side.done.values()))
        wrong = sum(1 for r in mine if r.nik != by_kk[r.kk_number].nik)
        no_audit = sum(1 for r in mine if str(r.id) not in audits)
        persons = sum(persons_by_kk.get(kk, 0) for kk in by_kk)
        expected_persons = sum(c.size for c in side.citizens)
        households = sum(1 for kk in by_kk if kk in persons_by_kk)
        bad = len(lost) + unaccounted + (len(mine) - per_household) + wrong + no_audit
        bad += (persons != expected_persons) + (households != len(by_kk))
        problems += bad
        lines.append(f"  {name:<9} {len(side.done)} successful answers, {len(mine)} registrations stored "
                     f"({len(lost)} lost, {unaccounted} unaccounted, {len(mine) - per_household} duplicated, "
                     f"{wrong} for another person, {no_audit} without audit row); households {households}/{len(by_kk)}, "
                     f"persons {persons}/{expected_persons}" + ("" if not bad else "   <-- WRONG"))
        for r in random.Random(7).sample(mine, min(sample, len(mine))):
            a = audits.get(str(r.id))
            shape = {"programme": r.programme, "channel": getattr(r.channel, "value", r.channel),
                     "assisted_by": r.assisted_by, "region_is_citizens": r.region_code == by_kk[r.kk_number].region,
                     "consent_is_persons": r.consent_id == consents.get(r.person_id),
                     "audit": a and {"actor_role": a.actor_role, "entity_type": a.entity_type, "purpose": a.purpose,
                                     "details": a.details, "subject_is_registrant": a.subject_person_id == r.person_id,
                                     "actor_is_set": bool(a.actor)}}
            shapes.setdefault(name, []).append(shape)
    kinds = {n: {repr(s) for s in v} for n, v in shapes.items()}
    if len(kinds) == 2 and len(kinds["platform"]) == 1 and kinds["platform"] == kinds["baseline"]:
        lines.append(f"  stored rows of {sample} sampled registrations per side: equivalent ({kinds['platform'].pop()})")
    else:
        problems += 1
        lines.append("  stored rows DIFFER between sides:\n" + diff(*(shapes.get(n, [])[:3] for n in sides)))
    return lines, problems


async def idempotency(sides: dict[str, Side], db: Database, sample: int) -> tuple[list[str], int]:
    before = await table_counts(db)
    answers, problems = {}, 0
    for name, side in sides.items():
        by_nik = {c.nik: c for c in side.citizens}
        chosen = random.Random(11).sample(sorted(side.done), min(sample, len(side.done)))
        expected = {nik: side.done[nik] for nik in chosen}
        counted = side.http_errors, side.payload_errors  # failures here are verification problems
        results = await asyncio.gather(*(side.post(by_nik[nik]) for nik in chosen))
        for nik, r in zip(chosen, results, strict=True):
            body = side.check(by_nik[nik], r, created=False)
            problems += body is None or side.done[nik] != expected[nik]
            if body is not None:
                answers.setdefault(name, normalise(body, by_nik[nik]))
        side.http_errors, side.payload_errors = counted
    after = await table_counts(db)
    same = answers.get("platform") == answers.get("baseline")
    problems += (after != before) + (not same)
    line = (f"  re-submitted {sample} per side: {'created=false, same registration ids' if not problems else 'WRONG'}; "
            f"rows {'unchanged' if after == before else f'CHANGED {before} -> {after}'} ({after}); "
            f"answers {'equivalent' if same else 'DIFFER:' + chr(10) + diff(answers.get('platform'), answers.get('baseline'))}")
    return [line], problems


# --- the run -------------------------------------------------------------------------------------


async def bench(args, url: str, workdir: Path) -> int:
    needed = 2 * (1 + args.warmup + args.max_registrations)
    with IkdSimulator(people=args.people, seed=2025) as ikd:
        pilot = await load_pilot(url, ikd)
        citizens = heads(ikd, needed)
        if len(citizens) < needed:
            raise RuntimeError(f"{args.people} people hold only {len(citizens)} households; {needed} are needed "
                               "(raise --people or lower --max-registrations/--warmup)")
        # whole documents, as the baseline receives them (production would require trusted documents)
        env = server_env(PERLINSOS_DATABASE_URL=url, PERLINSOS_PRODUCTION="1", PERLINSOS_TRUSTED_DOCUMENTS="allow",
                         BENCH_PILOT=pilot,
                         BENCH_IKD_ISSUER=ikd.issuer, BENCH_IKD_AUDIENCE=ikd.audience, BENCH_IKD_SECRET=ikd.client_secret)
        servers: list[Server] = []
        try:
            servers.append(Server("platform", args.platform_factory, env, workdir))
            servers.append(Server("baseline", "baseline_register:create_app", env, workdir))
            await asyncio.gather(*(s.wait_ready() for s in servers))
            limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
            async with httpx.AsyncClient(limits=limits, timeout=60) as client:
                t = time.perf_counter()
                failures = await consent_all(client, ikd.url, servers[0], pilot, citizens, args.concurrency)
                if failures:
                    raise RuntimeError(f"{len(failures)} consents failed, e.g. {failures[0]}")
                print(f"{len(citizens)} citizens of distinct households signed in and consented through the platform "
                      f"in {time.perf_counter() - t:.1f}s (IKD simulator: {args.people} people)")
                sides = {s.name: Side(s, citizens[i::2], pilot, client) for i, s in enumerate(servers)}
                first = {}
                for name, side in sides.items():  # one each, compared before anything is measured
                    c = side.queue.popleft()
                    body = side.check(c, await side.post(c))
                    if body is None:
                        print(f"{name} failed to register: {side.samples[-1]}\n{side.server.tail()}")
                        return 1
                    first[name] = normalise(body, c)
                if first["platform"] != first["baseline"]:
                    print("DIFFERENT ANSWERS — nothing measured:\n" + diff(first["platform"], first["baseline"]))
                    return 2
                print(f"answers equivalent: {first['platform']}")
                for side in sides.values():  # warm-up: JWKS, pools, caches, the first collections
                    await load(side.server, side.one(), seconds=60, concurrency=args.concurrency,
                               max_requests=args.warmup, stats=None)

                async def run_round(server: Server, stats: Stats) -> None:
                    side = sides[server.name]
                    sim0, db0 = proc_cpu_seconds(ikd.process.pid), backend_cpu(url)
                    await load(server, side.one(), seconds=args.seconds / args.rounds, concurrency=args.concurrency,
                               max_requests=args.max_registrations // args.rounds, stats=stats)
                    side.sim_cpu += (proc_cpu_seconds(ikd.process.pid) or 0) - (sim0 or 0)
                    if db0 is not None:  # the other server's pooled backends sit idle meanwhile
                        side.db_cpu += backend_cpu_since(url, db0)

                stats = await alternate(servers, run_round, args.rounds)
                locked = {s.name: s.log_text().count("database is locked") for s in servers}
                tracebacks = {s.name: s.log_text().count("Traceback") for s in servers}
                db = Database(url)
                try:
                    checks, bad = await verify(db, sides, args.sample)
                    again, bad_again = await idempotency(sides, db, args.sample)
                finally:
                    await db.dispose()
        finally:
            for s in servers:
                s.stop()
    errors = report(args, url, stats, sides, locked, tracebacks)
    print("after the run:\n" + "\n".join(checks + again))
    total = errors + bad + bad_again
    print(f"ERROR COUNT = {errors}; verification problems = {bad + bad_again}" + ("" if total else "   (OK)"))
    return 3 if total else 0


def report(args, url: str, stats: dict[str, Stats], sides: dict[str, Side], locked, tracebacks) -> int:
    print(f"\nregister: {PROGRAMME} registrations of distinct households, {engine_name(url)}, {args.concurrency} "
          f"concurrent, {args.rounds} alternating rounds, <= {args.seconds:.0f}s and <= {args.max_registrations} "
          "registrations per server, 1 uvicorn worker each, one IKD simulator (1 process) shared")
    ratio, cpu_ratio = print_table(stats, "reg/s")
    print(f"ratio platform/baseline = {ratio:.2f}x" + (f"   cpu-per-request ratio = {cpu_ratio:.2f}x" if cpu_ratio else ""))
    errors = 0
    for name, side in sides.items():
        n = stats[name].requests or 1
        count = side.errors + locked[name] + tracebacks[name]
        errors += count
        print(f"  {name:<9} errors {count}: HTTP {side.http_errors}, GraphQL/payload {side.payload_errors}, "
              f"'database is locked' in log {locked[name]}, tracebacks in log {tracebacks[name]}; "
              f"IKD simulator cpu {side.sim_cpu / n * 1000:.1f} ms/reg"
              + (f"; PostgreSQL backends' cpu {side.db_cpu / n * 1000:.2f} ms/reg" if side.db_cpu else "")
              + (f"; e.g. {side.samples[0]}" if side.samples else ""))
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server, all rounds")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds the seconds are split into")
    ap.add_argument("--max-registrations", type=int, default=1500, help="cap per server, all rounds")
    ap.add_argument("--warmup", type=int, default=150, help="warm-up registrations per server")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--people", type=int, default=40_000, help="IKD simulator population (~3.5 per household)")
    ap.add_argument("--sample", type=int, default=50, help="registrations per side checked and re-submitted")
    ap.add_argument("--platform-factory", default="perlinsos.app:create_app",
                    help="uvicorn factory of the platform side (a module on PYTHONPATH, e.g. in bench/, that "
                    "patches, then calls perlinsos.app.create_app)")
    ap.add_argument("--database-url", help="PostgreSQL server to use (a fresh database is created beside "
                    "the one named, and dropped afterwards); default: a SQLite file in a temp dir")
    args = ap.parse_args()
    return run_in_fresh_database(ap, args.database_url, lambda url, workdir: bench(args, url, workdir),
                                 prefix="perlinsos-bench-")


if __name__ == "__main__":
    sys.exit(main())
