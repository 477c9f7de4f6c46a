"""Rolling out pilots through GraphQL (createPilot / updatePilot, national office only) and the CLI:
one validation path, every refusal names its field and changes nothing, every change is audited,
and a change takes effect on the next request of the same process even with a long pilot cache."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
import pytest
from click.testing import CliRunner
from conftest import GraphQLClient
from fixtures import seed, static_auth
from perlinsos.app import create_app
from perlinsos.cli import main
from perlinsos.db.models import AuditEvent, Pilot
from perlinsos.pilots.files import bundled_pilot_file
from sqlalchemy import select

ADMIN = "staff:admin"
PILOT_FIELDS = """code name regions { code } programmes languages registrationOpensAt registrationClosesAt
  appealOpensAt appealClosesAt enabledPlugins"""
CREATE = f"""mutation($i: PilotInput!) {{ createPilot(input: $i) {{
  pilot {{ {PILOT_FIELDS} pluginSettings {{ name settings }} }} errors {{ code field message }} }} }}"""
UPDATE = f"""mutation($c: String!, $i: PilotUpdateInput!) {{ updatePilot(code: $c, input: $i) {{
  pilot {{ {PILOT_FIELDS} pluginSettings {{ name settings }} }} errors {{ code field message }} }} }}"""
EVERYTHING = f"{{ pilots {{ nodes {{ {PILOT_FIELDS} pluginSettings {{ name settings }} }} }} }}"
PHASES = {"registrationOpens": "2026-01-01T00:00:00+07:00", "registrationCloses": "2026-06-30T23:59:59+07:00",
          "appealOpens": "2026-07-01T00:00:00+07:00", "appealCloses": "2026-07-31T23:59:59+07:00"}


def jember(**overrides) -> dict:
    """A second regency (35.09 Kabupaten Jember), with its own criteria limits."""
    return {"code": "JBR-2026", "name": "Uji coba Portal Perlinsos Kabupaten Jember", "regions": ["35.09"],
            "programmes": ["PKH", "SEMBAKO"], "phases": PHASES,
            "plugins": [{"name": "static_auth", "settings": {}},
                        {"name": "criteria", "settings": {"electricity_limit_va": 2200, "income_limit": 2_838_642}}],
            } | overrides


@pytest.fixture
async def admin(client, db):
    await seed.staff(db, "admin", "ADMIN", "35")
    await seed.staff(db, "rev", "REVIEWER", "35.10")
    return client


async def audit_rows(db, *actions) -> list[AuditEvent]:
    async with db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.action.in_(actions))
                                     .order_by(AuditEvent.id))).scalars())


async def snapshot(client, db) -> tuple:
    data = await client.query(EVERYTHING, token=ADMIN)
    assert "errors" not in data, data
    return data["data"]["pilots"]["nodes"], len(await audit_rows(db, "PILOT_CREATED", "PILOT_UPDATED"))


async def test_admin_creates_a_pilot_and_reads_it_back_with_secrets_masked(admin, db):
    data = (await admin.query(CREATE, {"i": jember()}, token=ADMIN))["data"]["createPilot"]
    assert data["errors"] == []
    assert data["pilot"]["regions"] == [{"code": "35.09"}] and data["pilot"]["languages"] == ["id", "en"]
    read = (await admin.query('{ pilot(code: "JBR-2026") { code enabledPlugins pluginSettings { name settings } } }',
                              token=ADMIN))["data"]["pilot"]
    assert read["enabledPlugins"] == ["criteria", "static_auth"]
    assert {"name": "criteria", "settings": {"electricity_limit_va": 2200, "income_limit": 2_838_642}} \
        in read["pluginSettings"]
    bwi = (await admin.query('{ pilot(code: "BWI-2025") { pluginSettings { name settings } } }', token=ADMIN))
    sms = next(p["settings"] for p in bwi["data"]["pilot"]["pluginSettings"] if p["name"] == "notify_sms")
    assert sms["api_key"] == "**********" and sms["sender_id"] == "PERLINSOS"
    assert "dev-only-sms-key" not in json.dumps(bwi)

    (created,) = await audit_rows(db, "PILOT_CREATED")
    assert (created.actor, created.entity_id) == ("admin", "JBR-2026")
    assert created.details["plugins"] == ["criteria", "static_auth"] and "2200" not in json.dumps(created.details)


@pytest.mark.parametrize("token", [None, "citizen:3510151203800001", "staff:rev"])
async def test_nobody_else_creates_pilots_or_sees_plugin_settings(admin, db, token):
    before = await snapshot(admin, db)
    data = (await admin.query(CREATE, {"i": jember()}, token=token))["data"]["createPilot"]
    assert data["pilot"] is None and data["errors"][0]["code"] == ("UNAUTHENTICATED" if token is None else "FORBIDDEN")
    settings = await admin.query('{ pilot(code: "BWI-2025") { code pluginSettings { name } } }', token=token)
    assert settings["errors"][0]["extensions"]["code"] == ("UNAUTHENTICATED" if token is None else "FORBIDDEN")
    assert "dev-only-sms-key" not in json.dumps(settings)
    schemas = await admin.query("{ pluginSettingsSchemas { plugin } }", token=token)
    assert schemas["data"] is None and schemas["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    assert await snapshot(admin, db) == before


async def test_the_form_gets_every_plugins_settings_schema(admin):
    data = (await admin.query("{ pluginSettingsSchemas { plugin schema secretFields } }", token=ADMIN))["data"]
    by_plugin = {s["plugin"]: s for s in data["pluginSettingsSchemas"]}
    assert {"criteria", "notify_sms", "ikd", "appeals", "static_auth"} <= set(by_plugin)
    criteria = by_plugin["criteria"]["schema"]
    assert criteria["properties"]["electricity_limit_va"]["type"] == "integer"
    assert by_plugin["notify_sms"]["secretFields"] == ["api_key"]
    assert by_plugin["static_auth"]["schema"] is None
    assert "dev-only" not in json.dumps(data)  # schemas describe settings; no default secret leaks


BAD_CREATES = [
    # pilot B covering 35.10.15 for PKH while BWI-2025 covers 35.10 for PKH, at the same time
    ("overlap", jember(code="GLAGAH-2026", regions=["35.10.15"], programmes=["PKH"]),
     "PILOT_REGION_OVERLAP", "regions.0", "35.10.15 overlaps 35.10 of pilot BWI-2025 for PKH"),
    ("phase ends before it starts", jember(phases=PHASES | {"registrationCloses": "2025-12-01T00:00:00+07:00"}),
     "PILOT_INVALID", "phases", "registration_closes must be after registration_opens"),
    ("appeal ends before it starts", jember(phases=PHASES | {"appealCloses": "2026-06-01T00:00:00+07:00"}),
     "PILOT_INVALID", "phases", "appeal_closes must be after appeal_opens"),
    ("no time zone", jember(phases=PHASES | {"registrationOpens": "2026-01-01T00:00:00"}),
     "PILOT_INVALID", "phases.registrationOpens", "time zone"),
    ("unknown plugin", jember(plugins=[{"name": "pajak", "settings": {}}]),
     "PILOT_INVALID", "plugins.pajak", "unknown plugin"),
    ("plugin listed twice", jember(plugins=[{"name": "criteria", "settings": {}}, {"name": "criteria", "settings": {}}]),
     "PILOT_INVALID", "plugins.criteria", "listed twice"),
    ("setting of the wrong type", jember(plugins=[{"name": "criteria", "settings": {"electricity_limit_va": "abc"}}]),
     "PILOT_INVALID", "plugins.criteria.electricity_limit_va", "integer"),
    ("unknown setting", jember(plugins=[{"name": "criteria", "settings": {"listrik": 900}}]),
     "PILOT_INVALID", "plugins.criteria.listrik", "unknown setting"),
    ("unknown kecamatan", jember(regions=["35.10.99"]), "PILOT_INVALID", "regions", "'35.10.99' is not a known region"),
    ("unknown province", jember(regions=["99.01"]), "PILOT_INVALID", "regions", "'99.01' is not a known region"),
    ("malformed region", jember(regions=["3509"]), "PILOT_INVALID", "regions", "is not a kode wilayah"),
    ("unknown programme", jember(programmes=["BLT"]), "PILOT_INVALID", "programmes", "unknown programme 'BLT'"),
    ("duplicate code", jember(code="BWI-2025", regions=["35.09"]), "PILOT_EXISTS", "code", "BWI-2025"),
]


@pytest.mark.parametrize(("case", "data", "code", "field", "text"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
async def test_a_bad_pilot_is_refused_naming_the_field_and_nothing_changes(admin, db, case, data, code, field, text):
    before = await snapshot(admin, db)
    result = (await admin.query(CREATE, {"i": data}, token=ADMIN))["data"]["createPilot"]
    assert result["pilot"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], result
    assert result["errors"][0]["message"].startswith(
        {"PILOT_INVALID": "Isian uji coba", "PILOT_EXISTS": "Sudah ada", "PILOT_REGION_OVERLAP": "Wilayah ini"}[code])
    # the validator's detail is English prose: in the English message only (docs/errors.md)
    english = (await admin.query(CREATE, {"i": data}, token=ADMIN, language="en"))["data"]["createPilot"]
    assert text in english["errors"][0]["message"] and text not in result["errors"][0]["message"]
    assert await snapshot(admin, db) == before


async def test_messages_come_in_english_on_request(admin):
    result = await admin.query(CREATE, {"i": jember(regions=["35.10.99"])}, token=ADMIN, language="en")
    assert result["data"]["createPilot"]["errors"][0]["message"].startswith("The pilot input is not valid.")


async def test_regions_may_be_shared_when_the_periods_or_programmes_differ(admin, db):
    later = {"registrationOpens": "2028-01-01T00:00:00+07:00", "registrationCloses": "2028-06-30T00:00:00+07:00"}
    after_bwi = (await admin.query(CREATE, {"i": jember(code="GLAGAH-2028", regions=["35.10.15"], phases=later)},
                                   token=ADMIN))["data"]["createPilot"]
    assert after_bwi["errors"] == []  # 35.10.15 again, after BWI-2025's appeal window has closed
    # In 2028 a village of Glagah may have another pilot for a programme GLAGAH-2028 does not run ...
    pbi = (await admin.query(CREATE, {"i": jember(code="GLAGAH-PBI", regions=["35.10.15.2004"], phases=later,
                                                   programmes=["PBI_JK"])}, token=ADMIN))["data"]["createPilot"]
    assert pbi["errors"] == []
    clash = (await admin.query(CREATE, {"i": jember(code="GLAGAH-PKH", regions=["35.10.15.2004"], phases=later,
                                                     programmes=["PKH"])}, token=ADMIN, language="en"))["data"]["createPilot"]
    # ... but not for one it does.
    assert clash["errors"][0]["code"] == "PILOT_REGION_OVERLAP" and "GLAGAH-2028" in clash["errors"][0]["message"]


async def test_of_two_overlapping_pilots_created_at_once_exactly_one_is_stored(admin, db):
    results = await asyncio.gather(*(admin.query(CREATE, {"i": jember(code=f"JBR-{n}")}, token=ADMIN)
                                     for n in ("A", "B", "C")))
    errors = sorted(tuple(e["code"] for e in r["data"]["createPilot"]["errors"]) for r in results)
    assert errors == [(), ("PILOT_REGION_OVERLAP",), ("PILOT_REGION_OVERLAP",)]
    codes = [n["code"] for n in (await admin.query("{ pilots { nodes { code } } }"))["data"]["pilots"]["nodes"]]
    assert len(codes) == 2 and len(await audit_rows(db, "PILOT_CREATED")) == 1


BAD_UPDATES = [
    ("missing pilot", "NOPE-2026", {"name": "Tidak ada"}, "PILOT_UNKNOWN", "code"),
    ("overlap with another pilot", "JBR-2026", {"regions": ["35.09", "35.10.16"]}, "PILOT_REGION_OVERLAP", "regions.1"),
    ("phase ends before it starts", "BWI-2025", {"phases": {"registrationCloses": "2025-07-01T00:00:00+07:00"}},
     "PILOT_INVALID", "phases"),
    ("setting of the wrong type", "BWI-2025",
     {"plugins": [{"name": "criteria", "settings": {"electricity_limit_va": "abc"}}]},
     "PILOT_INVALID", "plugins.criteria.electricity_limit_va"),
    ("unknown plugin", "BWI-2025", {"plugins": [{"name": "pajak"}]}, "PILOT_INVALID", "plugins.pajak"),
    ("settings not an object", "BWI-2025", {"plugins": [{"name": "notify_sms", "settings": "abc"}]},
     "PILOT_INVALID", "plugins.notify_sms"),
    ("unknown region", "BWI-2025", {"regions": ["35.10.77"]}, "PILOT_INVALID", "regions"),
]


@pytest.mark.parametrize(("case", "code", "changes", "error", "field"), BAD_UPDATES, ids=[c[0] for c in BAD_UPDATES])
async def test_a_bad_update_is_refused_and_the_pilot_reads_back_unchanged(admin, db, case, code, changes, error, field):
    assert (await admin.query(CREATE, {"i": jember()}, token=ADMIN))["data"]["createPilot"]["errors"] == []
    before = await snapshot(admin, db)
    result = (await admin.query(UPDATE, {"c": code, "i": changes}, token=ADMIN))["data"]["updatePilot"]
    assert result["pilot"] is None and [(e["code"], e["field"]) for e in result["errors"]] == [(error, field)], result
    assert await snapshot(admin, db) == before


async def test_an_update_changes_only_what_it_names_keeps_masked_secrets_and_is_audited(admin, db):
    read = await admin.query('{ pilot(code: "BWI-2025") { pluginSettings { name settings } } }', token=ADMIN)
    plugins = read["data"]["pilot"]["pluginSettings"]
    for p in plugins:
        if p["name"] == "notify_sms":
            p["settings"]["sender_id"] = "BANSOS BWI"  # the masked api_key is sent back as read
    before = (await snapshot(admin, db))[0][0]
    result = (await admin.query(UPDATE, {"c": "BWI-2025", "i": {"name": "Uji coba Banyuwangi (diperluas)",
                                                                 "plugins": plugins}}, token=ADMIN))
    pilot = result["data"]["updatePilot"]["pilot"]
    assert result["data"]["updatePilot"]["errors"] == []
    assert pilot["name"] == "Uji coba Banyuwangi (diperluas)"
    assert {k: v for k, v in pilot.items() if k not in ("name", "pluginSettings")} == \
        {k: v for k, v in before.items() if k not in ("name", "pluginSettings")}
    async with db.read() as s:
        stored = (await s.execute(select(Pilot).where(Pilot.code == "BWI-2025"))).scalar_one()
    assert stored.plugins["notify_sms"]["api_key"] == "dev-only-sms-key"
    assert stored.plugins["notify_sms"]["sender_id"] == "BANSOS BWI"
    (updated,) = await audit_rows(db, "PILOT_UPDATED")
    assert updated.details == {"fields": ["name", "plugins.notify_sms"], "actor_issuer": static_auth.ISSUER}
    assert updated.actor == "admin"

    # Unspecified phases stay; an explicit null clears the appeal window (both ends).
    cleared = await admin.query(UPDATE, {"c": "BWI-2025", "i": {"phases": {"appealOpens": None,
                                                                          "appealCloses": None}}}, token=ADMIN)
    pilot = cleared["data"]["updatePilot"]["pilot"]
    assert pilot["appealOpensAt"] is None and pilot["registrationOpensAt"] == before["registrationOpensAt"]
    again = await admin.query(UPDATE, {"c": "BWI-2025", "i": {}}, token=ADMIN)
    assert again["data"]["updatePilot"]["errors"] == []
    assert len(await audit_rows(db, "PILOT_UPDATED")) == 2  # nothing changed, nothing recorded


REGISTER_SEMBAKO = 'mutation { registerHousehold(input: {programme: "SEMBAKO"}) { errors { code } } }'


async def test_a_change_takes_effect_on_the_next_request_despite_a_long_pilot_cache(settings, plugin_manager, pilot,
                                                                                      db):
    await seed.staff(db, "admin", "ADMIN", "35")
    app = create_app(replace(settings, pilot_cache_seconds=3600), plugin_manager)
    citizen = f"citizen:{seed.nik(0)}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        bwi, jbr = GraphQLClient(http), GraphQLClient(http, pilot="JBR-2026")
        first = await bwi.query(REGISTER_SEMBAKO, token=citizen)
        assert first["data"]["registerHousehold"]["errors"][0]["code"] != "PROGRAMME_NOT_IN_PILOT"
        changed = await bwi.query(UPDATE, {"c": "BWI-2025", "i": {"programmes": ["PKH", "PBI_JK"]}}, token=ADMIN)
        assert changed["data"]["updatePilot"]["errors"] == []
        second = await bwi.query(REGISTER_SEMBAKO, token=citizen)
        assert second["data"]["registerHousehold"]["errors"][0]["code"] == "PROGRAMME_NOT_IN_PILOT"

        unknown = await jbr.post("{ viewer { pilot } }")  # remembered as unknown in the cache
        assert unknown.status_code == 400
        assert (await bwi.query(CREATE, {"i": jember()}, token=ADMIN))["data"]["createPilot"]["errors"] == []
        assert (await jbr.query("{ viewer { pilot } }"))["data"]["viewer"]["pilot"] == "JBR-2026"
    await app.state.perlinsos.db.dispose()


def test_the_cli_applies_the_same_overlap_rule_and_audits(database_url, tmp_path):
    runner = CliRunner()
    env = {"PERLINSOS_DATABASE_URL": database_url}
    assert runner.invoke(main, ["pilot", "load", str(bundled_pilot_file())], env=env).exit_code == 0
    glagah = tmp_path / "glagah.toml"
    glagah.write_text('code = "GLAGAH-2026"\nname = "Uji coba Glagah"\nregions = ["35.10.15"]\nprogrammes = ["PKH"]\n'
                      "[phases]\nregistration_opens = 2026-01-01T00:00:00+07:00\n"
                      "registration_closes = 2026-06-30T00:00:00+07:00\n", encoding="utf-8")
    result = runner.invoke(main, ["pilot", "load", str(glagah)], env=env)
    assert result.exit_code == 1
    assert "regions.0: 35.10.15 overlaps 35.10 of pilot BWI-2025 for PKH" in result.output
    listed = runner.invoke(main, ["pilot", "list"], env=env).output
    assert "GLAGAH" not in listed and "BWI-2025" in listed
    glagah.write_text(glagah.read_text().replace("2026-", "2028-"), encoding="utf-8")
    assert runner.invoke(main, ["pilot", "load", str(glagah)], env=env).stdout == "pilot GLAGAH-2026 created\n"
    assert runner.invoke(main, ["pilot", "load", str(glagah)], env=env).stdout == "pilot GLAGAH-2026 updated\n"

    from perlinsos.db.engine import Database

    async def actions():
        db = Database(database_url)
        try:
            return [(a.action, a.entity_id, a.actor) for a in await audit_rows(db, "PILOT_CREATED", "PILOT_UPDATED")]
        finally:
            await db.dispose()

    # loading the same file again changes nothing, so it records nothing
    assert asyncio.run(actions()) == [("PILOT_CREATED", "BWI-2025", "system:cli"),
                                      ("PILOT_CREATED", "GLAGAH-2026", "system:cli")]
