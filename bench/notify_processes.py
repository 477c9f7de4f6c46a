"""``bench/notify.py --processes 1,2``: M dispatcher processes draining one PostgreSQL outbox at once.

For each M: M subprocesses (this file with ``--worker``: the installed plugins, their own engine and
connection pool, ``Dispatcher(...).drain()``) are started and warmed up (``--warmup`` rows, drained
by whichever process claims them), then ``--n`` due rows are written and every process is told to
drain at the same moment. Throughput is ``n`` over the wall time from that moment to the last
process's end; each process reports its own CPU. Afterwards (not timed): the simulator received
every message once (``requests == 1`` per key, no duplicate), and every outbox row is SENT after
exactly one attempt — no row was claimed by two processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

HERE = Path(__file__).resolve().parent


def worker(url: str, portal: str, batch: int, concurrency: int) -> int:
    """A dispatcher process: one ``drain()`` per line read on stdin, its result as one JSON line."""
    from perlinsos.db.engine import Database
    from perlinsos.notification.dispatcher import Dispatcher
    from perlinsos.plugins import PluginManager

    async def main() -> None:
        db = Database(url)
        dispatcher = Dispatcher(db, PluginManager(), portal_url=portal, batch=batch, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        try:
            while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "go":
                cpu0, t0 = time.process_time(), time.perf_counter()
                done = await dispatcher.drain()
                print(json.dumps({"done": dict(done), "cpu": time.process_time() - cpu0,
                                  "elapsed": time.perf_counter() - t0}), flush=True)
        finally:
            await db.dispose()

    asyncio.run(main())
    return 0


class Workers:
    def __init__(self, m: int, url: str, args) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.procs = [subprocess.Popen(
            [sys.executable, str(HERE / "notify_processes.py"), "--worker", url, args.portal, str(args.batch),
             str(args.concurrency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(m)]
        for p in self.procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a dispatcher process did not start")

    def drain(self) -> tuple[float, list[dict[str, Any]]]:
        """Tell every process to drain at once; (wall seconds to the last one's end, their results)."""
        t0 = time.perf_counter()
        for p in self.procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in self.procs]
        return time.perf_counter() - t0, results

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.close()
                p.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck worker is killed (our own child)
                p.kill()


async def scaleout(args, url: str, sim, seeded, enqueue, Database, Notification) -> int:
    """The M table; 3 if a check fails."""
    counts = [int(m) for m in args.processes.split(",")]
    per = args.warmup + args.n
    if len(seeded.notes) < per * len(counts):
        raise RuntimeError("not enough seeded rows")
    db = Database(url)
    rows, problems = [], []
    try:
        for k, m in enumerate(counts):
            base = k * per
            workers = Workers(m, url, args)
            try:
                if args.warmup:
                    await enqueue(db, seeded.notes[base:base + args.warmup])
                    workers.drain()
                await enqueue(db, seeded.notes[base + args.warmup:base + per])
                await asyncio.sleep(0.5)  # the enqueue's commit settled; the processes idle
                load = os.getloadavg()[0]
                elapsed, results = workers.drain()
            finally:
                workers.close()
            sent = sum(r["done"].get("SENT", 0) for r in results)
            cpu = sum(r["cpu"] for r in results)
            shares = "/".join(str(r["done"].get("SENT", 0)) for r in results)
            rows.append((m, sent, elapsed, cpu, shares, load))
            if sent != args.n:
                problems.append(f"M={m}: {sent} rows SENT in the measured drain, expected {args.n}")
        await asyncio.sleep(0.2)
        stats = sim.stats()
        total = per * len(counts)
        if stats["accepted"] != total or stats["duplicates"] or stats["messages"] != total:
            problems.append(f"simulator: accepted {stats['accepted']}, stored {stats['messages']}, "
                            f"duplicates {stats['duplicates']}; expected {total} once each")
        twice = [m["idempotency_key"] for m in sim.messages() if m["requests"] != 1]
        if twice:
            problems.append(f"{len(twice)} messages submitted more than once (e.g. {twice[:3]})")
        n = Notification.__table__
        async with db.read() as s:
            found = (await s.execute(select(n.c.status, n.c.attempts, n.c.last_error))).all()
        outcome = Counter((getattr(r.status, "value", r.status), r.attempts) for r in found)
        if outcome != Counter({("SENT", 1): total}):
            errors = Counter(r.last_error for r in found if r.last_error)
            problems.append(f"outbox (status, attempts): {dict(outcome)}, expected {{('SENT', 1): {total}}}; "
                            f"errors {dict(errors.most_common(3))}")
    finally:
        await db.dispose()
    print(f"\nnotify --processes: {args.n} SMS per M, PostgreSQL, batch {args.batch}, concurrency "
          f"{args.concurrency} per process, {args.warmup} warm-up per M; {os.cpu_count()} CPUs")
    print(f"{'M':>2} {'msg/s':>8} {'x M=1':>6} {'cpu ms/msg':>10} {'sent per process':>18} {'load (1 min)':>12}")
    first = rows[0][1] / rows[0][2] if rows and rows[0][2] else 0
    for m, sent, elapsed, cpu, shares, load in rows:
        rate = sent / elapsed if elapsed else 0
        print(f"{m:>2} {rate:>8.1f} {rate / first if first else 0:>6.2f} {cpu / sent * 1000 if sent else 0:>10.3f} "
              f"{shares:>18} {load:>12.2f}")
    if problems:
        print("CHECKS FAILED:\n  " + "\n  ".join(problems))
        return 3
    print(f"checks: the simulator received all {total} messages once each (no duplicate); every outbox row SENT "
          "after exactly one attempt: no row was claimed by two processes")
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    sys.exit(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
