"""Two deployments on one SMS gateway account — or one deployment whose database was restored —
number their decisions from 1 alike. The gateway deduplicates by idempotency key across the whole
account, so a key made of row ids alone would make it drop the second citizen's SMS as a duplicate."""

from __future__ import annotations

import shutil
from dataclasses import replace

import httpx
from conftest import PG_URL, GraphQLClient
from perlinsos.testing.database import empty_pg_database
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.db.engine import Database
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from test_two_pilots import (  # noqa: F401 (fixture)
    BWI,
    HOUSEHOLDS,
    SECRET,
    FactsApi,
    phone,
    run_selection,
    seed_households,
)


async def deployment(url: str, settings, plugin_manager, facts_api: FactsApi, sms_sim) -> None:
    """One deployment's whole stage 2 and 3: pilot with SMS, three households, selection, dispatch."""
    db = Database(url)
    data = pilot_data()
    data["plugins"]["criteria"] |= {"facts_api_url": facts_api.url, "client_secret": SECRET}
    data["plugins"]["notify_sms"] = {"gateway_url": sms_sim.url, "api_key": sms_sim.api_key, "sender_id": "PERLINSOS",
                                     "portal_url": "https://portal.test"}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    await seed.staff(db, "admin", "ADMIN", "35")
    await seed_households(db, BWI, seed.KEMIREN, facts_api)
    app = create_app(replace(settings, database_url=url, dispatcher_in_process=False), plugin_manager)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        await run_selection(GraphQLClient(http, pilot=BWI), BWI)
    await app.state.perlinsos.db.dispose()
    await Dispatcher(db, plugin_manager, portal_url="https://portal.test",
                     policy=Policy(lease=0.5, base_delay=0.0)).drain()
    await db.dispose()


async def test_a_second_deployment_on_the_same_gateway_account_still_reaches_its_citizens(
        database_url, database_template, settings, plugin_manager, sms_sim, tmp_path):
    facts_api = FactsApi({})
    try:
        await both_deployments(database_url, database_template, settings, plugin_manager, facts_api, sms_sim, tmp_path)
    finally:
        facts_api.close()


async def both_deployments(database_url, database_template, settings, plugin_manager, facts_api, sms_sim, tmp_path):
    def received() -> list[int]:  # other tests of the session may have written to these numbers too
        return [len(sms_sim.messages(to=phone(BWI, i))) for i in range(len(HOUSEHOLDS))]

    before = received()
    await deployment(database_url, settings, plugin_manager, facts_api, sms_sim)
    assert received() == [n + 1 for n in before]
    # The second: on SQLite another database file; on PostgreSQL the same database emptied (a restore).
    if PG_URL:
        await empty_pg_database(database_url)
        second = database_url
    else:
        shutil.copy(database_template, tmp_path / "second.db")
        second = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
    await deployment(second, settings, plugin_manager, facts_api, sms_sim)
    assert received() == [n + 2 for n in before]  # one from each deployment
