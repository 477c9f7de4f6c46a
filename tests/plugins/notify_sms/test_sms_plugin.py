"""The SMS plugin's hooks through the real plugin manager (entry points)."""

from __future__ import annotations

from fixtures.sms import DELIVERABLE
from perlinsos.contract import Channel
from perlinsos.plugins import PluginManager
from perlinsos_notify_sms import SmsChannel, SmsSettings
from perlinsos_notify_sms.reports import PATH

from .conftest import outgoing, settings


def test_the_plugin_implements_its_hooks(entry_point_plugins):
    assert entry_point_plugins.hooks_of("notify_sms") == [
        "notification_channels", "plugin_settings_schema", "register_routes", "register_commands"]
    assert entry_point_plugins.settings_model("notify_sms") is SmsSettings


async def test_notification_channels_for_a_pilot_that_enables_sms(hooks_for):
    channels = await hooks_for(settings(portal_url="https://portal.example.go.id")).merged("notification_channels")
    [sms] = channels
    assert isinstance(sms, SmsChannel) and isinstance(sms, Channel) and sms.name == "sms"
    assert sms.settings.portal_link == "https://portal.example.go.id"
    assert sms.recipient_for({"phone": "0812 3456 7890", "name": "Budi", "nik": "3510151203800001"}) == DELIVERABLE
    assert "key-a" not in repr(sms)


async def test_raw_settings_are_validated(hooks_for):
    raw = {"gateway_url": "http://127.0.0.1:8602", "api_key": "dev-only-sms-key", "sender_id": "PERLINSOS"}
    [sms] = await hooks_for(raw).merged("notification_channels")
    assert isinstance(sms.settings, SmsSettings) and sms.settings.key == "dev-only-sms-key"


async def test_no_channel_where_the_pilot_does_not_enable_sms(entry_point_plugins, hooks_for):
    appeals = entry_point_plugins.validate_settings("appeals", {"review_sla_days": 14})
    assert await hooks_for(None, appeals=appeals).merged("notification_channels") == []


async def test_the_channel_from_the_hooks_sends(hooks_for, sms_sim):
    [sms] = await hooks_for(sms_sim.settings()).merged("notification_channels")
    result = await sms.send(outgoing(DELIVERABLE))
    assert result.ok and sms_sim.messages()[0]["message_id"] == result.provider_reference


def test_register_routes_under_the_plugin_prefix():
    routes = [r for r in PluginManager().routes() if r.path.startswith("/plugins/notify_sms/")]
    assert [(r.path, r.methods) for r in routes] == [(PATH, {"POST"})]
    assert PATH == "/plugins/notify_sms/delivery-reports"


def test_register_commands_adds_sms_sim():
    import click
    from perlinsos_notify_sms import register_commands

    cli = click.Group()
    register_commands(cli)
    assert list(cli.commands) == ["sms-sim"]
