"""A selection run split into village partitions that workers claim through the database: packed
villages, two workers sharing a run with every registration decided once, a dead worker's
partition taken over after its lease, a stale worker writing nothing, and the CLI's shapes
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from click.testing import CliRunner
from fixtures import fixture_criteria as fc
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.registration import consent
from perlinsos.cli import main
from perlinsos.db.models import Decision, Notification, SelectionRun
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.selection import begin, engine, run_selection, work
from perlinsos.selection import partitions as parts
from sqlalchemy import func, select

VILLAGES = {"35.10.15.2001": 12, "35.10.15.2004": 3, "35.10.15.2005": 4, "35.10.16.1014": 9}


async def make(db, villages=VILLAGES) -> int:
    start = 0
    for region, n in villages.items():
        await seed.registrations(db, "BWI-2025", n, region=region, start=start, with_decision=False)
        for i in range(start, start + n):
            district = region[:8].replace(".", "")
            fc.FACTS[seed.nik(i, district)] = 900 if i % 3 else 2200
            await seed.consent(db, seed.nik(i, district), consent.SCOPES)
        start += 100
    return sum(villages.values())


async def decided_once(db, n: int) -> None:
    async with db.read() as s:
        per_registration = Counter((await s.execute(select(Decision.registration_id))).scalars())
        notes = (await s.execute(select(func.count()).select_from(Notification))).scalar_one()
    assert len(per_registration) == n and set(per_registration.values()) == {1}
    assert notes == n  # one portal notification per decision, none twice


def test_small_neighbouring_villages_are_packed_a_large_one_stays_whole():
    regions = [("a", 12), ("b", 3), ("c", 4), ("d", 9), ("e", 1)]
    assert parts.pack(regions, 10) == [[("a", 12)], [("b", 3), ("c", 4)], [("d", 9), ("e", 1)]]
    assert parts.pack(regions, 1000) == [regions]
    assert parts.pack([], 10) == []


async def test_a_run_is_split_by_village_and_every_partition_is_done(db, hooks):
    n = await make(db)
    summary = await run_selection(db, hooks, chunk_size=5, partition_size=10, worker="solo")
    assert summary.processed == summary.decided == n == 28
    rows = await parts.partitions(db, summary.run_id)
    assert [(r.region_codes, r.total) for r in rows] == [
        (["35.10.15.2001"], 12), (["35.10.15.2004", "35.10.15.2005"], 7), (["35.10.16.1014"], 9)]
    assert {r.status.value for r in rows} == {"DONE"} and {r.claimed_by for r in rows} == {"solo"}
    assert sum(r.processed for r in rows) == sum(r.decided for r in rows) == n
    # the fact hook saw each partition in chunks of 5, never mixing partitions
    assert sorted(len(c) for c in fc.CALLS) == sorted([5, 5, 2, 5, 2, 5, 4])
    await decided_once(db, n)
    async with db.read() as s:
        run = await s.get(SelectionRun, summary.run_id)
    assert run.status.value == "FINISHED" and run.counts["processed"] == n and run.counts["decided"] == n


async def test_two_workers_share_a_run_and_decide_everyone_once(db, hooks):
    n = await make(db)
    begun = await begin(db, hooks.pilot, None, "test", partition_size=5)
    run_id = begun[0].run_id
    a, b = await asyncio.gather(work(db, hooks, run_id, worker="A", chunk_size=3, poll=0.05),
                                work(db, hooks, run_id, worker="B", chunk_size=3, poll=0.05))
    assert a.finished and b.finished and a.partitions and b.partitions
    assert not set(a.partitions) & set(b.partitions)
    assert a.mine.processed + b.mine.processed == n and a.total.processed == b.total.processed == n
    rows = await parts.partitions(db, run_id)
    assert Counter(r.claimed_by for r in rows) == {"A": len(a.partitions), "B": len(b.partitions)}
    assert {r.attempts for r in rows} == {1}  # no partition was ever claimed twice
    await decided_once(db, n)


async def test_a_dead_workers_partition_is_taken_over_after_its_lease(db, hooks, monkeypatch):
    n = await make(db, {"35.10.15.2001": 12})
    begun = await begin(db, hooks.pilot, None, "test")
    run_id = begun[0].run_id
    real = engine._notifications
    calls = {"n": 0}

    def dies(*args, **kwargs):  # the worker process is killed while writing its second chunk
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt("kill -9")
        return real(*args, **kwargs)

    async def nothing(*args, **kwargs):  # a killed process cleans nothing up
        return None

    monkeypatch.setattr(engine, "_notifications", dies)
    monkeypatch.setattr(parts, "release", nothing)
    monkeypatch.setattr(engine, "_finish", nothing)
    with pytest.raises(KeyboardInterrupt):
        await work(db, hooks, run_id, worker="dead", chunk_size=5, lease=0.5)
    monkeypatch.undo()
    [held] = await parts.partitions(db, run_id)
    assert held.status.value == "RUNNING" and held.claimed_by == "dead" and held.processed == 5
    fc.CALLS.clear()
    result = await work(db, hooks, run_id, worker="alive", chunk_size=5, lease=5, poll=0.05)
    # it waited for the lease to run out, then went on after the dead worker's committed chunk
    assert result.finished and result.mine.processed == 7 and fc.CALLS[0][0] == 6
    [taken] = await parts.partitions(db, run_id)
    assert taken.status.value == "DONE" and taken.claimed_by == "alive" and taken.attempts == 2
    assert result.total.processed == result.total.decided == n
    await decided_once(db, n)


async def test_a_worker_whose_lease_was_taken_over_writes_nothing(db, hooks):
    await make(db, {"35.10.15.2001": 4})
    run_id = (await begin(db, hooks.pilot, None, "test"))[0].run_id
    stale = await parts.claim(db, run_id, "slow", lease=0.05)
    await asyncio.sleep(0.1)
    fresh = await parts.claim(db, run_id, "fast", lease=60)
    assert fresh is not None and fresh.id == stale.id and fresh.attempt == 2
    from perlinsos.selection.chunks import load_chunk

    async with db.engine.connect() as conn:
        chunk = await load_chunk(conn, hooks.pilot.id, None, 0, 10, regions=stale.region_codes)
    with pytest.raises(parts.PartitionLost):
        await engine._select_chunk(db, hooks, chunk, {}, engine.Summary(run_id), "SELECTION",
                                   engine._partition_writer(db, stale, 60))
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Decision))).scalar_one() == 0
    assert not await parts.complete(db, stale)  # nor can it close the partition


def test_cli_start_only_then_a_worker(database_url, monkeypatch):
    fc.reset()
    names = {"fixtures.static_auth": {}, "fixtures.fixture_criteria": {}}
    plugins = PluginManager(extra_plugins=list(names), national=("fixtures.static_auth",))

    async def setup() -> None:
        from perlinsos.db.engine import Database

        db = Database(database_url)
        data = pilot_data()
        data["plugins"] = names
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugins))
        await make(db)
        await db.dispose()

    asyncio.run(setup())
    monkeypatch.setenv("PERLINSOS_EXTRA_PLUGINS", ",".join(names))
    monkeypatch.setenv("PERLINSOS_NATIONAL_PROVIDERS", "fixtures.static_auth")
    monkeypatch.setenv("PERLINSOS_DATABASE_URL", database_url)
    runner = CliRunner()
    both = runner.invoke(main, ["select", "--pilot", "BWI-2025", "--start-only", "--worker"])
    assert both.exit_code == 2 and "exclude each other" in both.output
    nothing = runner.invoke(main, ["select", "--pilot", "BWI-2025", "--worker", "--wait", "0"])
    assert nothing.exit_code == 1 and "no selection run of pilot BWI-2025 to join" in nothing.output
    started = runner.invoke(main, ["select", "--pilot", "BWI-2025", "--start-only", "--partition-size", "10"])
    assert started.exit_code == 0, started.output
    assert "3 partitions, 28 registrations" in started.output
    assert fc.CALLS == []  # starting decides nothing
    worked = runner.invoke(main, ["select", "--pilot", "BWI-2025", "--worker", "--worker-id", "w1", "--wait", "0"])
    assert worked.exit_code == 0, worked.output
    assert "selection worker w1" in worked.output and "FINISHED" in worked.output
    assert "partitions finished here         3" in worked.output and "processed         28" in worked.output
    # the run is finished: a later worker finds nothing to join
    late = runner.invoke(main, ["select", "--pilot", "BWI-2025", "--worker", "--wait", "0"])
    assert late.exit_code == 1
    fc.reset()
