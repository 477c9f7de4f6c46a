"""Verifying a region's OpenID Connect tokens (the core verifier, :mod:`perlinsos.identity.oidc`)
and mapping their claims to a principal: a valid NIK claim makes a citizen, no NIK claim staff.

A token of another issuer is not ours (``None``, no network call): unlike IKD, this plugin never
rejects an ``iss`` for merely resembling its own, since it shares pilots with other providers (two
local simulators on neighbouring ports look alike).
"""

from __future__ import annotations

import logging
import time
from types import MappingProxyType
from typing import Any

from perlinsos.contract import Principal
from perlinsos.identity import oidc
from perlinsos.identity.oidc import INVALID, unverified_issuer
from perlinsos.identity.oidc_checks import is_nik_claim
from perlinsos_oidc.settings import OidcSettings

__all__ = ["INVALID", "authenticate", "clock", "principal", "reset", "unverified_issuer", "verifier"]

log = logging.getLogger(__name__)

#: Replaced by tests to step through refetch intervals without sleeping.
clock = time.monotonic

#: this plugin's key cache, for every pilot and provider it serves
verifier = oidc.OidcVerifier(logger=log, clock=lambda: clock())


def reset() -> None:
    """Forget cached keys (tests; or to drop a compromised key at once)."""
    verifier.reset()


async def authenticate(token: str, settings: OidcSettings) -> Principal | None:
    """A :class:`Principal` for a valid token of the configured issuer; ``None`` for another's."""
    provider = settings.provider()
    claims = await verifier.verify(token, provider)
    return None if claims is None else principal(claims, settings, provider)


def principal(claims: dict[str, Any], settings: OidcSettings, provider: oidc.OidcProvider | None = None) -> Principal:
    """Map verified claims to a principal (invalid mapping → the generic AuthenticationFailed)."""
    provider = provider or settings.provider()
    nik = claims.get(settings.nik_claim)
    if nik is not None:
        # A NIK is a string of 16 digits: as a JSON number, many producers would round it (> 2**53).
        if not isinstance(nik, str):
            raise verifier.reject(provider, "nik claim is not a string")
        if not is_nik_claim(nik):  # 16 ASCII digits as written: no spaces to normalise away
            raise verifier.reject(provider, "nik claim is not a valid NIK")
    name = claims.get("name")
    try:
        when = oidc.auth_time(claims)
    except ValueError:
        raise verifier.reject(provider, "malformed auth_time") from None
    return Principal(subject=claims["sub"], kind="citizen" if nik is not None else "staff", nik=nik,
                     name=name if isinstance(name, str) and name.strip() else None, issuer=settings.issuer,
                     auth_time=when, claims=MappingProxyType(dict(claims)))
