"""The dispatcher's loop through database outages, for `perlinsos notify run` and the dispatcher
inside `perlinsos serve`: a batch that meets an outage is waited out with back-off (one log line
as the outage starts, one as it ends; :mod:`perlinsos.db.outages`), its claimed rows taken up
again when their short lease runs out; a stop (SIGTERM) ends the wait at once."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import Counter

from perlinsos.db.outages import Outages, is_unavailable
from perlinsos.notification.dispatcher import Dispatcher

log = logging.getLogger(__name__)
WHAT = "notification dispatcher"


async def deliver_until_stopped(dispatcher: Dispatcher, stop: asyncio.Event, *, patience: float = math.inf,
                                idle_seconds: float = 1.0) -> None:
    """Deliver batches until ``stop`` is set; ``patience``: how long an outage is waited out before
    :class:`~perlinsos.db.outages.DatabaseUnavailable` (the server's own dispatcher waits for ever)."""
    outages = Outages(WHAT, patience)
    while not stop.is_set():
        try:
            done = await dispatcher.run_batches(stop=stop)
        except Exception as exc:
            if not is_unavailable(exc):  # a bug in one batch: logged whole, the loop goes on
                log.exception("dispatcher: batch failed")
                done = Counter()
            else:
                if not await _unless_stopped(outages.wait(exc), stop):
                    return
                continue
        else:
            await outages.recovered()
        if not done:
            try:
                await asyncio.wait_for(stop.wait(), idle_seconds)
            except TimeoutError:
                pass


async def drain(dispatcher: Dispatcher, *, patience: float, max_batches: int = 10_000) -> Counter:
    """Deliver until nothing is due (``notify run --once``), waiting out an outage on the way."""
    outages = Outages(WHAT, patience)
    total: Counter = Counter()
    for _ in range(max_batches):  # each call delivers batches until nothing is due or the database goes away
        done = await outages.call(functools.partial(dispatcher.run_batches, max_batches))
        if not done:
            break
        total.update(done)
    return total


async def _unless_stopped(wait, stop: asyncio.Event) -> bool:
    """Run ``wait``; False if ``stop`` came first (the wait is cancelled)."""
    waiting, stopping = asyncio.ensure_future(wait), asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiting, stopping):
        if not task.done():
            task.cancel()
    if waiting in done:
        waiting.result()  # DatabaseUnavailable once out of patience
        return True
    return False
