"""Hook implementations of the SMS plugin."""

from __future__ import annotations

from perlinsos import hookimpl

from perlinsos_notify_sms.channel import SmsChannel
from perlinsos_notify_sms.settings import SmsSettings, settings_of


@hookimpl
def plugin_settings_schema():
    return SmsSettings


@hookimpl
def notification_channels(pilot):
    settings = settings_of(pilot)
    return [] if settings is None else [SmsChannel(settings)]


@hookimpl
def register_routes():
    from perlinsos_notify_sms.reports import routes

    return routes()


@hookimpl
def register_commands(cli):
    from perlinsos_notify_sms.commands import sms_sim

    cli.add_command(sms_sim)
