"""Running selection from the command line (progress bar) and from the API (background task)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from perlinsos.db.engine import Database
from perlinsos.errors import ConfigurationError
from perlinsos.pilots import store
from perlinsos.plugins import PluginManager
from perlinsos.selection.engine import Summary, run_selection
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
                      chunk_size: int, progress: bool) -> Summary:
    from sqlalchemy import func, select

    from perlinsos.db.models import Registration

    db = Database(settings.database_url)
    try:
        await db.ping()
        hooks = await hooks_for_pilot(db, plugins, pilot_code)
        if programme is not None and programme not in hooks.pilot.programmes:
            raise ConfigurationError(f"programme {programme!r} is not part of pilot {pilot_code}")
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
                                           progress=(lambda s, n: bar.update(n)) if bar else None)
        finally:
            if bar:
                bar.close()
    finally:
        await db.dispose()
