"""Verifying IKD-issued OpenID Connect tokens with PyJWT, against the issuer's cached JWKS.

Every check is PyJWT's (signature, algorithm allow-list, iss, aud, exp, nbf, iat, required
claims); this module only finds the key. A recognised token that fails any check raises
:class:`AuthenticationFailed` with one message, so a client never learns which check failed;
the reason is logged at debug level for operators (without the token or a NIK).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from difflib import SequenceMatcher
from types import MappingProxyType
from typing import Any

import jwt

from perlinsos.contract import Principal
from perlinsos.errors import AuthenticationFailed, SourceUnavailable
from perlinsos.idnumbers import InvalidNik, parse_nik
from perlinsos_ikd import client
from perlinsos_ikd.settings import IkdSettings

log = logging.getLogger(__name__)

#: The only message a rejected token produces.
INVALID = "token tidak valid / invalid token"
#: OpenID Connect's mandatory ID token claims; nbf is checked when present.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat")

#: Replaced by tests to step through refetch intervals without sleeping.
clock = time.monotonic


def _reject(reason: str) -> AuthenticationFailed:
    log.debug("IKD token rejected: %s", reason)
    return AuthenticationFailed(INVALID)


# --- is the token ours? -----------------------------------------------------------------------


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims (unverified), or ``None`` when ``token`` is not a JWT with one."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def _plain(url: str) -> str:
    return re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower()).rstrip("/").removeprefix("www.")


def looks_like(iss: str, issuer: str) -> bool:
    """Whether ``iss`` imitates ``issuer`` (scheme, case, slash, prefix/suffix or a typo away)."""
    a, b = _plain(iss), _plain(issuer)
    if not a:
        return False
    return a.startswith(b) or b.startswith(a) or b in a or SequenceMatcher(None, a, b).ratio() >= 0.9


# --- keys ---------------------------------------------------------------------------------------


@dataclass
class _Keys:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")  # last successful fetch
    attempted_at: float = float("-inf")  # last fetch, successful or not
    failing: bool = False  # the last fetch failed


#: (issuer, configured JWKS URL) → keys. Plain data shared by all event loops; fetches are
#: serialised per loop by a lock, and rate-limited by ``attempted_at`` across loops.
_cache: dict[tuple[str, str | None], _Keys] = {}
#: JWKS requests made, per issuer (for tests and metrics)
fetch_counts: dict[str, int] = {}
#: after a failed fetch, retry no sooner than this (or the refetch interval, when shorter)
RETRY_AFTER_FAILURE = 5.0


def reset() -> None:
    """Forget cached keys (tests; or to drop a compromised key at once)."""
    _cache.clear()
    fetch_counts.clear()


async def _jwks_url(settings: IkdSettings) -> str:
    if settings.jwks_url is not None:
        return str(settings.jwks_url)
    url = settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = await client.request("GET", url, settings)
    if response.status_code != 200:
        raise SourceUnavailable(client.SOURCE, f"discovery: HTTP {response.status_code}")
    document = client.json_body(response)
    if document.get("issuer") != settings.issuer:  # OIDC Discovery 4.3: must match exactly
        raise SourceUnavailable(client.SOURCE, "discovery document names another issuer")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
        raise SourceUnavailable(client.SOURCE, "discovery document has no jwks_uri")
    return jwks_uri


async def _fetch(settings: IkdSettings, entry: _Keys) -> None:
    entry.attempted_at, entry.failing = clock(), True
    url = await _jwks_url(settings)  # discovery is refreshed with the keys, under the same limits
    fetch_counts[settings.issuer] = fetch_counts.get(settings.issuer, 0) + 1
    response = await client.request("GET", url, settings)
    if response.status_code != 200:
        raise SourceUnavailable(client.SOURCE, f"JWKS: HTTP {response.status_code}")
    body = client.json_body(response)
    if not isinstance(body.get("keys"), list):
        raise SourceUnavailable(client.SOURCE, "JWKS without keys")
    keys = {}
    for jwk in body["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[jwk["kid"]] = jwt.PyJWK(jwk)
        except jwt.PyJWTError:  # a key type or curve we cannot use: skip it, keep the others
            log.warning("IKD JWKS: skipped unusable key %s", jwk.get("kid"))
    entry.keys, entry.fetched_at, entry.failing = keys, clock(), False


async def signing_key(settings: IkdSettings, kid: str) -> jwt.PyJWK | None:
    """The issuer's key ``kid``: from the cache; an unknown kid refetches the JWKS at most once
    per ``jwks_refetch_seconds``; the whole set is refreshed after ``jwks_cache_seconds``."""
    cache_key = (settings.issuer, None if settings.jwks_url is None else str(settings.jwks_url))
    entry = _cache.setdefault(cache_key, _Keys())
    if kid in entry.keys and clock() - entry.fetched_at < settings.jwks_cache_seconds:
        return entry.keys[kid]
    async with await client.lock(repr(cache_key)):  # one fetch at a time; waiters see its result
        now = clock()
        interval = settings.jwks_refetch_seconds
        if entry.failing:
            interval = min(interval, RETRY_AFTER_FAILURE)
        due = now - entry.attempted_at >= interval
        stale = now - entry.fetched_at >= settings.jwks_cache_seconds
        if (kid not in entry.keys or stale) and due:
            try:
                await _fetch(settings, entry)
            except SourceUnavailable:
                if kid not in entry.keys:
                    raise
                log.warning("IKD JWKS refresh failed; using the cached keys")
        elif entry.failing and kid not in entry.keys:
            raise SourceUnavailable(client.SOURCE, "JWKS unavailable; retrying shortly")
        return entry.keys.get(kid)


# --- verification -------------------------------------------------------------------------------


async def authenticate(token: str, settings: IkdSettings) -> Principal | None:
    """A :class:`Principal` for a valid token of this issuer; ``None`` for another issuer's token."""
    iss = unverified_issuer(token)
    if iss is None:
        return None  # not a JWT: another identity plugin's token
    if iss != settings.issuer:
        if looks_like(iss, settings.issuer):
            raise _reject("look-alike issuer")
        return None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _reject("malformed header") from None
    kid, alg = header.get("kid"), header.get("alg")
    if alg not in settings.algorithms:  # before any network: `none`, HS256 & co never cost a fetch
        raise _reject(f"algorithm {alg!r} not allowed")
    if not isinstance(kid, str) or not kid:
        raise _reject("no key id")
    key = await signing_key(settings, kid)
    if key is None:
        raise _reject("unknown key id")
    try:
        claims = jwt.decode(
            token, key=key, algorithms=settings.algorithms, audience=settings.audience,
            issuer=settings.issuer, leeway=settings.leeway_seconds,
            options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
        )
    except jwt.PyJWTError as exc:
        raise _reject(type(exc).__name__) from None
    return principal(claims)


def principal(claims: dict[str, Any]) -> Principal:
    """Map verified claims: a ``nik`` claim makes a citizen; staff tokens say ``kind: staff``."""
    sub, nik, kind = claims.get("sub"), claims.get("nik"), claims.get("kind")
    if not isinstance(sub, str) or not sub:
        raise _reject("empty subject")
    if nik is not None:
        if not isinstance(nik, str) or kind not in (None, "citizen"):
            raise _reject("malformed citizen claims")
        try:
            parse_nik(nik)
        except InvalidNik:
            raise _reject("nik claim is not a valid NIK") from None
        kind = "citizen"
    elif kind != "staff":
        raise _reject("neither a nik nor kind=staff")
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    when = claims.get("auth_time", claims["iat"])
    try:
        auth_time = datetime.fromtimestamp(int(when), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise _reject("malformed auth_time") from None
    return Principal(subject=sub, kind=kind, nik=nik, name=name, issuer=claims["iss"], auth_time=auth_time,
                     claims=MappingProxyType(dict(claims)))
