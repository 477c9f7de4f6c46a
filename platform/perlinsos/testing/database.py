"""Test databases: migrated once per session (a template), then fresh and empty for every test.

SQLite by default (the template file is copied for each test); PostgreSQL when
``PERLINSOS_TEST_DATABASE_URL`` names a server (``postgresql://user@host:5432/postgres``): a database
of its own is created and migrated per session, emptied before each test, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from perlinsos.db import migrate
from perlinsos.db.engine import normalise_url

#: The environment variable naming a PostgreSQL server to test on (empty or unset: SQLite files).
ENV = "PERLINSOS_TEST_DATABASE_URL"


def server_url() -> str | None:
    """The PostgreSQL server to test on (``PERLINSOS_TEST_DATABASE_URL``), or ``None`` for SQLite."""
    return os.environ.get(ENV) or None


def describe() -> str:
    """One line naming what tests run on (for pytest's report header)."""
    url = server_url()
    return f"PostgreSQL {make_url(url).render_as_string()}" if url else "SQLite files"


async def admin_execute(url: str, *statements: str) -> None:
    """Run ``statements`` outside a transaction (CREATE/DROP DATABASE, TRUNCATE as superuser)."""
    engine = create_async_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def migrated_template(directory: Path, server: str | None = None) -> Iterator[str | Path]:
    """Migrate a template once: yields the path of a migrated SQLite file in ``directory``, or (with
    ``server``, a PostgreSQL URL) the URL of a new migrated database, dropped on exit."""
    if server:
        name = f"perlinsos_test_{uuid.uuid4().hex[:10]}"
        asyncio.run(admin_execute(server, f'CREATE DATABASE "{name}"'))
        url = make_url(normalise_url(server)).set(database=name).render_as_string(hide_password=False)
        try:
            migrate.upgrade(url)
            yield url
        finally:
            asyncio.run(admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = Path(directory) / "template.db"
        migrate.upgrade(f"sqlite+aiosqlite:///{path}")
        yield path


async def empty_pg_database(url: str) -> None:
    """Empty every table of a migrated PostgreSQL database, as migration leaves it."""
    from perlinsos.db.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    # As the superuser (the audit log's append-only triggers skipped), then the empty chain's
    # head row back, as migration 0004 leaves it.
    await admin_execute(url, "SET session_replication_role = replica",
                        f"TRUNCATE {tables} RESTART IDENTITY CASCADE",
                        f"INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")


async def fresh_database(template: str | Path, directory: Path) -> str:
    """A migrated, empty database from ``template`` (see :func:`migrated_template`): a copy of the
    SQLite file in ``directory``, or the PostgreSQL template database emptied. Returns its URL."""
    if isinstance(template, str):
        await empty_pg_database(template)
        return template
    path = Path(directory) / "perlinsos.db"
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"
