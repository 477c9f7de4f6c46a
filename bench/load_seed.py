"""``load.py --seed N``: N synthetic households of a pilot, bulk-loaded by ``INSERT ... SELECT`` (one
statement per table, not measured): a head (a synthetic person with a valid NIK), a registration,
its current decision with three reasons, and a delivered portal notification each.

The rows start at id ``BASE`` (the API's own rows use the low ids of the sequences, so neither
side collides). NIKs are ``351015`` + a birth date + a serial from 5000 up: valid for
``perlinsos.idnumbers.parse_nik``, and apart from the IKD simulator's people, whose serials count
up from 0001 per district, date and sex. Family card numbers start with ``SYN`` (no real one does).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import text

from perlinsos import regions
from perlinsos.db.engine import Database

BASE = 100_000_000  # first synthetic id, far above what the run's sequences reach


def _source(pg: bool) -> str:
    """i = 1..:n, with a Banyuwangi village (bench_village holds them with an index)."""
    series = "generate_series(1, :n) AS s(i)" if pg else "s"
    head = "" if pg else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    return f"({head}SELECT i, bv.code AS village FROM {series} JOIN bench_village bv ON bv.idx = i % :v) AS src"


def statements(pg: bool) -> list[str]:
    src = _source(pg)
    if pg:
        nik = ("'351015' || lpad(((i / 5000) % 28 + 1)::text, 2, '0') || lpad(((i / 140000) % 12 + 1)::text, 2, '0')"
               " || lpad((70 + i / 1680000)::text, 2, '0') || lpad((5000 + i % 5000)::text, 4, '0')")
        kk, key, true = "'SYN' || lpad(i::text, 13, '0')", "'syn-' || i", "true"
    else:
        nik = ("printf('351015%02d%02d%02d%04d', (i / 5000) % 28 + 1, (i / 140000) % 12 + 1, 70 + i / 1680000, "
               "5000 + i % 5000)")
        kk, key, true = "printf('SYN%013d', i)", "'syn-' || i", "1"
    outcome = "CASE WHEN i % 3 = 0 THEN 'ELIGIBLE' ELSE 'NOT_ELIGIBLE' END"
    code = "CASE j WHEN 1 THEN 'ELECTRICITY_ABOVE_LIMIT' WHEN 2 THEN 'INCOME_ABOVE_LIMIT' ELSE 'OWNS_CAR' END"
    verdict = "CASE WHEN i % 3 = 0 OR j > 1 THEN 'PASS' ELSE 'FAIL' END"
    j3 = "(SELECT 1 AS j UNION ALL SELECT 2 UNION ALL SELECT 3) AS r"
    b = ":base + i"
    return [
        f"INSERT INTO household (id, kk_number, region_code, created_at, updated_at) "
        f"SELECT {b}, {kk}, village, :now, :now FROM {src}",
        f"INSERT INTO person (id, nik, household_id, name, sex, region_code, relationship, created_at, updated_at) "
        f"SELECT {b}, {nik}, {b}, 'Warga Sintetis', 'M', village, 'KEPALA KELUARGA', :now, :now FROM {src}",
        f"INSERT INTO registration (id, pilot_id, programme, person_id, household_id, region_code, channel, "
        f"submitted_at) SELECT {b}, :pilot, 'PKH', {b}, {b}, village, 'SELF', :now FROM {src}",
        f"INSERT INTO decision (id, registration_id, version, outcome, is_current, criteria_versions, "
        f"inputs_digest, cause, inputs, decided_at) SELECT {b}, {b}, 1, {outcome}, {true}, '{{}}', 'x', "
        f"'SELECTION', '{{}}', :now FROM {src}",
        f"INSERT INTO decision_reason (id, decision_id, code, verdict, criterion_version, messages) "
        f"SELECT 3 * ({b}) + j, {b}, {code}, {verdict}, '1', '{{}}' FROM {src}, {j3}",
        f"INSERT INTO notification (id, person_id, pilot_id, decision_id, channel, template, language, params, "
        f"status, attempts, next_attempt_at, idempotency_key, created_at, sent_at) SELECT {b}, {b}, :pilot, {b}, "
        f"'portal', CASE WHEN i % 3 = 0 THEN 'DECISION_ELIGIBLE' ELSE 'DECISION_NOT_ELIGIBLE' END, 'id', '{{}}', 'DELIVERED', 1, :now, {key}, :now, :now FROM {src}",
    ]


async def seed(url: str, n: int, pilot_id: int, *, log=print) -> float:
    """Load ``n`` synthetic registrations into pilot ``pilot_id``; returns the seconds it took."""
    db = Database(url)
    pg = not db.is_sqlite
    now = datetime.now(UTC)
    stamp = now if pg else now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    villages = [r.code for r in regions.villages("35.10")]
    t0 = time.perf_counter()
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE bench_village (idx INTEGER PRIMARY KEY, code VARCHAR(13))"))
            await s.execute(text("INSERT INTO bench_village VALUES (:idx, :code)"),
                            [{"idx": i, "code": c} for i, c in enumerate(villages)])
        params = {"n": n, "v": len(villages), "pilot": pilot_id, "now": stamp, "base": BASE}
        for stmt in statements(pg):
            t = time.perf_counter()
            async with db.write() as s:
                await s.execute(text(stmt), params)
            log(f"  {stmt.split('(')[0].strip():<32} {time.perf_counter() - t:6.1f} s")
        async with db.write() as s:
            await s.execute(text("DROP TABLE bench_village"))
        async with db.engine.connect() as conn:  # planner statistics
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await db.dispose()
    return time.perf_counter() - t0
