"""aiosqlite as the engine's DBAPI, with a connection whose close and stop are safe to race.

When a task is cancelled while its connection runs a statement, SQLAlchemy invalidates the
connection: it starts a graceful ``close()`` in a shielded task and, if the cancellation reaches
it first, force-stops the connection (``stop()``). aiosqlite 0.22's ``close()`` then calls
``stop()`` a second time, queueing the stop onto a worker thread that has already exited; that
future never resolves, and the close task waits forever. A second cancellation, which is what
``asyncio.run`` and the test client send at shutdown, then hangs the event loop. CI saw this as a
run hanging after a websocket test. Here ``stop()`` runs once, and a ``close()`` that comes after
a stop returns: the worker closes the SQLite connection when it reaches the stop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import types
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi


class Connection(aiosqlite.Connection):
    """aiosqlite's connection, with one ``stop()`` per connection."""

    def stop(self) -> asyncio.Future | None:
        if not self._running:  # already stopping: the worker thread ends at the first stop
            return None
        return super().stop()

    async def close(self) -> None:
        if not self._running:  # a stop is queued; the worker closes the connection when it gets there
            return
        await super().close()


def connect(database: str | bytes | Path, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """:func:`aiosqlite.connect`, for :class:`Connection`."""
    location = database.decode("utf-8") if isinstance(database, bytes) else str(database)
    return Connection(lambda: sqlite3.connect(location, **kwargs), iter_chunk_size)


_MODULE = types.ModuleType("perlinsos_aiosqlite", aiosqlite.__doc__)
_MODULE.__dict__.update({k: v for k, v in vars(aiosqlite).items() if not k.startswith("__")})
_MODULE.connect = connect
_MODULE.Connection = Connection


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give ``create_async_engine(..., module=...)`` for ``sqlite+aiosqlite``."""
    return AsyncAdapt_aiosqlite_dbapi(_MODULE, sqlite3)


__all__ = ["Connection", "connect", "dbapi"]
