"""A database outage answered as an outage (issue 18, item 3): queries and mutations get HTTP 503
with ``Retry-After`` and a typed ``DATABASE_UNAVAILABLE`` error carrying the request id, in the
client's language; the log holds one line as an episode starts and one as it ends, no traceback.
An identity provider that does not answer is ``SOURCE_UNAVAILABLE`` the same way, and a plugin's
data source that does not answer inside a field is that field's ``SOURCE_UNAVAILABLE`` error.

Faults are real: PostgreSQL behind a TCP proxy that cuts, or a table held locked past the
statement timeout; SQLite through a path that vanishes, or its file's write lock held past the busy
timeout."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import httpx
import pytest
import strawberry
from conftest import PG_URL, GraphQLClient
from fixtures import static_auth
from fixtures.faultproxy import FaultProxy, lock_sqlite
from fixtures.pilots import pilot_data
from perlinsos import hookimpl
from perlinsos.app import create_app
from perlinsos.contract import SchemaPart
from perlinsos.errors import SourceUnavailable
from perlinsos.httpclients import LoopClients
from perlinsos.testing.servers import free_port
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings
from perlinsos.testing.accounts import assign_staff
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from strawberry.types import Info

QUERY = '{ pilot(code: "BWI-2025") { code } }'
ASSIGN = ('mutation { assignStaff(input: {subject: "petugas-baru", role: REVIEWER, regionCode: "35.10", '
          f'pilot: "BWI-2025", issuer: "{static_auth.ISSUER}"}}) {{ assignment {{ subject }} errors {{ code }} }} }}')
ADMIN = "staff:kantor-pusat"


class VillageRegistry:
    """A plugin field backed by a village registry over HTTP, which is down (nothing listens)."""

    NAME = "fixtures.village_registry"
    clients = LoopClients("village-registry-test")

    @hookimpl
    def graphql_schema_parts(self):
        @strawberry.field(description="Households the village registry counts.")
        async def village_households(info: Info, region_code: str) -> int | None:
            try:
                answer = await VillageRegistry.clients.post(f"http://127.0.0.1:{free_port()}/count", timeout=2,
                                                            json={"region": region_code})
            except (httpx.HTTPError, TimeoutError) as exc:  # as the hook docs ask: SourceUnavailable
                raise SourceUnavailable("Registry desa", type(exc).__name__) from exc
            return answer.json()["households"]

        return SchemaPart(query_fields={"village_households": village_households})


class DownProvider:
    """An identity provider that does not answer for ``down:`` tokens."""

    NAME = "fixtures.down_provider"

    @hookimpl
    def authenticate(self, token, pilot):
        if token.startswith("down:"):
            raise SourceUnavailable("SSO Kabupaten", "no answer within 5 s")
        return None


@pytest.fixture
def through(database_url, tmp_path):
    """(the URL the app uses, a function starting the outage, one ending it)."""
    if PG_URL is not None:
        with FaultProxy.to(database_url) as proxy:
            yield proxy.url, proxy.cut, proxy.restore
        return
    real = Path(database_url.split("///", 1)[1])
    link = tmp_path / "through.db"
    link.symlink_to(real)

    def vanish() -> None:  # the path now leads nowhere (an unmounted volume, a moved file)
        link.unlink()
        link.symlink_to(tmp_path / "gone" / "perlinsos.db")

    def back() -> None:
        link.unlink()
        link.symlink_to(real)

    yield f"sqlite+aiosqlite:///{link}", vanish, back


@contextlib.asynccontextmanager
async def writes_held(database_url: str, seconds: float):
    """Writes wait: PostgreSQL's audit table locked by another session (mutations write it; a
    request's statement then runs past its timeout), SQLite's write lock held by another connection."""
    if PG_URL is None:
        lock_sqlite(database_url.split("///", 1)[1], seconds)
        yield
        return
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        await conn.execute(text("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"))
        yield
        await conn.rollback()
    await engine.dispose()


@contextlib.asynccontextmanager
async def serving(settings: Settings, plugins: PluginManager):
    app = create_app(settings, plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        yield GraphQLClient(http)
    await app.state.perlinsos.db.dispose()


def assert_outage(response: httpx.Response, code: str, language: str = "id") -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": code, "requestId": response.headers["x-request-id"]}
    words = {"id": "tidak dapat dihubungi", "en": "cannot be reached"}[language]
    assert words in error["message"] and " / " not in error["message"]


def outage_records(caplog) -> tuple[list, list, list]:
    down = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "database back after" in r.getMessage()]
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    return down, back, noisy


async def test_a_database_gone_answers_503_to_queries_and_mutations_logged_once(through, settings, plugin_manager,
                                                                                 pilot, db, caplog):
    caplog.set_level(logging.INFO)
    url, start_outage, end_outage = through
    await seed_admin(db, plugin_manager)
    async with serving(Settings(database_url=url, evidence_dir=settings.evidence_dir,
                                db_connect_timeout_seconds=2), plugin_manager) as client:
        start_outage()
        answers = [await client.post(QUERY), await client.post(ASSIGN, token=ADMIN),
                   await client.post(QUERY, language="en-GB,en;q=0.9")]
        for response, language in zip(answers, ("id", "id", "en"), strict=True):
            assert_outage(response, "DATABASE_UNAVAILABLE", language)
        down, back, noisy = outage_records(caplog)
        assert [r.levelno for r in down] == [logging.WARNING] and back == [] and noisy == []
        end_outage()
        assert (await client.data(QUERY))["pilot"]["code"] == "BWI-2025"
        assert (await client.data(ASSIGN, token=ADMIN))["assignStaff"]["errors"] == []
    down, back, noisy = outage_records(caplog)
    assert len(down) == 1 and [r.levelno for r in back] == [logging.INFO] and noisy == []
    assert "(3 requests answered DATABASE_UNAVAILABLE)" in back[0].getMessage()


@pytest.mark.skipif(PG_URL is None, reason="a server that accepts connections and never answers: PostgreSQL")
async def test_a_hung_database_answers_503_within_the_timeouts(database_url, settings, plugin_manager, pilot, caplog):
    with FaultProxy.to(database_url) as proxy:
        hung = Settings.from_env({"PERLINSOS_DB_CONNECT_TIMEOUT_SECONDS": "1", "PERLINSOS_DB_STATEMENT_TIMEOUT_SECONDS": "1",
                                  "PERLINSOS_DB_POOL_TIMEOUT_SECONDS": "1"}, database_url=proxy.url,
                                 evidence_dir=settings.evidence_dir)
        async with serving(hung, plugin_manager) as client:
            assert (await client.post(QUERY)).status_code == 200  # connected: the pool holds a connection
            proxy.hang()
            started = time.monotonic()
            answers = [await client.post(QUERY) for _ in range(2)]
            assert time.monotonic() - started < 12, time.monotonic() - started
            for response in answers:
                assert_outage(response, "DATABASE_UNAVAILABLE")
            proxy.restore()
    down, _, noisy = outage_records(caplog)
    assert len(down) == 1 and noisy == []


async def test_a_mutation_whose_write_cannot_finish_answers_503_and_writes_nothing(database_url, settings,
                                                                                   plugin_manager, pilot, db, caplog):
    """Reads work, the write waits past its timeout: the error arises inside the mutation's
    resolver (until now a 200 with the masked "unexpected error" and a traceback)."""
    await seed_admin(db, plugin_manager)
    quick = Settings.from_env({"PERLINSOS_DB_STATEMENT_TIMEOUT_SECONDS": "1", "PERLINSOS_SQLITE_BUSY_TIMEOUT_MS": "200"},
                              database_url=database_url, evidence_dir=settings.evidence_dir)
    async with serving(quick, plugin_manager) as client:
        async with writes_held(database_url, 4):
            response = await client.post(ASSIGN, token=ADMIN, language="en")
        assert_outage(response, "DATABASE_UNAVAILABLE", "en")
        staff = "{ staffAssignments { nodes { subject } } }"
        subjects = {n["subject"] for n in (await client.data(staff, token=ADMIN))["staffAssignments"]["nodes"]}
        assert "petugas-baru" not in subjects  # nothing half-written
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


async def test_an_identity_provider_that_does_not_answer_is_source_unavailable(settings, db):
    plugins = PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (DownProvider.NAME, DownProvider())],
                            national=static_auth.NATIONAL)
    data = pilot_data()
    data["plugins"][DownProvider.NAME] = {}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
    async with serving(settings, plugins) as client:
        assert_outage(await client.post(QUERY, token="down:warga"), "SOURCE_UNAVAILABLE")
        assert (await client.post(QUERY, token="citizen:3510150103800001")).status_code == 200


async def test_a_plugin_source_that_does_not_answer_is_a_typed_field_error(settings, db, caplog):
    plugins = PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (VillageRegistry.NAME, VillageRegistry())],
                            national=static_auth.NATIONAL)
    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_data(), plugins))
    async with serving(settings, plugins) as client:
        response = await client.post('{ villageHouseholds(regionCode: "35.10.15.2004") pilot(code: "BWI-2025") '
                                     '{ code } }', language="en")
    assert response.status_code == 200  # the rest of the answer stands
    body = response.json()
    assert body["data"] == {"villageHouseholds": None, "pilot": {"code": "BWI-2025"}}
    [error] = body["errors"]
    assert error["path"] == ["villageHouseholds"]
    assert error["extensions"] == {"code": "SOURCE_UNAVAILABLE", "requestId": response.headers["x-request-id"]}
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if "SOURCE_UNAVAILABLE" in r.getMessage()] != []


async def seed_admin(db, plugins: PluginManager) -> None:
    await assign_staff(db, plugins, "kantor-pusat", "ADMIN", "35", issuer=static_auth.ISSUER)


if os.environ.get("PERLINSOS_OUTAGE_DEBUG"):  # pragma: no cover - a helper when a test above fails
    logging.basicConfig(level=logging.DEBUG)
