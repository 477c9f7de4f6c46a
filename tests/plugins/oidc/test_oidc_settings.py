"""``[plugins.oidc]``: what a pilot may configure, and every refusal named by its setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from perlinsos.identity import oidc
from perlinsos.plugins import PluginManager, PluginSettingsError
from perlinsos_oidc.settings import OidcSettings

BASE = {"issuer": "https://sso.jemberkab.go.id", "audience": "perlinsos-portal", "name": "SSO Kabupaten Jember"}


def problems(**table) -> dict[str, str]:
    """The pilot loader's view: setting path → message."""
    with pytest.raises(PluginSettingsError) as caught:
        PluginManager().validate_settings("oidc", BASE | table)
    return dict(caught.value.problems)


def test_defaults():
    settings = OidcSettings(**BASE)
    assert settings.issuer == "https://sso.jemberkab.go.id"  # exactly as written: no "/" appended
    assert settings.jwks_url is None and settings.nik_claim == "nik"
    assert settings.algorithms == ["ES256", "RS256"] and settings.leeway_seconds == 30
    assert settings.timeout_seconds == 5.0
    provider = settings.provider()
    assert (provider.issuer, provider.audience, provider.name) == (BASE["issuer"], "perlinsos-portal",
                                                                   "SSO Kabupaten Jember")
    assert not provider.reject_look_alikes


def test_the_loader_validates_the_table():
    validated = PluginManager().validate_settings("oidc", BASE | {"jwks_url": "https://sso.jemberkab.go.id/jwks"})
    assert isinstance(validated, OidcSettings) and str(validated.jwks_url) == "https://sso.jemberkab.go.id/jwks"


@pytest.mark.parametrize("algorithms", [["HS256"], ["ES256", "none"], ["HS512", "RS256"], ["none"]])
def test_symmetric_and_none_algorithms_are_refused(algorithms):
    message = problems(algorithms=algorithms)["algorithms"]
    assert "not an accepted signature algorithm" in message and "asymmetric only" in message
    assert [a for a in algorithms if a not in oidc.ASYMMETRIC_ALGORITHMS][0] in message


def test_no_algorithm_is_refused():
    assert "at least one" in problems(algorithms=[])["algorithms"]


def test_same_algorithm_rules_as_ikd():
    from perlinsos_ikd.settings import ASYMMETRIC_ALGORITHMS

    assert oidc.ASYMMETRIC_ALGORITHMS == ASYMMETRIC_ALGORITHMS


@pytest.mark.parametrize("issuer", ["sso.jemberkab.go.id", "ftp://sso.jemberkab.go.id", "not a url", "",
                                    "https://sso.jemberkab.go.id/?tenant=1", "https://sso.jemberkab.go.id/#x"])
def test_bad_issuer_is_refused(issuer):
    message = problems(issuer=issuer)["issuer"]
    assert "issuer" in message, message


def test_required_settings_are_named():
    with pytest.raises(PluginSettingsError) as caught:
        PluginManager().validate_settings("oidc", {})
    assert dict(caught.value.problems) == {"issuer": "required setting is missing",
                                           "audience": "required setting is missing",
                                           "name": "required setting is missing"}


@pytest.mark.parametrize(("table", "field", "words"), [
    ({"nik_claim": "sub"}, "nik_claim", "registered claim"),
    ({"nik_claim": "iss"}, "nik_claim", "registered claim"),
    ({"nik_claim": "nik ktp"}, "nik_claim", "a claim name"),
    ({"nik_claim": ""}, "nik_claim", "a claim name"),
    ({"name": "   "}, "name", "display name"),
    ({"audience": " portal"}, "audience", "compared exactly"),
    ({"leeway_seconds": 3600}, "leeway_seconds", "less than or equal to 300"),
    ({"timeout_seconds": 0}, "timeout_seconds", "greater than 0"),
    ({"jwks_url": "jwks.json"}, "jwks_url", "URL"),
    ({"issuerr": "https://x.example"}, "issuerr", "unknown setting"),
])
def test_each_problem_names_its_setting(table, field, words):
    message = problems(**table)[field]
    assert words in message, message


def test_a_custom_nik_claim():
    assert OidcSettings(**BASE, nik_claim="https://sso.jemberkab.go.id/nik").nik_claim.endswith("/nik")


def test_the_core_provider_refuses_symmetric_algorithms_too():
    """Defence in depth: a plugin whose settings forgot the rule still cannot trust HS256."""
    with pytest.raises(ValueError, match="HS256"):
        oidc.OidcProvider(issuer="https://sso.example", audience="portal", algorithms=("HS256",))
    with pytest.raises(ValidationError):
        OidcSettings(**BASE, algorithms=["HS256"])
