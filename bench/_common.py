"""Helpers shared by the HTTP benchmarks (``graphql_list.py``, ``register.py``): a fresh database,
uvicorn servers in subprocesses, the load generator and the results table.

Nothing here is specific to one benchmark; importing it puts this directory on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from perlinsos.db.engine import normalise_url  # noqa: E402

# --- database ------------------------------------------------------------------------------------


async def admin_sql(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
    engine = create_async_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


class UsageError(ValueError):
    """A bad command-line value (the benchmark's argument parser reports it)."""


@contextlib.contextmanager
def fresh_database(database_url: str | None, workdir: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in ``workdir``, or, given a PostgreSQL URL, a new
    database ``perlinsos_bench_<pid>`` beside the one named (that one is untouched), dropped on exit.
    Raises UsageError for a URL that is not PostgreSQL."""
    if not database_url:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    parsed = make_url(normalise_url(database_url))
    if parsed.get_backend_name() != "postgresql":
        raise UsageError("--database-url must be a postgresql:// URL (SQLite is the default)")
    name = f"perlinsos_bench_{os.getpid()}"
    asyncio.run(admin_sql(database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin_sql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_in_fresh_database(parser, database_url: str | None, body: Callable[[str, Path], Awaitable[int]], *,
                          prefix: str = "perlinsos-bench-") -> int:
    """A benchmark's main: a migrated fresh database and a work folder, removed afterwards; a usage
    mistake is the parser's error, a failed run exits 1 with its message."""
    import shutil
    import tempfile

    from perlinsos.db import migrate

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with fresh_database(database_url, workdir) as url:
            migrate.upgrade(url)
            return asyncio.run(body(url, workdir))
    except UsageError as exc:
        parser.error(str(exc))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def engine_name(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite (WAL)"


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server subprocess: ours, this directory on PYTHONPATH, the bench
    sign-in national (as IKD is), ``extra``."""
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PERLINSOS_NATIONAL_PROVIDERS": "ikd,bench_auth", **extra}


def bench_pilot_data() -> dict:
    """The bundled Banyuwangi pilot with the bench sign-in, its development secrets replaced (the
    servers run in production mode, which refuses them)."""
    import tomllib

    from perlinsos.pilots.files import bundled_pilot_file

    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    data["plugins"]["bench_auth"] = {}
    data["plugins"]["ikd"]["client_secret"] = "bench-ikd-secret"
    data["plugins"]["notify_sms"]["api_key"] = "bench-sms-key"
    return data


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def backends_of(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database`` (their process title
    names it; /proc, so the server must be on this machine)."""
    needle = f" {database} ".encode()
    found: dict[int, float] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and needle in title:
                cpu = proc_cpu_seconds(int(pid))
                if cpu is not None:
                    found[int(pid)] = cpu
    return found


def backend_cpu(url: str) -> dict[int, float] | None:
    """:func:`backends_of` the bench database of ``url``; None on SQLite."""
    return backends_of(make_url(url).database) if url.startswith("postgresql") else None


def backend_cpu_since(url: str, before: dict[int, float]) -> float:
    """CPU the backends spent since ``before`` (a backend that has exited meanwhile is not counted:
    the audit-row counts' short connections)."""
    now = backend_cpu(url) or {}
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


class Server:
    """``uvicorn --factory <factory>`` on a free loopback port, one worker; stdout and stderr in a log."""

    def __init__(self, name: str, factory: str, env: dict[str, str], logdir: Path):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logdir / f"{name}.log"
        cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=logdir)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
                try:
                    if (await client.get(self.url + "/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.proc.pid)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- load ----------------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.requests = self.errors = 0
        self.elapsed = self.cpu = 0.0
        self.latencies: list[float] = []
        self.rounds: list[float] = []

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_per_request(self) -> float | None:
        return self.cpu / self.requests if self.cpu and self.requests else None


#: one request: True when it succeeded, False when it failed, None when there was nothing left to send
Request = Callable[[], Awaitable[bool | None]]


async def load(server: Server, one: Request, *, seconds: float, concurrency: int, max_requests: int,
               stats: Stats | None) -> None:
    """``concurrency`` workers call ``one`` until ``seconds`` pass, ``max_requests`` were issued or
    ``one`` has nothing left; an httpx error counts as a failed request."""
    issued = requests = errors = 0
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal issued, requests, errors
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            t0 = time.perf_counter()
            try:
                ok = await one()
            except httpx.HTTPError:
                ok = False
            if ok is None:
                return
            latencies.append(time.perf_counter() - t0)
            requests += 1
            errors += not ok

    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu1 = time.perf_counter() - t0, server.cpu_seconds()
    if stats is not None:
        stats.requests += requests
        stats.errors += errors
        stats.elapsed += elapsed
        stats.latencies += latencies
        stats.rounds.append(requests / elapsed if elapsed else 0.0)
        if cpu0 is not None and cpu1 is not None:
            stats.cpu += cpu1 - cpu0


async def alternate(servers: list[Server], run_round: Callable[[Server, Stats], Awaitable[None]],
                    rounds: int) -> dict[str, Stats]:
    """``rounds`` rounds, servers in alternating order (A B, B A, ...), to even out drift."""
    stats = {s.name: Stats() for s in servers}
    for i in range(rounds):
        for s in servers if i % 2 == 0 else servers[::-1]:
            await run_round(s, stats[s.name])
    return stats


# --- output --------------------------------------------------------------------------------------


def diff(a: object, b: object, names: tuple[str, str] = ("platform", "baseline")) -> str:
    dump = lambda x: json.dumps(x, indent=1, sort_keys=True, ensure_ascii=False).splitlines()  # noqa: E731
    return "\n".join(list(difflib.unified_diff(dump(a), dump(b), *names, lineterm=""))[:80])


def print_table(stats: dict[str, Stats], unit: str = "req/s") -> tuple[float, float | None]:
    """The per-server table; returns (platform/baseline throughput ratio, cpu-per-request ratio)."""
    print(f"{'server':<9} {'requests':>8} {'errors':>6} {unit:>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'cpu ms/req':>10}  per-round {unit}")
    for name, s in stats.items():
        cpu = f"{s.cpu_per_request * 1000:10.1f}" if s.cpu_per_request else f"{'n/a':>10}"
        rounds = " ".join(f"{r:.1f}" for r in s.rounds)
        print(f"{name:<9} {s.requests:>8} {s.errors:>6} {s.rate:>8.1f} {s.pct(0.5):>7.1f} {s.pct(0.99):>7.1f} "
              f"{cpu}  {rounds}")
    p, b = stats["platform"], stats["baseline"]
    ratio = p.rate / b.rate if b.rate else float("nan")
    cpu_ratio = b.cpu_per_request / p.cpu_per_request if p.cpu_per_request and b.cpu_per_request else None
    return ratio, cpu_ratio
