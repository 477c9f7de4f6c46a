"""Verifying IKD-issued OpenID Connect tokens: the core's generic verifier
(:mod:`perlinsos.identity.oidc`) with IKD's settings, and IKD's mapping of claims to a principal.

Every check is PyJWT's (signature, algorithm allow-list, iss, aud, exp, nbf, iat, required
claims), made by the core verifier against the issuer's cached JWKS. A recognised token that fails
any check raises :class:`AuthenticationFailed` with one message, so a client never learns which
check failed; the reason is logged at debug level on this module's logger (without the token or a
NIK). IKD also rejects an ``iss`` that merely resembles its issuer (look-alikes).
"""

from __future__ import annotations

import logging
import time
from types import MappingProxyType
from typing import Any

import jwt

from perlinsos.contract import Principal
from perlinsos.errors import AuthenticationFailed
from perlinsos.identity import oidc
from perlinsos.identity.oidc import INVALID, REQUIRED_CLAIMS, RETRY_AFTER_FAILURE, looks_like, unverified_issuer
from perlinsos.identity.oidc_checks import is_nik_claim
from perlinsos_ikd import client
from perlinsos_ikd.settings import IkdSettings

__all__ = ["INVALID", "REQUIRED_CLAIMS", "RETRY_AFTER_FAILURE", "authenticate", "clock", "fetch_counts",
           "looks_like", "principal", "provider", "reset", "signing_key", "unverified_issuer"]

log = logging.getLogger(__name__)

#: Replaced by tests to step through refetch intervals without sleeping.
clock = time.monotonic

#: IKD's key cache (looked up through this module's ``clock`` at every decision, so patching works)
verifier = oidc.OidcVerifier(logger=log, clock=lambda: clock())
#: JWKS requests made, per issuer (for tests and metrics)
fetch_counts = verifier.fetch_counts


def reset() -> None:
    """Forget cached keys (tests; or to drop a compromised key at once)."""
    verifier.reset()


#: the provider of the settings object last asked for (a pilot's settings live as long as its cached
#: context: building and validating an OidcProvider per request is work for nothing)
_last: tuple[IkdSettings | None, oidc.OidcProvider | None] = (None, None)


def provider(settings: IkdSettings) -> oidc.OidcProvider:
    """IKD, as the core verifier needs it. IKD is a pilot's only provider today, so look-alike
    issuers are rejected rather than left to another plugin."""
    global _last
    known, made = _last
    if known is settings:
        return made
    made = _provider(settings)
    _last = (settings, made)
    return made


def _provider(settings: IkdSettings) -> oidc.OidcProvider:
    return oidc.OidcProvider(
        issuer=settings.issuer, audience=settings.audience,
        jwks_url=None if settings.jwks_url is None else str(settings.jwks_url),
        algorithms=tuple(settings.algorithms), leeway_seconds=settings.leeway_seconds,
        timeout_seconds=settings.timeout_seconds, jwks_refetch_seconds=settings.jwks_refetch_seconds,
        jwks_cache_seconds=settings.jwks_cache_seconds, name=client.SOURCE, reject_look_alikes=True,
        access_token_typ=settings.access_token_typ, access_token_claim=settings.access_token_claim,
        max_token_seconds=settings.max_token_seconds,
    )


async def signing_key(settings: IkdSettings, kid: str) -> jwt.PyJWK | None:
    """The issuer's key ``kid`` (cached; see :meth:`perlinsos.identity.oidc.OidcVerifier.signing_key`)."""
    return await verifier.signing_key(provider(settings), kid)


async def authenticate(token: str, settings: IkdSettings) -> Principal | None:
    """A :class:`Principal` for a valid token of this issuer; ``None`` for another issuer's token."""
    claims = await verifier.verify(token, provider(settings))
    return None if claims is None else principal(claims)


def _reject(reason: str) -> AuthenticationFailed:
    log.debug("%s token rejected: %s", client.SOURCE, reason)
    return AuthenticationFailed(INVALID)


def principal(claims: dict[str, Any]) -> Principal:
    """Map verified claims: a ``nik`` claim makes a citizen; staff tokens say ``kind: staff``."""
    sub, nik, kind = claims.get("sub"), claims.get("nik"), claims.get("kind")
    if not isinstance(sub, str) or not sub:
        raise _reject("empty subject")
    if nik is not None:
        if not isinstance(nik, str) or kind not in (None, "citizen"):
            raise _reject("malformed citizen claims")
        if not is_nik_claim(nik):  # 16 ASCII digits as written: parse_nik alone would strip spaces
            raise _reject("nik claim is not a valid NIK")
        kind = "citizen"
    elif kind != "staff":
        raise _reject("neither a nik nor kind=staff")
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    try:
        when = oidc.auth_time(claims)
    except ValueError:
        raise _reject("malformed auth_time") from None
    return Principal(subject=sub, kind=kind, nik=nik, name=name, issuer=claims["iss"], auth_time=when,
                     claims=MappingProxyType(dict(claims)))
