"""IKD (Identitas Kependudukan Digital) identity plugin.

Signs citizens and staff in with IKD-issued OpenID Connect tokens (verified with PyJWT against
the issuer's JWKS), obtains and revokes consent grants, and fetches population records under a
live grant. ``perlinsos ikd-sim`` runs a local IKD simulator over a synthetic population.

The entry point (``ikd = "perlinsos_ikd"``) names this package, so the hook implementations are
attributes of it.
"""

from perlinsos_ikd.plugin import (
    authenticate,
    fetch_person,
    grant_consent,
    identity_providers,
    plugin_settings_schema,
    register_commands,
    revoke_consent,
)
from perlinsos_ikd.settings import IkdSettings

__all__ = [
    "IkdSettings",
    "authenticate",
    "fetch_person",
    "grant_consent",
    "identity_providers",
    "plugin_settings_schema",
    "register_commands",
    "revoke_consent",
]
