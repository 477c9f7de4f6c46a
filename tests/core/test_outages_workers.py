"""Workers through a database outage (issue 18, item 2): `perlinsos select` and `notify run` wait
out connections cut mid-run (PostgreSQL behind a TCP proxy; SQLite's file locked past its busy
timeout) and go on where they stopped — every decision written once, the outage counted on the run,
one log line as it starts and one as it ends, no traceback; a worker that runs out of patience
marks its run FAILED with the error; a hung database fails a request within the timeouts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import PG_URL, GraphQLClient
from fixtures import fixture_channel as ch
from fixtures import fixture_criteria as fc
from fixtures import outage_plugin, seed
from fixtures.faultproxy import FaultProxy, lock_sqlite
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.cli import main
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, Notification, Person, SelectionRun
from perlinsos.db.types import utcnow
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.registration import consent
from perlinsos.settings import Settings
from perlinsos.selection import run_selection
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

NAMES = {"fixtures.static_auth": {}, "fixtures.fixture_criteria": {}, outage_plugin.NAME: {}}
TESTS = Path(__file__).resolve().parents[1]
pg_only = pytest.mark.skipif(PG_URL is None, reason="PostgreSQL only: the fault is a proxy in front of the server")
N = 28


def plugin_manager(*extra: str) -> PluginManager:
    return PluginManager(extra_plugins=[*NAMES, *extra], national=("fixtures.static_auth",))


def seeded(database_url: str) -> None:
    """The pilot with the fault plugin, and N registrations in four villages, none decided."""
    fc.reset()
    outage_plugin.reset()

    async def setup() -> None:
        db = Database(database_url)
        data = pilot_data()
        data["plugins"] = dict(NAMES)
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugin_manager()))
        start = 0
        for region, n in {"35.10.15.2001": 12, "35.10.15.2004": 3, "35.10.15.2005": 4, "35.10.16.1014": 9}.items():
            await seed.registrations(db, "BWI-2025", n, region=region, start=start, with_decision=False)
            for i in range(start, start + n):
                district = region[:8].replace(".", "")
                fc.FACTS[seed.nik(i, district)] = 900 if i % 3 else 2200
                await seed.consent(db, seed.nik(i, district), consent.SCOPES)
            start += 100
        await db.dispose()
    asyncio.run(setup())


def outage_at(chunk: int, database_url: str, proxy: FaultProxy | None, seconds: float) -> None:
    """The fault, when the run asks for its ``chunk``-th chunk's facts: the proxy cuts every
    connection (PostgreSQL) or another connection holds the file's write lock (SQLite)."""
    if proxy is not None:
        outage_plugin.AT[chunk] = lambda: proxy.cut(seconds)
    else:
        path = make_url(database_url).database
        # in a thread: the lock is taken once the write in flight (the chunk before) commits
        outage_plugin.AT[chunk] = lambda: asyncio.to_thread(lock_sqlite, path, seconds)


def environment(monkeypatch, url: str, patience: float) -> None:
    monkeypatch.setenv("PERLINSOS_EXTRA_PLUGINS", ",".join(NAMES))
    monkeypatch.setenv("PERLINSOS_NATIONAL_PROVIDERS", "fixtures.static_auth")
    monkeypatch.setenv("PERLINSOS_DATABASE_URL", url)
    monkeypatch.setenv("PERLINSOS_DB_OUTAGE_PATIENCE_SECONDS", str(patience))
    monkeypatch.setenv("PERLINSOS_SQLITE_BUSY_TIMEOUT_MS", "100")  # past it, the file counts as unavailable
    monkeypatch.setenv("PERLINSOS_DB_CONNECT_TIMEOUT_SECONDS", "2")


async def state(database_url: str) -> tuple[Counter, int, list]:
    db = Database(database_url)
    async with db.read() as s:
        per_registration = Counter((await s.execute(select(Decision.registration_id))).scalars())
        notes = (await s.execute(select(func.count()).select_from(Notification))).scalar_one()
        runs = (await s.execute(select(SelectionRun.status, SelectionRun.error, SelectionRun.counts))).all()
    await db.dispose()
    return per_registration, notes, runs


def outage_lines(caplog) -> tuple[list[str], list[str], list]:
    down = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    back = [r.getMessage() for r in caplog.records if "database back after" in r.getMessage()]
    tracebacks = [r for r in caplog.records if r.exc_info]
    return down, back, tracebacks


@pytest.fixture
def through(database_url):
    """The database URL the code under test uses, and the proxy in front of it (PostgreSQL)."""
    if PG_URL is None:
        yield database_url, None
        return
    with FaultProxy.to(database_url) as proxy:
        yield proxy.url, proxy


def test_select_rides_out_an_outage_mid_run(database_url, through, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    url, proxy = through
    seeded(database_url)
    outage_at(3, database_url, proxy, 2.0)  # the third chunk's write meets the outage
    environment(monkeypatch, url, patience=60)
    result = CliRunner().invoke(main, ["select", "--pilot", "BWI-2025", "--no-progress", "--chunk-size", "4",
                                       "--partition-size", "10"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "processed         28" in result.output and "database outages                 1" in result.output
    per_registration, notes, runs = asyncio.run(state(database_url))
    assert len(per_registration) == N and set(per_registration.values()) == {1}  # each decided once
    assert notes == N  # one portal notification each, none twice
    [(status, error, counts)] = runs
    assert getattr(status, "value", status) == "FINISHED" and error is None
    assert counts["processed"] == N and counts["outages"]["count"] == 1
    down, back, tracebacks = outage_lines(caplog)
    assert len(down) == 1 and len(back) == 1, (down, back)  # one line as it starts, one as it ends
    assert tracebacks == []


def test_a_worker_out_of_patience_marks_its_run_failed(database_url, through, monkeypatch, caplog):
    url, proxy = through
    seeded(database_url)
    # longer than the worker waits; at the third chunk's facts, read while the second is written
    # (the first is committed by then)
    outage_at(3, database_url, proxy, 3.0)
    environment(monkeypatch, url, patience=1)
    result = CliRunner().invoke(main, ["select", "--pilot", "BWI-2025", "--no-progress", "--chunk-size", "4",
                                       "--partition-size", "10"])
    assert result.exit_code == 1
    assert "database unavailable for" in result.output and "giving up" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    per_registration, _, runs = asyncio.run(state(database_url))
    [(status, error, _)] = runs
    # marked FAILED once the database took the write; its first chunk stays decided
    assert getattr(status, "value", status) == "FAILED" and "database unavailable" in error
    assert set(per_registration.values()) == {1} and 0 < len(per_registration) < N
    assert [r for r in caplog.records if r.exc_info] == []
    # the next run resumes it and decides the rest, each once
    outage_plugin.reset()
    again = CliRunner().invoke(main, ["select", "--pilot", "BWI-2025", "--no-progress", "--chunk-size", "4"])
    assert again.exit_code == 0 and "(resumed)" in again.output
    per_registration, notes, _ = asyncio.run(state(database_url))
    assert len(per_registration) == N and set(per_registration.values()) == {1} and notes == N


@pg_only
async def test_a_hung_database_fails_a_request_within_its_timeouts(database_url, settings, plugin_manager, pilot):
    """A server that accepts connections and never answers: the request ends (an error) within
    the connect and statement timeouts instead of hanging as long as the server does."""
    with FaultProxy.to(database_url) as proxy:
        hung = Settings.from_env({"PERLINSOS_DB_CONNECT_TIMEOUT_SECONDS": "1",
                                  "PERLINSOS_DB_STATEMENT_TIMEOUT_SECONDS": "1"}, database_url=proxy.url,
                                 pilot_cache_seconds=0, evidence_dir=settings.evidence_dir)
        app = create_app(hung, plugin_manager)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as h:
            client = GraphQLClient(h)
            query = "{ me { __typename } }"
            await client.query(query, token="citizen:3510150103800001")  # connected: the pool holds a connection
            proxy.hang()
            started = time.monotonic()
            try:
                await asyncio.wait_for(client.query(query, token="citizen:3510150103800001"), 20)
            except TimeoutError:
                raise AssertionError("the request hung with the database") from None
            except Exception:  # noqa: BLE001, S110 - how it fails (DATABASE_UNAVAILABLE) is item 3's test
                pass
            assert time.monotonic() - started < 8
        proxy.restore()
        await app.state.perlinsos.db.dispose()


CHANNEL = {"fixtures.static_auth": {}, "fixtures.fixture_criteria": {}, "fixtures.fixture_channel": {}}


async def outbox_waiting(database_url: str, *, due_in: float | None = None) -> int:
    """Four registrants decided: their portal and SMS rows in the outbox. With ``due_in``, every
    row still waiting falls due that many seconds from now. Returns how many rows are waiting."""
    db = Database(database_url)
    if due_in is None:
        fc.reset()
        ch.reset()
        plugins = PluginManager(extra_plugins=list(CHANNEL), national=("fixtures.static_auth",))
        data = pilot_data()
        data["plugins"] = dict(CHANNEL)
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugins))
            context = pilot_context(await get_pilot(session, data["code"]), plugins)
        await seed.registrations(db, "BWI-2025", 4, with_decision=False)
        async with db.write() as s:
            for i in range(4):
                await s.execute(update(Person).where(Person.nik == seed.nik(i)).values(phone=f"+62812345678{i:02d}"))
        for i in range(4):
            fc.FACTS[seed.nik(i)] = 900
            await seed.consent(db, seed.nik(i), consent.SCOPES)
        await run_selection(db, plugins.for_pilot(context))
        due_in = 86_400.0  # nothing due until the test says so
    waiting = Notification.status.in_(["PENDING", "SENDING"])
    async with db.write() as s:
        due = utcnow() + timedelta(seconds=due_in)
        await s.execute(update(Notification).where(waiting).values(next_attempt_at=due))
    async with db.read() as s:
        n = (await s.execute(select(func.count()).select_from(Notification).where(waiting))).scalar_one()
    await db.dispose()
    return n


async def still_waiting(database_url: str) -> int:
    db = Database(database_url)
    async with db.read() as s:
        n = (await s.execute(select(func.count()).select_from(Notification)
                             .where(Notification.status.in_(["PENDING", "SENDING"])))).scalar_one()
    await db.dispose()
    return n


def test_the_dispatcher_rides_out_an_outage(database_url, through):
    """`perlinsos notify run` (its own process): the outage meets it between batches, rows falling
    due meanwhile are delivered once the database is back; stderr holds two lines, no traceback."""
    url, proxy = through
    assert asyncio.run(outbox_waiting(database_url)) == 8
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "PERLINSOS_DATABASE_URL": url, "PERLINSOS_EXTRA_PLUGINS": ",".join(CHANNEL),
           "PERLINSOS_NATIONAL_PROVIDERS": "fixtures.static_auth", "PERLINSOS_SQLITE_BUSY_TIMEOUT_MS": "100",
           "PERLINSOS_DB_CONNECT_TIMEOUT_SECONDS": "2", "PERLINSOS_DB_OUTAGE_PATIENCE_SECONDS": "60"}
    process = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", "notify", "run"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)  # started, connected, idle (nothing due)
        assert process.poll() is None
        assert asyncio.run(outbox_waiting(database_url, due_in=1.0)) == 8  # due during the outage
        if proxy is not None:
            proxy.cut(3.0)
        else:
            lock_sqlite(make_url(database_url).database, 3.0)
        deadline = time.monotonic() + 40
        while asyncio.run(still_waiting(database_url)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert asyncio.run(still_waiting(database_url)) == 0, "not delivered after the outage"
        assert process.poll() is None  # still running
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len([x for x in lines if "database unavailable" in x]) == 1, stderr
    assert len([x for x in lines if "database back after" in x]) == 1, stderr


@pg_only
def test_select_started_during_an_outage_waits_for_the_database(database_url, through, monkeypatch, caplog):
    url, proxy = through
    seeded(database_url)
    environment(monkeypatch, url, patience=60)
    proxy.cut(2.0)  # the database restarting as the job starts
    result = CliRunner().invoke(main, ["select", "--pilot", "BWI-2025", "--no-progress"])
    assert result.exit_code == 0, result.output
    per_registration, _, _ = asyncio.run(state(database_url))
    assert len(per_registration) == N and set(per_registration.values()) == {1}
    down, back, tracebacks = outage_lines(caplog)
    assert len(down) == 1 and len(back) == 1 and tracebacks == []
