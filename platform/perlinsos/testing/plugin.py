"""The pytest plugin (entry point ``pytest11``: ``perlinsos``): the kit's fixtures, loaded in every
pytest run of an environment where Perlinsos is installed. Every name begins with ``perlinsos_``,
so none clashes with a project's own fixtures; override the two *inputs* in your ``conftest.py``:

    @pytest.fixture
    def perlinsos_plugins():                 # your plugins (name, module) — installed or not
        return [("banyuwangi_lahan", perlinsos_banyuwangi_lahan)]

    @pytest.fixture
    def perlinsos_pilot_toml():              # the pilot your tests run in, as a pilot file
        return DEFAULT_PILOT_TOML + "[plugins.banyuwangi_lahan]\\nland_limit_m2 = 7500\\n"

The async fixtures need pytest-asyncio (any mode; the kit marks them itself). Databases: a SQLite
file per test, or PostgreSQL when ``PERLINSOS_TEST_DATABASE_URL`` names a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # the kit's async fixtures then explain what is missing when a test uses one
    pytest_asyncio = None


def _async_fixture(fn):
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(fn)

    @pytest.fixture(name=fn.__name__)
    def missing():
        pytest.fail(f"{fn.__name__} (perlinsos.testing) needs pytest-asyncio: pip install pytest-asyncio")

    missing.__doc__ = fn.__doc__
    return missing


def pytest_report_header(config) -> str:
    from perlinsos.testing import database

    return f"perlinsos.testing: {database.describe()}"


# --- the database -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def perlinsos_database_template(tmp_path_factory) -> Iterator[Any]:
    """Migrated once per session: the path of a template SQLite file, or the URL of a new PostgreSQL
    database (``PERLINSOS_TEST_DATABASE_URL``), dropped at the end of the session."""
    from perlinsos.testing import database

    with database.migrated_template(tmp_path_factory.mktemp("perlinsos-template"), database.server_url()) as t:
        yield t


@_async_fixture
async def perlinsos_database_url(perlinsos_database_template, tmp_path) -> str:
    """The URL of a migrated, empty database for this test."""
    from perlinsos.testing import database

    return await database.fresh_database(perlinsos_database_template, tmp_path)


@_async_fixture
async def perlinsos_db(perlinsos_database_url) -> AsyncIterator[Any]:
    """A :class:`perlinsos.db.engine.Database` on this test's database (``db.read()``, ``db.write()``)."""
    from perlinsos.db.engine import Database

    database = Database(perlinsos_database_url)
    yield database
    await database.dispose()


@pytest.fixture
def perlinsos_settings(perlinsos_database_url, tmp_path):
    """:class:`perlinsos.settings.Settings` for this test's database: pilots re-read on every request
    (an edited pilot applies at once), evidence files under ``tmp_path``."""
    from perlinsos.settings import Settings

    return Settings(database_url=perlinsos_database_url, pilot_cache_seconds=0,
                    evidence_dir=str(tmp_path / "evidence"))


# --- plugins and the pilot ----------------------------------------------------------------------


@pytest.fixture
def perlinsos_plugins() -> list:
    """Override: the plugins under test, as ``(name, module or object)`` pairs (or modules, or
    dotted paths). Default: none besides the installed ones."""
    return []


@pytest.fixture
def perlinsos_load_entry_points() -> bool:
    """Override with ``False`` for a plugin manager without the installed plugins (the built-ins)."""
    return True


@pytest.fixture
def perlinsos_plugin_manager(perlinsos_plugins, perlinsos_load_entry_points):
    """The plugin manager of the test deployment (:func:`perlinsos.testing.plugin_manager`): your
    ``perlinsos_plugins``, the installed plugins and the kit's sign-in, national with IKD."""
    from perlinsos.testing.plugins import plugin_manager

    return plugin_manager(perlinsos_plugins, entry_points=perlinsos_load_entry_points)


@pytest.fixture
def perlinsos_pilot_toml() -> str:
    """Override: the test pilot as a pilot file (TOML). Default:
    :data:`perlinsos.testing.DEFAULT_PILOT_TOML` (Banyuwangi, 35.10, PKH, no plugins)."""
    from perlinsos.testing.pilots import DEFAULT_PILOT_TOML

    return DEFAULT_PILOT_TOML


@_async_fixture
async def perlinsos_pilot(perlinsos_db, perlinsos_plugin_manager, perlinsos_pilot_toml):
    """The test pilot, stored (as ``perlinsos pilot load`` stores ``perlinsos_pilot_toml``, with the
    kit's sign-in enabled in it): its :class:`~perlinsos.contract.PilotContext`, whose
    ``settings_for(name)`` is your plugin's validated settings model. Call hooks for it with
    ``perlinsos_plugin_manager.for_pilot(perlinsos_pilot)``."""
    from perlinsos.testing import pilots, signin

    text = pilots.enable(perlinsos_pilot_toml, signin.NAME) if signin.NAME in perlinsos_plugin_manager.names() \
        else perlinsos_pilot_toml
    return await pilots.store_pilot(perlinsos_db, text, perlinsos_plugin_manager, source="perlinsos_pilot_toml")


# --- the app and a client -----------------------------------------------------------------------


@_async_fixture
async def perlinsos_app(perlinsos_settings, perlinsos_plugin_manager) -> AsyncIterator[Any]:
    """The platform's ASGI app (``create_app``) on this test's database with the test plugins."""
    from perlinsos.app import create_app

    app = create_app(perlinsos_settings, perlinsos_plugin_manager)
    yield app
    await app.state.perlinsos.db.dispose()


@_async_fixture
async def perlinsos_client(perlinsos_app, perlinsos_pilot, perlinsos_db, perlinsos_plugin_manager):
    """A :class:`perlinsos.testing.GraphQLClient` of ``perlinsos_app`` for ``perlinsos_pilot``,
    signed out. Sign in with ``client.as_citizen(nik)``, ``await client.as_facilitator(subject,
    villages)``, ``await client.as_reviewer(subject, regions)``, ``await client.as_admin()``, or
    ``client.signed_in(token)`` for a token of your own sign-in plugin."""
    import httpx

    from perlinsos.testing.client import BASE_URL, GraphQLClient

    transport = httpx.ASGITransport(app=perlinsos_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield GraphQLClient(http, pilot=perlinsos_pilot.code, db=perlinsos_db, plugins=perlinsos_plugin_manager)


# --- simulators and fake sources ----------------------------------------------------------------


@pytest.fixture(scope="session")
def perlinsos_ikd_simulator():
    """The IKD simulator (:class:`perlinsos.testing.ikd.IkdSimulator`, 200 people, seed 2025),
    started once per session on a free port. Tests use ``perlinsos_ikd``."""
    from perlinsos.testing.ikd import IkdSimulator

    with IkdSimulator(people=200, seed=2025) as simulator:
        yield simulator


@pytest.fixture
def perlinsos_ikd(perlinsos_ikd_simulator):
    """The session's IKD simulator, counters and faults cleared around the test. Point a pilot at
    it with ``perlinsos_ikd.settings()`` (issuer, audience, client secret)."""
    from perlinsos_ikd import tokens

    perlinsos_ikd_simulator.reset()
    tokens.reset()
    yield perlinsos_ikd_simulator
    perlinsos_ikd_simulator.reset()


@pytest.fixture(scope="session")
def perlinsos_sms_simulator():
    """The SMS gateway simulator (:class:`perlinsos.testing.sms.SmsSimulator`), started once per
    session on a free port (``FAILING`` fails, ``REFUSED`` is refused). Tests use ``perlinsos_sms``."""
    from perlinsos.testing.sms import FAILING, REFUSED, SmsSimulator

    with SmsSimulator(fail_numbers=(FAILING,), refuse_numbers=(REFUSED,)) as simulator:
        yield simulator


@pytest.fixture
def perlinsos_sms(perlinsos_sms_simulator):
    """The session's SMS gateway simulator, messages, counters and faults cleared around the test."""
    perlinsos_sms_simulator.reset()
    yield perlinsos_sms_simulator
    perlinsos_sms_simulator.reset()


@pytest.fixture
def perlinsos_fake_http_source():
    """A factory: ``perlinsos_fake_http_source({"POST /facts": handler})`` (or ``handler=``) starts
    a :class:`perlinsos.testing.FakeHttpSource`; every one started is stopped after the test."""
    from perlinsos.testing.fakesource import fake_http_source

    started = []

    def start(routes=None, handler=None):
        source = fake_http_source(routes, handler)
        started.append(source)
        return source

    yield start
    for source in started:
        source.stop()
