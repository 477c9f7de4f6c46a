"""IKD (Identitas Kependudukan Digital) identity plugin.

Signs citizens and staff in with IKD-issued OpenID Connect tokens and fetches population records
under consent. Token verification and the IKD simulator arrive with the registration stage; at
this stage the plugin declares its settings so pilots can be configured and validated.
"""

from perlinsos_ikd.plugin import plugin_settings_schema

__all__ = ["plugin_settings_schema"]
