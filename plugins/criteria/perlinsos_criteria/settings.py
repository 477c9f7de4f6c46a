"""The settings a pilot gives the criteria plugin (``[plugins.criteria]`` in the pilot file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from perlinsos.errors import ConfigurationError

NAME = "criteria"

#: UMK Kabupaten Banyuwangi 2025 (regional minimum wage), the default income limit.
UMK_BANYUWANGI_2025 = 2_810_139

#: The platform's programmes (perlinsos.pilots.files.PROGRAMMES; a test keeps the two equal).
PROGRAMMES = ("PKH", "SEMBAKO", "PBI_JK")

#: DOMAIN.md: PKH targets DTSEN deciles 1-4; Sembako and PBI-JK deciles 1-5.
DEFAULT_DECILE_LIMITS = {"PKH": 4, "SEMBAKO": 5, "PBI_JK": 5}

#: The reason codes of DOMAIN.md, one criterion each, in the order a notice lists them.
REASON_CODES = ("NIK_INVALID", "OUTSIDE_PILOT_REGION", "STATE_EMPLOYEE", "INCOME_ABOVE_LIMIT",
                "UNUSUAL_TRANSACTIONS", "ELECTRICITY_ABOVE_LIMIT", "WELFARE_DECILE_ABOVE_LIMIT",
                "OWNS_CAR", "ALREADY_REGISTERED")

#: The IKD facts API takes at most this many requests per call.
MAX_BATCH = 1000


class CriteriaSettings(BaseModel):
    """Limits and the facts source a pilot sets for the criteria.

    Numbers are strict: ``true`` or ``"1300"`` is refused, not read as 1 or 1300.

    ``client_secret`` is sent to ``facts_api_url`` (marked ``secret_destination``); each falls back
    to the pilot's IKD settings when absent (marked ``falls_back_to: "ikd"``). An update that moves
    where the secret goes (a new ``facts_api_url``, or a new IKD API base while ``facts_api_url`` is
    absent) must give ``client_secret`` again: masked, it is refused, not kept. A new
    ``facts_api_url`` needs an explicit ``client_secret``, else the IKD secret would be sent there
    (docs/plugins.md, Settings).
    """

    model_config = ConfigDict(extra="forbid")

    income_limit: int = Field(default=UMK_BANYUWANGI_2025, gt=0, strict=True,
                              description="highest recorded monthly income admitted, Rupiah (default: UMK Banyuwangi)")
    electricity_limit_va: int = Field(default=1300, gt=0, strict=True,
                                      description="highest household electricity capacity admitted, VA")
    decile_limits: dict[str, StrictInt] = Field(
        default_factory=lambda: dict(DEFAULT_DECILE_LIMITS), strict=True,
        description="highest DTSEN welfare decile admitted, per programme; programmes left out keep "
                    "their default (PKH 4, SEMBAKO 5, PBI_JK 5)",
    )
    disabled: list[StrictStr] = Field(default_factory=list, strict=True, description="reason codes not applied")
    facts_api_url: HttpUrl | None = Field(
        default=None, description="base URL of the consented facts API (POST {url}/facts); "
                                  "the pilot's IKD API base when absent",
        json_schema_extra={"secret_destination": True, "falls_back_to": "ikd"})
    client_secret: SecretStr | None = Field(
        default=None, description="the platform's credential for the facts API; the IKD plugin's when absent",
        json_schema_extra={"falls_back_to": "ikd"})
    grant_issuer: StrictStr | None = Field(
        default=None, description="the identity provider (OpenID issuer) whose consent grants the facts API "
                                  "honours: only registrants who consented through it are sent; the pilot's IKD "
                                  "issuer when absent")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, strict=True,
                                   description="bound on each call to the facts API (connect + answer)")
    batch_size: int = Field(default=500, ge=1, le=MAX_BATCH, strict=True,
                            description=f"registrants per facts API request (at most {MAX_BATCH})")

    @field_validator("decile_limits")
    @classmethod
    def _deciles(cls, value: dict[str, int]) -> dict[str, int]:
        for programme, limit in value.items():
            if programme not in PROGRAMMES:
                raise ValueError(f"unknown programme {programme!r} (known: {', '.join(PROGRAMMES)})")
            if not 1 <= limit <= 10:
                raise ValueError(f"{programme}: a DTSEN decile is 1..10, not {limit}")
        return DEFAULT_DECILE_LIMITS | value

    @field_validator("disabled")
    @classmethod
    def _disabled(cls, value: list[str]) -> list[str]:
        unknown = [code for code in value if code not in REASON_CODES]
        if unknown:
            raise ValueError(f"unknown reason code {unknown[0]!r} (known: {', '.join(REASON_CODES)})")
        return value

    def decile_limit(self, programme: str) -> int:
        try:
            return self.decile_limits[programme]
        except KeyError:
            raise ConfigurationError(f"plugins.{NAME}.decile_limits: no limit for programme {programme!r}") from None


def settings_of(pilot: Any) -> CriteriaSettings:
    """The pilot's validated settings (defaults when it gives none). A raw table — a PilotContext
    built by hand — is validated here; a bad one raises ConfigurationError naming the setting."""
    settings = pilot.settings_for(NAME) if pilot is not None else None
    if isinstance(settings, CriteriaSettings):
        return settings
    if settings is None:
        return CriteriaSettings()
    if not isinstance(settings, Mapping):
        raise ConfigurationError(f"plugins.{NAME}: settings must be a table, not {type(settings).__name__}")
    try:
        return CriteriaSettings.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(f"plugins.{NAME}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigurationError(problems) from None
