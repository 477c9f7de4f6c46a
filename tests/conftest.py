"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL when
``PERLINSOS_TEST_DATABASE_URL`` names a server), the app, and a GraphQL client."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fixtures import static_auth
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.db import migrate
from perlinsos.db.engine import Database, normalise_url
from perlinsos.db.models import Base
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings

PG_URL = os.environ.get("PERLINSOS_TEST_DATABASE_URL")

# Shared fixtures kept in their own modules (a test module may still define its own of the same name).
pytest_plugins = ["fixtures.selection"]
PILOT = "BWI-2025"


def pytest_report_header(config) -> str:
    return f"perlinsos database: {'PostgreSQL ' + make_url(PG_URL).render_as_string() if PG_URL else 'SQLite files'}"


async def _admin_execute(url: str, *statements: str) -> None:
    engine = create_async_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory) -> Any:
    """Migrate once per session: a template SQLite file, or a fresh PostgreSQL database."""
    if PG_URL:
        name = f"perlinsos_test_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin_execute(PG_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url
        asyncio.run(_admin_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        migrate.upgrade(f"sqlite+aiosqlite:///{path}")
        yield path


async def empty_pg_database(url: str) -> None:
    """Empty every table of a migrated PostgreSQL database, as migration leaves it."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    # As the superuser (the audit log's append-only triggers skipped), then the empty chain's
    # head row back, as migration 0004 leaves it.
    await _admin_execute(url, "SET session_replication_role = replica",
                         f"TRUNCATE {tables} RESTART IDENTITY CASCADE",
                         f"INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")


@pytest.fixture
async def database_url(database_template, tmp_path) -> str:
    """A migrated, empty database for this test."""
    if PG_URL:
        await empty_pg_database(database_template)
        return database_template
    path = tmp_path / "perlinsos.db"
    shutil.copy(database_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(database_url) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    # Pilots are re-read on every request, so a test that edits a pilot sees it at once.
    return Settings(database_url=database_url, pilot_cache_seconds=0, evidence_dir=str(tmp_path / "evidence"))


@pytest.fixture(scope="session")
def plugin_manager() -> PluginManager:
    """The installed plugins (entry points) plus the test identity plugin."""
    return PluginManager(extra_plugins=[(static_auth.NAME, static_auth)], national=static_auth.NATIONAL)


@pytest.fixture
async def pilot(db, plugin_manager) -> str:
    spec = parse_pilot(pilot_data(), plugin_manager)
    async with db.write() as session:
        await save_pilot(session, spec)
    return spec.code


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient
    pilot: str | None = PILOT

    async def post(self, query: str, variables: dict | None = None, *, token: str | None = None,
                   language: str | None = None, operation_name: str | None = None) -> httpx.Response:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.pilot:
            headers["X-Perlinsos-Pilot"] = self.pilot
        if language:
            headers["Accept-Language"] = language
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        return await self.http.post("/graphql", json=body, headers=headers)

    async def query(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def app(settings, plugin_manager):
    return create_app(settings, plugin_manager)


@pytest.fixture
async def client(app, pilot) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        yield GraphQLClient(http)
    await app.state.perlinsos.db.dispose()


# --- the IKD simulator (a real HTTP server in a subprocess) -----------------------------------


@pytest.fixture(scope="session")
def ikd_sim():
    from fixtures.ikd import IkdSimulator

    with IkdSimulator(people=200, seed=2025) as simulator:
        yield simulator


@pytest.fixture
def ikd(ikd_sim):
    """The session's simulator, with faults and counters cleared around the test."""
    from perlinsos_ikd import tokens

    ikd_sim.reset()
    tokens.reset()
    yield ikd_sim
    ikd_sim.reset()


def ikd_pilot_data(ikd, **overrides: Any) -> dict[str, Any]:
    """The Banyuwangi pilot with its IKD settings pointing at the simulator."""
    data = pilot_data(**overrides)
    data["plugins"]["ikd"] = {"issuer": ikd.issuer, "audience": ikd.audience, "client_secret": ikd.client_secret,
                              "timeout_seconds": 2.0}
    return data


@pytest.fixture
async def ikd_client(app, db, plugin_manager, ikd) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client for a pilot whose identity provider is the IKD simulator."""
    async with db.write() as session:
        await save_pilot(session, parse_pilot(ikd_pilot_data(ikd), plugin_manager))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        yield GraphQLClient(http)
    await app.state.perlinsos.db.dispose()


# --- the SMS gateway simulator --------------------------------------------------------------


@pytest.fixture(scope="session")
def sms_sim():
    from fixtures.sms import FAILING, REFUSED, SmsSimulator

    with SmsSimulator(fail_numbers=(FAILING,), refuse_numbers=(REFUSED,)) as simulator:
        yield simulator
