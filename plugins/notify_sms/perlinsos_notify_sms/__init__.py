"""SMS notification plugin: the ``sms`` channel (an async client of an SMS gateway, texts sized
for SMS), the gateway's signed delivery-report callback, and ``perlinsos sms-sim``, a local
gateway simulator.

The entry point (``notify_sms = "perlinsos_notify_sms"``) names this package, so the hook
implementations are attributes of it.
"""

from perlinsos_notify_sms.channel import SmsChannel
from perlinsos_notify_sms.plugin import (
    notification_channels,
    plugin_settings_schema,
    register_commands,
    register_routes,
)
from perlinsos_notify_sms.settings import SmsSettings

__all__ = [
    "SmsChannel",
    "SmsSettings",
    "notification_channels",
    "plugin_settings_schema",
    "register_commands",
    "register_routes",
]
