"""Benchmark: SMS notifications per second, the platform's dispatcher vs. a plain httpx loop, same run.

    .venv/bin/python bench/notify.py [--n 10000] [--concurrency 16] [--batch 500] [--rounds 4] [--warmup 200]
                                     [--database-url postgresql://user@host:5432/db] [--cprofile PREFIX]
    .venv/bin/python bench/notify.py --processes 1,2 --database-url postgresql://user@host:5432/db

``--processes``: instead of the comparison, M dispatcher processes per M listed draining one
PostgreSQL outbox at once (bench/notify_processes.py): throughput per M, and checks that no row was
claimed or sent twice.

A fresh database (a SQLite file in a temp dir, or a new PostgreSQL database created beside the one
named by ``--database-url`` and dropped afterwards), migrations, and the bundled Banyuwangi pilot with
``[plugins.notify_sms]`` pointed at an SMS gateway simulator started for the run
(``tests/fixtures/sms.py``: ``perlinsos sms-sim`` in a subprocess), **without** a delivery-report
URL: the simulator decides each delivery but posts no report (the baseline has nowhere to receive
one). Seeded with SQLAlchemy Core ``executemany`` (not measured): one household, person (a valid
synthetic ``+628`` mobile number), registration and current decision of 7 reasons (texts in both
languages, as selection stores them) per message; the outbox rows are written as selection writes
them (``selection/engine.py`` ``_notifications``: channel ``sms``, template ``DECISION_<outcome>``,
key ``decision-<id>-sms``, due now), just before the round that sends them.

* platform: ``Dispatcher(db, plugins, portal_url=..., batch=--batch, concurrency=--concurrency).drain()``
  in this process: claims, renders (reasons read per batch), sends through ``SmsChannel`` (the
  plugin's pooled client) and records every result;
* baseline: ``--concurrency`` asyncio workers posting the same messages (same body: ``to``,
  ``sender_id``, ``text``, ``idempotency_key``; same headers) with one pooled ``httpx.AsyncClient``,
  to a simulator of its own — no database; the texts are formatted beforehand from the seed data.

Each side has its own simulator (same options), so the same idempotency keys go to both. Rounds
alternate (A B, B A, ...), ``--n / --rounds`` messages per side each, after ``--warmup`` messages per
side (not measured). Afterwards (not timed): each simulator received exactly ``n + warmup``
messages, once each (no duplicate, refusal, invalid number, conflict); the two simulators hold the
same (recipient, text) for every key; every outbox row is SENT after one attempt with the
simulator's message id as its provider reference. Exit 0 whatever the ratio; 2 if the two sides
sent different messages; 3 if a check fails; 1 if it cannot measure.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import Stats, backend_cpu, backend_cpu_since, engine_name, fresh_database, proc_cpu_seconds  # noqa: E402
from fixtures.sms import SmsSimulator  # noqa: E402
from perlinsos.db import migrate  # noqa: E402
from perlinsos.db.engine import Database  # noqa: E402
from perlinsos.db.models import Decision, DecisionReason, Household, Notification, Person, Registration  # noqa: E402
from perlinsos.idnumbers import mask_nik  # noqa: E402
from perlinsos.messages import reason_message  # noqa: E402
from perlinsos.notification.dispatcher import Dispatcher  # noqa: E402
from perlinsos.notification.minimal import TEMPLATES, kind_of  # noqa: E402
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot  # noqa: E402
from perlinsos.pilots.store import save_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402

TARGET = 0.8
SENDER = "PERLINSOS"
PORTAL = "http://127.0.0.1:8600"  # the bundled pilot's portal; the dispatcher's portal_url too
VILLAGES = ("35.10.15.2004", "35.10.16.1014")  # Kemiren (Glagah), Lateng (Banyuwangi)
PREFIXES = ("812", "813", "821", "852", "857", "878", "895", "881")  # Indonesian mobile prefixes
PROGRAMMES = ("PKH", "SEMBAKO", "PBI_JK")
SIM_OPTIONS: dict[str, Any] = {"api_key": "bench-sms-key", "report_delay": 0.05}


# --- data ----------------------------------------------------------------------------------------


def nik(i: int, district: str) -> str:
    """A valid synthetic NIK, unique for i < 168 million (birth date and serial encode i)."""
    day, month, yy, serial = 1 + i % 28, 1 + (i // 28) % 12, 40 + (i // 336) % 50, 1 + (i // 16800) % 9999
    return f"{district}{day:02d}{month:02d}{yy:02d}{serial:04d}"


def phone(i: int) -> str:
    """A valid synthetic mobile number in E.164 (never ending 0000: no FAILED delivery)."""
    return f"+62{PREFIXES[i % len(PREFIXES)]}{i:07d}7"


def reasons_for(i: int) -> list[dict[str, Any]]:
    """7 reasons as selection stores them (texts in both languages): ~70% of decisions fail one or more
    (NOT_ELIGIBLE), ~5% are PENDING (car ownership unknown), ~25% ELIGIBLE."""
    rnd = random.Random(2025 * 7 + i)
    va = rnd.choice([450, 900, 900, 1300, 2200])
    income = rnd.randrange(600_000, 4_000_000, 50_000)
    decile = rnd.randint(1, 7)
    car_unknown = rnd.random() < 0.15

    def reason(code, verdict, observed, limit, source, as_of):
        texts = {lang: reason_message(code, verdict, observed, limit, source, as_of, lang) for lang in ("id", "en")}
        return {"code": code, "verdict": verdict, "observed": None if observed is None else {"value": observed},
                "limit": None if limit is None else {"value": limit}, "source": source, "as_of": as_of,
                "criterion_version": "1", "detail": None, "messages": texts}

    return [
        reason("ELECTRICITY_ABOVE_LIMIT", "FAIL" if va > 1300 else "PASS", va, 1300, "PLN", date(2025, 8, 1)),
        reason("INCOME_ABOVE_LIMIT", "FAIL" if income > 2_810_139 else "PASS", income, 2_810_139,
               "BPJS Ketenagakerjaan", date(2025, 8, 1)),
        reason("WELFARE_DECILE_ABOVE_LIMIT", "FAIL" if decile > 4 else "PASS", decile, 4, "DTSEN", date(2025, 7, 1)),
        reason("OWNS_CAR", "UNKNOWN" if car_unknown else "PASS", None if car_unknown else False, None, "Polri",
               None if car_unknown else date(2025, 6, 30)),
        reason("STATE_EMPLOYEE", "PASS", None, None, "BKN", date(2025, 7, 15)),
        reason("UNUSUAL_TRANSACTIONS", "PASS", None, None, "PPATK", date(2025, 7, 31)),
        reason("ALREADY_REGISTERED", "PASS", None, None, None, None),
    ]


class Seeded:
    """What the rounds need: per message, its outbox row (written before its round) and the
    baseline's request body."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self.bodies: list[dict[str, str]] = []


async def seed(url: str, sim: SmsSimulator, count: int) -> tuple[PluginManager, Seeded]:
    """The pilot (SMS at ``sim``, no delivery reports), and ``count`` people with a current decision."""
    plugins = PluginManager()
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    data["plugins"]["notify_sms"] = {"gateway_url": sim.url, "api_key": sim.api_key, "sender_id": SENDER,
                                     "portal_url": PORTAL}
    spec = parse_pilot(data, plugins, source="bench")
    db = Database(url)
    now = datetime.now(UTC)
    out = Seeded()
    try:
        async with db.write() as s:
            pilot, _ = await save_pilot(s, spec)
            await s.flush()
            pilot_id = pilot.id
        hh, people, regs, decisions, reasons = [], [], [], [], []
        for i in range(count):
            n, village = i + 1, VILLAGES[i % 2]
            district = village[:8].replace(".", "")
            programme = PROGRAMMES[i % 3]
            hh.append({"id": n, "kk_number": f"{district}{n:010d}", "region_code": village, "created_at": now,
                       "updated_at": now})
            people.append({"id": n, "nik": nik(i, district), "household_id": n, "name": f"Warga Sintetis {n}",
                           "birth_date": date(1980, 3, 1 + i % 28), "sex": "MF"[i % 2], "region_code": village,
                           "relationship": "KEPALA KELUARGA", "phone": phone(i), "created_at": now,
                           "updated_at": now})
            regs.append({"id": n, "pilot_id": pilot_id, "programme": programme, "person_id": n, "household_id": n,
                         "region_code": village, "channel": "SELF", "submitted_at": now})
            rs = reasons_for(i)
            verdicts = [r["verdict"] for r in rs]
            outcome = "NOT_ELIGIBLE" if "FAIL" in verdicts else "PENDING" if "UNKNOWN" in verdicts else "ELIGIBLE"
            decisions.append({"id": n, "registration_id": n, "version": 1, "outcome": outcome, "is_current": True,
                              "criteria_versions": {r["code"]: "1" for r in rs}, "inputs_digest": f"{n:064x}",
                              "cause": "SELECTION", "decided_at": now})
            reasons += [{"decision_id": n, **r} for r in rs]
            # as selection/engine.py _notifications writes it
            template = f"DECISION_{outcome}"
            key = f"decision-{n}-sms"
            out.notes.append({"person_id": n, "pilot_id": pilot_id, "decision_id": n, "channel": "sms",
                              "recipient": None, "template": template, "language": "id",
                              "params": {"outcome": outcome, "version": 1,
                                         "reasons": [r["code"] for r in rs if r["verdict"] != "PASS"]},
                              "status": "PENDING", "attempts": 0, "next_attempt_at": now, "idempotency_key": key,
                              "created_at": now})
            # the baseline's message: the same text, formatted here from the same data — the SMS
            # channel's default minimal text (perlinsos.notification.minimal: the kind of the main
            # failed or unknown reason, never its values)
            main = next((r for r in rs if r["verdict"] == "FAIL"), None) or \
                next((r for r in rs if r["verdict"] == "UNKNOWN"), None)
            text = TEMPLATES[template]["id"]["short"].format(
                nik=mask_nik(people[-1]["nik"]), programme=programme, portal_url=PORTAL,
                main_reason=kind_of(main["code"], "id") if main else "").strip()
            out.bodies.append({"to": phone(i), "sender_id": SENDER, "text": text, "idempotency_key": key})
        async with db.write() as s:
            for model, rows in ((Household, hh), (Person, people), (Registration, regs), (Decision, decisions),
                                (DecisionReason, reasons)):
                for k in range(0, len(rows), 2000):
                    await s.execute(insert(model.__table__), rows[k:k + 2000])
    finally:
        await db.dispose()
    return plugins, out


async def enqueue(db: Database, notes: list[dict[str, Any]]) -> None:
    """Outbox rows due now (not measured), in one transaction as selection writes a chunk's."""
    now = datetime.now(UTC)
    async with db.write() as s:
        for k in range(0, len(notes), 2000):
            await s.execute(insert(Notification.__table__),
                            [{**r, "next_attempt_at": now, "created_at": now} for r in notes[k:k + 2000]])


# --- the two sides ---------------------------------------------------------------------------------


def other_threads_cpu() -> float:
    """User + system CPU of this process's threads other than the event loop's (aiosqlite's
    connection threads, the default executor), from /proc; 0 where unavailable."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    me = str(threading.get_native_id())
    try:
        for task in os.listdir("/proc/self/task"):
            if task != me:
                try:
                    fields = Path(f"/proc/self/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / tick
                except (OSError, ValueError, IndexError):
                    pass  # the thread ended meanwhile
    except OSError:
        return 0.0
    return total


class Side:
    def __init__(self, name: str, sim: SmsSimulator, db_url: str | None = None):
        self.name, self.sim = name, sim
        self.db_url = db_url  # PostgreSQL: the backends' CPU during this side's rounds is counted
        self.db_cpu = 0.0
        self.stats = Stats()
        self.sim_cpu = 0.0
        self.threads_cpu = 0.0  # of self.stats.cpu: threads other than the event loop's
        self.failures: list[str] = []

    async def measure(self, send, count: int, profiler: cProfile.Profile | None = None) -> None:
        threads0 = other_threads_cpu()
        db0 = backend_cpu(self.db_url) if self.db_url else None
        sim0, cpu0, t0 = proc_cpu_seconds(self.sim.process.pid), time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            ok = await send()
        finally:
            if profiler is not None:
                profiler.disable()
        elapsed, cpu1, sim1 = time.perf_counter() - t0, time.process_time(), proc_cpu_seconds(self.sim.process.pid)
        self.threads_cpu += max(other_threads_cpu() - threads0, 0.0)  # (threads ended meanwhile are not seen)
        s = self.stats
        s.requests += count
        s.errors += count - ok
        s.elapsed += elapsed
        s.cpu += cpu1 - cpu0
        s.rounds.append(count / elapsed if elapsed else 0.0)
        if sim0 is not None and sim1 is not None:
            self.sim_cpu += sim1 - sim0
        if db0 is not None:
            self.db_cpu += backend_cpu_since(self.db_url, db0)


def platform_sender(dispatcher: Dispatcher, side: Side, notes: list[dict[str, Any]]):
    async def send() -> int:
        done = await dispatcher.drain()
        if done != Counter({"SENT": len(notes)}):
            side.failures.append(f"drain of {len(notes)} rows ended {dict(done)}")
        return done.get("SENT", 0)
    return send


def baseline_sender(client: httpx.AsyncClient, sim: SmsSimulator, side: Side, bodies: list[dict[str, str]],
                    concurrency: int):
    url = sim.url + "/messages"
    auth = f"Bearer {sim.api_key}"

    async def send() -> int:
        todo = iter(bodies)
        sent = 0

        async def worker() -> None:
            nonlocal sent
            for body in todo:
                try:
                    r = await client.post(url, json=body, headers={"Authorization": auth,
                                                                  "Idempotency-Key": body["idempotency_key"]})
                except httpx.HTTPError as exc:
                    side.failures.append(f"{body['idempotency_key']}: {type(exc).__name__}")
                    continue
                if r.status_code == 202 and r.json().get("message_id"):
                    sent += 1
                else:
                    side.failures.append(f"{body['idempotency_key']}: HTTP {r.status_code} {r.text[:100]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return sent
    return send


# --- checks after the run (not timed) --------------------------------------------------------------


async def check(db: Database, sims: dict[str, SmsSimulator], keys: list[str]) -> tuple[list[str], list[str]]:
    """(problems, differences): what each simulator received and the outbox rows, against ``keys``."""
    problems, differences = [], []
    received: dict[str, dict[str, dict[str, Any]]] = {}
    for name, sim in sims.items():
        stats = sim.stats()
        bad = {k: stats[k] for k in ("duplicates", "refused", "invalid", "unauthorized", "conflicts", "unavailable",
                                     "dropped") if stats[k]}
        if stats["accepted"] != len(keys) or stats["messages"] != len(keys):
            problems.append(f"{name}: the simulator accepted {stats['accepted']} messages "
                            f"({stats['messages']} stored), expected {len(keys)}")
        if bad:
            problems.append(f"{name}: the simulator counted {bad}")
        messages = sim.messages()
        by_key = {m["idempotency_key"]: m for m in messages}
        received[name] = by_key
        if set(by_key) != set(keys) or len(messages) != len(keys):
            missing, extra = set(keys) - set(by_key), set(by_key) - set(keys)
            problems.append(f"{name}: {len(missing)} messages missing (e.g. {sorted(missing)[:3]}), "
                            f"{len(extra)} unexpected, {len(messages) - len(by_key)} keys twice")
        more = [k for k, m in by_key.items() if m["requests"] != 1]
        if more:
            problems.append(f"{name}: {len(more)} messages submitted more than once (e.g. {more[:3]})")
    p, b = received["platform"], received["baseline"]
    for key in keys:
        if key in p and key in b and (p[key]["to"], p[key]["text"]) != (b[key]["to"], b[key]["text"]):
            differences.append(f"{key}:\n  platform {p[key]['to']} {p[key]['text']!r}\n"
                               f"  baseline {b[key]['to']} {b[key]['text']!r}")
    n = Notification.__table__
    async with db.read() as s:
        rows = (await s.execute(select(n.c.idempotency_key, n.c.status, n.c.attempts, n.c.provider_reference,
                                       n.c.recipient))).all()
    statuses = Counter(getattr(r.status, "value", r.status) for r in rows)
    if statuses != Counter({"SENT": len(keys)}):
        problems.append(f"outbox: {dict(statuses)}, expected {{'SENT': {len(keys)}}}")
    wrong = [r.idempotency_key for r in rows
             if r.attempts != 1 or r.idempotency_key not in p
             or r.provider_reference != p[r.idempotency_key]["message_id"] or r.recipient != p[r.idempotency_key]["to"]]
    if wrong:
        problems.append(f"outbox: {len(wrong)} rows with another attempt count, provider reference or recipient "
                        f"than the simulator's message (e.g. {wrong[:3]})")
    return problems, differences


# --- the run ----------------------------------------------------------------------------------------


async def bench(args, url: str, sims: dict[str, SmsSimulator]) -> int:
    total = args.warmup + args.n
    t = time.perf_counter()
    plugins, seeded = await seed(url, sims["platform"], total)
    print(f"seeded {total} people, registrations and decisions (7 reasons each) in {time.perf_counter() - t:.1f}s")
    db = Database(url)
    profilers = {name: cProfile.Profile() for name in sims} if args.cprofile else {}
    dispatcher = Dispatcher(db, plugins, portal_url=PORTAL, batch=args.batch, concurrency=args.concurrency)
    sides = {name: Side(name, sim, url if name == "platform" else None) for name, sim in sims.items()}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    try:
        async with httpx.AsyncClient(limits=limits, timeout=5, follow_redirects=False,
                                     headers={"User-Agent": "bench-baseline"}) as client:
            def round_of(name: str, lo: int, hi: int):
                if name == "platform":
                    return platform_sender(dispatcher, sides[name], seeded.notes[lo:hi])
                return baseline_sender(client, sims[name], sides[name], seeded.bodies[lo:hi], args.concurrency)

            # warm-up (not measured): the plugin's client and pools, the pilot's channel, caches
            if args.warmup:
                await enqueue(db, seeded.notes[:args.warmup])
                for name, side in sides.items():
                    if await round_of(name, 0, args.warmup)() != args.warmup:
                        print(f"warm-up failed on the {name} side: {side.failures[:5]}")
                        return 1
                    side.failures.clear()
            bounds = [args.warmup + args.n * k // args.rounds for k in range(args.rounds + 1)]
            for k in range(args.rounds):
                lo, hi = bounds[k], bounds[k + 1]
                await enqueue(db, seeded.notes[lo:hi])
                for name in ("platform", "baseline") if k % 2 == 0 else ("baseline", "platform"):
                    await sides[name].measure(round_of(name, lo, hi), hi - lo, profilers.get(name))
        await asyncio.sleep(0.2)  # the simulators' last (report-less) deliveries
        problems, differences = await check(db, sims, [b["idempotency_key"] for b in seeded.bodies])
    finally:
        await db.dispose()
    report(args, url, sides)
    for name, profiler in profilers.items():
        profiler.dump_stats(f"{args.cprofile}-{name}.prof")
        print(f"{name} side profiled (figures above are slowed by the profiler): {args.cprofile}-{name}.prof")
    for side in sides.values():
        for failure in side.failures[:5]:
            print(f"{side.name}: {failure}")
    if differences:
        print(f"DIFFERENT MESSAGES: {len(differences)} keys; the first:\n" + "\n".join(differences[:5]))
        return 2
    if problems or any(s.failures for s in sides.values()):
        print("CHECKS FAILED:\n  " + "\n  ".join(problems or ["see the failures above"]))
        return 3
    print(f"checks: each simulator received exactly {total} messages ({args.n} measured + {args.warmup} warm-up), "
          "each once, none refused; the same recipient and text per key on both sides; every outbox row SENT "
          "after one attempt with the simulator's message id")
    return 0


async def processes(args, url: str, sim: SmsSimulator) -> int:
    from notify_processes import scaleout

    args.portal = PORTAL
    counts = [int(m) for m in args.processes.split(",")]
    _, seeded = await seed(url, sim, (args.warmup + args.n) * len(counts))
    return await scaleout(args, url, sim, seeded, enqueue, Database, Notification)


def report(args, url: str, sides: dict[str, Side]) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nnotify: {args.n} SMS per side, {engine_name(url)}, concurrency {args.concurrency}, platform batch "
          f"{args.batch}, {args.rounds} alternating rounds, {args.warmup} warm-up; no delivery-report callback; "
          f"{os.cpu_count()} CPUs, load average {load}")
    print(f"{'side':<9} {'messages':>8} {'errors':>6} {'msg/s':>8} {'cpu ms/msg':>10} {'(threads)':>9} "
          f"{'sim cpu ms/msg':>14}  per-round msg/s")
    for name, s in sides.items():
        cpu = s.stats.cpu / s.stats.requests * 1000 if s.stats.requests else float("nan")
        sim = s.sim_cpu / s.stats.requests * 1000 if s.stats.requests else float("nan")
        threads = s.threads_cpu / s.stats.requests * 1000 if s.stats.requests else float("nan")
        rounds = " ".join(f"{r:.0f}" for r in s.stats.rounds)
        print(f"{name:<9} {s.stats.requests:>8} {s.stats.errors:>6} {s.stats.rate:>8.1f} {cpu:>10.3f} {threads:>9.3f} "
              f"{sim:>14.3f}  {rounds}")
    p, b = sides["platform"].stats, sides["baseline"].stats
    ratio = p.rate / b.rate if b.rate else float("nan")
    cpu_ratio = b.cpu_per_request / p.cpu_per_request if p.cpu_per_request and b.cpu_per_request else None
    print(f"ratio platform/baseline = {ratio:.2f}x   (target >= {TARGET}x)"
          + (f"   cpu-per-message ratio (this process) = {cpu_ratio:.2f}x" if cpu_ratio else ""))
    platform = sides["platform"]
    if backend_cpu(url) is not None and p.requests:
        print(f"PostgreSQL backends' CPU per SMS (/proc, during the platform's rounds; the loop uses no database): "
              f"{platform.db_cpu / p.requests * 1000:.3f} ms")
    if ratio < TARGET:
        print(f"BELOW TARGET: {ratio:.3f}x < {TARGET}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="measured messages per side")
    ap.add_argument("--concurrency", type=int, default=16, help="sends in flight, both sides")
    ap.add_argument("--batch", type=int, default=500, help="the platform dispatcher's claim batch")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds the messages are split into")
    ap.add_argument("--warmup", type=int, default=200, help="messages per side before measuring")
    ap.add_argument("--cprofile", metavar="PREFIX", help="profile each side's measured rounds into "
                    "PREFIX-platform.prof and PREFIX-baseline.prof")
    ap.add_argument("--processes", metavar="M,M", help="instead of the comparison: M dispatcher processes (each "
                    "M in the list, e.g. 1,2) draining --n rows of one PostgreSQL outbox at once; throughput per M "
                    "and checks that no row was claimed or sent twice (bench/notify_processes.py)")
    ap.add_argument("--database-url", help="PostgreSQL server to use (a fresh database is created beside "
                    "the one named, and dropped afterwards); default: a SQLite file in a temp dir")
    args = ap.parse_args()
    if args.n < args.rounds or args.concurrency < 1 or args.batch < 1 or args.warmup < 0:
        ap.error("--n must be at least --rounds; --concurrency and --batch at least 1")
    if args.processes and not args.database_url:
        ap.error("--processes needs --database-url (several processes on one SQLite file is not the question)")
    workdir = Path(tempfile.mkdtemp(prefix="perlinsos-bench-"))
    try:
        with fresh_database(args.database_url, workdir) as url:
            migrate.upgrade(url)
            if args.processes:
                with SmsSimulator(**SIM_OPTIONS) as sim:
                    return asyncio.run(processes(args, url, sim))
            with SmsSimulator(**SIM_OPTIONS) as platform_sim, SmsSimulator(**SIM_OPTIONS) as baseline_sim:
                return asyncio.run(bench(args, url, {"platform": platform_sim, "baseline": baseline_sim}))
    except ValueError as exc:
        ap.error(str(exc))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
