"""/health/live, /health/ready and /health (the alias of ready): liveness never touches the database;
readiness fails fast when the database hangs, and stays ready on a newer schema recorded compatible."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import text

from perlinsos.app import create_app
from perlinsos.db import migrate
from perlinsos.settings import Settings

PG = os.environ.get("PERLINSOS_TEST_DATABASE_URL")


async def _get(app, path: str = "/health", timeout: float = 15.0) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        # Bounded, so code that hangs with the database fails here instead of stalling the suite.
        return await asyncio.wait_for(http.get(path), timeout)


async def test_healthy(app):
    for path in ("/health", "/health/ready"):
        response = await _get(app, path)
        assert response.status_code == 200
        assert response.json()["status"] == "ok" and response.json()["schema"] == "current"
        assert response.json()["revision"] == migrate.head_revision()
    live = await _get(app, "/health/live")
    assert live.status_code == 200 and live.json()["status"] == "ok"


async def test_empty_database_reports_missing_schema(tmp_path, plugin_manager):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"), plugin_manager)
    response = await _get(app)
    assert response.status_code == 503
    assert response.json()["schema"] == "missing"
    assert (await _get(app, "/health/live")).status_code == 200


async def test_unreachable_database(plugin_manager):
    app = create_app(Settings(database_url="postgresql://x:pw@127.0.0.1:1/none"), plugin_manager)
    for path in ("/health", "/health/ready"):
        response = await _get(app, path)
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
        assert "pw" not in response.text
    # Liveness is about the process: a database outage must not get every process restarted.
    live = await _get(app, "/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok", "version": live.json()["version"]}


@asynccontextmanager
async def _stamped(db, revision: str, min_code_revision: str | None):
    """The database as a newer release's `db upgrade` leaves it: at ``revision`` with its
    compatibility row. Put back afterwards (on PostgreSQL the migrated database is shared)."""
    async with db.write() as session:
        await session.execute(text("DELETE FROM schema_compat"))
        if min_code_revision is not None:
            await session.execute(text("INSERT INTO schema_compat (id, min_code_revision) VALUES (1, :v)"),
                                  {"v": min_code_revision})
        await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    try:
        yield
    finally:
        async with db.write() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": migrate.head_revision()})
            await session.execute(text("DELETE FROM schema_compat"))


async def test_ready_on_a_newer_schema_recorded_compatible_with_this_release(db, app):
    """A rolling upgrade: `db upgrade` ran an expand-only migration this release does not know;
    the row it wrote says code from this release's head on may still serve."""
    async with _stamped(db, "0999", migrate.head_revision()):
        for path in ("/health", "/health/ready"):
            response = await _get(app, path)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["status"] == "ok" and body["schema"] == "compatible" and body["revision"] == "0999"


@pytest.mark.parametrize("minimum", ["0999", None], ids=["contract-step", "no-compat-row"])
async def test_not_ready_on_a_newer_schema_that_needs_newer_code(db, app, minimum):
    async with _stamped(db, "0999", minimum):
        response = await _get(app, "/health/ready")
        assert response.status_code == 503
        assert response.json()["schema"] == "incompatible" and response.json()["status"] == "unavailable"
        assert (await _get(app, "/health/live")).status_code == 200


async def test_not_ready_on_an_older_schema(db, app):
    async with _stamped(db, migrate.known_revisions()[-2], None):
        response = await _get(app, "/health/ready")
        assert response.status_code == 503 and response.json()["schema"] == "outdated"


class Silent:
    """A TCP listener that accepts connections and never answers: a database that is up at the
    network level but hung (as behind a stuck proxy)."""

    def __init__(self):
        self.accepted = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> int:
        async def accept(reader, writer):
            self.accepted += 1
            self.writers.append(writer)  # held open, never written to

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()


async def test_ready_fails_fast_when_the_database_never_answers(plugin_manager):
    async with (hung := Silent()) as port:
        app = create_app(Settings(database_url=f"postgresql://u:pw@127.0.0.1:{port}/x", health_timeout_seconds=1.0),
                         plugin_manager)
        started = time.monotonic()
        answers = await asyncio.gather(*(_get(app, p) for p in ("/health/ready", "/health", "/health/ready")))
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [503, 503, 503]
        assert all(a.json()["database"] == "timeout" for a in answers)
        assert elapsed < 3.0, elapsed
        # Probes arriving while one check waits share it: a hung database holds one connection.
        assert hung.accepted == 1
        assert (await _get(app, "/health/live", timeout=1.0)).status_code == 200


@pytest.mark.skipif(bool(PG), reason="a SQLite file lock")
async def test_ready_fails_fast_on_a_locked_sqlite_file_and_recovers(database_url, app):
    path = database_url.split("///", 1)[1]
    # Another process holds the file (before the app's first connection: WAL readers share it).
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # in WAL mode this shuts readers out too
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE alembic_version SET version_num = version_num")
    try:
        started = time.monotonic()
        response = await _get(app, "/health/ready")
        assert response.status_code == 503 and response.json()["database"] == "timeout"
        assert time.monotonic() - started < 4.0  # the default 2 s, not SQLite's 15 s busy timeout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    deadline = time.monotonic() + 10
    while (response := await _get(app, "/health/ready")).status_code != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert response.status_code == 200 and response.json()["schema"] == "current"


async def test_hook_register_routes(settings):
    from fixtures.route_plugins import Callback, Shadow
    from perlinsos.errors import PluginError
    from perlinsos.plugins import PluginManager

    app = create_app(settings, PluginManager(extra_plugins=[("callback", Callback())]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.post("/plugins/callback/ping")).json() == {"pong": True}
    await app.state.perlinsos.db.dispose()
    with pytest.raises(PluginError) as info:
        create_app(settings, PluginManager(extra_plugins=[("shadow", Shadow())]))
    assert "'shadow'" in str(info.value) and "/plugins/shadow/" in str(info.value)
