"""The facts the criteria read: names, the consent scope and source of each, value checks, and
the error codes a fact carries when its value could not be obtained.

Values are checked where they enter (``sources``) and again where they are judged (``criteria``),
so a fact from any plugin with a value of the wrong shape gives UNKNOWN, never a wrong verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: PPATK flags on accounts, and kinds of state employment (BKN), as the sources spell them.
BANK_FLAGS = frozenset({"JUDI_ONLINE", "TRANSAKSI_TIDAK_WAJAR"})
STATE_EMPLOYMENT = frozenset({"ASN", "TNI", "POLRI", "BUMN", "BUMD"})

#: Facts the platform itself provides (its built-in plugin), source "Perlinsos".
NIK_VALID = "platform.nik_valid"
OTHER_REGISTRATIONS = "platform.other_registrations"
PLATFORM_SOURCE = "Perlinsos"

# --- error codes a Fact carries (value None); every one makes its criteria UNKNOWN (PENDING) ---

#: The registrant has no consent, or the consent has no identity-provider grant reference.
NO_CONSENT = "NO_CONSENT"
#: The consent is expired, withdrawn at the provider, or for another person.
CONSENT_INVALID = "CONSENT_INVALID"
#: The consent does not cover this fact's scope (e.g. ``facts:bank``).
SCOPE_NOT_GRANTED = "SCOPE_NOT_GRANTED"
#: The source does not know the NIK.
UNKNOWN_PERSON = "UNKNOWN_PERSON"
#: The source answered for another household (KK number differs from the registration's).
HOUSEHOLD_MISMATCH = "HOUSEHOLD_MISMATCH"
#: The source's value failed the checks below (type, range, known codes, date).
INVALID_DATA = "INVALID_DATA"
#: The source is down (connection refused, HTTP 5xx/429).
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
#: The source did not answer within ``timeout_seconds``.
SOURCE_TIMEOUT = "SOURCE_TIMEOUT"
#: The source answered with something that is not the API's JSON (garbage, wrong shape).
INVALID_RESPONSE = "INVALID_RESPONSE"
#: The source refused the platform's request (HTTP 4xx, e.g. a wrong client secret).
SOURCE_REFUSED = "SOURCE_REFUSED"
#: Neither ``facts_api_url``/``client_secret`` nor the pilot's IKD settings say where to ask.
SOURCE_NOT_CONFIGURED = "SOURCE_NOT_CONFIGURED"
#: Criterion-side only (``CriterionResult.detail``): no fact of that name reached the criterion.
FACT_MISSING = "FACT_MISSING"

#: Error codes by kind: the source failed (retry later), consent is lacking (the citizen can act),
#: or the data itself is missing or wrong (an officer or an appeal can act).
ERROR_KINDS: dict[str, str] = {
    SOURCE_UNAVAILABLE: "source", SOURCE_TIMEOUT: "source", INVALID_RESPONSE: "source",
    SOURCE_REFUSED: "source", SOURCE_NOT_CONFIGURED: "source",
    NO_CONSENT: "consent", CONSENT_INVALID: "consent", SCOPE_NOT_GRANTED: "consent",
    UNKNOWN_PERSON: "data", HOUSEHOLD_MISMATCH: "data", INVALID_DATA: "data", FACT_MISSING: "data",
}
SOURCE_ERRORS = frozenset(code for code, kind in ERROR_KINDS.items() if kind == "source")


# --- value checks: each returns the normalised value or raises ValueError -----------------------


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a whole number: {type(value).__name__}")
    return value


def rupiah(value: Any) -> int:
    value = _int(value)
    if not 0 <= value <= 10**12:
        raise ValueError("income out of range")
    return value


def volt_ampere(value: Any) -> int:
    value = _int(value)
    if not 0 < value <= 10**7:
        raise ValueError("capacity out of range")
    return value


def decile(value: Any) -> int:
    value = _int(value)
    if not 1 <= value <= 10:
        raise ValueError("decile outside 1..10")
    return value


def count(value: Any) -> int:
    value = _int(value)
    if not 0 <= value <= 10_000:
        raise ValueError("count out of range")
    return value


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not true/false")
    return value


def codes(known: frozenset[str] | None) -> Callable[[Any], list[str]]:
    """A list of codes (of ``known`` when given), sorted without repeats."""

    def check(value: Any) -> list[str]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("not a list of codes")
        unknown = sorted({v for v in value if (known is not None and v not in known) or not 0 < len(v) <= 40})
        if unknown:
            raise ValueError(f"unknown code(s): {', '.join(unknown)}")
        return sorted(set(value))

    return check


@dataclass(frozen=True)
class FactSpec:
    name: str
    scope: str  # the consent scope that allows reading it
    source: str  # the source named when the fact is missing
    check: Callable[[Any], Any]


#: The facts this plugin collects from IKD's consented facts API, in the simulator's names.
IKD_FACTS: dict[str, FactSpec] = {spec.name: spec for spec in (
    FactSpec("monthly_income", "facts:income", "BPJS Ketenagakerjaan", rupiah),
    FactSpec("bank_flags", "facts:bank", "PPATK", codes(BANK_FLAGS)),
    FactSpec("electricity_va", "facts:electricity", "PLN", volt_ampere),
    FactSpec("welfare_decile", "facts:welfare", "DTSEN", decile),
    FactSpec("state_employment", "facts:employment", "BKN", codes(STATE_EMPLOYMENT)),
    FactSpec("car_ownership", "facts:vehicles", "Korlantas Polri", count),
)}

#: Every fact a criterion reads, including the platform's own.
SPECS: dict[str, FactSpec] = {
    **IKD_FACTS,
    NIK_VALID: FactSpec(NIK_VALID, "", PLATFORM_SOURCE, flag),
    OTHER_REGISTRATIONS: FactSpec(OTHER_REGISTRATIONS, "", PLATFORM_SOURCE, codes(None)),
}
