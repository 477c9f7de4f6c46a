"""The dispatcher: claims due outbox rows in batches and delivers them concurrently, renewing the
batch's leases while it works (a short lease, so a dead dispatcher's rows are taken over soon)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from perlinsos.db.engine import Database
from perlinsos.facilitation import escalate
from perlinsos.facilitation.tasks import GAVE_UP
from perlinsos.notification.outbox import Claimed, Policy, Recorder, claim, deliver, renew
from perlinsos.notification.rendering import Renderer
from perlinsos.plugins import PluginManager

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, db: Database, plugins: PluginManager, *, portal_url: str, batch: int = 100,
                 concurrency: int = 16, policy: Policy | None = None):
        self.db, self.plugins, self.batch, self.concurrency = db, plugins, batch, concurrency
        self.policy = policy or Policy()
        self.portal_url = portal_url

    async def run_once(self) -> Counter:
        """Deliver one batch of due rows; returns how many ended in each status."""
        claimed = await claim(self.db, self.batch, self.policy)
        if not claimed:
            return Counter()
        keeper = asyncio.ensure_future(self._keep_leases(claimed))  # from the claim to the batch's end
        try:
            renderer = Renderer(self.db, self.plugins, self.portal_url)
            await renderer.prepare([c.row for c in claimed])
            gate = asyncio.Semaphore(self.concurrency)
            recorder = Recorder(self.db)  # results of sends finishing together share a write transaction

            async def one(item) -> str:
                async with gate:
                    try:
                        return await deliver(self.db, renderer, item, self.policy, recorder)
                    except Exception:  # noqa: BLE001 - the lease expires and the row is retried
                        log.exception("notification %s: delivery crashed; it will be retried", item.id)
                        return "CRASHED"

            ended = await asyncio.gather(*(one(item) for item in claimed))
        finally:
            keeper.cancel()
        await self._escalate([item.id for item, status in zip(claimed, ended, strict=True) if status in GAVE_UP])
        return Counter(ended)

    async def _escalate(self, ids: list[int]) -> None:
        """Rows that gave up hand their decision to the next channel of the pilot's order: the
        village's facilitators (perlinsos.facilitation). A failure here is retried with the next
        give-up of the same decision's rows, or a gateway's report; it never loses the batch."""
        if not ids:
            return
        try:
            await escalate(self.db, ids)
        except Exception:  # noqa: BLE001 - logged; the batch's results are written already
            log.exception("dispatcher: opening facilitator tasks for %d row(s) failed", len(ids))

    async def _keep_leases(self, claimed: list[Claimed]) -> None:
        """Renew the batch's leases every third of a lease until the batch is done. A renewal that
        fails (the database away) is retried at the next tick; if the lease runs out meanwhile,
        another dispatcher re-sends with the same idempotency key and this one's results are dropped."""
        while True:
            await asyncio.sleep(self.policy.lease / 3)
            try:
                await renew(self.db, claimed, self.policy)
            except Exception:  # noqa: BLE001 - logged; the sends go on
                log.warning("dispatcher: renewing %d lease(s) failed; retrying", len(claimed), exc_info=True)

    async def drain(self, max_batches: int = 10_000) -> Counter:
        """Deliver until nothing is due (rows waiting for a later retry are left)."""
        total: Counter = Counter()
        for _ in range(max_batches):
            done = await self.run_once()
            if not done:
                break
            total.update(done)
        return total

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:  # noqa: BLE001 - e.g. the database restarting: wait and go on
                log.exception("dispatcher: batch failed")
                done = Counter()
            if not done:
                try:
                    await asyncio.wait_for(stop.wait(), idle_seconds)
                except TimeoutError:
                    pass
