"""The checks a signed token must pass beyond PyJWT's, shared by every OpenID Connect provider
(:mod:`perlinsos.identity.oidc`), and the rule for a ``nik`` claim.

Each check answers a reason for the log (never shown to the client, never a claim's value).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perlinsos.idnumbers import InvalidNik, parse_nik

if TYPE_CHECKING:
    from perlinsos.identity.oidc import OidcProvider

#: RFC 9068's media type of a JWT access token (``typ``, compared case-insensitively, "application/" optional)
ACCESS_TOKEN_TYP = "at+jwt"
#: the longest token lifetime (exp - iat) accepted unless a provider says otherwise
MAX_TOKEN_SECONDS = 24 * 3600
#: claims that must be JSON numbers (RFC 7519 NumericDate) when present
NUMERIC_DATES = ("exp", "iat", "nbf")
_NIK_CLAIM = re.compile(r"[0-9]{16}")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}(/[A-Za-z0-9!#$&^_.+-]{1,64})?")
_TOKEN_CLAIM = re.compile(r"([A-Za-z_][A-Za-z0-9_.:/-]{0,99})=([^=\s]{1,100})")


def check_token_claim(value: str | None) -> str | None:
    """An access-token claim rule, ``name=value`` (e.g. ``token_use=access``), or ``None``.
    Raises ``ValueError``."""
    if value is None:
        return None
    if not isinstance(value, str) or not _TOKEN_CLAIM.fullmatch(value):
        raise ValueError("write the claim that marks an access token as name=value, e.g. token_use=access")
    return value


def check_token_typ(value: str) -> str:
    """The ``typ`` header an access token carries: a media type without spaces. Raises ``ValueError``."""
    if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
        raise ValueError("a media type such as at+jwt")
    return value


def is_nik_claim(value: Any) -> bool:
    """Whether a ``nik`` claim is a NIK exactly as written: 16 ASCII digits (no spaces, no other
    digit scripts, nothing normalised away) that pass :func:`perlinsos.idnumbers.parse_nik`."""
    if not isinstance(value, str) or not _NIK_CLAIM.fullmatch(value):
        return False
    try:
        return parse_nik(value).value == value
    except InvalidNik:
        return False


def claims_problem(header: Mapping[str, Any], claims: Mapping[str, Any], provider: OidcProvider) -> str | None:
    """What is wrong with a signed token's header and claims beyond PyJWT's checks (the
    reason, for the log), or ``None``."""
    for name in NUMERIC_DATES:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)
                               or (isinstance(value, float) and not math.isfinite(value))):
            return f"{name} is not a JSON number"  # PyJWT would read "4102444800" with int()
    exp, iat = claims["exp"], claims["iat"]
    # Compared, never subtracted: a 400-digit exp minus a float overflows; comparisons are exact.
    if exp > iat + provider.max_token_seconds:
        return "lifetime above the maximum (exp - iat)"
    if exp > time.time() + provider.max_token_seconds + provider.leeway_seconds:
        return "lifetime above the maximum (exp too far ahead)"
    aud, azp = claims.get("aud"), claims.get("azp")
    # OIDC Core 3.1.3.7: a token for several audiences must name the party it was issued to.
    if isinstance(aud, list) and len(set(aud)) > 1 and azp is None:
        return "several audiences without azp"
    if azp is not None and azp != provider.audience:
        return "azp is another client"
    if provider.access_token_claim is not None:
        name, _, value = provider.access_token_claim.partition("=")
        if claims.get(name) != value:
            return "not an access token (claim)"
    else:
        typ = header.get("typ")
        typ = typ.lower().removeprefix("application/") if isinstance(typ, str) else None
        if typ != provider.access_token_typ.lower().removeprefix("application/"):
            return "not an access token (typ)"
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        return "empty subject"
    return None
