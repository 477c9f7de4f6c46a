"""The criteria plugin tested through the kit (perlinsos.testing), as a regional team would test
its own plugin: a pilot from TOML, validated as ``pilot load`` does; hooks for it; the GraphQL API."""

from __future__ import annotations

import pytest

from perlinsos.pilots.files import PilotFileError
from perlinsos.testing import DEFAULT_PILOT_TOML, pilot_from_toml
from perlinsos_criteria import CriteriaSettings

CRITERIA = """
[plugins.criteria]
electricity_limit_va = 900
decile_limits = { PKH = 3 }
"""


@pytest.fixture
def perlinsos_pilot_toml():
    return DEFAULT_PILOT_TOML + CRITERIA


async def test_hooks_get_the_validated_settings_model(perlinsos_pilot, perlinsos_plugin_manager):
    settings = perlinsos_pilot.settings_for("criteria")
    assert isinstance(settings, CriteriaSettings)
    assert (settings.electricity_limit_va, settings.decile_limit("PKH"), settings.income_limit) == (900, 3, 2_810_139)
    criteria = await perlinsos_plugin_manager.for_pilot(perlinsos_pilot).merged("eligibility_criteria",
                                                                                programme="PKH")
    limits = {c.code: getattr(c, "limit", None) for c in criteria}
    assert "ELECTRICITY_ABOVE_LIMIT" in limits and perlinsos_pilot.id is not None


def test_a_bad_setting_is_refused_naming_it(perlinsos_plugin_manager):
    with pytest.raises(PilotFileError) as refused:
        pilot_from_toml(DEFAULT_PILOT_TOML + '[plugins.criteria]\nelectricity_limit_va = "900"\n',
                        perlinsos_plugin_manager)
    assert refused.value.problems[0][0] == "plugins.criteria.electricity_limit_va"


PREVIEW = """query($pilot: String!, $settings: JSON!) { selectionPreview(pilot: $pilot, settings: $settings) {
  errors { code } } }"""


async def test_the_national_office_previews_other_limits_and_a_citizen_may_not(perlinsos_client):
    variables = {"pilot": "BWI-2025", "settings": {"criteria": {"electricity_limit_va": 450}}}
    admin = await perlinsos_client.as_admin()
    assert (await admin.data(PREVIEW, variables))["selectionPreview"]["errors"] == []
    citizen = await perlinsos_client.as_citizen("3510151203800001").query(PREVIEW, variables)
    assert citizen.get("errors") or citizen["data"]["selectionPreview"]["errors"]
