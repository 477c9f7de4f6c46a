"""The PostgreSQL side of ``selection.py``: databases beside the named one, the synthetic pilot
seeded with binary COPY, the two sides' databases compared, the CPU of their PostgreSQL backends
(read from /proc: a process's own CPU does not include the server's), and the scale-out run of K
platform selection workers on one run.

Databases are named ``perlinsos_bench_sel_<pid>_<what>``: a template (migrated, the two pilots),
a seeded copy per size, one copy per side and round (``CREATE DATABASE ... TEMPLATE``), dropped as
soon as they are compared; the one named in the URL is never touched.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import bench_facts
from _common import backends_of
from sqlalchemy.engine import make_url

PREFIX = f"perlinsos_bench_sel_{os.getpid()}"


def url_of(admin_url: str, name: str) -> str:
    """``admin_url`` pointing at database ``name`` (plain ``postgresql://``, as asyncpg takes it)."""
    return make_url(admin_url).set(drivername="postgresql", database=name).render_as_string(hide_password=False)


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(url_of(admin_url, make_url(admin_url).database or "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create(admin_url: str, name: str, template: str | None = None) -> str:
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    return url_of(admin_url, name)


def drop(admin_url: str, name: str) -> None:
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- seeding -------------------------------------------------------------------------------------


async def _seed(url: str, n: int, synthetic, pilots: tuple[str, str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        bwi, jbr = [await conn.fetchval("SELECT id FROM pilot WHERE code = $1", code) for code in pilots]
        await conn.execute(bench_facts.DDL)
        stamp, given = datetime(2025, 8, 10, 3, tzinfo=UTC), datetime(2025, 8, 5, 2, tzinfo=UTC)
        born = date(1980, 3, 12)
        counts = dict.fromkeys(("households", "persons", "registrations", "consents", "facts", "elsewhere"), 0)
        elsewhere: list[tuple] = []
        async with conn.transaction():
            for households, persons, registrations, consents, facts in synthetic(n, bwi, jbr, stamp, given,
                                                                                  elsewhere):
                await conn.copy_records_to_table("household", records=households, columns=(
                    "id", "kk_number", "region_code", "updated_at", "created_at"))
                await conn.copy_records_to_table("person", records=[(*p, born) for p in persons], columns=(
                    "id", "nik", "household_id", "name", "sex", "region_code", "relationship", "updated_at",
                    "created_at", "birth_date"))
                await conn.copy_records_to_table("registration", records=[(*r, "SELF") for r in registrations],
                                                 columns=("id", "pilot_id", "programme", "person_id", "household_id",
                                                          "region_code", "submitted_at", "channel"))
                await conn.copy_records_to_table(
                    "consent", records=[(*c, "bansos-selection", "2025-08", "SELF") for c in consents],
                    columns=("id", "person_id", "scopes", "actor", "provider_reference", "given_at", "withdrawn_at",
                             "purpose", "policy_version", "channel"))
                await conn.copy_records_to_table("bench_facts", records=facts)
                for key, rows in (("households", households), ("persons", persons),
                                  ("registrations", registrations), ("consents", consents), ("facts", facts)):
                    counts[key] += len(rows)
            for table in ("household", "person", "registration", "consent"):  # ids were given: move the sequences
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT max(id) FROM {table}))")
            await conn.executemany("INSERT INTO registration (pilot_id, programme, person_id, household_id, "
                                   "region_code, channel, submitted_at) VALUES ($1, $2, $3, $4, $5, 'SELF', $6)",
                                   elsewhere)
            counts["elsewhere"] = len(elsewhere)
        await conn.execute("ANALYZE")
        return counts
    finally:
        await conn.close()


def seed(url: str, n: int, synthetic, pilots: tuple[str, str]) -> dict[str, int]:
    return asyncio.run(_seed(url, n, synthetic, pilots))


# --- the PostgreSQL backends' CPU ---------------------------------------------------------------


class BackendCPU:
    """CPU seconds of the PostgreSQL backends serving database ``name`` (their process title names
    it), sampled from /proc every 0.1 s while in use; a backend's last sample before it exits
    counts (up to 0.1 s of it may be missed). Needs the server on this machine."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self) -> None:
        self.seen.update(backends_of(self.name))  # an exited backend keeps its last sample

    def __enter__(self) -> BackendCPU:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


# --- comparing the two databases ----------------------------------------------------------------


def _j(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _compare(url_a: str, url_b: str, sample: int) -> list[str]:
    from perlinsos import audit
    from perlinsos.db.engine import Database

    a, b = await asyncpg.connect(url_a), await asyncpg.connect(url_b)
    problems: list[str] = []
    try:
        q = ("SELECT registration_id, version, outcome, inputs_digest FROM decision WHERE is_current "
             "ORDER BY registration_id")
        for x, y in itertools.zip_longest(await a.fetch(q), await b.fetch(q)):
            if (x and tuple(x)) != (y and tuple(y)):
                problems.append(f"decision differs: platform {x and tuple(x)} / baseline {y and tuple(y)}")
                if len(problems) >= 5:
                    break
        for what, sql in (("reasons", ("SELECT code, verdict, COALESCE(detail, ''), count(*) FROM decision_reason "
                                       "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")),
                          ("notifications", ("SELECT channel, template, status, count(*) FROM notification "
                                             "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")),
                          ("decisions", "SELECT outcome, count(*), sum(is_current::int) FROM decision GROUP BY 1 "
                                        "ORDER BY 1"),
                          # the platform's chunk rows and the run's start and end, chained the same way;
                          # DECISIONS_MADE by the decisions they cover (one per chunk, and the platform's
                          # chunks end at its village partitions' ends)
                          ("audit rows", "SELECT action, actor, count(*) FILTER (WHERE action != 'DECISIONS_MADE'), "
                                         "sum((details->>'decided')::int) FROM audit_event GROUP BY 1, 2 "
                                         "ORDER BY 1, 2"),
                          ("runs", "SELECT status, counts FROM selection_run")):
            x, y = [tuple(r) for r in await a.fetch(sql)], [tuple(r) for r in await b.fetch(sql)]
            if what == "runs":
                x, y = [(st, _j(c)) for st, c in x], [(st, _j(c)) for st, c in y]
            if x != y:
                problems.append(f"{what} differ:\n  platform {x}\n  baseline {y}")
        ids = [r[0] for r in await a.fetch("SELECT registration_id FROM decision ORDER BY registration_id")]
        for rid in ids[::max(1, len(ids) // sample)][:sample]:
            x, y = await _detail(a, rid), await _detail(b, rid)
            if x != y:
                problems.append(f"registration {rid} differs in detail:\n  platform {x}\n  baseline {y}")
    finally:
        await a.close()
        await b.close()
    for side, url in (("platform", url_a), ("baseline", url_b)):  # each audit chain holds, hash by hash
        db = Database(url)
        try:
            verified = await audit.verify(db)
        finally:
            await db.dispose()
        if not isinstance(verified, audit.Verified):
            problems.append(f"{side}'s audit chain is broken: {verified}")
    return problems


async def _detail(conn: asyncpg.Connection, rid: int) -> tuple:
    d = await conn.fetchrow("SELECT id, outcome, criteria_versions, inputs, cause FROM decision "
                            "WHERE registration_id = $1 AND is_current", rid)
    reasons = [(r[0], r[1], _j(r[2]), _j(r[3]), *r[4:8], _j(r[8])) for r in await conn.fetch(
        'SELECT code, verdict, observed, "limit", source, as_of, criterion_version, detail, messages '
        "FROM decision_reason WHERE decision_id = $1 ORDER BY id", d[0])]
    notes = [(c, p, t, _j(x)) for c, p, t, x in await conn.fetch(
        "SELECT channel, pilot_id, template, params FROM notification WHERE decision_id = $1", d[0])]
    return d[1], _j(d[2]), _j(d[3]), d[4], reasons, notes


def compare(url_a: str, url_b: str, sample: int = 25) -> list[str]:
    return asyncio.run(_compare(url_a, url_b, sample))


# --- scale-out: K platform workers on one run ---------------------------------------------------


def scale_run(admin_url: str, seeded: str, size: int, k: int, chunk: int, script: Path,
              start_run) -> dict[str, Any]:
    """One run of the seeded pilot shared by ``k`` worker processes (``perlinsos select --worker``
    in-process, with the bench plugins): workers started and connected first, then the run begun
    (its village partitions), the clock running from there to the last worker's end. Then checks
    that nothing was decided twice."""
    name = f"{PREFIX}_scale{k}"
    url = create(admin_url, name, template=seeded)
    procs = []
    try:
        with BackendCPU(name) as backends:
            for i in range(1, k + 1):
                procs.append(subprocess.Popen(
                    [sys.executable, str(script), "--worker", "scale", "--database", url, "--chunk", str(chunk),
                     "--worker-id", f"worker-{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for p in procs:
                line = p.stdout.readline()
                if line.strip() != "ready":
                    raise RuntimeError(f"a selection worker did not start: {line}{p.stderr.read()[-3000:]}")
            t0 = time.time()
            start_run(url)
            results = []
            for p in procs:
                out, err = p.communicate(timeout=3600)
                if p.returncode != 0:
                    raise RuntimeError(f"a selection worker failed ({p.returncode}):\n{err[-4000:]}")
                results.append(json.loads(out.strip().splitlines()[-1]))
        wall = max(r["end"] for r in results) - t0
        checked = asyncio.run(_check_once(url, size))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        drop(admin_url, name)
    return {"k": k, "seconds": wall, "cpu": sum(r["cpu"] for r in results), "pg_cpu": backends.seconds,
            "workers": results, **checked}


async def _check_once(url: str, size: int) -> dict[str, Any]:
    """Exactly one decision (version 1, current) and one portal notification per registration of
    the pilot; every partition done once; the run finished."""
    conn = await asyncpg.connect(url)
    try:
        registrations = await conn.fetchval("SELECT count(*) FROM registration r JOIN pilot p ON p.id = r.pilot_id "
                                            "WHERE p.code = 'BWI-2025'")
        rows, distinct, versions, current = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT registration_id), array_agg(DISTINCT version), bool_and(is_current) "
            "FROM decision")
        notes, noted = await conn.fetchrow("SELECT count(*), count(DISTINCT decision_id) FROM notification")
        parts = await conn.fetch("SELECT claimed_by, status, attempts, decided FROM selection_partition")
        status = await conn.fetchval("SELECT status FROM selection_run")
    finally:
        await conn.close()
    problems = []
    if not (registrations == size == rows == distinct == notes == noted) or versions != [1] or not current:
        problems.append(f"decisions: {registrations} registrations, {rows} decisions of {distinct} registrations, "
                        f"versions {versions}, all current {current}; {notes} notifications of {noted} decisions")
    if {p["status"] for p in parts} != {"DONE"} or {p["attempts"] for p in parts} != {1} \
            or sum(p["decided"] for p in parts) != size:
        problems.append(f"partitions: {Counter((p['status'], p['attempts']) for p in parts)}, "
                        f"decided {sum(p['decided'] for p in parts)}")
    if status != "FINISHED":
        problems.append(f"run {status}")
    return {"problems": problems, "partitions": len(parts), "by_worker": dict(Counter(p["claimed_by"] for p in parts))}
