"""Hook implementations of the criteria plugin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from perlinsos import hookimpl

#: UMK Kabupaten Banyuwangi 2025 (regional minimum wage), the default income limit.
UMK_BANYUWANGI_2025 = 2_810_139


class CriteriaSettings(BaseModel):
    """Limits a pilot sets for the criteria (``[plugins.criteria]`` in the pilot file)."""

    model_config = ConfigDict(extra="forbid")

    income_limit: int = Field(default=UMK_BANYUWANGI_2025, gt=0, description="monthly income, Rupiah")
    electricity_limit_va: int = Field(default=1300, gt=0, description="household capacity, VA")
    decile_limits: dict[str, int] = Field(
        default_factory=lambda: {"PKH": 4, "SEMBAKO": 5, "PBI_JK": 5},
        description="highest DTSEN welfare decile admitted, per programme",
    )
    disabled: list[str] = Field(default_factory=list, description="reason codes not applied")


@hookimpl
def plugin_settings_schema():
    return CriteriaSettings
