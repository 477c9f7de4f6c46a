"""The transparency-figures benchmark: ``pilotStats`` through the platform vs. the same aggregate SQL
run directly, in the same run.

1. A fresh database (a SQLite file in a temp dir, or with ``--database-url`` a new PostgreSQL database
   beside the one named, dropped at the end), migrated, the bundled pilot with ``bench_auth``, an ADMIN.
2. ``--registrations`` households/people/registrations seeded by ``INSERT ... SELECT`` from a recursive
   CTE (SQLite) or ``generate_series`` (PostgreSQL), spread over every Banyuwangi village (a few tiny
   ones, so suppression has work): 95% decided (every 5th with a superseded older version), 3 reasons
   per decision, 1% of registrations appealed, one notification per decision.
3. Alternating rounds: the ``PilotStats`` operation (schema/operations) POSTed over loopback HTTP to
   the platform under uvicorn (GraphQL, auth, SQLAlchemy, roll-up, suppression, JSON) vs. the hand-written
   GROUP BY queries through the bare driver (``sqlite3`` / ``asyncpg``). Medians and their ratio;
   the platform's shown village counts are checked against the baseline's.

    .venv/bin/python bench/stats.py [--registrations 1000000] [--rounds 5]
                                    [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_auth  # noqa: E402
from _common import Server, UsageError, bench_pilot_data, engine_name, fresh_database, server_env  # noqa: E402

from perlinsos import regions  # noqa: E402
from perlinsos.db import migrate  # noqa: E402
from perlinsos.db.engine import Database  # noqa: E402
from perlinsos.db.models import StaffAssignment, StaffRole  # noqa: E402
from perlinsos.pilots.files import parse_pilot  # noqa: E402
from perlinsos.pilots.store import save_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERY = (ROOT / "schema" / "operations" / "PilotStats.graphql").read_text()
SUBJECT, TINY = "bench-admin", 5  # the last TINY villages get a handful of registrations
GOAL = 2.0

# --- seeding -------------------------------------------------------------------------------------

OUTCOME = "CASE WHEN i % 10 < 4 THEN 'ELIGIBLE' WHEN i % 10 < 9 THEN 'NOT_ELIGIBLE' ELSE 'PENDING' END"
VERDICT = """CASE WHEN {outcome} = 'ELIGIBLE' THEN 'PASS' WHEN {outcome} = 'PENDING' THEN
  (CASE WHEN j = 1 THEN 'UNKNOWN' ELSE 'PASS' END) ELSE (CASE
  WHEN j = 1 AND i % 2 = 0 THEN 'FAIL' WHEN j = 2 AND (i % 2 = 1 OR i % 7 = 0) THEN 'FAIL'
  WHEN j = 3 AND i % 3 = 0 THEN 'FAIL' ELSE 'PASS' END) END"""


def _series(pg: bool) -> str:
    # i = 1..:n with its village code (bench_village holds every village with an index)
    village = f"CASE WHEN i > :n - 12 THEN :v - {TINY} + i % {TINY} ELSE i % (:v - {TINY}) END"
    source = "generate_series(1, :n) AS s(i)" if pg else "s"
    head = "" if pg else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    return f"{head}SELECT i, bv.code AS village FROM {source} JOIN bench_village bv ON bv.idx = {village}"


def seed_statements(pg: bool) -> list[str]:
    src = f"({_series(pg)}) AS src"
    j3 = "(SELECT 1 AS j UNION ALL SELECT 2 UNION ALL SELECT 3) AS r"
    code = "CASE j WHEN 1 THEN 'ELECTRICITY_ABOVE_LIMIT' WHEN 2 THEN 'INCOME_ABOVE_LIMIT' ELSE 'WELFARE_DECILE_ABOVE_LIMIT' END"
    pad = "lpad(i::text, 10, '0')" if pg else "printf('%010d', i)"
    pad14 = "lpad(i::text, 14, '0')" if pg else "printf('%014d', i)"
    current, superseded = "i % 20 <> 0", "i % 20 <> 0 AND i % 5 = 0"
    status = ("CASE WHEN i % 10 < 6 THEN 'DELIVERED' WHEN i % 10 = 6 THEN 'SENT' WHEN i % 10 = 7 THEN 'FAILED' "
              "WHEN i % 10 = 8 THEN 'DEAD' ELSE 'PENDING' END")
    # a CASE of two parameters is text to PostgreSQL: say what they are
    past, later = ("CAST(:past AS TIMESTAMP WITH TIME ZONE)", "CAST(:later AS TIMESTAMP WITH TIME ZONE)") if pg \
        else (":past", ":later")
    appeal = "CASE (i / 100) % 5 WHEN 0 THEN 'SUBMITTED' WHEN 1 THEN 'UNDER_REVIEW' WHEN 2 THEN 'UPHELD' " \
             "WHEN 3 THEN 'DISMISSED' ELSE 'WITHDRAWN' END"
    return [
        f"INSERT INTO household (id, kk_number, region_code, created_at, updated_at) "
        f"SELECT i, '351015' || {pad}, village, :now, :now FROM {src}",
        f"INSERT INTO person (id, nik, household_id, name, sex, region_code, created_at, updated_at) "
        f"SELECT i, '35' || {pad14}, i, 'Warga Sintetis', 'F', village, :now, :now FROM {src}",
        f"INSERT INTO registration (id, pilot_id, programme, person_id, household_id, region_code, channel, "
        f"assisted_by, submitted_at) SELECT i, :pilot, 'PKH', i, i, village, "
        f"CASE WHEN i % 3 = 0 THEN 'ASSISTED' ELSE 'SELF' END, CASE WHEN i % 3 = 0 THEN 'fasilitator' END, :now "
        f"FROM {src}",
        # current decisions (id i), then the superseded first versions (id :n + i)
        f"INSERT INTO decision (id, registration_id, version, outcome, is_current, criteria_versions, "
        f"inputs_digest, cause, inputs, decided_at) SELECT i, i, CASE WHEN i % 5 = 0 THEN 2 ELSE 1 END, {OUTCOME}, "
        f"{'true' if pg else '1'}, '{{}}', 'x', 'SELECTION', '{{}}', :now FROM {src} WHERE {current}",
        f"INSERT INTO decision (id, registration_id, version, outcome, is_current, criteria_versions, "
        f"inputs_digest, cause, inputs, decided_at, superseded_at) SELECT :n + i, i, 1, 'NOT_ELIGIBLE', "
        f"{'false' if pg else '0'}, '{{}}', 'x', 'SELECTION', '{{}}', :now, :now FROM {src} WHERE {superseded}",
        f"INSERT INTO decision_reason (id, decision_id, code, verdict, criterion_version, messages) "
        f"SELECT 3 * i - 3 + j, i, {code}, {VERDICT.format(outcome=OUTCOME)}, '1', '{{}}' FROM {src}, {j3} "
        f"WHERE {current}",
        f"INSERT INTO decision_reason (id, decision_id, code, verdict, criterion_version, messages) "
        f"SELECT 3 * (:n + i) - 3 + j, :n + i, {code}, 'FAIL', '1', '{{}}' FROM {src}, {j3} WHERE {superseded}",
        f"INSERT INTO appeal (id, decision_id, appellant_person_id, channel, ground, disputed_reasons, statement, "
        f"comparison_data, status, resulting_decision_id, submitted_at, review_due_at, row_version) "
        f"SELECT i, i, i, 'SELF', 'DATA_INCORRECT', '[]', 'Data saya keliru.', '{{}}', {appeal}, "
        f"CASE WHEN (i / 100) % 5 = 2 THEN i END, :now, CASE WHEN (i / 100) % 2 = 0 THEN {past} ELSE {later} END, 1 "
        f"FROM {src} WHERE i % 100 = 4",
        f"INSERT INTO notification (id, person_id, pilot_id, decision_id, channel, template, language, params, "
        f"status, attempts, next_attempt_at, idempotency_key, created_at) SELECT i, i, :pilot, i, "
        f"CASE WHEN i % 2 = 0 THEN 'sms' ELSE 'portal' END, 'DECISION', 'id', '{{}}', {status}, 1, :now, "
        f"'bench-' || i, :now FROM {src} WHERE {current}",
    ]


async def seed(url: str, n: int) -> str:
    plugins = PluginManager(extra_plugins=["bench_auth"], national=bench_auth.NATIONAL)
    data = bench_pilot_data()
    spec = parse_pilot(data, plugins, source="bench")
    db = Database(url)
    pg = not db.is_sqlite
    now = datetime.now(UTC)

    def stamp(t: datetime):  # the platform's own storage of a UTC time on each engine
        return t if pg else t.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    villages = [r.code for r in regions.villages("35.10")]
    try:
        async with db.write() as s:
            pilot, _ = await save_pilot(s, spec)
            s.add(StaffAssignment(issuer=bench_auth.ISSUER, subject=SUBJECT, role=StaffRole.ADMIN, region_code="35",
                                  created_by="bench"))
            await s.flush()
            pilot_id = pilot.id
            await s.execute(text("CREATE TABLE bench_village (idx INTEGER PRIMARY KEY, code VARCHAR(13))"))
            await s.execute(text("INSERT INTO bench_village VALUES (:idx, :code)"),
                            [{"idx": i, "code": c} for i, c in enumerate(villages)])
        params = {"n": n, "v": len(villages), "pilot": pilot_id, "now": stamp(now),
                  "past": stamp(now - timedelta(days=3)), "later": stamp(now + timedelta(days=10))}
        for stmt in seed_statements(pg):
            t0 = time.perf_counter()
            async with db.write() as s:
                await s.execute(text(stmt), params)
            print(f"  {stmt.split('(')[0].strip():<36} {time.perf_counter() - t0:6.1f} s", flush=True)
        async with db.write() as s:
            await s.execute(text("DROP TABLE bench_village"))
        async with db.engine.connect() as conn:  # planner statistics, for both sides alike
            await conn.execute(text("ANALYZE"))
            await conn.commit()
        return spec.code
    finally:
        await db.dispose()


# --- the two sides -------------------------------------------------------------------------------

#: the figures' aggregates, written by hand: one GROUP BY per subject, per village. On SQLite the
#: pilot filter carries the platform's "+ 0" (a scan beats the pilot index there; see queries.py).
BASELINE = {
    "registrations": "SELECT region_code, channel, count(*) FROM registration WHERE pilot_id{hint} = {p} "
                     "GROUP BY region_code, channel",
    "decisions": "SELECT r.region_code, d.outcome, count(*) FROM registration r JOIN decision d "
                 "ON d.registration_id = r.id AND d.is_current WHERE r.pilot_id{hint} = {p} GROUP BY r.region_code, d.outcome",
    "reasons": "SELECT r.region_code, x.code, count(*) FROM registration r JOIN decision d ON d.registration_id = r.id "
               "AND d.is_current AND d.outcome = 'NOT_ELIGIBLE' JOIN decision_reason x ON x.decision_id = d.id "
               "AND x.verdict = 'FAIL' WHERE r.pilot_id{hint} = {p} GROUP BY r.region_code, x.code",
    "appeals": "SELECT r.region_code, a.status, f.outcome, count(*), sum(CASE WHEN a.status IN "
               "('SUBMITTED', 'UNDER_REVIEW') AND a.review_due_at < {now} THEN 1 ELSE 0 END) FROM appeal a "
               "JOIN decision d ON d.id = a.decision_id JOIN registration r ON r.id = d.registration_id "
               "JOIN decision f ON f.id = coalesce(a.resulting_decision_id, a.decision_id) WHERE r.pilot_id{hint} = {p} "
               "GROUP BY r.region_code, a.status, f.outcome",
    "notifications": "SELECT p.region_code, n.channel, n.status, count(*) FROM notification n JOIN person p "
                     "ON p.id = n.person_id WHERE n.pilot_id = {p} GROUP BY p.region_code, n.channel, n.status",
}


class Baseline:
    def __init__(self, url: str, hint: bool = True):
        self.url, self.pg = url, url.startswith("postgresql")
        self.hint = " + 0" if hint else ""

    async def open(self) -> None:
        if self.pg:
            import asyncpg

            u = make_url(self.url)
            self.conn = await asyncpg.connect(user=u.username, password=u.password, host=u.host, port=u.port,
                                              database=u.database)
            self.pilot = await self.conn.fetchval("SELECT id FROM pilot")
        else:
            import sqlite3

            self.conn = sqlite3.connect(make_url(self.url).database)
            self.pilot = self.conn.execute("SELECT id FROM pilot").fetchone()[0]

    async def run(self) -> dict[str, list[tuple]]:
        now = datetime.now(UTC)
        out = {}
        for name, sql in BASELINE.items():
            if self.pg:
                args = (self.pilot, now) if "{now}" in sql else (self.pilot,)
                out[name] = [tuple(r) for r in await self.conn.fetch(sql.format(p="$1", now="$2", hint=""), *args)]
            else:
                stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                out[name] = self.conn.execute(sql.format(p=":p", now=":now", hint=self.hint), {"p": self.pilot, "now": stamp}).fetchall()
        return out

    async def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            await conn.close() if self.pg else conn.close()


def platform_server(url: str, workdir: Path) -> Server:
    """The platform as deployed: ``uvicorn --factory perlinsos.app:create_app``, production mode."""
    env = server_env(PERLINSOS_DATABASE_URL=url, PERLINSOS_EXTRA_PLUGINS="bench_auth", PERLINSOS_PRODUCTION="1")
    return Server("platform", "perlinsos.app:create_app", env, workdir)


async def ask_platform(http: httpx.AsyncClient, base: str, pilot: str) -> dict:
    response = await http.post(base + "/graphql", json={"query": QUERY, "variables": {"pilot": pilot}},
                               headers={"Authorization": f"Bearer staff:{SUBJECT}", "X-Perlinsos-Pilot": pilot})
    body = response.json()
    if response.status_code != 200 or body.get("errors") or body["data"]["pilotStats"]["errors"]:
        raise SystemExit(f"the platform failed: {response.status_code} {str(body)[:500]}")
    return body["data"]["pilotStats"]["stats"]


def check(stats: dict, raw: dict[str, list[tuple]]) -> str:
    """Every count the platform shows per village equals the baseline's; the overall totals too."""
    want: dict[tuple[str, str, str], int] = {}
    for region, channel, n in raw["registrations"]:
        want[("registrations", region, channel)] = n
    for region, outcome, n in raw["decisions"]:
        want[("decisions", region, outcome)] = n
    compared = hidden = 0
    for village in stats["villages"]:
        for metric in ("registrations", "decisions"):
            for cell in village[metric]["cells"]:
                if cell["suppressed"]:
                    hidden += 1
                    continue
                expected = want.get((metric, village["regionCode"], cell["key"]), 0)
                if cell["count"] != expected:
                    raise SystemExit(f"MISMATCH {metric} {village['regionCode']} {cell['key']}: "
                                     f"{cell['count']} != {expected}")
                compared += 1
    total = sum(n for *_, n in raw["registrations"])
    if stats["overall"]["registrations"]["total"]["count"] != total:
        raise SystemExit("MISMATCH overall registrations")
    return f"{compared} village cells equal to the baseline's, {hidden} suppressed; {total:,} registrations"


async def measure(url: str, pilot: str, rounds: int, workdir: Path) -> dict[str, list[float]]:
    server = platform_server(url, workdir)
    baseline = Baseline(url)
    times: dict[str, list[float]] = {"platform": [], "baseline": []}
    try:
        await server.wait_ready()
        await baseline.open()
        async with httpx.AsyncClient(timeout=600) as http:
            # warm-up (caches, plans), and the answers checked against each other
            stats, raw = await ask_platform(http, server.url, pilot), await baseline.run()
            print("  check: " + check(stats, raw))
            for r in range(rounds):
                order = ("platform", "baseline") if r % 2 == 0 else ("baseline", "platform")
                for side in order:
                    t0 = time.perf_counter()
                    await (ask_platform(http, server.url, pilot) if side == "platform" else baseline.run())
                    times[side].append(time.perf_counter() - t0)
                print(f"  round {r + 1}: platform {times['platform'][-1]:.3f} s, "
                      f"baseline {times['baseline'][-1]:.3f} s", flush=True)
    finally:
        await baseline.close()
        server.stop()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per side (alternating); default 5")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()
    if args.registrations < 100 or args.rounds < 1:
        parser.error("--registrations must be at least 100 and --rounds at least 1")
    with tempfile.TemporaryDirectory(prefix="perlinsos-bench-stats-") as tmp:
        try:
            with fresh_database(args.database_url, Path(tmp)) as url:
                print(f"{engine_name(url)}: migrating and seeding {args.registrations:,} registrations", flush=True)
                migrate.upgrade(url)
                t0 = time.perf_counter()
                pilot = asyncio.run(seed(url, args.registrations))
                print(f"  seeded in {time.perf_counter() - t0:.1f} s", flush=True)
                times = asyncio.run(measure(url, pilot, args.rounds, Path(tmp)))
        except UsageError as exc:
            parser.error(str(exc))
    platform, baseline = statistics.median(times["platform"]), statistics.median(times["baseline"])
    ratio = platform / baseline
    print(f"\npilotStats, {args.registrations:,} registrations, {engine_name(url)}, median of {args.rounds} rounds")
    print(f"  platform (GraphQL over HTTP, uvicorn)      {platform:8.3f} s   (best {min(times['platform']):.3f})")
    print(f"  hand-written SQL through the bare driver    {baseline:8.3f} s   (best {min(times['baseline']):.3f})")
    print(f"  ratio platform / SQL                        {ratio:8.2f}x   (goal: within {GOAL:.0f}x: "
          f"{'met' if ratio <= GOAL else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
