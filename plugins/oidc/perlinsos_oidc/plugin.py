"""Hook implementations of the OIDC plugin: sign-in with a region's own OpenID Connect provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from perlinsos import hookimpl
from perlinsos.contract import SIGN_IN, IdentityProvider, Principal
from perlinsos_oidc import tokens
from perlinsos_oidc.settings import OidcSettings

NAME = "oidc"


def settings_of(pilot: Any) -> OidcSettings | None:
    settings = pilot.settings_for(NAME) if pilot is not None else None
    if isinstance(settings, Mapping):  # a PilotContext built by hand may carry the raw table
        settings = OidcSettings.model_validate(settings)
    return settings


@hookimpl
def plugin_settings_schema():
    return OidcSettings


@hookimpl
def identity_providers(pilot) -> list[IdentityProvider]:
    settings = settings_of(pilot)
    if settings is None:
        return []
    # Sign-in only: no consent grants, no person record, no facts.
    return [IdentityProvider(issuer=settings.issuer, name=settings.name, capabilities=frozenset({SIGN_IN}))]


@hookimpl
async def authenticate(token, pilot) -> Principal | None:
    settings = settings_of(pilot)
    if settings is None:
        return None
    return await tokens.authenticate(token, settings)


@hookimpl
def register_commands(cli):
    from perlinsos_oidc.commands import oidc_sim

    cli.add_command(oidc_sim)
