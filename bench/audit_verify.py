"""Benchmark: `perlinsos audit verify` over a SQLite audit chain vs. a plain sqlite3 loop, same run.

    .venv/bin/python bench/audit_verify.py [--sizes 100000,1000000] [--batch 5000] [--keep DIR]

For each size N, a SQLite file is migrated and N audit rows are written straight with ``sqlite3``
``executemany`` (reads of personal data and state changes, hashed with ``perlinsos.audit.link_hash``,
the chain head set to the last). Then, each in a subprocess of its own (so its peak RSS is its own):

* platform: ``perlinsos audit verify --database-url ...`` (keyset batches of ``--batch`` rows through
  SQLAlchemy, every hash recomputed, the head compared);
* baseline: one ``SELECT ... ORDER BY seq`` with a ``sqlite3`` cursor and ``fetchmany``, the same
  canonical JSON and sha256 written out independently of the platform's code.

Both must report the chain whole with the same count and head hash (else exit 2). Figures: rows per
second (wall time of the verification process, imports included), the ratio, and peak RSS (VmHWM) at
each size: it must not grow with N (the walk streams).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from perlinsos import audit
from perlinsos.db import migrate

PEAK = "import atexit,sys\natexit.register(lambda: print('VmHWM', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0], file=sys.stderr))\n"

PLATFORM = PEAK + """
from perlinsos.cli import main
main(["audit", "verify", "--batch", sys.argv[2], "--database-url", "sqlite:///" + sys.argv[1]])
"""

BASELINE = PEAK + r"""
import hashlib, json, sqlite3
con = sqlite3.connect(sys.argv[1])
cur = con.execute("SELECT seq, prev_hash, hash, occurred_at, actor, actor_role, action, entity_type, entity_id, "
                  "subject_person_id, purpose, details FROM audit_event ORDER BY seq")
enc = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
prev, expected = "0" * 64, 1
while rows := cur.fetchmany(5000):
    for seq, prev_hash, digest, at, actor, role, action, etype, eid, subject, purpose, details in rows:
        doc = {"seq": seq, "occurred_at": at.replace(" ", "T") + ("" if "." in at else ".000000") + "Z",
               "actor": actor, "actor_role": role, "action": action, "entity_type": etype, "entity_id": eid,
               "subject_person_id": subject, "purpose": purpose, "details": json.loads(details) or {}}
        if seq != expected or prev_hash != prev or \
                hashlib.sha256((enc.encode(doc) + prev_hash).encode()).hexdigest() != digest:
            print(f"BROKEN at seq {expected}"); sys.exit(1)
        prev, expected = digest, expected + 1
head = con.execute("SELECT seq, hash FROM audit_chain_head").fetchone()
if head != (expected - 1, prev):
    print("BROKEN at the head"); sys.exit(1)
print(f"audit chain OK: {expected - 1} records, head seq {expected - 1} hash {prev}")
"""


def seed(path: Path, n: int) -> str:
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    rng = random.Random(7)
    start, prev, seq = datetime(2026, 1, 5, 8, tzinfo=UTC), audit.GENESIS, 0
    staff = [f"reviewer-{i}" for i in range(20)]
    while seq < n:
        batch = []
        for _ in range(min(10_000, n - seq)):
            seq += 1
            at = start + timedelta(microseconds=seq * 1_234_567)
            if seq % 50:  # mostly reads of personal data, as in production
                row = {"occurred_at": at, "actor": rng.choice(staff), "actor_role": "REVIEWER",
                       "action": "READ_PERSONAL_DATA", "entity_type": "person", "entity_id": str(seq),
                       "subject_person_id": None, "purpose": "graphql", "details": {"operation": "ReviewList"}}
            else:
                row = {"occurred_at": at, "actor": "system:selection", "actor_role": None,
                       "action": "DECISIONS_MADE", "entity_type": "selection_run", "entity_id": "run-1",
                       "subject_person_id": None, "purpose": "selection",
                       "details": {"cause": "SELECTION", "processed": 500, "decided": 480, "decision_ids": [seq, seq + 479]}}
            digest = audit.link_hash(row, seq, prev)
            batch.append((seq, at.replace(tzinfo=None).isoformat(" ", "microseconds"), row["actor"], row["actor_role"],
                          row["action"], row["entity_type"], row["entity_id"], row["purpose"],
                          json.dumps(row["details"]), prev, digest))
            prev = digest
        con.executemany("INSERT INTO audit_event (seq, occurred_at, actor, actor_role, action, entity_type, "
                        "entity_id, purpose, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    con.execute("UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    con.commit()
    con.close()
    return prev


def run(side: str, code: str, path: Path, batch: int) -> tuple[float, str, int]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path), str(batch)], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        print(f"{side} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        sys.exit(2 if "BROKEN" in done.stdout + done.stderr else 1)
    peak = int([line for line in done.stderr.splitlines() if line.startswith("VmHWM")][0].split()[1])
    return seconds, done.stdout.strip(), peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--keep", type=Path, help="keep the databases in this directory")
    args = ap.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-audit-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{'size':>10} {'side':<9} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>11}")
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            path = workdir / f"audit-{n}.db"
            began = time.perf_counter()
            head = seed(path, n)
            print(f"(seeded {n:,} chained rows in {time.perf_counter() - began:.1f}s)")
            results = {side: run(side, code, path, args.batch)
                       for side, code in (("platform", PLATFORM), ("baseline", BASELINE))}
            for side, (seconds, out, peak) in results.items():
                if f"{n} records" not in out or head not in out:
                    print(f"{side} disagrees: {out}")
                    sys.exit(2)
                print(f"{n:>10,} {side:<9} {seconds:>8.1f} {n / seconds:>9,.0f} {peak / 1024:>11.0f}")
            ratio = results["baseline"][0] / results["platform"][0]
            print(f"{'':>10} ratio platform/baseline = {ratio:.2f}x (rows/s)")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
