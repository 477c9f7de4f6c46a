"""OIDC sign-in plugin: a region's own OpenID Connect provider (its SSO) as a pilot's sign-in.

Verifies the provider's tokens with the core verifier (:mod:`perlinsos.identity.oidc`: PyJWT
against the issuer's JWKS, asymmetric algorithms only) and declares the provider to the platform
with the ``sign_in`` capability only: consent, the person record and facts come from another
provider (IKD). ``perlinsos oidc-sim`` runs a local provider with its own EC keys for development
and tests.

The entry point (``oidc = "perlinsos_oidc"``) names this package, so the hook implementations are
attributes of it.
"""

from perlinsos_oidc.plugin import authenticate, identity_providers, plugin_settings_schema, register_commands
from perlinsos_oidc.settings import OidcSettings

__all__ = ["OidcSettings", "authenticate", "identity_providers", "plugin_settings_schema", "register_commands"]
