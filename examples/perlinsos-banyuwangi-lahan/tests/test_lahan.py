"""LAND_ABOVE_LIMIT tested with the Perlinsos test kit (perlinsos.testing): the pilot is a pilot
file validated as ``perlinsos pilot load`` validates it, hooks run for it, and the GraphQL API sees
the plugin. Run: ``pytest tests`` (SQLite), or with ``PERLINSOS_TEST_DATABASE_URL`` for PostgreSQL."""

from datetime import UTC, date, datetime

import perlinsos_banyuwangi_lahan as lahan
import pytest
from perlinsos.contract import ConsentGrant, RegistrantRef, Verdict
from perlinsos.pilots.files import PilotFileError
from perlinsos.testing import DEFAULT_PILOT_TOML, pilot_from_toml

SOURCE = "ATR/BPN Kab. Banyuwangi"


def registrant(kk: str, scopes=("person", "facts:welfare")) -> RegistrantRef:
    grant = ConsentGrant("3510150103800001", scopes, "bansos-selection", "2025-08", datetime(2025, 8, 1, tzinfo=UTC))
    return RegistrantRef(1, "3510150103800001", kk, "35.10.15.2004", "PKH", consent=grant)


@pytest.mark.asyncio
async def test_the_pilot_sets_the_limit_through_the_settings_model(perlinsos_pilot, perlinsos_plugin_manager):
    settings = perlinsos_pilot.settings_for(lahan.NAME)
    assert settings == lahan.LahanSettings(land_limit_m2=7500)  # the model, as in a deployment
    hooks = perlinsos_plugin_manager.for_pilot(perlinsos_pilot)
    criteria = [c for c in await hooks.merged("eligibility_criteria", programme="PKH") if c.code == "LAND_ABOVE_LIMIT"]
    assert [c.limit_m2 for c in criteria] == [7500]


@pytest.mark.asyncio
async def test_land_from_the_extract_decides_at_the_pilots_limit(perlinsos_pilot, perlinsos_plugin_manager):
    hooks = perlinsos_plugin_manager.for_pilot(perlinsos_pilot)
    ref = registrant("3510150101000002")  # 6,000 + 1,500 m² in the bundled extract
    facts = {f.name: f for f in await hooks.merged("collect_facts", registrants=[ref])}
    land = facts["land_area_m2"]
    assert (land.value, land.source, land.as_of) == (7500, SOURCE, date(2025, 7, 1))
    [criterion] = [c for c in await hooks.merged("eligibility_criteria", programme="PKH")
                   if c.code == "LAND_ABOVE_LIMIT"]
    assert criterion.evaluate(facts, ref).verdict is Verdict.PASS  # the limit itself is allowed


def test_another_extract_and_a_bad_setting(tmp_path, perlinsos_plugin_manager):
    csv = tmp_path / "lahan.csv"
    csv.write_text("no_kk,luas_m2,jenis,per_tanggal\n3510150101000007,9000,pertanian,2025-08-15\n", encoding="utf-8")
    pilot = pilot_from_toml(DEFAULT_PILOT_TOML + f'[plugins.banyuwangi_lahan]\nextract_path = "{csv}"\n',
                            perlinsos_plugin_manager)
    assert pilot.settings_for(lahan.NAME).land_limit_m2 == 5000  # the default
    with pytest.raises(PilotFileError, match="plugins.banyuwangi_lahan.extract_pth: unknown setting"):
        pilot_from_toml(DEFAULT_PILOT_TOML + '[plugins.banyuwangi_lahan]\nextract_pth = "x.csv"\n',
                        perlinsos_plugin_manager)


PILOT = """query($code: String!) { pilot(code: $code) { enabledPlugins pluginSettings { name settings } } }"""
PREVIEW = """query($pilot: String!, $settings: JSON!) { selectionPreview(pilot: $pilot, settings: $settings) {
  preview { total } errors { code field } } }"""


@pytest.mark.asyncio
async def test_the_national_office_sees_it_and_its_settings_are_checked(perlinsos_client):
    admin = await perlinsos_client.as_admin()
    pilot = (await admin.data(PILOT, {"code": "BWI-2025"}))["pilot"]
    assert lahan.NAME in pilot["enabledPlugins"]
    assert {"name": lahan.NAME, "settings": {"land_limit_m2": 7500}} in pilot["pluginSettings"]
    refused = await admin.data(PREVIEW, {"pilot": "BWI-2025", "settings": {lahan.NAME: {"land_limit_m2": 0}}})
    assert refused["selectionPreview"]["errors"] == [{"code": "SETTINGS_INVALID", "field": "settings"}]
    preview = await admin.data(PREVIEW, {"pilot": "BWI-2025", "settings": {lahan.NAME: {"land_limit_m2": 5000}}})
    assert preview["selectionPreview"] == {"preview": {"total": 0}, "errors": []}  # no registrations yet
