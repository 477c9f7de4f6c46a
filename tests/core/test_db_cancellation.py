"""A request cancelled while its connection runs a statement (a client that disconnects, a
websocket closed under a running subscription) must leave nothing behind that hangs shutdown.

On SQLite this hung CI for 90 minutes: aiosqlite's close after SQLAlchemy's force-stop waited on
a worker thread that had exited (see ``perlinsos.db.sqlite_driver``).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from perlinsos.db.engine import Database

#: long enough on both databases that the cancellation lands while it runs
SLOW = {"sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
                  "SELECT count(*) FROM c",
        "postgresql": "SELECT pg_sleep(0.05)"}


async def test_cancelled_statements_leave_no_task_that_hangs_shutdown(db: Database):
    slow = text(SLOW["sqlite" if db.is_sqlite else "postgresql"])

    async def query() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(slow)

    hung = 0
    for i in range(40):
        task = asyncio.create_task(query())
        await asyncio.sleep(0.002 * (i % 10))
        task.cancel()
        for _ in range(i % 4):  # let the invalidation start to different depths
            await asyncio.sleep(0)
        # then cancel whatever is left, as asyncio.run and the test client do at shutdown
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in left:
            t.cancel()
        if left:
            _, pending = await asyncio.wait(left, timeout=3)
            hung += len(pending)
    assert hung == 0, f"{hung} tasks still waiting after their cancellation"
    async with db.engine.connect() as conn:  # and the pool still hands out working connections
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
