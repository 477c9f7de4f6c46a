"""Secrets stay secret across the admin API (issue 12, item 8).

* A stored secret is never sent to a new place: an update that changes where a plugin sends its
  secrets (its ``secret_destination`` settings: notify_sms.gateway_url, ikd.person_api_url/issuer,
  criteria.facts_api_url, which follows IKD's when absent) must give them again; sent back masked,
  the update is refused naming the secret and nothing is stored. Other changes keep a masked secret.
* Production refuses development secrets (``dev-only-…``): in a pilot loaded or changed, naming
  ``plugins.<plugin>.<setting>``, and in a stored pilot at start-up (pilot, plugin, setting).

Through GraphQL as an admin, the CLI and the app's start-up.
"""

from __future__ import annotations

import gc
import json
from dataclasses import replace

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from conftest import GraphQLClient
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.cli import main
from perlinsos.db.models import AuditEvent, Pilot
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot
from perlinsos.pilots.rollout import DevelopmentSecretsInUse
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from sqlalchemy import func, select

ADMIN = "staff:admin"
MASK = "**********"
READ = '{ pilot(code: "BWI-2025") { pluginSettings { name settings } } }'
UPDATE = """mutation($c: String!, $i: PilotUpdateInput!) { updatePilot(code: $c, input: $i) {
  pilot { code } errors { code field message } } }"""
CREATE = """mutation($i: PilotInput!) { createPilot(input: $i) { pilot { code } errors { code field message } } }"""
ATTACKER = "https://collector.example.net"


@pytest.fixture
async def admin(client, db):
    await seed.staff(db, "admin", "ADMIN", "35")
    return client


async def store_plugins(db, plugin_manager, **tables) -> None:
    """Re-store BWI-2025 with some plugin tables replaced (``None``: plugin left out)."""
    data = pilot_data()
    for name, table in tables.items():
        if table is None:
            data["plugins"].pop(name, None)
        else:
            data["plugins"][name] = table
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))


async def stored(db) -> dict:
    async with db.read() as s:
        return (await s.execute(select(Pilot).where(Pilot.code == "BWI-2025"))).scalar_one().plugins


async def updates(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.action == "PILOT_UPDATED"))).scalar_one()


async def as_read(client) -> dict[str, dict]:
    """The pilot's plugin settings as the admin form gets them (secrets masked)."""
    read = await client.query(READ, token=ADMIN)
    return {p["name"]: p["settings"] for p in read["data"]["pilot"]["pluginSettings"]}


async def send(client, plugins: dict[str, dict]) -> dict:
    items = [{"name": name, "settings": settings} for name, settings in plugins.items()]
    # the refusals' detail (a validator's English prose) is in the English message only (docs/errors.md)
    result = await client.query(UPDATE, {"c": "BWI-2025", "i": {"plugins": items}}, token=ADMIN, language="en")
    return result["data"]["updatePilot"]


def refused(result: dict, field: str) -> str:
    assert result["pilot"] is None, result
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("PILOT_INVALID", field)], result
    return result["errors"][0]["message"]


def accepted(result: dict) -> None:
    assert result["errors"] == [] and result["pilot"] == {"code": "BWI-2025"}, result


# --- where a secret is sent -------------------------------------------------------------------


async def test_moving_the_sms_gateway_with_the_masked_key_is_refused_and_nothing_changes(admin, db):
    plugins = await as_read(admin)
    assert plugins["notify_sms"]["api_key"] == MASK
    before, audited = await stored(db), await updates(db)
    plugins["notify_sms"]["gateway_url"] = ATTACKER
    plugins["notify_sms"]["sender_id"] = "BANSOS BWI"  # changed with it: not stored either
    message = refused(await send(admin, plugins), "plugins.notify_sms.api_key")
    assert "re-enter the secret: gateway_url changed" in message and "dev-only" not in message
    assert await stored(db) == before and await updates(db) == audited
    assert before["notify_sms"]["gateway_url"] == "http://127.0.0.1:8602"
    assert before["notify_sms"]["api_key"] == "dev-only-sms-key" and before["notify_sms"]["sender_id"] == "PERLINSOS"
    read_back = (await as_read(admin))["notify_sms"]
    assert read_back["gateway_url"] == "http://127.0.0.1:8602/" and read_back["sender_id"] == "PERLINSOS"


async def test_moving_the_sms_gateway_with_a_new_key_is_accepted(admin, db):
    plugins = await as_read(admin)
    plugins["notify_sms"] |= {"gateway_url": "https://sms.example.id", "api_key": "the-new-gateway-key"}
    accepted(await send(admin, plugins))
    sms = (await stored(db))["notify_sms"]
    assert (sms["gateway_url"], sms["api_key"]) == ("https://sms.example.id", "the-new-gateway-key")


async def test_other_changes_keep_the_masked_key(admin, db):
    plugins = await as_read(admin)
    plugins["notify_sms"]["sender_id"] = "BANSOS BWI"
    plugins["notify_sms"]["gateway_url"] = "http://127.0.0.1:8602/"  # the same place, as read back
    accepted(await send(admin, plugins))
    sms = (await stored(db))["notify_sms"]
    assert (sms["api_key"], sms["sender_id"]) == ("dev-only-sms-key", "BANSOS BWI")


IKD = {"issuer": "http://127.0.0.1:8601", "audience": "perlinsos-portal", "client_secret": "ikd-secret-of-bwi"}


@pytest.mark.parametrize("moved", [{"person_api_url": ATTACKER}, {"issuer": ATTACKER}],
                         ids=["person_api_url", "issuer"])
async def test_moving_the_ikd_api_with_the_masked_secret_is_refused(admin, db, plugin_manager, moved):
    await store_plugins(db, plugin_manager, ikd=IKD)
    plugins = await as_read(admin)
    assert plugins["ikd"]["client_secret"] == MASK
    before = await stored(db)
    message = refused(await send(admin, plugins | {"ikd": plugins["ikd"] | moved}), "plugins.ikd.client_secret")
    assert f"re-enter the secret: {next(iter(moved))} changed" in message
    assert await stored(db) == before and before["ikd"] == IKD

    accepted(await send(admin, plugins | {"ikd": plugins["ikd"] | moved | {"client_secret": "a-new-ikd-secret"}}))
    assert (await stored(db))["ikd"] == IKD | moved | {"client_secret": "a-new-ikd-secret"}


async def test_other_ikd_changes_keep_the_masked_secret(admin, db, plugin_manager):
    await store_plugins(db, plugin_manager, ikd=IKD)
    plugins = await as_read(admin)
    plugins["ikd"] |= {"leeway_seconds": 10, "jwks_url": "http://127.0.0.1:8601/jwks.json"}  # keys: not a destination
    accepted(await send(admin, plugins))
    assert (await stored(db))["ikd"]["client_secret"] == "ikd-secret-of-bwi"


async def test_moving_the_facts_api_needs_criteria_to_have_its_own_secret(admin, db, plugin_manager):
    """Without a secret of its own the criteria plugin sends the IKD plugin's: to a new facts API,
    that would be the stored IKD secret going to a new place."""
    await store_plugins(db, plugin_manager, ikd=IKD)
    plugins = await as_read(admin)
    assert "client_secret" not in plugins["criteria"] and "facts_api_url" not in plugins["criteria"]
    before = await stored(db)
    message = refused(await send(admin, plugins | {"criteria": plugins["criteria"] | {"facts_api_url": ATTACKER}}),
                      "plugins.criteria.client_secret")
    assert "facts_api_url changed, and without it the ikd plugin's would be sent there" in message
    assert await stored(db) == before

    # the IKD secret is not the plugin's to re-enter: masked, it is refused the same way
    masked = plugins["criteria"] | {"facts_api_url": ATTACKER, "client_secret": MASK}
    refused(await send(admin, plugins | {"criteria": masked}), "plugins.criteria.client_secret")

    own = plugins["criteria"] | {"facts_api_url": "https://facts.example.id", "client_secret": "a-facts-api-secret"}
    accepted(await send(admin, plugins | {"criteria": own}))
    assert (await stored(db))["criteria"]["client_secret"] == "a-facts-api-secret"


async def test_the_criteria_secret_follows_the_ikd_api_while_the_facts_api_is_not_set(admin, db, plugin_manager):
    await store_plugins(db, plugin_manager, ikd=IKD, criteria={"client_secret": "criteria-own-secret"})
    plugins = await as_read(admin)
    assert plugins["criteria"]["client_secret"] == MASK
    before = await stored(db)
    ikd = plugins["ikd"] | {"person_api_url": ATTACKER, "client_secret": "a-new-ikd-secret"}
    message = refused(await send(admin, plugins | {"ikd": ikd}), "plugins.criteria.client_secret")
    assert "plugins.ikd.person_api_url (followed while facts_api_url is not set) changed" in message
    assert await stored(db) == before

    # moved with the criteria secret given again: accepted
    accepted(await send(admin, plugins | {"ikd": ikd, "criteria": plugins["criteria"] | {"client_secret": "c2"}}))
    assert (await stored(db))["criteria"]["client_secret"] == "c2"


async def test_without_its_own_secret_criteria_follows_ikd_and_needs_no_secret(admin, db, plugin_manager):
    """Both secrets the IKD one, both places the IKD API: giving the IKD secret again suffices."""
    await store_plugins(db, plugin_manager, ikd=IKD)
    plugins = await as_read(admin)
    ikd = plugins["ikd"] | {"person_api_url": "https://api.ikd.example.id", "client_secret": "a-new-ikd-secret"}
    accepted(await send(admin, plugins | {"ikd": ikd}))
    assert "client_secret" not in (await stored(db))["criteria"]


async def test_the_form_learns_which_settings_say_where_secrets_go(admin):
    data = (await admin.query("{ pluginSettingsSchemas { plugin secretFields secretDestinationFields } }",
                              token=ADMIN))["data"]["pluginSettingsSchemas"]
    by_plugin = {s["plugin"]: (s["secretFields"], s["secretDestinationFields"]) for s in data}
    assert by_plugin["notify_sms"] == (["api_key"], ["gateway_url"])
    assert by_plugin["ikd"] == (["client_secret"], ["issuer", "person_api_url"])
    assert by_plugin["criteria"] == (["client_secret"], ["facts_api_url"])
    assert by_plugin["appeals"] == ([], []) and by_plugin["static_auth"] == ([], [])


# --- development secrets in production --------------------------------------------------------


@pytest.fixture
def production_plugins() -> PluginManager:
    return PluginManager(extra_plugins=[(static_auth.NAME, static_auth)], national=static_auth.NATIONAL,
                         production=True)


def test_the_cli_refuses_a_development_secret_in_production(database_url, tmp_path):
    runner = CliRunner()
    env = {"PERLINSOS_DATABASE_URL": database_url, "PERLINSOS_PRODUCTION": "1", "PERLINSOS_IKD_CLIENT_SECRET": None}
    result = runner.invoke(main, ["pilot", "load", str(bundled_pilot_file())], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "plugins.notify_sms.api_key: a development secret (dev-only-…) is refused in production" in result.output
    assert "plugins.ikd.client_secret: a development secret" in result.output  # the plugin's own default
    assert "dev-only-sms-key" not in result.output
    assert "BWI-2025" not in runner.invoke(main, ["pilot", "list"], env=env).output

    real = tmp_path / "bwi.toml"
    real.write_text(bundled_pilot_file().read_text().replace("dev-only-sms-key", "sms-key-from-the-vault"))
    refused_ikd = runner.invoke(main, ["pilot", "load", str(real)], env=env)
    assert refused_ikd.exit_code == 1 and "plugins.notify_sms.api_key" not in refused_ikd.output
    assert "plugins.ikd.client_secret" in refused_ikd.output
    loaded = runner.invoke(main, ["pilot", "load", str(real)], env=env | {"PERLINSOS_IKD_CLIENT_SECRET": "ikd-vault"})
    assert loaded.exit_code == 0 and "pilot BWI-2025 created" in loaded.output


def test_the_cli_accepts_development_secrets_outside_production(database_url):
    env = {"PERLINSOS_DATABASE_URL": database_url, "PERLINSOS_PRODUCTION": None, "PERLINSOS_IKD_CLIENT_SECRET": None}
    result = CliRunner().invoke(main, ["pilot", "load", str(bundled_pilot_file())], env=env)
    assert result.exit_code == 0 and "pilot BWI-2025 created" in result.output


@pytest.mark.parametrize("production", [True, False], ids=["production", "development"])
async def test_the_admin_api_refuses_a_development_secret_in_production(settings, db, pilot, production_plugins,
                                                                         plugin_manager, monkeypatch, production):
    monkeypatch.setenv("PERLINSOS_IKD_CLIENT_SECRET", "ikd-vault")
    await seed.staff(db, "admin", "ADMIN", "35")
    plugins = production_plugins if production else plugin_manager
    app = create_app(replace(settings, production=production), plugins)
    new = {"code": "JBR-2026", "name": "Uji coba Kabupaten Jember", "regions": ["35.09"], "programmes": ["PKH"],
           "phases": {"registrationOpens": "2026-01-01T00:00:00+07:00",
                      "registrationCloses": "2026-06-30T23:59:59+07:00"},
           "plugins": [{"name": "static_auth"},
                       {"name": "notify_sms", "settings": {"gateway_url": "https://sms.example.id",
                                                           "api_key": "dev-only-sms-key", "sender_id": "JEMBER"}}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        client = GraphQLClient(http)  # signed in through BWI-2025's sign-in
        created = (await client.query(CREATE, {"i": new}, token=ADMIN, language="en"))["data"]["createPilot"]
        if production:
            assert created["pilot"] is None
            assert [(e["code"], e["field"]) for e in created["errors"]] == [("PILOT_INVALID",
                                                                            "plugins.notify_sms.api_key")]
            assert "refused in production" in created["errors"][0]["message"]
            new["plugins"][1]["settings"]["api_key"] = "sms-key-from-the-vault"
            created = (await client.query(CREATE, {"i": new}, token=ADMIN))["data"]["createPilot"]
        assert created["errors"] == []

        sms = {"gateway_url": "https://sms.example.id", "api_key": "dev-only-again", "sender_id": "JEMBER"}
        result = await client.query(UPDATE, {"c": "JBR-2026", "i": {"plugins": [
            {"name": "static_auth"}, {"name": "notify_sms", "settings": sms}]}}, token=ADMIN)
        errors = result["data"]["updatePilot"]["errors"]
        assert [e["field"] for e in errors] == (["plugins.notify_sms.api_key"] if production else [])
    await app.state.perlinsos.db.dispose()
    async with db.read() as s:
        row = (await s.execute(select(Pilot).where(Pilot.code == "JBR-2026"))).scalar_one()
    assert row.plugins["notify_sms"]["api_key"] == ("sms-key-from-the-vault" if production else "dev-only-again")


async def start(app) -> None:
    """Run the app's start-up and shut-down (leaving the garbage collector as it was)."""
    threshold = gc.get_threshold()
    try:
        async with app.router.lifespan_context(app):
            pass
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        await app.state.perlinsos.db.dispose()


async def test_production_refuses_to_start_with_a_stored_development_secret(settings, pilot, production_plugins,
                                                                              monkeypatch):
    monkeypatch.delenv("PERLINSOS_IKD_CLIENT_SECRET", raising=False)
    production = replace(settings, production=True, dispatcher_in_process=False)
    with pytest.raises(DevelopmentSecretsInUse) as refusal:
        await start(create_app(production, production_plugins))
    message = str(refusal.value)
    assert "pilot BWI-2025, plugin notify_sms, setting api_key (plugins.notify_sms.api_key)" in message
    assert "pilot BWI-2025, plugin ikd, setting client_secret (plugins.ikd.client_secret)" in message
    assert "dev-only-sms-key" not in message

    # development: the same pilot starts
    await start(create_app(replace(production, production=False), production_plugins))


async def test_production_starts_when_the_secrets_are_real(settings, db, pilot, plugin_manager, production_plugins,
                                                            monkeypatch):
    monkeypatch.setenv("PERLINSOS_IKD_CLIENT_SECRET", "ikd-vault")
    sms = pilot_data()["plugins"]["notify_sms"] | {"api_key": "sms-key-from-the-vault"}
    await store_plugins(db, plugin_manager, notify_sms=sms)
    await start(create_app(replace(settings, production=True, dispatcher_in_process=False), production_plugins))


@pytest.mark.parametrize("production", [True, False], ids=["production", "development"])
def test_serve_in_production_refuses_a_stored_development_secret(database_url, pilot, monkeypatch, production):
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    env = {"PERLINSOS_DATABASE_URL": database_url, "PERLINSOS_PRODUCTION": "1" if production else None,
           "PERLINSOS_IKD_CLIENT_SECRET": None}
    result = CliRunner().invoke(main, ["serve", "--port", "1"], env=env)
    if not production:
        assert result.exit_code == 0 and len(started) == 1, result.output
        return
    assert result.exit_code == 1 and started == [] and "Traceback" not in result.output
    assert result.output.startswith("Error: production refuses to start with development secrets")
    assert "pilot BWI-2025, plugin notify_sms, setting api_key" in result.output
    assert "pilot BWI-2025, plugin ikd, setting client_secret" in result.output
    assert not json.dumps(result.output).count("dev-only-sms-key")
