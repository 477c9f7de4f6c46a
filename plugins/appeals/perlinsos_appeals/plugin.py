"""Hook implementations of the appeals plugin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from perlinsos import hookimpl
from perlinsos.contract import AppealGround, AppealProblem


class AppealSettings(BaseModel):
    """Appeal rules a pilot sets (``[plugins.appeals]`` in the pilot file)."""

    model_config = ConfigDict(extra="forbid")

    review_sla_days: int = Field(default=14, ge=1, le=90, description="reviewer deadline")
    max_files: int = Field(default=5, ge=1, le=20)
    max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)


GROUNDS = (
    AppealGround(
        code="NIK_MISUSE",
        disputable_reasons=("STATE_EMPLOYEE", "INCOME_ABOVE_LIMIT", "UNUSUAL_TRANSACTIONS", "OWNS_CAR"),
        required_evidence=("KTP", "INCOME_STATEMENT"),
        comparison_fields={"employer": "str", "monthly_income": "int"},
        title={"id": "NIK dicatut (dipakai orang lain)", "en": "NIK misused by someone else"},
    ),
    AppealGround(
        code="DATA_INCORRECT",
        disputable_reasons=(
            "ELECTRICITY_ABOVE_LIMIT",
            "WELFARE_DECILE_ABOVE_LIMIT",
            "INCOME_ABOVE_LIMIT",
            "OWNS_CAR",
            "OUTSIDE_PILOT_REGION",
        ),
        required_evidence=("SUPPORTING_DOCUMENT",),
        comparison_fields={"meter_id": "str", "electricity_va": "int"},
        title={"id": "Data tidak sesuai", "en": "Recorded data is incorrect"},
    ),
    AppealGround(
        code="CIRCUMSTANCES_CHANGED",
        disputable_reasons=("INCOME_ABOVE_LIMIT", "STATE_EMPLOYEE", "WELFARE_DECILE_ABOVE_LIMIT"),
        required_evidence=("SKTM",),
        comparison_fields={"monthly_income": "int", "since": "date"},
        title={"id": "Keadaan berubah", "en": "Circumstances have changed"},
    ),
)


@hookimpl
def plugin_settings_schema():
    return AppealSettings


@hookimpl
def appeal_grounds(pilot):
    return GROUNDS


#: comparison data (data pembanding) a disputed reason needs, so a reviewer can check it
REQUIRED_COMPARISON: dict[tuple[str, str], tuple[str, ...]] = {
    ("DATA_INCORRECT", "ELECTRICITY_ABOVE_LIMIT"): ("meter_id", "electricity_va"),
    ("NIK_MISUSE", "INCOME_ABOVE_LIMIT"): ("employer", "monthly_income"),
    ("CIRCUMSTANCES_CHANGED", "INCOME_ABOVE_LIMIT"): ("monthly_income", "since"),
}


@hookimpl
def check_appeal(appeal, decision, principal, pilot):
    """The comparison data each disputed reason needs (the platform checks ownership, the window,
    grounds against reasons, required evidence and the data's types)."""
    problems = []
    for reason in appeal.disputed_reasons:
        for name in REQUIRED_COMPARISON.get((appeal.ground, reason), ()):
            if name not in appeal.comparison_data:
                problems.append(AppealProblem(
                    "COMPARISON_DATA_MISSING",
                    {"id": f"Data pembanding '{name}' wajib diisi untuk alasan ini.",
                     "en": f"Comparison data '{name}' is required for this reason."},
                    field=f"comparisonData.{name}"))
    return problems
