"""Hook implementations of the criteria plugin."""

from __future__ import annotations

from perlinsos import hookimpl
from perlinsos_criteria import criteria, sources
from perlinsos_criteria.settings import UMK_BANYUWANGI_2025, CriteriaSettings

__all__ = ["UMK_BANYUWANGI_2025", "CriteriaSettings", "collect_facts", "eligibility_criteria",
           "plugin_settings_schema"]


@hookimpl
def plugin_settings_schema():
    return CriteriaSettings


@hookimpl
async def collect_facts(registrants, pilot):
    """The registrants' facts from IKD's consented facts API, one request per ``batch_size``.
    Never raises for a failing source: its facts come back with ``value=None`` and an ``error``."""
    return await sources.collect(registrants, pilot)


@hookimpl
def eligibility_criteria(programme, pilot):
    """One criterion per DOMAIN.md reason code, limits from the pilot's settings."""
    return criteria.criteria_for(programme, pilot)
