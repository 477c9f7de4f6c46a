"""The programmes a pilot runs, described for a registration screen: code, name per language and
whether registration is open now. Names of the national programmes are known; another code (a
region's own programme) is shown as its code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from perlinsos.contract import PilotContext

NAMES: dict[str, dict[str, str]] = {
    "PKH": {"id": "Program Keluarga Harapan (PKH)", "en": "Family Hope Programme (PKH)"},
    "SEMBAKO": {"id": "Program Sembako (BPNT)", "en": "Staple food assistance (Sembako)"},
    "PBI_JK": {"id": "Penerima Bantuan Iuran Jaminan Kesehatan (PBI-JK)",
               "en": "Health insurance contribution assistance (PBI-JK)"},
    "BLT": {"id": "Bantuan Langsung Tunai (BLT)", "en": "Direct cash transfer (BLT)"},
}


@dataclass(frozen=True)
class Programme:
    code: str
    name: dict[str, str]
    registration_open: bool


def of_pilot(pilot: PilotContext, now: datetime) -> list[Programme]:
    phases = pilot.phases
    opens, closes = phases.get("registration_opens"), phases.get("registration_closes")
    open_now = opens is not None and closes is not None and opens <= now < closes
    return [Programme(code, dict(NAMES.get(code) or {"id": code, "en": code}), open_now)
            for code in pilot.programmes]
