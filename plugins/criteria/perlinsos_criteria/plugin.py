"""Hook implementations of the criteria plugin."""

from __future__ import annotations

from perlinsos import hookimpl
from perlinsos.contract import FACTS, IdentityProvider
from perlinsos_criteria import criteria, sources
from perlinsos_criteria.settings import UMK_BANYUWANGI_2025, CriteriaSettings

__all__ = ["UMK_BANYUWANGI_2025", "CriteriaSettings", "collect_facts", "eligibility_criteria",
           "identity_providers", "plugin_settings_schema"]


@hookimpl
def plugin_settings_schema():
    return CriteriaSettings


@hookimpl
def identity_providers(pilot):
    """The facts API reads under the consent grants of one provider (IKD's, by default): the
    platform then sends this plugin only registrants who consented through it, never another
    provider's grant ids or NIKs."""
    issuer = sources.grant_issuer(pilot)
    return [IdentityProvider(issuer=issuer, name="IKD facts API", capabilities=frozenset({FACTS}))] if issuer else []


@hookimpl
async def collect_facts(registrants, pilot):
    """The registrants' facts from IKD's consented facts API, one request per ``batch_size``.
    Never raises for a failing source: its facts come back with ``value=None`` and an ``error``."""
    return await sources.collect(registrants, pilot)


@hookimpl
def eligibility_criteria(programme, pilot):
    """One criterion per DOMAIN.md reason code, limits from the pilot's settings."""
    return criteria.criteria_for(programme, pilot)
