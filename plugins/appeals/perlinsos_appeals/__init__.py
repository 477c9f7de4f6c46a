"""Appeal (sanggah) policy: grounds, who may appeal, evidence rules and windows."""

from perlinsos_appeals.plugin import appeal_grounds, check_appeal, plugin_settings_schema

__all__ = ["appeal_grounds", "check_appeal", "plugin_settings_schema"]
