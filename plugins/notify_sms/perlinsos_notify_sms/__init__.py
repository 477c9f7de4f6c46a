"""SMS notification channel: an HTTP gateway client (and, with the notification stage, a local
gateway simulator). At this stage the plugin declares its settings."""

from perlinsos_notify_sms.plugin import plugin_settings_schema

__all__ = ["plugin_settings_schema"]
