"""SmsSettings: the bundled pilot's table validates, secrets stay out of repr, limits are enforced."""

from __future__ import annotations

import tomllib

import pytest
from perlinsos.pilots.files import bundled_pilot_file
from perlinsos.plugins import PluginManager
from perlinsos_notify_sms import SmsSettings
from pydantic import ValidationError

from .conftest import settings


def bundled_table() -> dict:
    return tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))["plugins"]["notify_sms"]


def test_the_bundled_pilot_table_validates_through_the_plugin_manager():
    validated = PluginManager().validate_settings("notify_sms", bundled_table())
    assert isinstance(validated, SmsSettings)
    assert validated.messages_url == "http://127.0.0.1:8602/messages"
    assert validated.key == "dev-only-sms-key" and validated.sender_id == "PERLINSOS"
    assert (validated.timeout_seconds, validated.max_segments) == (5.0, 2)
    assert validated.portal_link == "http://127.0.0.1:8600"
    assert str(validated.delivery_report_url) == "http://127.0.0.1:8600/plugins/notify_sms/delivery-reports"


def test_the_recommended_additions_validate():
    table = bundled_table() | {"portal_url": "http://127.0.0.1:8600/",
                               "delivery_report_url": "http://127.0.0.1:8600/plugins/notify_sms/delivery-reports"}
    validated = SmsSettings.model_validate(table)
    assert validated.portal_link == "http://127.0.0.1:8600"
    assert str(validated.delivery_report_url) == "http://127.0.0.1:8600/plugins/notify_sms/delivery-reports"


def test_api_key_is_secret():
    s = settings(api_key="very-secret-key")
    assert "very-secret-key" not in repr(s) and "very-secret-key" not in str(s.model_dump())
    assert s.key == "very-secret-key"


def test_gateway_path_prefix_and_portal_link():
    s = settings(gateway_url="https://sms.example.co.id/api/v2/", portal_url="https://portal.example.go.id/sanggah/")
    assert s.messages_url == "https://sms.example.co.id/api/v2/messages"
    assert s.portal_link == "https://portal.example.go.id/sanggah/"  # a path keeps its slash


@pytest.mark.parametrize(("change", "field"), [
    ({"sender_id": "PERLINSOS-BANYUWANGI"}, "sender_id"),  # 20 characters: more than 11
    ({"sender_id": ""}, "sender_id"),
    ({"sender_id": "BANSOS!"}, "sender_id"),
    ({"api_key": ""}, "api_key"),
    ({"gateway_url": "not a url"}, "gateway_url"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": 61}, "timeout_seconds"),
    ({"max_segments": 0}, "max_segments"),
    ({"max_segments": 7}, "max_segments"),
    ({"portal_url": "ftp://portal"}, "portal_url"),
    ({"api_keys": "x"}, "api_keys"),  # extra="forbid": a typo is an error, not ignored
])
def test_invalid_settings_name_the_field(change, field):
    with pytest.raises(ValidationError) as caught:
        SmsSettings.model_validate({"gateway_url": "http://127.0.0.1:8602", "api_key": "k", "sender_id": "PERLINSOS"}
                                   | change)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize("segments", [1, 6])
def test_max_segments_bounds(segments):
    assert settings(max_segments=segments).max_segments == segments
