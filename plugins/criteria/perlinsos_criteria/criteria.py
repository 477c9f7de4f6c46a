"""The criteria of DOMAIN.md: one per reason code, each with a version and its limits.

Every criterion reads one fact. A missing fact, a fact with an ``error`` or a value of the wrong
shape gives UNKNOWN (``detail`` = the error code, ``source`` = where the fact comes from), so a
source that cannot answer never rejects anyone. Bump a criterion's ``version`` whenever its logic
changes: the platform re-decides registrations whose criteria versions changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from perlinsos import regions
from perlinsos.contract import CriterionResult, Fact, RegistrantRef, Verdict
from perlinsos.idnumbers import is_valid_nik
from perlinsos_criteria import facts as F
from perlinsos_criteria import texts
from perlinsos_criteria.settings import REASON_CODES, settings_of

_REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


class _FactCriterion:
    """Reads ``fact`` and judges its (checked) value; subclasses define ``judge``."""

    code: ClassVar[str]
    version: ClassVar[str] = "1"
    fact: ClassVar[str]

    @property
    def limit(self) -> Any:
        return None

    def evaluate(self, facts: Mapping[str, Fact], registrant: RegistrantRef) -> CriterionResult:
        spec = F.SPECS[self.fact]
        found = facts.get(self.fact)
        if found is None:
            return self.unknown(spec.source, F.FACT_MISSING)
        source = found.source or spec.source
        if found.error is not None or found.value is None:
            return self.unknown(source, found.error or F.FACT_MISSING, found)
        try:
            value = spec.check(found.value)
        except ValueError:
            return self.unknown(source, F.INVALID_DATA, found)
        failed, observed = self.judge(value)
        return CriterionResult(self.code, Verdict.FAIL if failed else Verdict.PASS, observed=observed,
                               limit=self.limit, source=source, as_of=found.as_of)

    def judge(self, value: Any) -> tuple[bool, Any]:
        """(failed, observed value as stored with the decision)."""
        raise NotImplementedError

    def unknown(self, source: str, error: str, fact: Fact | None = None) -> CriterionResult:
        return CriterionResult(self.code, Verdict.UNKNOWN, limit=self.limit, source=source,
                               as_of=fact.as_of if fact is not None else None, detail=error)

    def messages(self, result: CriterionResult) -> dict[str, str]:
        """The notice texts, Bahasa Indonesia and English (see ``texts``)."""
        return texts.messages(result)


@dataclass(frozen=True)
class NikInvalid(_FactCriterion):
    """The NIK is malformed or does not match the population record (``platform.nik_valid``).

    Without that fact a malformed NIK still fails (the check needs no source); a well-formed one
    is UNKNOWN until the platform says it matches.
    """

    code: ClassVar[str] = "NIK_INVALID"
    fact: ClassVar[str] = F.NIK_VALID

    def evaluate(self, facts: Mapping[str, Fact], registrant: RegistrantRef) -> CriterionResult:
        if facts.get(self.fact) is None and not is_valid_nik(registrant.nik):
            return CriterionResult(self.code, Verdict.FAIL, observed=False, source=F.PLATFORM_SOURCE,
                                   detail="MALFORMED")
        return super().evaluate(facts, registrant)

    def judge(self, value: bool) -> tuple[bool, Any]:
        return not value, value


@dataclass(frozen=True)
class OutsidePilotRegion:
    """The registrant's region (village code of the registration) lies in none of the pilot's regions."""

    region_codes: tuple[str, ...]
    code: ClassVar[str] = "OUTSIDE_PILOT_REGION"
    version: ClassVar[str] = "1"
    source: ClassVar[str] = "Dukcapil"

    def evaluate(self, facts: Mapping[str, Fact], registrant: RegistrantRef) -> CriterionResult:
        limit = list(self.region_codes)
        region = registrant.region_code
        if not isinstance(region, str) or not _REGION.match(region):
            return CriterionResult(self.code, Verdict.UNKNOWN, limit=limit, source=self.source,
                                   detail=F.INVALID_DATA)
        inside = any(regions.is_within(region, scope) for scope in self.region_codes)
        return CriterionResult(self.code, Verdict.PASS if inside else Verdict.FAIL, observed=region,
                               limit=limit, source=self.source)

    def messages(self, result: CriterionResult) -> dict[str, str]:
        return texts.messages(result)


@dataclass(frozen=True)
class StateEmployee(_FactCriterion):
    """A household member is ASN, TNI, Polri or BUMN/BUMD staff (``state_employment``, BKN)."""

    code: ClassVar[str] = "STATE_EMPLOYEE"
    fact: ClassVar[str] = "state_employment"

    def judge(self, value: list[str]) -> tuple[bool, Any]:
        return bool(value), value


@dataclass(frozen=True)
class IncomeAboveLimit(_FactCriterion):
    """Recorded monthly income (``monthly_income``, BPJS Ketenagakerjaan) above the limit; equal passes."""

    income_limit: int
    code: ClassVar[str] = "INCOME_ABOVE_LIMIT"
    fact: ClassVar[str] = "monthly_income"

    @property
    def limit(self) -> int:
        return self.income_limit

    def judge(self, value: int) -> tuple[bool, Any]:
        return value > self.income_limit, value


@dataclass(frozen=True)
class UnusualTransactions(_FactCriterion):
    """An account of a household member is flagged (``bank_flags``, PPATK)."""

    code: ClassVar[str] = "UNUSUAL_TRANSACTIONS"
    fact: ClassVar[str] = "bank_flags"

    def judge(self, value: list[str]) -> tuple[bool, Any]:
        return bool(value), value


@dataclass(frozen=True)
class ElectricityAboveLimit(_FactCriterion):
    """Household electricity capacity (``electricity_va``, PLN) above the limit; equal passes."""

    limit_va: int
    code: ClassVar[str] = "ELECTRICITY_ABOVE_LIMIT"
    fact: ClassVar[str] = "electricity_va"

    @property
    def limit(self) -> int:
        return self.limit_va

    def judge(self, value: int) -> tuple[bool, Any]:
        return value > self.limit_va, value


@dataclass(frozen=True)
class WelfareDecileAboveLimit(_FactCriterion):
    """DTSEN welfare decile (``welfare_decile``) above the programme's limit; equal passes."""

    programme: str
    decile_limit: int
    code: ClassVar[str] = "WELFARE_DECILE_ABOVE_LIMIT"
    fact: ClassVar[str] = "welfare_decile"

    @property
    def limit(self) -> int:
        return self.decile_limit

    def judge(self, value: int) -> tuple[bool, Any]:
        return value > self.decile_limit, value


@dataclass(frozen=True)
class OwnsCar(_FactCriterion):
    """A household member owns a car (``car_ownership``: cars registered, Korlantas Polri)."""

    code: ClassVar[str] = "OWNS_CAR"
    fact: ClassVar[str] = "car_ownership"

    @property
    def limit(self) -> int:
        return 0

    def judge(self, value: int) -> tuple[bool, Any]:
        return value > 0, value


@dataclass(frozen=True)
class AlreadyRegistered(_FactCriterion):
    """The NIK holds a registration for this programme in another pilot (``platform.other_registrations``)."""

    code: ClassVar[str] = "ALREADY_REGISTERED"
    fact: ClassVar[str] = F.OTHER_REGISTRATIONS

    def judge(self, value: list[str]) -> tuple[bool, Any]:
        return bool(value), value


def criteria_for(programme: str, pilot: Any) -> list[Any]:
    """The criteria for ``programme`` in ``pilot``, limits from its settings, ``disabled`` left out."""
    settings = settings_of(pilot)
    made = {
        "NIK_INVALID": NikInvalid,
        "OUTSIDE_PILOT_REGION": lambda: OutsidePilotRegion(tuple(pilot.region_codes)),
        "STATE_EMPLOYEE": StateEmployee,
        "INCOME_ABOVE_LIMIT": lambda: IncomeAboveLimit(settings.income_limit),
        "UNUSUAL_TRANSACTIONS": UnusualTransactions,
        "ELECTRICITY_ABOVE_LIMIT": lambda: ElectricityAboveLimit(settings.electricity_limit_va),
        "WELFARE_DECILE_ABOVE_LIMIT": lambda: WelfareDecileAboveLimit(programme, settings.decile_limit(programme)),
        "OWNS_CAR": OwnsCar,
        "ALREADY_REGISTERED": AlreadyRegistered,
    }
    return [made[code]() for code in REASON_CODES if code not in settings.disabled]
