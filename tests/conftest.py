"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL when
``PERLINSOS_TEST_DATABASE_URL`` names a server), the app, and a GraphQL client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from fixtures import static_auth
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.db.engine import Database
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings
from perlinsos.testing.client import GraphQLClient as KitClient
# The database helpers are the test kit's, which plugin authors use too: one implementation.
from perlinsos.testing.database import fresh_database, migrated_template

PG_URL = os.environ.get("PERLINSOS_TEST_DATABASE_URL")

# Shared fixtures kept in their own modules (a test module may still define its own of the same name).
pytest_plugins = ["fixtures.selection"]
PILOT = "BWI-2025"


def pytest_report_header(config) -> str:
    return f"perlinsos database: {'PostgreSQL ' + make_url(PG_URL).render_as_string() if PG_URL else 'SQLite files'}"


@pytest.fixture(scope="session")
def database_template(tmp_path_factory) -> Any:
    """Migrate once per session: a template SQLite file, or a fresh PostgreSQL database."""
    with migrated_template(tmp_path_factory.mktemp("template"), PG_URL) as template:
        yield template


@pytest.fixture
async def database_url(database_template, tmp_path) -> str:
    """A migrated, empty database for this test."""
    return await fresh_database(database_template, tmp_path)


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
class GraphQLClient(KitClient):
    """The kit's client, for the fixture pilot unless told otherwise."""

    pilot: str | None = PILOT


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
