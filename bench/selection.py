"""Benchmark: selection of a pilot of N synthetic registrations on SQLite or PostgreSQL, platform vs. plain Python.

    .venv/bin/python bench/selection.py [--n 100000 | --million] [--chunk 500] [--sizes 10000,100000]
                                        [--rounds 1] [--cprofile platform.prof] [--keep DIR]
                                        [--database-url postgresql://user@host:5432/db [--workers K]]

For each size (default N/10 and N): one SQLite file is seeded (migrations, the bundled Banyuwangi
pilot enabling only ``criteria`` and the bench fact source ``bench_facts``, then households,
persons, registrations, consents and the ``bench_facts`` table written with ``sqlite3``
``executemany``), copied twice, and each side selects every registration of its copy in a
subprocess of its own (so its peak RSS is its own):

* platform: ``perlinsos.selection.service.run_for_cli`` — what ``perlinsos select --no-progress``
  runs: ``run_selection`` under the batch GC set-up — with the real criteria plugin's
  ``eligibility_criteria`` (``bench_criteria.py``) and ``bench_facts.py`` as the fact source (one
  ``collect_facts`` call, one query, per chunk);
* baseline: ``baseline_selection.py`` — the same criterion objects in a plain loop, facts read by
  the same function, the same rows written with ``sqlite3`` ``executemany``, committed per chunk,
  under the same GC set-up (``BASELINE_GC=default`` for Python's own).

Afterwards both databases must hold the same decisions: every current decision's outcome, version
and inputs digest (the digest covers the inputs, the criteria versions and every verdict, observed
value and limit), the reason, notification, decision and run rows counted, and, for a sample,
every reason field and text. A difference prints and exits 2. Figures: registrations per second of
each side (wall time of the selection alone, after imports), the ratio (target >= 0.8x;
``BELOW TARGET`` under), CPU seconds of the process (both threads on the platform side), and peak
RSS (VmHWM) at each size: it must not grow with N (streaming).
Exit 0 whatever the ratio; 2 if the two sides disagree; 1 if a side fails.

PostgreSQL (``--database-url``; ``selection_pg.py``): the same pilot in databases created beside
the one named (dropped afterwards), seeded with binary COPY; each side runs on its own copy
(``CREATE DATABASE ... TEMPLATE``); the baseline is ``baseline_selection_pg.py`` (asyncpg, COPY);
the comparison also checks the audit rows and verifies both audit chains; the CPU of each side's
PostgreSQL backends is read from /proc (the process's own CPU does not include the server's).
``--workers K`` then runs the largest size with K = 1..K platform selection workers sharing one
run (``perlinsos select --worker``, village partitions) and checks no registration was decided twice.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_criteria  # noqa: E402
import bench_facts  # noqa: E402
from perlinsos import regions  # noqa: E402
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

PILOT = "BWI-2025"
OTHER_PILOT = "JBR-2025"  # a neighbouring pilot where some applicants also registered (ALREADY_REGISTERED)
ALL_SCOPES = ["person", "facts:income", "facts:bank", "facts:electricity", "facts:welfare", "facts:employment",
              "facts:vehicles"]
TARGET = 0.8
SEED = 2025


def bench_plugins() -> PluginManager:
    """The installed plugins with the real ``criteria`` replaced by its fact-source-less twin."""
    return PluginManager(extra_plugins=[(bench_criteria.NAME, bench_criteria), (bench_facts.NAME, bench_facts)],
                         disabled=("criteria",))


# --- seeding (not measured) ----------------------------------------------------------------------


def pilot_specs(plugins: PluginManager) -> list[Any]:
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    # only the criteria (default limits, as the bundled file sets them) and the bench fact source
    data["plugins"] = {"criteria": data["plugins"].get("criteria", {}), bench_facts.NAME: {}}
    other = {**data, "code": OTHER_PILOT, "name": "Uji coba Kabupaten Jember (bench)", "regions": ["35.09"],
             "plugins": {}}
    return [parse_pilot(data, plugins, source="bench"), parse_pilot(other, plugins, source="bench")]


async def _save_pilots(url: str, specs: list[Any]) -> None:
    from perlinsos.db.engine import Database
    from perlinsos.pilots.store import save_pilot

    db = Database(url)
    try:
        async with db.write() as session:
            for spec in specs:
                await save_pilot(session, spec)
    finally:
        await db.dispose()


def migrated_template(workdir: Path) -> Path:
    from perlinsos.db import migrate

    path = workdir / "template.db"
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    asyncio.run(_save_pilots(url, pilot_specs(bench_plugins())))
    return path


def _nik(p: int, district: str, female: bool, valid: bool = True) -> str:
    """Person ``p``'s NIK, unique for p < 168 million: the birth date and serial encode ``p``.
    An invalid one has a month of 13..24 (never a valid NIK's, and still unique)."""
    day, month, yy, serial = 1 + p % 28, 1 + (p // 28) % 12, 40 + (p // 336) % 50, 1 + (p // 16800) % 9999
    return f"{district}{day + 40 * female:02d}{month + 12 * (not valid):02d}{yy:02d}{serial:04d}"


def _pick(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    x, acc = rng.random(), 0.0
    for value, weight in table:
        acc += weight
        if x < acc:
            return value
    return table[-1][0]


SIZES = [(1, .15), (2, .20), (3, .25), (4, .25), (5, .15)]
PROGRAMMES = [("PKH", .4), ("SEMBAKO", .4), ("PBI_JK", .2)]
VA = [(450, .30), (900, .40), (1300, .18), (2200, .10), (3500, .02)]
DECILES = list(zip(range(1, 11), (.14, .14, .13, .12, .11, .10, .08, .07, .06, .05), strict=True))
FLAGS = [("[]", .97), ('["JUDI_ONLINE"]', .02), ('["TRANSAKSI_TIDAK_WAJAR"]', .01)]
EMPLOYMENT = [("[]", .975), ('["ASN"]', .01), ('["TNI"]', .005), ('["POLRI"]', .005), ('["BUMN"]', .005)]
CARS = [(0, .95), (1, .04), (2, .01)]


def pilot_villages() -> list[str]:
    return [r.code for r in regions.all_regions() if r.level == "village" and regions.is_within(r.code, "35.10")]


def synthetic(n: int, bwi: int, jbr: int, stamp: Any, given: Any, elsewhere: list[tuple],
              batch: int = 20_000) -> Iterator[tuple[list[tuple], ...]]:
    """``n`` households in the pilot's villages (1% outside it), one registration each (the head
    applies), 2-5 members; consents, facts and registrations elsewhere in a realistic mix. Yields
    (households, persons, registrations, consents, facts) per ``batch``; the registrations in the
    other pilot go to ``elsewhere``. ``stamp``/``given``: the times as the database takes them."""
    rng = random.Random(SEED)
    villages = pilot_villages()
    person_id = consent_id = 0
    for start in range(0, n, batch):
        households, persons, registrations, consents, facts = [], [], [], [], []
        for i in range(start, min(n, start + batch)):
            h = i + 1
            outside = rng.random() < .01
            region = "35.09.01.2001" if outside else villages[i % len(villages)]
            district = region[:8].replace(".", "")
            households.append((h, f"{district}01{h:08d}", region, stamp, stamp))
            head, nik = person_id + 1, ""
            for m in range(_pick(rng, SIZES)):
                person_id += 1
                female = m == 1
                valid = not (m == 0 and rng.random() < .005)  # 0.5% of applicants: a malformed NIK
                member = _nik(person_id, district, female, valid)
                nik = nik or member
                persons.append((person_id, member, h, f"Warga Sintetis {person_id}", "F" if female else "M", region,
                                "KEPALA KELUARGA" if m == 0 else "ANGGOTA", stamp, stamp))
            programme = _pick(rng, PROGRAMMES)
            registrations.append((h, bwi, programme, head, h, region, stamp))
            if rng.random() < .01:
                elsewhere.append((jbr, programme, head, h, region, stamp))
            kind = rng.random()
            if kind < .97:  # consent to every fact; 1% leave out vehicles, 1% withdrew, 1% never gave one
                consent_id += 1
                consents.append((consent_id, head, json.dumps(ALL_SCOPES), f"citizen-{nik}", f"grant-{consent_id}",
                                 given, None))
            elif kind < .98:
                consent_id += 1
                consents.append((consent_id, head, json.dumps(ALL_SCOPES[:-1]), f"citizen-{nik}",
                                 f"grant-{consent_id}", given, None))
            elif kind < .99:
                consent_id += 1
                consents.append((consent_id, head, json.dumps(ALL_SCOPES), f"citizen-{nik}", f"grant-{consent_id}",
                                 given, stamp))
            if rng.random() < .99:  # 1% unknown to the source
                income = (0 if rng.random() < .55 else rng.randrange(1_000_000, 2_810_139) if rng.random() < .78
                          else rng.randrange(2_810_140, 6_000_000))
                facts.append((nik, None if rng.random() < .01 else income, _pick(rng, FLAGS), _pick(rng, VA),
                               _pick(rng, DECILES), _pick(rng, EMPLOYMENT), _pick(rng, CARS), "2025-08-01"))
        yield households, persons, registrations, consents, facts


TABLES = ("households", "persons", "registrations", "consents", "facts")


def seed(path: Path, n: int, batch: int = 20_000) -> dict[str, int]:
    """The synthetic pilot (:func:`synthetic`) written into a migrated SQLite file with ``executemany``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    bwi, jbr = (conn.execute("SELECT id FROM pilot WHERE code = ?", (c,)).fetchone()[0] for c in (PILOT, OTHER_PILOT))
    conn.execute(bench_facts.DDL)
    stamp, given = "2025-08-10 03:00:00.000000", "2025-08-05 02:00:00.000000"
    counts = dict.fromkeys((*TABLES, "elsewhere"), 0)
    elsewhere: list[tuple] = []
    conn.execute("BEGIN")
    for households, persons, registrations, consents, facts in synthetic(n, bwi, jbr, stamp, given, elsewhere, batch):
        conn.executemany("INSERT INTO household (id, kk_number, region_code, updated_at, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", households)
        conn.executemany("INSERT INTO person (id, nik, household_id, name, birth_date, sex, region_code, "
                         "relationship, updated_at, created_at) VALUES (?, ?, ?, ?, '1980-03-12', ?, ?, ?, ?, ?)",
                         persons)
        conn.executemany("INSERT INTO registration (id, pilot_id, programme, person_id, household_id, region_code, "
                         "channel, submitted_at) VALUES (?, ?, ?, ?, ?, ?, 'SELF', ?)", registrations)
        conn.executemany("INSERT INTO consent (id, person_id, scopes, purpose, policy_version, channel, actor, "
                         "provider_reference, given_at, withdrawn_at) "
                         "VALUES (?, ?, ?, 'bansos-selection', '2025-08', 'SELF', ?, ?, ?, ?)", consents)
        conn.executemany(f"INSERT INTO bench_facts VALUES ({','.join('?' * 8)})", facts)
        for key, rows in zip(TABLES, (households, persons, registrations, consents, facts), strict=True):
            counts[key] += len(rows)
    conn.executemany("INSERT INTO registration (pilot_id, programme, person_id, household_id, region_code, channel, "
                     "submitted_at) VALUES (?, ?, ?, ?, ?, 'SELF', ?)", elsewhere)
    counts["elsewhere"] = len(elsewhere)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return counts


# --- the two sides, each in its own process -----------------------------------------------------


def _maxrss_mb() -> float:
    """This process's peak RSS so far (VmHWM). Not ``getrusage``'s ru_maxrss: on Linux that keeps
    the high-water mark of the parent at fork, so a worker would report the seeding's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _platform(path: str, chunk: int, profile: str | None) -> dict[str, Any]:
    """``perlinsos select --pilot BWI-2025 --no-progress`` in-process: ``run_for_cli`` (database,
    pilot, plugins, the batch GC set-up, ``run_selection``), the bench plugins in place of the
    installed ``criteria``."""
    from perlinsos.selection.service import run_for_cli
    from perlinsos.settings import Settings

    pg = path.startswith("postgresql")
    if pg:
        await bench_facts.configure_pg(path)
    else:
        bench_facts.configure(path)
    plugins = bench_plugins()
    settings = Settings(database_url=path if pg else f"sqlite+aiosqlite:///{path}")
    try:
        rss0, cpu0, t0 = _maxrss_mb(), _cpu(), time.perf_counter()
        profiler = _profiler(profile)
        summary = await run_for_cli(settings, plugins, PILOT, None, chunk, progress=False)
        seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
        _dump(profiler, profile)
    finally:
        bench_facts.close()
        await bench_facts.close_pg()
    return {"seconds": seconds, "cpu": cpu, "rss_start": rss0, "rss_peak": _maxrss_mb(), "counts": summary.as_counts()}


def _baseline(path: str, chunk: int, profile: str | None) -> dict[str, Any]:
    """The baseline with the same GC set-up as the platform's batch run (``BASELINE_GC=default``: Python's)."""
    import baseline_selection
    from perlinsos.selection.service import batch_gc

    gc_setup = contextlib.nullcontext() if os.environ.get("BASELINE_GC") == "default" else batch_gc()
    rss0, cpu0, t0 = _maxrss_mb(), _cpu(), time.perf_counter()
    profiler = _profiler(profile)
    with gc_setup:
        if path.startswith("postgresql"):
            import baseline_selection_pg

            counts = asyncio.run(baseline_selection_pg.run(path, PILOT, chunk))
        else:
            counts = baseline_selection.run(path, PILOT, chunk)
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    _dump(profiler, profile)
    return {"seconds": seconds, "cpu": cpu, "rss_start": rss0, "rss_peak": _maxrss_mb(), "counts": counts}


def _profiler(path: str | None):
    if not path:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _dump(profiler, path: str | None) -> None:
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(path)


async def _scale_worker(url: str, chunk: int, worker_id: str) -> dict[str, Any]:
    """``perlinsos select --worker`` in-process with the bench plugins: says ``ready`` once connected,
    joins the pilot's run when it is begun, works until every partition is done."""
    from perlinsos.selection import partitions
    from perlinsos.selection.service import worker_for_cli
    from perlinsos.settings import Settings

    await bench_facts.configure_pg(url)
    cpu0 = _cpu()
    try:
        done = await worker_for_cli(Settings(database_url=url), bench_plugins(), PILOT, None, chunk, wait=120,
                                    lease=partitions.DEFAULT_LEASE, worker=worker_id,
                                    ready=lambda: print("ready", flush=True))
    finally:
        await bench_facts.close_pg()
    return {"end": time.time(), "cpu": _cpu() - cpu0, "rss_peak": _maxrss_mb(), "partitions": len(done.partitions),
            "processed": done.mine.processed}


def worker(side: str, path: str, chunk: int, profile: str | None, worker_id: str | None = None) -> None:
    # the baseline imports what it uses up front too, so both start from comparable set-ups
    import baseline_selection  # noqa: F401
    from perlinsos.selection import run_selection  # noqa: F401

    if path.startswith("postgresql"):
        import asyncpg  # noqa: F401
        import baseline_selection_pg  # noqa: F401
    if side == "scale":
        result = asyncio.run(_scale_worker(path, chunk, worker_id or "worker"))
    else:
        result = asyncio.run(_platform(path, chunk, profile)) if side == "platform" else _baseline(path, chunk, profile)
    print(json.dumps(result))


def copy_db(source: Path, target: Path) -> None:
    """Copy a closed SQLite file; a stale ``-wal``/``-shm`` beside the target would be read as its own."""
    for path in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        path.unlink(missing_ok=True)
    shutil.copy(source, target)


def run_side(side: str, path: Path | str, chunk: int, profile: str | None = None) -> dict[str, Any]:
    """One side in a subprocess; on PostgreSQL (``path`` a URL) with its backends' CPU (``pg_cpu``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--database", str(path),
           "--chunk", str(chunk)]
    if profile:
        cmd += ["--cprofile", profile]
    backends = None
    if str(path).startswith("postgresql"):
        import selection_pg

        backends = selection_pg.BackendCPU(make_url(str(path)).database)
    with backends or contextlib.nullcontext():
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if backends is not None:
        result["pg_cpu"] = backends.seconds
    return result


# --- comparing the two databases ----------------------------------------------------------------


def compare(platform: Path, baseline: Path, sample: int = 25) -> list[str]:
    a, b = sqlite3.connect(platform), sqlite3.connect(baseline)
    problems: list[str] = []
    q = ("SELECT registration_id, version, outcome, inputs_digest FROM decision WHERE is_current = 1 "
         "ORDER BY registration_id")
    for x, y in itertools.zip_longest(a.execute(q), b.execute(q)):
        if x != y:
            problems.append(f"decision differs: platform {x} / baseline {y}")
            if len(problems) >= 5:
                break
    for what, sql in (("reasons", ("SELECT code, verdict, COALESCE(detail, ''), count(*) FROM decision_reason "
                                   "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")),
                      ("notifications", ("SELECT channel, template, status, count(*) FROM notification "
                                         "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")),
                      ("decisions", "SELECT outcome, count(*), sum(is_current) FROM decision GROUP BY 1 ORDER BY 1"),
                      # DECISIONS_MADE by the decisions they cover: the platform's chunks end at partition ends
                      ("audit rows", "SELECT action, actor, sum(action != 'DECISIONS_MADE'), "
                                     "sum(json_extract(details, '$.decided')) FROM audit_event GROUP BY 1, 2 "
                                     "ORDER BY 1, 2"),
                      # not last_registration_id: a partitioned run keeps its resume points per village
                      ("runs", "SELECT status, counts FROM selection_run")):
        x, y = a.execute(sql).fetchall(), b.execute(sql).fetchall()
        if what == "runs":
            x, y = [(s, json.loads(c)) for s, c in x], [(s, json.loads(c)) for s, c in y]
        if x != y:
            problems.append(f"{what} differ:\n  platform {x}\n  baseline {y}")
    total = a.execute("SELECT count(*) FROM decision").fetchone()[0]
    step = max(1, total // sample)
    ids = [r[0] for r in a.execute("SELECT registration_id FROM decision ORDER BY registration_id")][::step][:sample]
    for rid in ids:
        def detail(conn, rid=rid):
            d = conn.execute("SELECT id, outcome, criteria_versions, inputs, cause FROM decision "
                             "WHERE registration_id = ? AND is_current = 1", (rid,)).fetchone()
            reasons = [(code, verdict, _j(obs), _j(lim), src, as_of, ver, det, _j(msg)) for code, verdict, obs, lim,
                       src, as_of, ver, det, msg in conn.execute(
                'SELECT code, verdict, observed, "limit", source, as_of, criterion_version, detail, messages '
                "FROM decision_reason WHERE decision_id = ? ORDER BY id", (d[0],))]
            notes = [(c, pilot, t, _j(p)) for c, pilot, t, p in conn.execute(
                "SELECT channel, pilot_id, template, params FROM notification WHERE decision_id = ?", (d[0],))]
            return d[1], _j(d[2]), _j(d[3]), d[4], reasons, notes
        x, y = detail(a), detail(b)
        if x != y:
            problems.append(f"registration {rid} differs in detail:\n  platform {x}\n  baseline {y}")
    a.close()
    b.close()
    problems += asyncio.run(_verify_chains({"platform": platform, "baseline": baseline}))
    return problems


async def _verify_chains(paths: dict[str, Path]) -> list[str]:
    """``perlinsos audit verify`` on each database: every hash recomputed, the head matched."""
    from perlinsos import audit
    from perlinsos.db.engine import Database

    problems = []
    for side, path in paths.items():
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            verified = await audit.verify(db)
        finally:
            await db.dispose()
        if not isinstance(verified, audit.Verified):
            problems.append(f"{side}'s audit chain is broken: {verified}")
    return problems


def _j(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="registrations (default 100,000)")
    parser.add_argument("--million", action="store_true", help="1,000,000 registrations")
    parser.add_argument("--chunk", type=int, default=500, help="registrations per chunk (default 500)")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes to measure (default: N/10,N)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each side at the largest size, alternating which goes first (default 1)")
    parser.add_argument("--cprofile", default=None, metavar="FILE",
                        help="also profile the platform side at the smallest size; stats to FILE, top costs printed")
    parser.add_argument("--keep", default=None, metavar="DIR", help="keep the databases in DIR")
    parser.add_argument("--database-url", default=None, metavar="postgresql://...",
                        help="PostgreSQL server to use: fresh databases are created beside the one named (and "
                             "dropped); SQLite files are the default")
    parser.add_argument("--workers", type=int, default=0, metavar="K",
                        help="PostgreSQL: also run the largest size with 1..K platform selection workers sharing "
                             "one run, throughput per K (default: not run)")
    parser.add_argument("--partition-size", type=int, default=2000,
                        help="with --workers: registrations per village partition (as `perlinsos select "
                             "--partition-size`, default 2000)")
    parser.add_argument("--worker", choices=("platform", "baseline", "scale"), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--worker-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.chunk <= 10_000:
        parser.error("--chunk must be 1..10000 (as `perlinsos select --chunk-size`)")
    if args.worker:
        worker(args.worker, args.database, args.chunk, args.cprofile, args.worker_id)
        return 0
    n = 1_000_000 if args.million else args.n
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",")} if args.sizes else {max(1, n // 10), n})
    if args.database_url:
        if make_url(args.database_url).get_backend_name() not in ("postgresql", "postgres"):
            parser.error("--database-url must be a postgresql:// URL (SQLite is the default)")
        if args.keep or args.cprofile:
            parser.error("--keep and --cprofile are SQLite only")
        return bench_pg(args, sizes)
    if args.workers:
        parser.error("--workers needs --database-url (several workers share a run on PostgreSQL)")

    workdir = Path(args.keep or tempfile.mkdtemp(prefix="perlinsos-bench-selection-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    status = 0
    try:
        template = migrated_template(workdir)
        print(f"selection benchmark: SQLite (WAL), chunk {args.chunk}, sizes {', '.join(f'{s:,}' for s in sizes)}, "
              f"{args.rounds} round(s) at {sizes[-1]:,}; python {sys.version.split()[0]}, "
              f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus, load average {_load()}")
        k = 0
        for size in sizes:
            seeded = workdir / f"seed-{size}.db"
            copy_db(template, seeded)
            t = time.perf_counter()
            counts = seed(seeded, size)
            print(f"seeded {size:,} in {time.perf_counter() - t:.1f}s: "
                  + ", ".join(f"{v:,} {key}" for key, v in counts.items()), flush=True)
            runs: dict[str, list[dict[str, Any]]] = {"platform": [], "baseline": []}
            for _ in range(args.rounds if size == sizes[-1] else 1):
                order = ("platform", "baseline") if k % 2 == 0 else ("baseline", "platform")
                k += 1
                for side in order:
                    copy = workdir / f"{side}-{size}.db"
                    copy_db(seeded, copy)
                    runs[side].append(r := run_side(side, copy, args.chunk))
                    print(f"  {side:<8} {size:>9,}  {r['seconds']:7.1f}s  {size / r['seconds']:8.0f} reg/s  "
                          f"cpu {r['cpu']:6.1f}s  peak RSS {r['rss_peak']:.0f} MB", flush=True)
                status = max(status, check(size, runs, lambda s=size: compare(
                    workdir / f"platform-{s}.db", workdir / f"baseline-{s}.db"),
                    ", audit rows by action, both audit chains verified"))
            results[size] = {side: best(rs) for side, rs in runs.items()}
            for path in (seeded, workdir / f"platform-{size}.db", workdir / f"baseline-{size}.db"):
                if not args.keep or path == seeded:
                    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                        p.unlink(missing_ok=True)
        report(results, args.chunk)
        if args.cprofile:
            profile(workdir, template, sizes[0], args.chunk, args.cprofile)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"databases kept in {workdir}")
    return status


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def check(size: int, runs: dict[str, list[dict[str, Any]]], compare_last, also: str = "") -> int:
    """2 when the last round's two databases (``compare_last()``'s problems) or summaries differ, else 0."""
    p, b = runs["platform"][-1]["counts"], runs["baseline"][-1]["counts"]
    if p != b:
        print(f"SUMMARIES DIFFER at {size:,}:\n  platform {p}\n  baseline {b}")
        return 2
    problems = compare_last()
    if problems:
        print(f"THE TWO SIDES DISAGREE at {size:,}:\n" + "\n".join(problems[:10]))
        return 2
    print(f"  same decisions on both sides ({size:,} digests, reason/notification counts, "
          f"{min(25, size)} registrations in detail{also})", flush=True)
    return 0


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of several rounds: the fastest wall time, the least CPU, the highest peak RSS."""
    fastest = min(runs, key=lambda r: r["seconds"])
    extra = {"pg_cpu": min(r["pg_cpu"] for r in runs)} if "pg_cpu" in fastest else {}
    return {**fastest, "cpu": min(r["cpu"] for r in runs), "rss_peak": max(r["rss_peak"] for r in runs),
            "rounds": [r["seconds"] for r in runs], **extra}


def report(results: dict[int, dict[str, dict[str, Any]]], chunk: int) -> None:
    print()
    pg = "pg_cpu" in next(iter(results.values()))["platform"]
    print(f"{'size':>10} {'side':<9} {'seconds':>8} {'reg/s':>8} {'cpu s':>7} {'cpu ms/1k':>9} "
          + (f"{'pg cpu s':>8} {'pg ms/1k':>8} " if pg else "")
          + f"{'RSS start MB':>12} {'RSS peak MB':>11} {'growth MB':>9}")
    for size, sides in results.items():
        for side in ("platform", "baseline"):
            r = sides[side]
            print(f"{size:>10,} {side:<9} {r['seconds']:>8.1f} {size / r['seconds']:>8.0f} {r['cpu']:>7.1f} "
                  f"{r['cpu'] / size * 1e6:>9.1f} "
                  + (f"{r['pg_cpu']:>8.1f} {r['pg_cpu'] / size * 1e6:>8.1f} " if pg else "")
                  + f"{r['rss_start']:>12.0f} {r['rss_peak']:>11.0f} {r['rss_peak'] - r['rss_start']:>9.1f}")
    largest = max(results)
    p, b = results[largest]["platform"], results[largest]["baseline"]
    ratio = b["seconds"] / p["seconds"]
    cpu_ratio = b["cpu"] / p["cpu"] if p["cpu"] else float("nan")
    print()
    print(f"ratio platform/baseline at {largest:,} (chunk {chunk}): {ratio:.2f}x reg/s, {cpu_ratio:.2f}x by CPU "
          f"of the process{'' if not pg else ' (PostgreSQL backends not counted)'} "
          f"(target >= {TARGET}x){'   BELOW TARGET' if ratio < TARGET else ''}")
    if pg:
        print(f"  with the PostgreSQL backends' CPU (/proc): {(b['cpu'] + b['pg_cpu']) / (p['cpu'] + p['pg_cpu']):.2f}x; "
              f"backends alone {b['pg_cpu'] / p['pg_cpu'] if p['pg_cpu'] else float('nan'):.2f}x")
    if len(p["rounds"]) > 1:
        print(f"per-round seconds at {largest:,}: platform {' '.join(f'{x:.1f}' for x in p['rounds'])}, "
              f"baseline {' '.join(f'{x:.1f}' for x in b['rounds'])} (best of each used)")
    print(f"load average now {_load()} ({os.cpu_count()} cpus): wall-clock figures suffer when it exceeds the cpus; "
          "the CPU ratio much less")
    if len(results) > 1:
        small = min(results)
        for side in ("platform", "baseline"):
            a, z = results[small][side]["rss_peak"], results[largest][side]["rss_peak"]
            print(f"peak RSS {side:<8} {small:>9,}: {a:6.0f} MB   {largest:>9,}: {z:6.0f} MB   "
                  f"({z - a:+.0f} MB for {largest / small:.0f}x the registrations)")
    counts = p["counts"]
    print(f"outcomes: {', '.join(f'{k} {v:,}' for k, v in sorted(counts['outcomes'].items()))}")
    print(f"failed reasons: {', '.join(f'{k} {v:,}' for k, v in sorted(counts['failed_reasons'].items()))}")
    print(f"pending reasons: {', '.join(f'{k} {v:,}' for k, v in sorted(counts['pending_reasons'].items()))}")


def bench_pg(args: argparse.Namespace, sizes: list[int]) -> int:
    """The PostgreSQL side: a migrated template database with the pilots, a seeded copy per size, a
    copy of that per side and round (``CREATE DATABASE ... TEMPLATE``), compared then dropped; with
    ``--workers K``, the largest size again with 1..K platform workers sharing one run."""
    import selection_pg as pg
    from perlinsos.db import migrate

    admin, created = args.database_url, []

    def make(what: str, template: str | None = None) -> str:
        created.append(name := f"{pg.PREFIX}_{what}")
        return pg.create(admin, name, template)

    results: dict[int, dict[str, dict[str, Any]]] = {}
    status = 0
    try:
        tpl = make("tpl")
        migrate.upgrade(tpl)
        asyncio.run(_save_pilots(tpl, pilot_specs(bench_plugins())))
        print(f"selection benchmark: PostgreSQL ({make_url(admin).host}), chunk {args.chunk}, sizes "
              f"{', '.join(f'{s:,}' for s in sizes)}, {args.rounds} round(s) at {sizes[-1]:,}; python "
              f"{sys.version.split()[0]}, {os.cpu_count()} cpus, load average {_load()}")
        k = 0
        for size in sizes:
            seeded = make(f"seed{size}", template=f"{pg.PREFIX}_tpl")
            t = time.perf_counter()
            counts = pg.seed(seeded, size, synthetic, (PILOT, OTHER_PILOT))
            print(f"seeded {size:,} in {time.perf_counter() - t:.1f}s: "
                  + ", ".join(f"{v:,} {key}" for key, v in counts.items()), flush=True)
            runs: dict[str, list[dict[str, Any]]] = {"platform": [], "baseline": []}
            for _ in range(args.rounds if size == sizes[-1] else 1):
                order = ("platform", "baseline") if k % 2 == 0 else ("baseline", "platform")
                k += 1
                urls = {}
                for side in order:
                    pg.drop(admin, f"{pg.PREFIX}_{side}")
                    urls[side] = make(side, template=f"{pg.PREFIX}_seed{size}")
                    runs[side].append(r := run_side(side, urls[side], args.chunk))
                    print(f"  {side:<8} {size:>9,}  {r['seconds']:7.1f}s  {size / r['seconds']:8.0f} reg/s  "
                          f"cpu {r['cpu']:6.1f}s  PostgreSQL backends {r['pg_cpu']:6.1f}s  "
                          f"peak RSS {r['rss_peak']:.0f} MB", flush=True)
                status = max(status, check(size, runs, lambda: pg.compare(urls["platform"], urls["baseline"]),
                                           ", audit rows by action, both audit chains verified"))
                for side in order:
                    pg.drop(admin, f"{pg.PREFIX}_{side}")
            results[size] = {side: best(rs) for side, rs in runs.items()}
        report(results, args.chunk)
        if args.workers:
            scale_out(args, sizes[-1], f"{pg.PREFIX}_seed{sizes[-1]}")
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        for name in reversed(created):
            pg.drop(admin, name)
    return status


def scale_out(args: argparse.Namespace, size: int, seeded: str) -> None:
    """The largest size with K = 1..``--workers`` platform workers on one run; throughput per K."""
    import selection_pg as pg
    from perlinsos.selection.service import start_for_cli
    from perlinsos.settings import Settings

    def start(url: str) -> None:  # `perlinsos select --start-only`: the run and its village partitions
        asyncio.run(start_for_cli(Settings(database_url=url), bench_plugins(), PILOT, None,
                                  partition_size=args.partition_size))

    print(f"\nscale-out at {size:,}: K platform workers (`perlinsos select --worker`) on one run, village partitions "
          f"of up to {args.partition_size:,}, chunk {args.chunk}; load average {_load()}")
    print(f"{'K':>3} {'seconds':>8} {'reg/s':>8} {'x K=1':>6} {'worker cpu s':>12} {'pg cpu s':>8} "
          f"{'partitions':>10}  by worker")
    first = None
    for k in range(1, args.workers + 1):
        r = pg.scale_run(args.database_url, seeded, size, k, args.chunk, Path(__file__).resolve(), start)
        rate = size / r["seconds"]
        first = first or rate
        print(f"{k:>3} {r['seconds']:>8.1f} {rate:>8.0f} {rate / first:>6.2f} {r['cpu']:>12.1f} "
              f"{r['pg_cpu']:>8.1f} {r['partitions']:>10}  {r['by_worker']}", flush=True)
        if r["problems"]:
            raise RuntimeError(f"K={k}: work done twice or not at all:\n" + "\n".join(r["problems"]))
    print(f"every registration decided exactly once (one current version-1 decision, one notification), every "
          f"partition DONE at its first attempt; load average now {_load()}")


def profile(workdir: Path, template: Path, size: int, chunk: int, out: str) -> None:
    """The platform side again, at ``size``, under cProfile (slower: not a throughput figure)."""
    import pstats

    seeded = workdir / f"profile-{size}.db"
    copy_db(template, seeded)
    seed(seeded, size)
    r = run_side("platform", seeded, chunk, profile=str(Path(out).resolve()))
    print(f"\ncProfile of the platform side at {size:,} ({r['seconds']:.1f}s under the profiler), stats in {out}:")
    stats = pstats.Stats(str(Path(out).resolve()))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(r"perlinsos|sqlalchemy/engine|aiosqlite", 30)


if __name__ == "__main__":
    sys.exit(main())
