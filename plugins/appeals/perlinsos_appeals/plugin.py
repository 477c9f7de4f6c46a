"""Hook implementations of the appeals plugin."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from perlinsos import hookimpl
from perlinsos.contract import AppealGround, AppealProblem


class AppealSettings(BaseModel):
    """Appeal rules a pilot sets (``[plugins.appeals]`` in the pilot file)."""

    model_config = ConfigDict(extra="forbid")

    review_sla_days: int = Field(default=14, ge=1, le=90, description="reviewer deadline")
    max_files: int = Field(default=5, ge=1, le=20)
    max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)


#: labels of the comparison fields (data pembanding), per language
LABELS = {
    "employer": {"id": "Tempat kerja yang tercatat atas NIK Anda", "en": "Employer recorded under your NIK"},
    "monthly_income": {"id": "Penghasilan bulanan sebenarnya (Rp)", "en": "Actual monthly income (Rp)"},
    "meter_id": {"id": "Nomor meter/ID pelanggan PLN", "en": "PLN meter or customer number"},
    "electricity_va": {"id": "Daya listrik sebenarnya (VA)", "en": "Actual electricity capacity (VA)"},
    "since": {"id": "Sejak tanggal", "en": "Since (date)"},
}


def _labels(*names: str) -> dict[str, dict[str, str]]:
    return {name: LABELS[name] for name in names}


GROUNDS = (
    AppealGround(
        code="NIK_MISUSE",
        disputable_reasons=("STATE_EMPLOYEE", "INCOME_ABOVE_LIMIT", "UNUSUAL_TRANSACTIONS", "OWNS_CAR"),
        required_evidence=("KTP", "INCOME_STATEMENT"),
        comparison_fields={"employer": "str", "monthly_income": "int"},
        title={"id": "NIK dicatut (dipakai orang lain)", "en": "NIK misused by someone else"},
        comparison_labels=_labels("employer", "monthly_income"),
        # comparison data (data pembanding) a disputed reason needs, so a reviewer can check it
        required_comparison={"INCOME_ABOVE_LIMIT": ("employer", "monthly_income")},
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
        comparison_labels=_labels("meter_id", "electricity_va"),
        required_comparison={"ELECTRICITY_ABOVE_LIMIT": ("meter_id", "electricity_va")},
    ),
    AppealGround(
        code="CIRCUMSTANCES_CHANGED",
        disputable_reasons=("INCOME_ABOVE_LIMIT", "STATE_EMPLOYEE", "WELFARE_DECILE_ABOVE_LIMIT"),
        required_evidence=("SKTM",),
        comparison_fields={"monthly_income": "int", "since": "date"},
        title={"id": "Keadaan berubah", "en": "Circumstances have changed"},
        comparison_labels=_labels("monthly_income", "since"),
        required_comparison={"INCOME_ABOVE_LIMIT": ("monthly_income", "since")},
    ),
)


@hookimpl
def plugin_settings_schema():
    return AppealSettings


@hookimpl
def appeal_grounds(pilot):
    return GROUNDS


@hookimpl
def check_appeal(appeal, decision, principal, pilot):
    """A change of circumstances cannot lie in the future (the platform checks ownership, the
    window, grounds against reasons, required evidence, the required comparison data and types)."""
    since = appeal.comparison_data.get("since") if appeal.ground == "CIRCUMSTANCES_CHANGED" else None
    try:
        future = since is not None and date.fromisoformat(str(since)) > date.today()
    except ValueError:
        return []  # the platform reports the malformed date
    if not future:
        return []
    return [AppealProblem(
        "COMPARISON_DATA_INVALID",
        {"id": "Tanggal perubahan keadaan tidak boleh di masa depan.",
         "en": "The date circumstances changed cannot lie in the future."},
        field="comparisonData.since")]
