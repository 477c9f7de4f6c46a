"""Engine and sessions for SQLite (embedded default) and PostgreSQL.

SQLite is tuned for a web server with concurrent writers: WAL (readers never block the
writer), a busy timeout, foreign keys on, and write transactions that ``BEGIN IMMEDIATE`` so two
writers never both hold a read lock and deadlock on upgrade ("database is locked").

PostgreSQL connections time out: connecting (``connect_timeout``), each statement (the server's
``statement_timeout``, and the driver's own a little later for a server that does not answer at
all) and waiting for a pooled connection (``pool_timeout``), so a hung database fails requests
instead of holding them as long as it hangs. :meth:`Database.from_settings` applies the deployment's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from perlinsos.db import sqlite_driver
from perlinsos.errors import DatabaseError

if TYPE_CHECKING:
    from perlinsos.settings import Settings

_WRITE = "perlinsos_write"
SUPPORTED = {"sqlite+aiosqlite", "postgresql+asyncpg"}


def normalise_url(url: str) -> str:
    """Accept the common spellings (``sqlite:///x.db``, ``postgresql://…``) and pick async drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"database URL is malformed: {redact(url)!r} (expected e.g. sqlite:///perlinsos.db "
            "or postgresql://user@host:5432/dbname)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername not in SUPPORTED:
        raise DatabaseError(
            f"database URL {redact(url)!r} uses {parsed.drivername!r}; supported: SQLite and PostgreSQL"
        )
    return parsed.render_as_string(hide_password=False)


def redact(url: str) -> str:
    """A URL safe to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


class Database:
    """One engine, and session factories for reads and for writes."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 15_000, echo: bool = False,
                 connect_timeout: float = 10.0, statement_timeout: float = 0.0, pool_timeout: float = 10.0):
        """``statement_timeout`` 0: none (migrations and backups may run long); ``connect_timeout``
        and ``pool_timeout`` in seconds. All three are PostgreSQL's; SQLite has its busy timeout."""
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict = {"echo": echo}
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
            kwargs["module"] = sqlite_driver.dbapi()  # a close that cannot hang (see sqlite_driver)
        else:
            # pre-ping: a connection the server dropped (a restart) is replaced, not handed out
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=pool_timeout,
                          connect_args=_pg_timeouts(connect_timeout, statement_timeout))
        try:
            self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise DatabaseError(f"cannot use database {redact(self.url)}: {exc}") from None
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout_ms)
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self.writer = async_sessionmaker(
            self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, worker: bool = False) -> Database:
        """The deployment's database with its timeouts: a request's statement timeout, or with
        ``worker`` (selection, dispatchers) the longer one of batch work."""
        statement = (settings.db_worker_statement_timeout_seconds if worker
                     else settings.db_statement_timeout_seconds)
        return cls(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                   connect_timeout=settings.db_connect_timeout_seconds, statement_timeout=statement,
                   pool_timeout=settings.db_pool_timeout_seconds)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.reader() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any exception.

        On SQLite, one process's writers queue on an asyncio lock instead of contending for the
        file lock, where SQLite's busy handler sleeps between tries (p99 fell from 2.9 s to
        1.2 s under 16 clients); ``BEGIN IMMEDIATE`` still orders writers across processes.
        """
        if not self.is_sqlite:
            async with self.writer() as session, session.begin():
                yield session
            return
        async with self._sqlite_write_lock(), self.writer() as session, session.begin():
            yield session

    @contextlib.asynccontextmanager
    async def single_reads(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads that need no transaction around them (each statement stands
        alone, e.g. identifying a request's principal): on PostgreSQL in autocommit, which spares
        the BEGIN and the ROLLBACK at check-in, two of the four round trips of a one-statement
        read; on SQLite (no round trips) an ordinary connection."""
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    def _sqlite_write_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:  # a lock belongs to one event loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def ping(self) -> None:
        """Raise :class:`DatabaseError` with a clear message when the database is unreachable."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - driver errors vary; the message must not
            raise DatabaseError(
                f"cannot reach database {redact(self.url)}: {type(exc).__name__}: {_first_line(exc)}"
            ) from None

    async def dispose(self) -> None:
        await self.engine.dispose()


def _pg_timeouts(connect: float, statement: float) -> dict:
    args: dict = {"timeout": connect}
    if statement > 0:
        # The server cancels a slow statement; the driver gives up on a server that does not
        # answer at all (a hung host) a second later, so the server's cancel is seen first.
        args["server_settings"] = {"statement_timeout": str(int(statement * 1000))}
        args["command_timeout"] = statement + 1.0
    return args


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(conn):
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
