"""Running the dispatcher as a worker process (``perlinsos notify run``)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

from perlinsos.db.engine import Database
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings


async def run_worker(settings: Settings, plugins: PluginManager, *, once: bool, batch: int,
                     concurrency: int, lease: float | None = None) -> Counter:
    db = Database(settings.database_url)
    try:
        await db.ping()
        policy = Policy(lease=lease) if lease is not None else None
        dispatcher = Dispatcher(db, plugins, portal_url=settings.portal_url, batch=batch, concurrency=concurrency,
                                policy=policy)
        if once:
            return await dispatcher.drain()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # finish the batch in hand, then stop
            loop.add_signal_handler(sig, stop.set)
        await dispatcher.run_forever(stop)
        return Counter()
    finally:
        await db.dispose()
