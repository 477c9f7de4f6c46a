"""The dispatcher: claims due outbox rows in batches and delivers them concurrently, renewing each
batch's leases while it works (a short lease, so a dead dispatcher's rows are taken over soon).

Pipelined: while batch n is being sent, batch n+1 is claimed and its texts' data read, and the
results of finished sends are written (group commit, :class:`~.outbox.Recorder`) outside the send
slots; batch n+1's sends start as soon as the last of batch n's has started, so the gateway never
waits for the database. At most two batches are claimed and unfinished at a time (their leases kept);
a claim is still one transaction (``FOR UPDATE SKIP LOCKED`` / ``BEGIN IMMEDIATE``), so several
dispatcher processes never take the same row, and every result is written only while the row is
still that claim's."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass

from perlinsos.db.engine import Database
from perlinsos.facilitation import escalate
from perlinsos.facilitation.tasks import GAVE_UP
from perlinsos.notification.outbox import Claimed, Policy, Recorder, attempt, claim, renew, settled
from perlinsos.notification.rendering import Renderer
from perlinsos.plugins import PluginManager

log = logging.getLogger(__name__)
#: how long a finished send's result waits for others to share its write transaction (no send waits)
LINGER = 0.1


@dataclass
class _Batch:
    claimed: list[Claimed]
    renderer: Renderer
    keeper: asyncio.Future  # renews the batch's leases from its claim to its last result


class Dispatcher:
    def __init__(self, db: Database, plugins: PluginManager, *, portal_url: str, batch: int = 100,
                 concurrency: int = 16, policy: Policy | None = None):
        self.db, self.plugins, self.batch, self.concurrency = db, plugins, batch, concurrency
        self.policy = policy or Policy()
        self.portal_url = portal_url

    async def run_once(self) -> Counter:
        """Deliver one batch of due rows; returns how many ended in each status."""
        return await self.run_batches(1)

    async def run_batches(self, max_batches: int = 10_000, stop: asyncio.Event | None = None) -> Counter:
        """Deliver batch after batch, each claimed while the one before is being sent, until nothing
        is due, ``max_batches`` were claimed or ``stop`` is set (what is claimed is delivered first).
        A failed first claim raises (e.g. the database away); a later one ends the run with what was
        delivered (the next run meets it again)."""
        gate = asyncio.Semaphore(self.concurrency)
        # results share write transactions: those finishing within LINGER seconds, one audit row each
        recorder = Recorder(self.db, linger=LINGER, group=max(self.batch, 1))
        total: Counter = Counter()
        sending: list[asyncio.Future] = []
        upcoming: asyncio.Future | None = None
        try:
            batch = await self._claim()
            claimed = 1
            while batch is not None:
                started = asyncio.Event()
                sending.append(asyncio.ensure_future(self._send(batch, gate, recorder, started)))
                more = claimed < max_batches and not (stop is not None and stop.is_set())
                upcoming = asyncio.ensure_future(self._claim()) if more else None
                # the next batch's sends start when the last of this one's has: no slot idles on a claim
                waiter = asyncio.ensure_future(started.wait())
                try:
                    await asyncio.wait({waiter, sending[-1]}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                for done in [f for f in sending if f.done()]:
                    sending.remove(done)
                    total.update(done.result())
                if upcoming is None:
                    break
                try:
                    batch = await upcoming
                    upcoming = None
                except Exception:
                    if not total and not sending:
                        raise
                    log.warning("dispatcher: claiming the next batch failed; delivering what is claimed",
                                exc_info=True)
                    break
                claimed += 1
            for result in await asyncio.gather(*sending):
                total.update(result)
        except BaseException:  # cancelled (killed): nothing more is sent or written, no lease renewed
            for future in sending:
                future.cancel()
            if upcoming is not None:  # a batch claimed ahead: its leases run out, another claim takes it
                if upcoming.done() and not upcoming.cancelled() and upcoming.exception() is None \
                        and upcoming.result() is not None:
                    upcoming.result().keeper.cancel()
                upcoming.cancel()
            raise
        return total

    async def _claim(self) -> _Batch | None:
        claimed = await claim(self.db, self.batch, self.policy)
        if not claimed:
            return None
        keeper = asyncio.ensure_future(self._keep_leases(claimed))
        try:
            renderer = Renderer(self.db, self.plugins, self.portal_url)
            await renderer.prepare([c.row for c in claimed])
        except BaseException:
            keeper.cancel()
            raise
        return _Batch(claimed, renderer, keeper)

    async def _send(self, batch: _Batch, gate: asyncio.Semaphore, recorder: Recorder,
                    started: asyncio.Event) -> Counter:
        """Send a claimed batch ``concurrency`` at a time (``gate``, shared with the next batch),
        writing each result once its send slot is free; ``started`` is set when every send has begun."""
        waiting = len(batch.claimed)

        async def one(item: Claimed) -> str:
            nonlocal waiting
            async with gate:
                waiting -= 1
                if not waiting:
                    started.set()
                try:
                    status, values = await attempt(batch.renderer, item, self.policy)
                except Exception:  # noqa: BLE001 - the lease expires and the row is retried
                    log.exception("notification %s: delivery crashed; it will be retried", item.id)
                    return "CRASHED"
            try:  # outside the gate: the next send does not wait for this write
                written = await recorder.record(item, **values)
            except Exception:  # noqa: BLE001 - the row stays SENDING: its lease expires, it is re-sent
                log.exception("notification %s: writing the result failed; it will be re-sent with the same "
                              "idempotency key", item.id)
                return "CRASHED"
            settled(item, status, written)
            return status

        try:
            ended = await asyncio.gather(*(one(item) for item in batch.claimed))
        finally:
            batch.keeper.cancel()
            started.set()
        await self._escalate([item.id for item, status in zip(batch.claimed, ended, strict=True)
                              if status in GAVE_UP])
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
        return await self.run_batches(max_batches)

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                done = await self.run_batches(stop=stop)
            except Exception:  # noqa: BLE001 - e.g. the database restarting: wait and go on
                log.exception("dispatcher: batch failed")
                done = Counter()
            if not done:
                try:
                    await asyncio.wait_for(stop.wait(), idle_seconds)
                except TimeoutError:
                    pass
