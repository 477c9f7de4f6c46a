"""Running selection from the command line (progress bar; a run's starter, or one of its workers)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator

from perlinsos.db.engine import Database
from perlinsos.db.outages import Outages
from perlinsos.errors import ConfigurationError
from perlinsos.pilots import store
from perlinsos.plugins import PluginManager
from perlinsos.selection import partitions as parts
from perlinsos.selection.engine import Summary, WorkResult, begin, run_selection, work
from perlinsos.settings import Settings


async def hooks_for_pilot(db: Database, plugins: PluginManager, pilot_code: str):
    async with db.read() as session:
        row = await store.get_pilot(session, pilot_code)
    if row is None:
        raise ConfigurationError(f"pilot {pilot_code!r} not found (load it with `perlinsos pilot load`)")
    return plugins.for_pilot(store.pilot_context(row, plugins))


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """The server's garbage-collector set-up (``app.lifespan``) for a batch run, undone afterwards:
    start-up objects frozen, collections rarer. Selection allocates many short-lived containers
    per registration; this took 12% off the CPU of `perlinsos select` (bench/selection.py)."""
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:  # a caller's own frozen objects (a server's) stay frozen
            gc.unfreeze()


async def run_for_cli(settings: Settings, plugins: PluginManager, pilot_code: str, programme: str | None,
                      chunk_size: int, progress: bool, *, partition_size: int = parts.DEFAULT_SIZE,
                      lease: float = parts.DEFAULT_LEASE, worker: str | None = None) -> Summary:
    """Start (or resume) the run and work on it until every partition is done, with any workers."""
    from sqlalchemy import func, select

    from perlinsos.db.models import Registration

    db = Database.from_settings(settings, worker=True)
    try:
        await _patient(settings).call(db.ping)  # started during an outage: wait for the database
        hooks = await _hooks(db, plugins, pilot_code, programme)
        bar = None
        if progress:
            from tqdm import tqdm

            async with db.read() as session:
                stmt = select(func.count(Registration.id)).where(Registration.pilot_id == hooks.pilot.id)
                if programme:
                    stmt = stmt.where(Registration.programme == programme)
                total = (await session.execute(stmt)).scalar_one()
            bar = tqdm(total=total, unit="reg", desc=f"seleksi {pilot_code}")
        try:
            with batch_gc():
                return await run_selection(db, hooks, programme=programme, chunk_size=chunk_size,
                                           progress=(lambda s, n: bar.update(n)) if bar else None,
                                           partition_size=partition_size, lease=lease, worker=worker,
                                           patience=settings.db_outage_patience_seconds)
        finally:
            if bar:
                bar.close()
    finally:
        await db.dispose()


async def start_for_cli(settings: Settings, plugins: PluginManager, pilot_code: str, programme: str | None,
                        partition_size: int) -> tuple[Summary, list]:
    """Create (or resume) the run and its partitions, leaving the work to workers."""
    db = Database.from_settings(settings, worker=True)
    try:
        await _patient(settings).call(db.ping)  # started during an outage: wait for the database
        hooks = await _hooks(db, plugins, pilot_code, programme)
        summary, _ = await begin(db, hooks.pilot, programme, "cli", partition_size=partition_size)
        return summary, await parts.partitions(db, summary.run_id)
    finally:
        await db.dispose()


async def worker_for_cli(settings: Settings, plugins: PluginManager, pilot_code: str, programme: str | None,
                         chunk_size: int, *, wait: float, lease: float, worker: str | None,
                         poll: float = 0.5, ready: Callable[[], None] | None = None) -> WorkResult:
    """Join the pilot's open run (waiting up to ``wait`` seconds for one to be started) and work on
    it until every partition is done."""
    db = Database.from_settings(settings, worker=True)
    try:
        await _patient(settings).call(db.ping)  # started during an outage: wait for the database
        hooks = await _hooks(db, plugins, pilot_code, programme)
        if ready:  # connected, plugins loaded: from here a run is joined within a poll
            ready()
        deadline = time.monotonic() + wait
        g = _patient(settings)
        while (run_id := await g.call(lambda: parts.open_run(db, hooks.pilot.id, programme))) is None:
            if time.monotonic() >= deadline:
                raise ConfigurationError(f"no selection run of pilot {pilot_code} to join after {wait:g} s "
                                         "(start one with `perlinsos select --pilot CODE [--start-only]`)")
            await asyncio.sleep(min(poll, 0.2))
        with batch_gc():
            return await work(db, hooks, run_id, programme=programme, worker=worker, chunk_size=chunk_size,
                              lease=lease, poll=poll, patience=settings.db_outage_patience_seconds)
    finally:
        await db.dispose()


def _patient(settings: Settings) -> Outages:
    return Outages("selection", settings.db_outage_patience_seconds)


async def _hooks(db: Database, plugins: PluginManager, pilot_code: str, programme: str | None):
    hooks = await hooks_for_pilot(db, plugins, pilot_code)
    if programme is not None and programme not in hooks.pilot.programmes:
        raise ConfigurationError(f"programme {programme!r} is not part of pilot {pilot_code}")
    return hooks
