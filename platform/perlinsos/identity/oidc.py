"""Verifying one OpenID Connect issuer's tokens with PyJWT, against the issuer's cached JWKS.

Generic: an identity plugin describes its provider with an :class:`OidcProvider` (issuer,
audience, where the keys are, accepted algorithms, leeway, timeouts, cache intervals) and keeps
one :class:`OidcVerifier` (the key cache). ``verifier.verify(token, provider)`` answers:

* ``None`` when the token is not a JWT or its unverified ``iss`` is another issuer's (another
  identity plugin may own it; no network call is made);
* the verified claims, when every check passes: PyJWT's (signature, algorithm allow-list,
  ``iss``, ``aud``, ``exp``, ``nbf``, ``iat``, required claims), then
  :func:`~perlinsos.identity.oidc_checks.claims_problem`'s: ``exp``/``iat``/``nbf`` are JSON
  numbers (PyJWT would take ``"4102444800"``), the lifetime is bounded, a token for several
  audiences names us in ``azp``, and it is an *access* token (RFC 9068 ``typ: at+jwt``, or the
  provider's claim) — an ID token proves a sign-in to the client; it is no credential for an API;
* :class:`AuthenticationFailed` with one message (:data:`INVALID`) for a token of this issuer that
  fails any check, so a client never learns which; the reason is logged at DEBUG on the
  verifier's logger (never the token or a claim's value);
* :class:`SourceUnavailable` (named after the provider) when discovery or the JWKS cannot be
  read in time, or is not a usable document.

Mapping claims to a :class:`~perlinsos.contract.Principal` stays with the plugin (which claim
makes a citizen differs between providers). The IKD and OIDC plugins both use this module.

HTTP goes through :mod:`perlinsos.httpclients` (one pooled client per event loop).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from difflib import SequenceMatcher
from typing import Annotated, Any

import httpx
import jwt
from pydantic import AfterValidator, Field, HttpUrl, TypeAdapter, ValidationError

from perlinsos.errors import AuthenticationFailed, SourceUnavailable
from perlinsos.httpclients import LoopClients
from perlinsos.identity.oidc_checks import (ACCESS_TOKEN_TYP, MAX_TOKEN_SECONDS, check_token_claim, check_token_typ,
                                            claims_problem)

#: The only message a rejected token produces.
INVALID = "token tidak valid / invalid token"
#: OpenID Connect's mandatory ID token claims; nbf is checked when present.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat")
#: Signature algorithms a provider may be trusted with: asymmetric only. "none" and the HMAC family
#: (HS*) would let anyone holding the issuer's *public* key mint tokens (algorithm confusion).
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA"})
#: after a failed fetch, retry no sooner than this (or the refetch interval, when shorter)
RETRY_AFTER_FAILURE = 5.0
#: a discovery document or JWKS larger than this is refused (bounded memory, whatever the server sends)
MAX_DOCUMENT_BYTES = 256 * 1024

_http = LoopClients("perlinsos-oidc", max_connections=20, max_keepalive=10)
_URL = TypeAdapter(HttpUrl)


# --- settings rules, shared by the plugins' settings models -----------------------------------


def check_issuer(value: str) -> str:
    """An OpenID issuer: an http(s) URL without query or fragment, kept exactly as written.

    ``iss`` is compared as a plain string, and pydantic's ``HttpUrl`` would add a trailing "/"
    that the provider's tokens do not carry. Raises ``ValueError`` (pydantic reports it).
    """
    if not isinstance(value, str):
        raise ValueError("the issuer must be a URL string")
    value = value.strip()
    try:
        url = _URL.validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"the issuer must be an http(s) URL ({exc.errors()[0]['msg']})") from None
    if url.query or url.fragment:
        raise ValueError("an OpenID issuer has no query or fragment")
    return value


def check_algorithms(value: Iterable[str]) -> list[str]:
    """The algorithm allow-list: at least one, asymmetric only. Raises ``ValueError``."""
    value = list(value)
    if not value:
        raise ValueError("name at least one signature algorithm")
    refused = [str(a) for a in value if a not in ASYMMETRIC_ALGORITHMS]
    if refused:
        raise ValueError(f"not an accepted signature algorithm: {', '.join(refused)} "
                         f"(allowed, asymmetric only: {', '.join(sorted(ASYMMETRIC_ALGORITHMS))})")
    return value



# --- settings fields every sign-in plugin takes (ikd, oidc): one definition each ----------------
# Defaults are given where a plugin declares the field, e.g. ``access_token_typ: AccessTokenTyp = ACCESS_TOKEN_TYP``.

JwksRefetchSeconds = Annotated[float, Field(
    gt=0, le=3600, description="an unknown key id refetches the JWKS at most once per this many seconds")]
JwksCacheSeconds = Annotated[float, Field(gt=0, le=86400, description="JWKS refreshed after this age")]
AccessTokenTyp = Annotated[str, AfterValidator(check_token_typ), Field(
    description="the `typ` header of the provider's access tokens (RFC 9068: at+jwt); a token without it, "
                "such as an ID token, is refused. Ignored when access_token_claim is set")]
AccessTokenClaim = Annotated[str | None, AfterValidator(check_token_claim), Field(
    description="name=value of the claim marking an access token (e.g. typ=Bearer), for a provider whose "
                "access tokens carry no RFC 9068 typ header; replaces the typ check")]
MaxTokenSeconds = Annotated[int, Field(
    ge=60, le=7 * 86400, description="longest token lifetime accepted (exp - iat, and exp from now)")]

# --- is the token ours? -----------------------------------------------------------------------


def unverified_issuer(token: Any) -> str | None:
    """The ``iss`` a JWT claims (unverified), or ``None`` when ``token`` is not a JWT with one.

    Only the payload is read: a token of ours with a mangled header or signature is still ours
    (and is then rejected), not left for another plugin.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


def _plain(url: str) -> str:
    return re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower()).rstrip("/").removeprefix("www.")


def looks_like(iss: str, issuer: str) -> bool:
    """Whether ``iss`` imitates ``issuer`` (scheme, case, slash, prefix/suffix or a typo away).

    Beware: two genuine local providers on neighbouring ports (``127.0.0.1:8601`` and ``:8602``)
    look alike by this rule, so only a provider that is alone in its pilots should reject them.
    """
    a, b = _plain(iss), _plain(issuer)
    if not a:
        return False
    return a.startswith(b) or b.startswith(a) or b in a or SequenceMatcher(None, a, b).ratio() >= 0.9


def auth_time(claims: Mapping[str, Any]) -> datetime:
    """When the person authenticated: ``auth_time``, else ``iat``, as an aware UTC datetime.
    Raises ``ValueError`` when the claim is not a number of seconds."""
    when = claims.get("auth_time", claims.get("iat"))
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise ValueError("auth_time/iat is not a number")
    try:
        return datetime.fromtimestamp(int(when), UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("auth_time/iat out of range") from None


# --- the provider -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID Connect issuer as a pilot trusts it.

    ``name`` names the provider in :class:`SourceUnavailable` and in log lines. A provider with
    ``reject_look_alikes`` rejects (instead of ignoring) a token whose ``iss`` merely resembles its
    own: only for a provider that is the sole identity provider of its pilots (see
    :func:`looks_like`).
    """

    issuer: str
    audience: str
    jwks_url: str | None = None  # None: read from the issuer's discovery document
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: float = 30
    timeout_seconds: float = 5.0
    jwks_refetch_seconds: float = 60  # an unknown kid refetches at most once per this
    jwks_cache_seconds: float = 3600  # the whole set is refreshed after this age
    name: str = "OIDC"
    reject_look_alikes: bool = False
    required_claims: tuple[str, ...] = REQUIRED_CLAIMS
    #: the ``typ`` header of an access token (RFC 9068); ignored when ``access_token_claim`` is set
    access_token_typ: str = ACCESS_TOKEN_TYP
    #: ``name=value``: for a provider that marks access tokens with a claim instead of ``typ``
    access_token_claim: str | None = None
    #: the longest lifetime accepted: exp - iat, and exp - now
    max_token_seconds: float = MAX_TOKEN_SECONDS

    def __post_init__(self) -> None:
        # Defence in depth: whatever a plugin's settings model let through, never HS* or none.
        object.__setattr__(self, "algorithms", tuple(check_algorithms(self.algorithms)))
        object.__setattr__(self, "required_claims", tuple(dict.fromkeys((*self.required_claims, "exp", "iat"))))
        check_token_typ(self.access_token_typ)
        check_token_claim(self.access_token_claim)
        if not self.max_token_seconds > 0:
            raise ValueError("max_token_seconds must be positive")
        if self.jwks_url is not None:
            object.__setattr__(self, "jwks_url", str(self.jwks_url))
        if not self.audience:
            raise ValueError("an OpenID provider needs the audience its tokens must carry")

    @property
    def cache_key(self) -> tuple[str, str | None]:
        return (self.issuer, self.jwks_url)


# --- keys ---------------------------------------------------------------------------------------


@dataclass
class _Keys:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")  # last successful fetch
    attempted_at: float = float("-inf")  # last fetch, successful or not
    failing: bool = False  # the last fetch failed


class OidcVerifier:
    """Verifies tokens for any number of providers, with one JWKS cache per (issuer, JWKS URL).

    Keep one per plugin (module level). ``clock`` is called for every cache decision (tests
    replace it to step through intervals); ``logger`` receives the rejection reasons (DEBUG) and
    cache warnings.
    """

    def __init__(self, *, logger: logging.Logger | None = None, clock: Callable[[], float] = time.monotonic):
        self.log = logger or logging.getLogger(__name__)
        self.clock = clock
        #: (issuer, configured JWKS URL) → keys. Plain data shared by all event loops; fetches are
        #: serialised per loop by a lock, and rate-limited by ``attempted_at`` across loops.
        self.cache: dict[tuple[str, str | None], _Keys] = {}
        #: JWKS requests made, per issuer (for tests and metrics)
        self.fetch_counts: dict[str, int] = {}
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, asyncio.Lock]] = \
            weakref.WeakKeyDictionary()

    def reset(self) -> None:
        """Forget cached keys (tests; or to drop a compromised key at once)."""
        self.cache.clear()
        self.fetch_counts.clear()

    def reject(self, provider: OidcProvider, reason: str) -> AuthenticationFailed:
        """The one error a rejected token gets; the reason goes to the log only."""
        self.log.debug("%s token rejected: %s", provider.name, reason)
        return AuthenticationFailed(INVALID)

    # --- verification ---------------------------------------------------------------------------

    async def verify(self, token: str, provider: OidcProvider) -> dict[str, Any] | None:
        """The verified claims of ``provider``'s token; ``None`` for another issuer's token."""
        iss = unverified_issuer(token)
        if iss is None:
            return None  # not a JWT: another identity plugin's token
        if iss != provider.issuer:
            if provider.reject_look_alikes and looks_like(iss, provider.issuer):
                raise self.reject(provider, "look-alike issuer")
            return None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise self.reject(provider, "malformed token (header or encoding)") from None
        kid, alg = header.get("kid"), header.get("alg")
        if alg not in provider.algorithms:  # before any network: `none`, HS256 & co never cost a fetch
            raise self.reject(provider, f"algorithm {alg!r} not allowed")
        if not isinstance(kid, str) or not kid:
            raise self.reject(provider, "no key id")
        key = await self.signing_key(provider, kid)
        if key is None:
            raise self.reject(provider, "unknown key id")
        try:
            claims = jwt.decode(
                token, key=key, algorithms=list(provider.algorithms), audience=provider.audience,
                issuer=provider.issuer, leeway=provider.leeway_seconds,
                options={"require": list(provider.required_claims), "verify_signature": True},
            )
        except jwt.PyJWTError as exc:
            raise self.reject(provider, type(exc).__name__) from None
        problem = claims_problem(header, claims, provider)
        if problem is not None:
            raise self.reject(provider, problem)
        return claims

    # --- keys -----------------------------------------------------------------------------------

    def _lock(self, key: Any) -> asyncio.Lock:
        """A lock for ``key`` in the running loop (asyncio locks belong to one loop)."""
        loop = asyncio.get_running_loop()
        locks = self._locks.get(loop)
        if locks is None:
            locks = self._locks[loop] = {}
        return locks.setdefault(key, asyncio.Lock())

    async def signing_key(self, provider: OidcProvider, kid: str) -> jwt.PyJWK | None:
        """The issuer's key ``kid``: from the cache; an unknown kid refetches the JWKS at most once
        per ``jwks_refetch_seconds``; the whole set is refreshed after ``jwks_cache_seconds``."""
        entry = self.cache.setdefault(provider.cache_key, _Keys())
        if kid in entry.keys and self.clock() - entry.fetched_at < provider.jwks_cache_seconds:
            return entry.keys[kid]
        async with self._lock(provider.cache_key):  # one fetch at a time; waiters see its result
            now = self.clock()
            interval = provider.jwks_refetch_seconds
            if entry.failing:
                interval = min(interval, RETRY_AFTER_FAILURE)
            due = now - entry.attempted_at >= interval
            stale = now - entry.fetched_at >= provider.jwks_cache_seconds
            if (kid not in entry.keys or stale) and due:
                try:
                    await self._fetch(provider, entry)
                except SourceUnavailable:
                    if kid not in entry.keys:
                        raise
                    self.log.warning("%s JWKS refresh failed; using the cached keys", provider.name)
            elif entry.failing and kid not in entry.keys:
                raise SourceUnavailable(provider.name, "JWKS unavailable; retrying shortly")
            return entry.keys.get(kid)

    async def _fetch(self, provider: OidcProvider, entry: _Keys) -> None:
        entry.attempted_at, entry.failing = self.clock(), True
        url = await self._jwks_url(provider)  # discovery is refreshed with the keys, under the same limits
        self.fetch_counts[provider.issuer] = self.fetch_counts.get(provider.issuer, 0) + 1
        body = await get_json(url, provider, "JWKS")
        if not isinstance(body.get("keys"), list):
            raise SourceUnavailable(provider.name, "JWKS without keys")
        keys = {}
        for jwk in body["keys"]:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
                continue
            if jwk.get("kty") == "oct":  # a shared secret has no place in a public key set
                self.log.warning("%s JWKS: skipped symmetric key %s", provider.name, jwk["kid"])
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):  # a key type or curve we cannot use
                self.log.warning("%s JWKS: skipped unusable key %s", provider.name, jwk["kid"])
        entry.keys, entry.fetched_at, entry.failing = keys, self.clock(), False

    async def _jwks_url(self, provider: OidcProvider) -> str:
        if provider.jwks_url is not None:
            return provider.jwks_url
        document = await get_json(discovery_url(provider.issuer), provider, "discovery")
        if document.get("issuer") != provider.issuer:  # OIDC Discovery 4.3: must match exactly
            raise SourceUnavailable(provider.name, "discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise SourceUnavailable(provider.name, "discovery document has no jwks_uri")
        return jwks_uri


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def get_json(url: str, provider: OidcProvider, what: str) -> dict[str, Any]:
    """GET a JSON object within ``provider.timeout_seconds`` overall (connect, send, every byte);
    :class:`SourceUnavailable` for a timeout, a transport error, a status other than 200, a body
    over :data:`MAX_DOCUMENT_BYTES`, or anything but a JSON object."""
    seconds = provider.timeout_seconds
    http = await _http.get()
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async with http.stream("GET", url, timeout=seconds, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise SourceUnavailable(provider.name, f"{what}: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise SourceUnavailable(provider.name, f"{what}: the answer is too large")
    except TimeoutError:
        raise SourceUnavailable(provider.name, f"no answer within {seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise SourceUnavailable(provider.name, f"{what}: {type(exc).__name__}") from None
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourceUnavailable(provider.name, f"{what}: the answer is not JSON") from None
    if not isinstance(document, dict):
        raise SourceUnavailable(provider.name, f"{what}: the answer has an unexpected shape")
    return document


async def aclose() -> None:
    """Close the running loop's HTTP client now (it is recreated on next use)."""
    await _http.aclose()
