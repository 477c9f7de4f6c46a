"""Hook implementations of the IKD plugin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from perlinsos import hookimpl


class IkdSettings(BaseModel):
    """Settings a pilot gives the IKD plugin (``[plugins.ikd]`` in the pilot file)."""

    model_config = ConfigDict(extra="forbid")

    issuer: HttpUrl = Field(description="OIDC issuer URL; tokens must carry exactly this `iss`")
    audience: str = Field(min_length=1, description="expected `aud` of tokens issued to the portal")
    jwks_url: HttpUrl | None = Field(
        default=None, description="JWKS location; discovered from the issuer when absent"
    )
    person_api_url: HttpUrl | None = Field(default=None, description="consented person-data API")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


@hookimpl
def plugin_settings_schema():
    return IkdSettings
