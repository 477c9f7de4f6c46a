"""Banyuwangi's own criterion: a household owning land above a limit is not eligible.

Facts come from a land-registry extract (ATR/BPN Kab. Banyuwangi, CSV); see README.md.
"""

from __future__ import annotations

from perlinsos import hookimpl
from pydantic import BaseModel, ConfigDict, Field

from perlinsos_banyuwangi_lahan.criterion import LandAboveLimit
from perlinsos_banyuwangi_lahan.registry import land_facts

NAME = "banyuwangi_lahan"  # the entry point's name: pilots enable [plugins.banyuwangi_lahan]


class LahanSettings(BaseModel):
    """``[plugins.banyuwangi_lahan]`` in a pilot file."""

    model_config = ConfigDict(extra="forbid")

    land_limit_m2: int = Field(default=5000, gt=0, description="land a household may own, m²")
    extract_path: str | None = Field(default=None, description="CSV extract to read instead of the bundled one")


@hookimpl
def plugin_settings_schema():
    return LahanSettings


@hookimpl
def collect_facts(registrants, pilot):
    settings = pilot.settings_for(NAME)
    return land_facts(registrants, settings.extract_path if settings else None)


@hookimpl
def eligibility_criteria(programme, pilot):
    return [LandAboveLimit(pilot.settings_for(NAME).land_limit_m2)]


__all__ = ["NAME", "LahanSettings", "LandAboveLimit", "land_facts"]
