"""The settings a pilot gives the IKD plugin (``[plugins.ikd]`` in the pilot file)."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, SecretStr, TypeAdapter, field_validator

from perlinsos.identity import oidc, oidc_checks

# Signature algorithms a pilot may allow: asymmetric only. "none" and the HMAC family (HS*) would
# let anyone holding the issuer's *public* key mint tokens (algorithm confusion).
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA"})

_URL = TypeAdapter(HttpUrl)
SECRET_ENV = "PERLINSOS_IKD_CLIENT_SECRET"


def _issuer(value: str) -> str:
    # Checked as a URL but kept exactly as written: `iss` is compared as a plain string, and
    # pydantic's HttpUrl would add a trailing "/" that the provider's tokens do not carry.
    value = value.strip()
    url = _URL.validate_python(value)
    if url.query or url.fragment:
        raise ValueError("an OpenID issuer has no query or fragment")
    return value


class IkdSettings(BaseModel):
    """Settings of the IKD identity plugin for one pilot.

    ``client_secret`` is sent to :attr:`api_base`: ``person_api_url``, else ``issuer``. Both are
    marked ``secret_destination`` (``json_schema_extra``), so an update that changes either must
    give the secret again; a masked secret is then refused, not kept (docs/plugins.md, Settings).
    The default secret fits the local simulator only: production refuses it.
    """

    model_config = ConfigDict(extra="forbid")

    issuer: Annotated[str, AfterValidator(_issuer)] = Field(
        description="OIDC issuer URL, exactly as tokens carry it in `iss` (e.g. http://127.0.0.1:8601)",
        json_schema_extra={"secret_destination": True},
    )
    audience: str = Field(min_length=1, description="expected `aud` of tokens issued to the portal")
    jwks_url: HttpUrl | None = Field(
        default=None, description="JWKS location; read from the issuer's discovery document when absent"
    )
    person_api_url: HttpUrl | None = Field(
        default=None, description="base URL of the consent, person-data and facts APIs; the issuer when absent",
        json_schema_extra={"secret_destination": True},
    )
    client_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(os.environ.get(SECRET_ENV, "dev-only-ikd-secret")),
        description="the platform's credential for the person-data APIs; when absent, the environment "
                    f"variable {SECRET_ENV}, else a default that only fits the local simulator. "
                    "Production MUST set it (preferably by the environment, not in a committed file)",
    )
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1,
                                  description="signature algorithms accepted (asymmetric only)")
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="clock skew allowed for exp/nbf/iat")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="bound on every call to IKD")
    jwks_refetch_seconds: oidc.JwksRefetchSeconds = 60
    jwks_cache_seconds: oidc.JwksCacheSeconds = 3600
    access_token_typ: oidc.AccessTokenTyp = oidc_checks.ACCESS_TOKEN_TYP
    access_token_claim: oidc.AccessTokenClaim = None
    max_token_seconds: oidc.MaxTokenSeconds = oidc_checks.MAX_TOKEN_SECONDS

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(f"not an accepted signature algorithm: {', '.join(refused)} "
                             f"(allowed: {', '.join(sorted(ASYMMETRIC_ALGORITHMS))})")
        return value

    @property
    def api_base(self) -> str:
        """Base URL of the consent/person/facts APIs, without a trailing slash."""
        return str(self.person_api_url or self.issuer).rstrip("/")

    @property
    def secret(self) -> str:
        return self.client_secret.get_secret_value()
