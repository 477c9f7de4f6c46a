"""Wakes a citizen's live subscriptions the moment a portal notification is delivered (in this
process; other processes' deliveries are picked up by the subscription's periodic check)."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Broker:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Queue]] = defaultdict(set)

    def publish(self, person_id: int) -> None:
        for queue in list(self._waiters.get(person_id, ())):
            queue.put_nowait(True)

    def listen(self, person_id: int) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=0)
        self._waiters[person_id].add(queue)
        return queue

    def forget(self, person_id: int, queue: asyncio.Queue) -> None:
        self._waiters[person_id].discard(queue)
        if not self._waiters[person_id]:
            del self._waiters[person_id]


#: one per process: the dispatcher and the API share it when they run together
BROKER = Broker()
