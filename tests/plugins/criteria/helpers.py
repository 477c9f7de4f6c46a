"""Helpers for the criteria plugin's tests: pilots, registrants and consents from the IKD simulator."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from perlinsos.contract import ConsentGrant, Fact, PilotContext, RegistrantRef
from perlinsos_criteria import CriteriaSettings
from perlinsos_criteria.facts import IKD_FACTS

FACT_SCOPES = tuple(spec.scope for spec in IKD_FACTS.values())
ALL_SCOPES = ("person", *FACT_SCOPES)
FACT_NAMES = tuple(IKD_FACTS)


def pilot(*, ikd: Any = None, programmes: tuple[str, ...] = ("PKH", "SEMBAKO", "PBI_JK"),
          region_codes: tuple[str, ...] = ("35.10",), **criteria: Any) -> PilotContext:
    plugins: dict[str, Any] = {"criteria": CriteriaSettings(**criteria)}
    if ikd is not None:
        plugins["ikd"] = ikd
    return PilotContext(id=None, code="BWI-2025", name="Banyuwangi", region_codes=region_codes,
                        programmes=programmes, plugins=plugins)


def consent_of(grant: dict[str, Any], scopes: tuple[str, ...] | None = None) -> ConsentGrant:
    """The platform's record of an IKD grant (``scopes`` overrides what the platform recorded)."""
    return ConsentGrant(nik=grant["nik"], scopes=tuple(scopes if scopes is not None else grant["scopes"]),
                        purpose=grant["purpose"], policy_version=grant.get("policy_version") or "2025-08",
                        given_at=datetime.fromisoformat(grant["granted_at"]),
                        expires_at=datetime.fromisoformat(grant["expires_at"]), reference=grant["grant_id"])


def ref_of(person: dict[str, Any], rid: int, consent: ConsentGrant | None = None, programme: str = "PKH",
           **changes: Any) -> RegistrantRef:
    values = {"registration_id": rid, "nik": person["nik"], "kk_number": person["kk_number"],
              "region_code": person["region_code"], "programme": programme, "member_niks": (person["nik"],),
              "consent": consent} | changes
    return RegistrantRef(**values)


def granted(ikd, person: dict[str, Any], rid: int, scopes: tuple[str, ...] = ALL_SCOPES,
            **changes: Any) -> RegistrantRef:
    """A registrant whose consent is a fresh IKD grant with ``scopes``."""
    return ref_of(person, rid, consent_of(ikd.grant(person["nik"], scopes=scopes)), **changes)


def by_registrant(facts: list[Fact]) -> dict[int, dict[str, Fact]]:
    found: dict[int, dict[str, Fact]] = {}
    for fact in facts:
        assert fact.name not in found.setdefault(fact.registration_id, {}), f"{fact.name} given twice"
        found[fact.registration_id][fact.name] = fact
    return found


def fact(name: str, value: Any, source: str = "test", as_of: date | None = date(2025, 8, 1), *,
         error: str | None = None, rid: int = 1) -> Fact:
    return Fact(rid, name, value, source, as_of, error)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
