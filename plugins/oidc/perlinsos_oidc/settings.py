"""The settings a pilot gives the OIDC plugin (``[plugins.oidc]`` in the pilot file)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from perlinsos.identity import oidc, oidc_checks

#: Claims a provider's NIK cannot be carried in: they have registered meanings (RFC 7519, OIDC Core).
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce", "azp",
                             "acr", "amr", "at_hash", "c_hash", "sid"})
_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,99}")


class OidcSettings(BaseModel):
    """Settings of the OIDC sign-in plugin for one pilot: one OpenID Connect provider (a region's SSO)."""

    model_config = ConfigDict(extra="forbid")

    issuer: Annotated[str, AfterValidator(oidc.check_issuer)] = Field(
        description="OIDC issuer URL, exactly as the provider's tokens carry it in `iss` "
                    "(e.g. https://sso.jemberkab.go.id); compared as a plain string",
    )
    audience: str = Field(min_length=1, max_length=200,
                          description="expected `aud` of tokens issued to the portal (its client id there)")
    name: str = Field(min_length=1, max_length=100,
                      description="the provider's display name, e.g. \"SSO Kabupaten Jember\"")
    jwks_url: HttpUrl | None = Field(
        default=None, description="JWKS location; read from the issuer's discovery document when absent",
    )
    algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256"],
                                  description="signature algorithms accepted (asymmetric only)")
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="clock skew allowed for exp/nbf/iat")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                   description="bound on every call to the provider (discovery, JWKS)")
    jwks_refetch_seconds: oidc.JwksRefetchSeconds = 60
    jwks_cache_seconds: oidc.JwksCacheSeconds = 3600
    access_token_typ: oidc.AccessTokenTyp = oidc_checks.ACCESS_TOKEN_TYP
    access_token_claim: oidc.AccessTokenClaim = None
    max_token_seconds: oidc.MaxTokenSeconds = oidc_checks.MAX_TOKEN_SECONDS
    nik_claim: str = Field(default="nik",
                           description="the claim carrying a citizen's NIK; a token with it signs a citizen in, "
                                       "a token without it a staff member")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        return oidc.check_algorithms(value)

    @field_validator("name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("give the provider a display name, e.g. \"SSO Kabupaten Jember\"")
        return value

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        if value != value.strip() or not value:
            raise ValueError("the audience is compared exactly: no leading or trailing spaces")
        return value

    @field_validator("nik_claim")
    @classmethod
    def _claim_name(cls, value: str) -> str:
        if not _CLAIM_NAME.fullmatch(value):
            raise ValueError("a claim name: a letter or _, then letters, digits or _ . : / - (at most 100)")
        if value in RESERVED_CLAIMS:
            raise ValueError(f"{value!r} is a registered claim with its own meaning; name the provider's NIK claim")
        return value

    def provider(self) -> oidc.OidcProvider:
        """This provider, as the core verifier needs it."""
        return oidc.OidcProvider(
            issuer=self.issuer, audience=self.audience,
            jwks_url=None if self.jwks_url is None else str(self.jwks_url),
            algorithms=tuple(self.algorithms), leeway_seconds=self.leeway_seconds,
            timeout_seconds=self.timeout_seconds, jwks_refetch_seconds=self.jwks_refetch_seconds,
            jwks_cache_seconds=self.jwks_cache_seconds, name=self.name, access_token_typ=self.access_token_typ,
            access_token_claim=self.access_token_claim, max_token_seconds=self.max_token_seconds,
        )
