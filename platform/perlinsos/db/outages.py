"""Riding out a database outage in a long-running worker (``perlinsos select``, ``notify run``).

A connection-level error (the server restarting, a cut network, a hung server past its timeouts,
SQLite's file locked past the busy timeout) is waited out: the operation is retried with bounded
exponential back-off and jitter until the database answers or the worker's patience runs out
(then :class:`DatabaseUnavailable`). One warning starts an outage episode and one info line ends
it — never a traceback per attempt. Any other error is a bug and propagates at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

from perlinsos.errors import DatabaseError

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_PATIENCE = 600.0  # seconds a worker waits for the database before giving up

# SQLite says these when another process holds the file (past the busy timeout) or it is gone
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open database", "disk i/o error")


class DatabaseUnavailable(DatabaseError):
    """The database did not come back within the worker's patience."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the database cannot be reached, rather than that a
    statement is wrong: a bug must fail at once, an outage is waited out."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, sa_exc.TimeoutError):  # no pooled connection came free in pool_timeout
            return True
        if isinstance(e, (ConnectionError, TimeoutError)):  # refused, reset, connect/command timeout
            return True
        if isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, PermissionError)):
            return True
        if isinstance(e, sqlite3.OperationalError) and str(e).lower().startswith(_SQLITE_TRANSIENT):
            return True
        if _asyncpg_unavailable(e):
            return True
        stack += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return False


def _asyncpg_unavailable(e: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # SQLite-only installs
        return False
    if isinstance(e, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                      asyncpg.AdminShutdownError, asyncpg.QueryCanceledError)):
        # QueryCanceledError: statement_timeout on a server too slow (or hung) to answer
        return True
    return isinstance(e, asyncpg.PostgresError) and str(getattr(e, "sqlstate", "") or "").startswith("08")


def kind_of(exc: BaseException) -> str:
    """A short name for what went wrong: the innermost driver error's type."""
    inner = getattr(exc, "orig", None) or exc.__cause__ or exc
    return type(inner).__name__


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


class Outages:
    """One worker's outage handling: :meth:`call` retries an operation through an outage;
    :meth:`wait` is for loops that must re-read their state after one (a chunk's commit may or may
    not have happened). ``episodes`` counts the outages ridden out, ``last_kind`` names the last."""

    def __init__(self, what: str, patience: float = DEFAULT_PATIENCE, *, first_delay: float = 0.2,
                 max_delay: float = 10.0, on_recovered: Callable[[float, str], Awaitable[None]] | None = None):
        self.what, self.patience = what, patience
        self.first_delay, self.max_delay = first_delay, max_delay
        self.on_recovered = on_recovered
        self.episodes = 0
        self.last_kind: str | None = None
        self._since: float | None = None
        self._attempt = 0

    async def call(self, fn: Callable[[], Awaitable[T]], *, ends_outage: bool = True) -> T:
        """``fn()``, retried through an outage. ``ends_outage=False`` for a read whose success
        does not show the outage is over (SQLite reads while another process holds the write lock)."""
        while True:
            try:
                result = await fn()
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                await self.wait(exc)
                continue
            if ends_outage:
                await self.recovered()
            return result

    async def wait(self, exc: BaseException) -> None:
        """Note a failed attempt and sleep before the next one; raise :class:`DatabaseUnavailable`
        once the outage has lasted longer than the patience."""
        now = time.monotonic()
        if self._since is None:
            self._since, self._attempt = now, 0
            self.episodes += 1
            self.last_kind = kind_of(exc)
            until = "" if self.patience == float("inf") else f" for up to {self.patience:g} s"
            log.warning("%s: database unavailable (%s: %s), retrying%s", self.what, kind_of(exc),
                        first_line(exc), until)
        waited = now - self._since
        if waited >= self.patience:
            raise DatabaseUnavailable(f"{self.what}: database unavailable for {waited:.0f} s, giving up "
                                      f"({kind_of(exc)}: {first_line(exc)})") from None
        self._attempt += 1
        delay = min(self.max_delay, self.first_delay * 2 ** (self._attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: workers do not return in lockstep
        await asyncio.sleep(min(delay, max(self.patience - waited, 0.0)))

    async def recovered(self) -> None:
        """The database answered: close the episode, if one is open (logged once)."""
        if self._since is None:
            return
        down, self._since = time.monotonic() - self._since, None
        log.warning("%s: database back after %.1f s", self.what, down)  # warning: seen where the start was
        if self.on_recovered is not None:
            kind = self.last_kind or "unknown"
            try:
                await self.on_recovered(down, kind)
            except Exception as exc:  # noqa: BLE001 - recording the episode must not stop the work
                log.warning("%s: could not record the outage: %s: %s", self.what, kind_of(exc), first_line(exc))
