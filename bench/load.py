"""Load: a bounded mix of citizen reads, registrations and reviewer queries against real `perlinsos serve`
processes, with the servers' own ``/health`` (an HTTP round trip plus a database ping and the schema
revision read) measured in the same run as the baseline.

    .venv/bin/python bench/load.py [--seconds 24] [--concurrency 16] [--api 1] [--people 6000]
                                   [--readers 300] [--database-url postgresql://user@host:5432/db]

Set-up (not measured): a fresh database (SQLite file, or a new PostgreSQL database beside the one
named, dropped afterwards), an IKD simulator, the Banyuwangi pilot (IKD + criteria; no SMS), ``--api``
`perlinsos serve` processes (in-process dispatcher off). ``--readers`` household heads consent and
register through the API and are selected (decisions, reasons, portal inbox); as many more heads
consent to be registered during the run; a reviewer of the regency signs in at IKD.

Measured, alternating (mix, health, mix, health): ``--concurrency`` clients spread over the API
processes, each request picked at random (seeded) — citizen ``me`` with decisions and reasons (30%),
``me.notifications`` (20%), ``registerHousehold`` of a new household (15%), reviewer
``registrations(first: 20)`` with decisions (20%) and ``appeals(first: 20)`` (15%).
Printed: throughput, per kind p50/p99 and errors, and the ratio to ``/health``. Afterwards every
successful registration is checked stored once. Exit 3 on any error or lost/duplicated
registration, 1 if a server fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import subprocess
import sys
import time
import tomllib
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import (  # noqa: E402
    Server,
    Stats,
    UsageError,
    diff,
    engine_name,
    free_port,
    backend_cpu,
    backend_cpu_since,
    load,
    run_in_fresh_database,
    server_env,
)
import load_seed  # noqa: E402
from fixtures.ikd import IkdSimulator  # noqa: E402
from perlinsos.registration import consent  # noqa: E402
from perlinsos.db.engine import Database  # noqa: E402
from perlinsos.db.models import AuditEvent, Pilot, Registration, StaffAssignment, StaffRole  # noqa: E402
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot  # noqa: E402
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402
from perlinsos.selection import run_selection  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

PILOT = "BWI-2025"
CONSENT = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) { errors { code } } }'
REGISTER = 'mutation { registerHousehold(input: {programme: "PKH"}) { created registration { id } errors { code } } }'
ME = "{ me { registrations { id programme decision { outcome version reasons { code verdict message } } } } }"
INBOX = "{ me { unreadNotifications notifications(first: 10) { nodes { id template title body readAt } } } }"
REGISTRATIONS = f"""{{ registrations(pilot: "{PILOT}", first: 20) {{ nodes {{ id programme submittedAt
  region {{ code name }} registrant {{ nik name }} decision {{ outcome reasons {{ code verdict }} }} }} }} }}"""
APPEALS = f'{{ appeals(pilot: "{PILOT}", first: 20) {{ nodes {{ id status ground submittedAt overdue }} }} }}'
MIX = (("me", 30), ("me.notifications", 20), ("register", 15), ("reviewer.registrations", 20),
       ("reviewer.appeals", 15))


class Serve(Server):
    """`perlinsos serve` (not uvicorn directly): the deployment's own command."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", "serve", "--port", str(self.port)],
                                         env=env, stdout=log, stderr=subprocess.STDOUT, cwd=logdir)


async def setup_database(url: str, ikd: IkdSimulator) -> None:
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    data["plugins"]["ikd"] = {"issuer": ikd.issuer, "audience": ikd.audience, "client_secret": ikd.client_secret}
    del data["plugins"]["notify_sms"]  # nothing to deliver during the run: no dispatcher traffic
    db = Database(url)
    try:
        async with db.write() as s:
            await save_pilot(s, parse_pilot(data, PluginManager(), source="bench"))
    finally:
        await db.dispose()


def household_heads(ikd: IkdSimulator, count: int) -> list[str]:
    found: dict[str, str] = {}
    offset = 0
    while len(found) < count:
        page = ikd.people(limit=1000, offset=offset, role="HEAD")
        if not page:
            break
        for p in page:
            found.setdefault(p["kk_number"], p["nik"])
        offset += len(page)
    if len(found) < count:
        raise UsageError(f"--people gives only {len(found)} households; {count} needed")
    return list(found.values())[:count]


async def gql(http: httpx.AsyncClient, url: str, query: str, token: str, variables: dict | None = None) -> dict:
    r = await http.post(url + "/graphql", json={"query": query, "variables": variables or {}},
                        headers={"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": PILOT})
    r.raise_for_status()
    return r.json()


async def prepare(http, ikd, urls: list[str], url: str, readers: int, fresh: int, concurrency: int):
    """Tokens of registered-and-selected citizens, of consented ones to register, and a reviewer's."""
    niks = household_heads(ikd, readers + fresh)
    tokens: dict[str, str] = {}
    todo = iter(enumerate(niks))

    async def worker() -> None:
        for i, nik in todo:
            r = await http.post(ikd.url + "/sim/sign-in", json={"nik": nik})
            r.raise_for_status()
            tokens[nik] = r.json()["access_token"]
            api = urls[i % len(urls)]
            assert not (await gql(http, api, CONSENT, tokens[nik], {"s": list(consent.SCOPES)}))[
                "data"]["giveConsent"]["errors"]
            if i < readers:
                body = await gql(http, api, REGISTER, tokens[nik])
                assert body["data"]["registerHousehold"]["errors"] == [], body

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    db = Database(url)
    try:
        async with db.read() as s:
            plugins = PluginManager()
            hooks = plugins.for_pilot(pilot_context(await get_pilot(s, PILOT), plugins))
        summary = await run_selection(db, hooks)  # decisions, reasons and the portal inbox to read
        from perlinsos.notification.dispatcher import Dispatcher

        await Dispatcher(db, plugins, portal_url="http://127.0.0.1").drain()  # inbox entries become readable
        staff = (await http.post(ikd.url + "/sim/sign-in", json={"staff_id": "reviewer-bwi"})).json()["access_token"]
        claims = json.loads(base64.urlsafe_b64decode(staff.split(".")[1] + "=="))
        async with db.write() as s:
            s.add(StaffAssignment(issuer=claims["iss"], subject=claims["sub"], role=StaffRole.REVIEWER,
                                  region_code="35.10"))
    finally:
        await db.dispose()
    print(f"set-up: {readers} households registered and selected ({dict(summary.outcomes)}), "
          f"{fresh} more consented, a reviewer of 35.10")
    return [(n, tokens[n]) for n in niks[:readers]], [tokens[n] for n in niks[readers:]], staff


class Mix:
    def __init__(self, urls: list[str], readers: list[tuple[str, str]], fresh: list[str], staff: str,
                 mix=MIX, seed: int = 7):
        self.urls, self.readers, self.fresh, self.staff = urls, [t for _, t in readers], fresh, staff
        self.rng = random.Random(seed)
        self.kinds, self.weights = zip(*mix, strict=True)
        self.stats: dict[str, Stats] = defaultdict(Stats)
        self.registered: list[str] = []
        self.samples: list[str] = []
        self.turn = 0

    async def one(self, http: httpx.AsyncClient) -> None:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "register" and not self.fresh:
            kind = "me"  # the prepared households are used up
        self.turn += 1
        url = self.urls[self.turn % len(self.urls)]
        if kind == "register":
            token = self.fresh.pop()  # a new household each time
        elif kind.startswith("reviewer."):
            token = self.staff
        else:
            token = self.rng.choice(self.readers)
        query = {"me": ME, "me.notifications": INBOX, "register": REGISTER, "reviewer.registrations": REGISTRATIONS,
                 "reviewer.appeals": APPEALS}[kind]
        t0 = time.perf_counter()
        ok = False
        try:
            body = await gql(http, url, query, token)
            ok = _ok(kind, body)
            if not ok:
                self.samples.append(f"{kind}: {json.dumps(body)[:200]}")
            elif kind == "register":
                self.registered.append(body["data"]["registerHousehold"]["registration"]["id"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self.samples.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
        s = self.stats[kind]
        s.latencies.append(time.perf_counter() - t0)
        s.requests += 1
        s.errors += not ok


def _ok(kind: str, body: dict) -> bool:
    data = body.get("data") or {}
    if body.get("errors"):
        return False
    if kind == "me":
        return bool(data["me"]["registrations"]) and data["me"]["registrations"][0]["decision"] is not None
    if kind == "me.notifications":
        return bool(data["me"]["notifications"]["nodes"])
    if kind == "register":
        return data["registerHousehold"]["errors"] == [] and data["registerHousehold"]["created"] is True
    if kind == "reviewer.registrations":
        return len(data["registrations"]["nodes"]) == 20
    return isinstance(data["appeals"]["nodes"], list)


async def timed(concurrency: int, seconds: float, one) -> float:
    """``concurrency`` clients call ``one`` for ``seconds``; returns the elapsed time."""
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
        async def client() -> None:
            while time.perf_counter() < deadline:
                await one(http)
        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - t0


async def audit_rows(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as s:
            return (await s.execute(select(func.count(AuditEvent.id)))).scalar_one()
    finally:
        await db.dispose()


async def seed_bulk(url: str, n: int) -> None:
    """``--seed N`` synthetic registrations in the pilot (after the set-up's own, which selection read)."""
    db = Database(url)
    try:
        async with db.read() as s:
            pilot_id = (await s.execute(select(Pilot.id).where(Pilot.code == PILOT))).scalar_one()
    finally:
        await db.dispose()
    print(f"seeding {n:,} synthetic registrations (decision, 3 reasons, a portal notification each; not measured)")
    seconds = await load_seed.seed(url, n, pilot_id, log=lambda line: print(line, flush=True))
    print(f"seeded in {seconds:.0f} s")


async def same_answers(http: httpx.AsyncClient, platform: str, baseline: str, readers) -> str | None:
    """None when both sides answer ``ME`` alike for a few citizens; else the first difference."""
    for _, token in readers[:5]:
        a, b = await gql(http, platform, ME, token), await gql(http, baseline, ME, token)
        if a != b:
            return diff(a, b)
        if not _ok("me", a):
            return f"not a citizen's answer with a decision: {json.dumps(a)[:300]}"
    return None


async def statements_per_request(url: str, readers, staff: str) -> dict[str, int]:
    """SQL statements per request of each read operation, counted in process (the platform app on
    the same database, a ``before_cursor_execute`` listener on its engine); the second request of
    each kind is counted, after one that warms the pilot cache and the JWKS."""
    from sqlalchemy import event

    from perlinsos.app import create_app
    from perlinsos.settings import Settings

    app = create_app(Settings.from_env(server_env(PERLINSOS_DATABASE_URL=url), database_url=url))
    engine = app.state.perlinsos.db.engine.sync_engine
    count = {"n": 0}

    def seen(*_):
        count["n"] += 1

    event.listen(engine, "before_cursor_execute", seen)
    token = readers[0][1]
    queries = {"me": (ME, token), "me.notifications": (INBOX, token), "reviewer.registrations": (REGISTRATIONS, staff),
               "reviewer.appeals": (APPEALS, staff)}
    found = {}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://load") as http:
            for kind, (query, who) in queries.items():
                await gql(http, "http://load", query, who)
                count["n"] = 0
                body = await gql(http, "http://load", query, who)
                found[kind] = count["n"] if _ok(kind, body) else -1
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        await app.state.perlinsos.db.dispose()
    return found


async def me_only(args, url: str, platform: Server, raw: Server, readers) -> int:
    """``--only me``: the platform's ``me`` and the hand-written one, alternating rounds, with the
    CPU each server process spent per request."""
    tokens = [t for _, t in readers]
    turn = {"n": 0}
    body = json.dumps({"query": ME, "variables": {}})
    headers = {"X-Perlinsos-Pilot": PILOT, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    stats = {"platform": Stats(), "baseline": Stats()}
    written = {"platform": 0, "baseline": 0}
    db_cpu = {"platform": 0.0, "baseline": 0.0}
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        def request(server: Server):
            async def one() -> bool:
                turn["n"] += 1
                r = await http.post(server.url + "/graphql", content=body, headers={
                    **headers, "Authorization": f"Bearer {tokens[turn['n'] % len(tokens)]}"})
                return r.status_code == 200 and b'"decision":{' in r.content and b'"errors"' not in r.content
            return one

        sides = {"platform": platform, "baseline": raw}
        for s in sides.values():  # warm-up: keys, pools, caches
            await load(s, request(s), seconds=2, concurrency=args.concurrency, max_requests=10**6, stats=None)
        for i in range(args.rounds):
            for name in (["platform", "baseline"] if i % 2 == 0 else ["baseline", "platform"]):
                before, db_before = await audit_rows(url), backend_cpu(url)
                await load(sides[name], request(sides[name]), seconds=args.seconds / args.rounds,
                           concurrency=args.concurrency, max_requests=10**6, stats=stats[name])
                if db_before is not None:  # the other side's pooled backends sit idle meanwhile
                    db_cpu[name] += backend_cpu_since(url, db_before)
                written[name] += await audit_rows(url) - before
    print(f"\n`me` only: {engine_name(url)}, {args.concurrency} clients, {args.rounds} alternating rounds, "
          f"{args.seconds:g} s per side; {len(tokens)} citizens' IKD tokens verified on both sides")
    print(f"{'side':<9} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10} "
          f"{'audit rows':>10}  per-round req/s")
    for name, s in stats.items():
        cpu = f"{s.cpu_per_request * 1000:10.2f}" if s.cpu_per_request else f"{'n/a':>10}"
        print(f"{name:<9} {s.requests:>8} {s.errors:>6} {s.rate:>8.1f} {s.pct(0.5):>7.1f} {s.pct(0.99):>7.1f} {cpu} "
              f"{written[name]:>10}  " + " ".join(f"{r:.1f}" for r in s.rounds))
    p, b = stats["platform"], stats["baseline"]
    cpu_ratio = b.cpu_per_request / p.cpu_per_request if p.cpu_per_request and b.cpu_per_request else float("nan")
    print(f"me: platform / hand-written = {p.rate / b.rate:.2f}x (wall), {cpu_ratio:.2f}x (CPU per request)")
    if backend_cpu(url) is not None and p.requests and b.requests:
        print(f"PostgreSQL backends' CPU per request (/proc, during each side's rounds): platform "
              f"{db_cpu['platform'] / p.requests * 1000:.2f} ms, baseline {db_cpu['baseline'] / b.requests * 1000:.2f} ms")
    return 3 if p.errors or b.errors or written["platform"] != written["baseline"] else 0


async def main_async(args: argparse.Namespace, url: str, workdir: Path) -> int:
    fresh = 0 if args.only == "me" else int(args.seconds * 30)  # registrations the run may need; then it reads
    with IkdSimulator(people=args.people, seed=2025) as ikd:
        await setup_database(url, ikd)
        env = server_env(PERLINSOS_DATABASE_URL=url, PERLINSOS_DISPATCHER_IN_PROCESS="0")
        servers = [Serve(f"api-{i + 1}", env, workdir) for i in range(args.api)]
        raw = Server("baseline", "baseline_load:create_app",
                     {**env, "BASELINE_IKD_ISSUER": ikd.issuer, "BASELINE_IKD_AUDIENCE": ikd.audience}, workdir)
        try:
            for s in [*servers, raw]:
                await s.wait_ready()
            urls = [s.url for s in servers]
            async with httpx.AsyncClient(timeout=60) as http:
                readers, pool, staff = await prepare(http, ikd, urls, url, args.readers, fresh, 8)
                if args.seed:
                    await seed_bulk(url, args.seed)
                different = await same_answers(http, urls[0], raw.url, readers)
            if different:
                print("DIFFERENT ANSWERS to `me` — nothing measured:\n" + different)
                return 2
            print("answers to `me` equal on both sides (5 citizens)")
            if args.only == "me":
                code = await me_only(args, url, servers[0], raw, readers)
                cpu = None
            else:
                code = None
                mix = Mix(urls, readers, pool, staff)
                me_only_mix = Mix(urls, readers, pool, staff, mix=(("me", 1),))
                raw_me, ping, turn = Stats(), Stats(), {"n": 0}
                tokens = [t for _, t in readers]

                def baseline(path: str, stats: Stats):
                    async def one(http: httpx.AsyncClient) -> None:
                        turn["n"] += 1
                        t0 = time.perf_counter()
                        try:
                            if path == "/me":  # the same request as the platform's: POST, token, pilot
                                body = await gql(http, raw.url, ME, tokens[turn["n"] % len(tokens)])
                                ok = _ok("me", body)
                            else:
                                ok = (await http.get(raw.url + path)).status_code == 200
                        except (httpx.HTTPError, ValueError, KeyError, TypeError):
                            ok = False
                        stats.latencies.append(time.perf_counter() - t0)
                        stats.requests += 1
                        stats.errors += not ok
                    return one

                warm = Stats()
                await timed(args.concurrency, 2, baseline("/me", warm))  # warm-up, not counted
                await timed(args.concurrency, 2, Mix(urls, readers, [], staff, mix=(("me", 1),)).one)
                mix_time = me_time = raw_time = ping_time = 0.0
                for _ in range(2):  # alternating, to even out drift
                    mix_time += await timed(args.concurrency, args.seconds / 2, mix.one)
                    me_time += await timed(args.concurrency, args.seconds / 4, me_only_mix.one)
                    raw_time += await timed(args.concurrency, args.seconds / 4, baseline("/me", raw_me))
                    ping_time += await timed(args.concurrency, args.seconds / 8, baseline("/ping", ping))
                cpu = [s.cpu_seconds() for s in servers]
        finally:
            for s in [*servers, raw]:
                s.stop()
        if args.count_statements:
            counts = await statements_per_request(url, readers, staff)
            print("SQL statements per request (in process, the second request of each): "
                  + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if code is not None:
        return code
    total = sum(s.requests for s in mix.stats.values())
    errors = sum(s.errors for s in mix.stats.values()) + me_only_mix.stats["me"].errors + raw_me.errors + ping.errors
    rate, floor = total / mix_time, ping.requests / ping_time
    me_rate, raw_rate = me_only_mix.stats["me"].requests / me_time, raw_me.requests / raw_time
    print(f"\n{engine_name(url)}, {args.api} x `perlinsos serve`, {args.concurrency} clients; measured: "
          f"{args.seconds:g} s of mix, {args.seconds / 2:g} s of me only on each side, {args.seconds / 4:g} s of "
          f"SELECT 1, in 2 alternating rounds; platform server CPU {sum(c or 0 for c in cpu):.1f} s"
          + (f"; {args.seed:,} synthetic registrations seeded" if args.seed else ""))
    print(f"{'operation':<26} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    rows = [(k, mix.stats[k], None) for k, _ in MIX]
    rows += [("me only (platform)", me_only_mix.stats["me"], me_rate), ("me only (baseline)", raw_me, raw_rate),
             ("SELECT 1 (baseline)", ping, floor)]
    for name, s, r in rows:
        print(f"{name:<26} {s.requests:>8} {s.errors:>6} {'' if r is None else f'{r:.1f}':>7} "
              f"{s.pct(0.5):>7.1f} {s.pct(0.99):>7.1f}")
    print(f"mix throughput {rate:.1f} req/s = {rate / floor:.2f}x the SELECT 1 floor; "
          f"me: platform / hand-written = {me_rate / raw_rate:.2f}x; errors {errors}")
    for line in [*mix.samples, *me_only_mix.samples][:5]:
        print("  e.g. " + line)
    db = Database(url)
    try:
        async with db.read() as s:
            stored = (await s.execute(select(func.count(Registration.id)))).scalar_one()
    finally:
        await db.dispose()
    expected = args.readers + len(mix.registered) + args.seed
    print(f"registrations stored {stored:,}: {args.readers:,} before the run + {len(mix.registered):,} answered "
          f"created during it" + (f" + {args.seed:,} seeded" if args.seed else "")
          + f" ({'all accounted for' if stored == expected else 'MISMATCH'})")
    return 3 if errors or stored != expected or len(set(mix.registered)) != len(mix.registered) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=24, help="of mix (plus half as long of /health)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--api", type=int, default=1, help="`perlinsos serve` processes (round-robin)")
    parser.add_argument("--people", type=int, default=6000, help="IKD simulator population")
    parser.add_argument("--readers", type=int, default=300, help="households registered and selected first")
    parser.add_argument("--only", choices=["me"], help="me: only `me`, platform vs. the fair baseline, "
                        "alternating rounds, req/s and server CPU per request of each side")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of --only me")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="bulk-load N synthetic registrations (decision, reasons, notification) after the "
                        "set-up, not measured")
    parser.add_argument("--count-statements", action="store_true",
                        help="afterwards, count SQL statements per request of each read operation (in process)")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        parser.error("--seconds must be between 1 and 120 (the run is bounded)")
    if not 0 <= args.seed <= 5_000_000:
        parser.error("--seed must be between 0 and 5,000,000")
    return run_in_fresh_database(parser, args.database_url, lambda url, workdir: main_async(args, url, workdir),
                                 prefix="perlinsos-load-")


if __name__ == "__main__":
    sys.exit(main())
