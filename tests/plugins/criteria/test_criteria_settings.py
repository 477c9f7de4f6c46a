"""The criteria plugin's settings: defaults, overrides, and every mistake refused naming the setting."""

from __future__ import annotations

import pytest

from fixtures.pilots import pilot_data
from perlinsos.contract import PilotContext
from perlinsos.errors import ConfigurationError
from perlinsos.pilots import files
from perlinsos.pilots.files import PilotFileError, parse_pilot
from perlinsos_criteria import CriteriaSettings
from perlinsos_criteria.settings import PROGRAMMES, REASON_CODES, settings_of


def test_defaults_are_the_domain_limits():
    settings = CriteriaSettings()
    assert settings.income_limit == 2_810_139  # UMK Banyuwangi 2025
    assert settings.electricity_limit_va == 1300
    assert settings.decile_limits == {"PKH": 4, "SEMBAKO": 5, "PBI_JK": 5}
    assert settings.disabled == [] and settings.facts_api_url is None and settings.client_secret is None
    assert (settings.timeout_seconds, settings.batch_size) == (10.0, 500)


def test_the_bundled_pilot_validates(plugin_manager):
    spec = parse_pilot(pilot_data(), plugin_manager)
    settings = plugin_manager.validate_settings("criteria", spec.plugins["criteria"])
    assert isinstance(settings, CriteriaSettings) and settings.income_limit == 2_810_139


def test_overrides_and_partial_decile_limits():
    settings = CriteriaSettings(income_limit=2_000_000, decile_limits={"PKH": 3}, disabled=["OWNS_CAR"],
                                facts_api_url="https://ikd.example.go.id/api", client_secret="rahasia",
                                timeout_seconds=2, batch_size=1000)
    assert settings.decile_limits == {"PKH": 3, "SEMBAKO": 5, "PBI_JK": 5}  # the others keep their default
    assert settings.decile_limit("SEMBAKO") == 5 and settings.timeout_seconds == 2.0
    assert "rahasia" not in repr(settings) and settings.client_secret.get_secret_value() == "rahasia"


def test_programmes_match_the_platform():
    assert PROGRAMMES == files.PROGRAMMES


MISTAKES = {
    "income as words": ({"income_limit": "banyak"}, "income_limit", "integer"),
    "income as a quoted number": ({"income_limit": "2810139"}, "income_limit", "integer"),
    "income as true": ({"income_limit": True}, "income_limit", "integer"),
    "income zero": ({"income_limit": 0}, "income_limit", "greater than 0"),
    "electricity as a float": ({"electricity_limit_va": 1300.5}, "electricity_limit_va", "integer"),
    "decile as text": ({"decile_limits": {"PKH": "4"}}, "decile_limits.PKH", "integer"),
    "decile out of range": ({"decile_limits": {"PKH": 11}}, "decile_limits", "1..10"),
    "unknown programme": ({"decile_limits": {"BLT": 3}}, "decile_limits", "unknown programme 'BLT'"),
    "decile limits not a table": ({"decile_limits": 4}, "decile_limits", "dictionary"),
    "unknown reason code": ({"disabled": ["OWNS_MOTORBIKE"]}, "disabled", "unknown reason code 'OWNS_MOTORBIKE'"),
    "disabled not a list": ({"disabled": "OWNS_CAR"}, "disabled", "list"),
    "batch too large": ({"batch_size": 1001}, "batch_size", "less than or equal to 1000"),
    "timeout as text": ({"timeout_seconds": "10"}, "timeout_seconds", "number"),
    "timeout zero": ({"timeout_seconds": 0}, "timeout_seconds", "greater than 0"),
    "url not a url": ({"facts_api_url": "ikd kemendagri"}, "facts_api_url", "URL"),
    "misspelt key": ({"incme_limit": 1}, "incme_limit", "unknown setting"),
}


@pytest.mark.parametrize(("change", "field", "words"), list(MISTAKES.values()), ids=list(MISTAKES))
def test_a_mistyped_setting_is_refused_naming_it(plugin_manager, change, field, words):
    data = pilot_data()
    data["plugins"]["criteria"].update(change)
    with pytest.raises(PilotFileError) as refused:
        parse_pilot(data, plugin_manager, source="banyuwangi.toml")
    message = str(refused.value)
    assert f"plugins.criteria.{field}" in message and words in message, message
    assert message.startswith("pilot banyuwangi.toml: ")


def test_raw_settings_in_a_hand_built_context_are_validated_too():
    def context(settings):
        return PilotContext(id=None, code="BWI-2025", name="Banyuwangi", region_codes=("35.10",),
                            programmes=("PKH",), plugins={"criteria": settings})

    assert settings_of(context({"income_limit": 2_000_000})).income_limit == 2_000_000
    assert settings_of(context({})) == CriteriaSettings()
    with pytest.raises(ConfigurationError, match=r"plugins\.criteria\.income_limit: Input should be a valid integer"):
        settings_of(context({"income_limit": "banyak"}))
    with pytest.raises(ConfigurationError, match=r"plugins\.criteria: settings must be a table"):
        settings_of(context(["income_limit"]))


def test_reason_codes_are_the_domain_ones():
    assert REASON_CODES == ("NIK_INVALID", "OUTSIDE_PILOT_REGION", "STATE_EMPLOYEE", "INCOME_ABOVE_LIMIT",
                            "UNUSUAL_TRANSACTIONS", "ELECTRICITY_ABOVE_LIMIT", "WELFARE_DECILE_ABOVE_LIMIT",
                            "OWNS_CAR", "ALREADY_REGISTERED")
