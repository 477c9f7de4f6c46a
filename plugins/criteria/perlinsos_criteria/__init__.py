"""Eligibility criteria of the Banyuwangi pilot (DOMAIN.md reason codes) and their data sources.

At this stage the plugin declares its settings (limits per pilot); the criteria themselves arrive
with the selection stage.
"""

from perlinsos_criteria.plugin import plugin_settings_schema

__all__ = ["plugin_settings_schema"]
