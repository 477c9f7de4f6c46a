"""Evaluating every criterion for a registrant, the outcome, the messages and the input digest."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from perlinsos.contract import Criterion, CriterionResult, Fact, RegistrantRef, Verdict
from perlinsos.errors import ConfigurationError
from perlinsos.messages import reason_message
from perlinsos.plugins import PilotHooks

log = logging.getLogger(__name__)
CORE_VERSION = "1"
#: the platform's own consent check; its reason is shown to citizens only when it did not pass
CONSENT_CODE = "CONSENT_MISSING"


@dataclass(frozen=True)
class ConsentCriterion:
    """The platform's own rule: without a live consent to the facts, nothing can be decided."""

    code: str = CONSENT_CODE
    version: str = CORE_VERSION

    def evaluate(self, facts: Mapping[str, Fact], registrant: RegistrantRef) -> CriterionResult:
        # Say what is missing, in words a citizen can act on: scopes not consented to, or a
        # consent given through a provider no data source of the pilot can read under.
        missing = facts.get("platform.consent_missing_scopes")
        if missing is not None and missing.value:
            return CriterionResult(self.code, Verdict.UNKNOWN, observed={"missing_scopes": list(missing.value)},
                                   source=missing.source, as_of=missing.as_of, detail="SCOPES_MISSING")
        unreadable = facts.get("platform.consent_unreadable")
        if unreadable is not None:
            return CriterionResult(self.code, Verdict.UNKNOWN, observed={"provider": unreadable.value},
                                   source=unreadable.source, as_of=unreadable.as_of, detail="CONSENT_PROVIDER_UNREADABLE")
        fact = facts.get("platform.consent_live")
        live = bool(fact and fact.value)
        return CriterionResult(self.code, Verdict.PASS if live else Verdict.UNKNOWN, observed=live,
                               source=fact.source if fact else None, as_of=fact.as_of if fact else None,
                               detail=None if live else "NO_LIVE_CONSENT")


@dataclass(frozen=True)
class Evaluation:
    outcome: str
    results: list[CriterionResult]
    messages: list[dict[str, str]]
    versions: dict[str, str]
    inputs: dict[str, Any]
    digest: str


async def criteria_for(hooks: PilotHooks, programme: str) -> list[Criterion]:
    """Every enabled plugin's criteria; a duplicate code is a configuration error naming both."""
    found: dict[str, tuple[str, Criterion]] = {CONSENT_CODE: ("core", ConsentCriterion())}
    for plugin, result in await hooks.settled("eligibility_criteria", programme=programme):
        if isinstance(result, Exception):
            raise ConfigurationError(f"plugin {plugin!r}: eligibility_criteria failed: {result!r}")
        for criterion in result or ():
            if not isinstance(criterion, Criterion):
                raise ConfigurationError(f"plugin {plugin!r}: {criterion!r} is not a criterion")
            if criterion.code in found:
                raise ConfigurationError(f"plugins {found[criterion.code][0]!r} and {plugin!r} both define "
                                         f"criterion {criterion.code!r}")
            found[criterion.code] = (plugin, criterion)
    return [c for _, c in found.values()]


def outcome_of(results: Sequence[CriterionResult]) -> str:
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return "NOT_ELIGIBLE"
    if Verdict.UNKNOWN in verdicts:
        return "PENDING"  # a missing source never rejects anyone
    return "ELIGIBLE"


def evaluate(criteria: Sequence[Criterion], facts: Mapping[str, Fact], ref: RegistrantRef) -> Evaluation:
    results, messages = [], []
    for criterion in criteria:
        try:
            result = criterion.evaluate(facts, ref)
            if type(result) is not CriterionResult and not isinstance(result, CriterionResult):
                raise TypeError(f"returned {type(result).__name__}, not a CriterionResult")
            if type(result.verdict) is not Verdict:
                result = _verdict(result)
        except Exception as exc:  # noqa: BLE001 - one broken criterion must not stop the run
            log.warning("criterion %s failed for registration %s: %r", criterion.code, ref.registration_id, exc)
            result = CriterionResult(criterion.code, Verdict.UNKNOWN, detail="CRITERION_ERROR")
        results.append(result)
        messages.append(_messages(criterion, result))
    versions = _versions(criteria)
    inputs = {  # JSON-clean, as stored (each value as a JSON round trip gives it back)
        "registrant": {"region_code": _plain(ref.region_code), "programme": _plain(ref.programme),
                       "members": len(ref.member_niks)},
        "facts": {_key(name): _fact_input(f) for name, f in sorted(facts.items())},
    }
    digest_doc = {"inputs": inputs, "versions": versions,
                  "results": [[r.code, r.verdict.value, r.observed, r.limit] for r in results]}
    digest = hashlib.sha256(json.dumps(digest_doc, sort_keys=True, default=_json_default).encode()).hexdigest()
    return Evaluation(outcome_of(results), results, messages, versions, inputs, digest)


def _versions(criteria: Sequence[Criterion]) -> dict[str, str]:
    """Each criterion's version by code. A run evaluates the same list for every registrant of a
    programme, so the last list's answer is kept (one entry: nothing grows in a long-lived API
    process); a fresh dict each time, since callers keep it."""
    global _LAST
    last = _LAST
    if last is None or last[0] is not criteria or last[1] != len(criteria):
        last = _LAST = (criteria, len(criteria), {c.code: str(c.version) for c in criteria})
    return dict(last[2])


_LAST: tuple[Sequence[Criterion], int, dict[str, str]] | None = None


def _fact_input(f: Fact) -> dict[str, Any]:
    # the common case inline (exact str/None source and error, a date or None as_of): _plain is
    # called about fifty times per registrant otherwise
    source, as_of, error = f.source, f.as_of, f.error
    return {"value": _plain(f.value),
            "source": source if type(source) is str or source is None else _plain(source),
            "as_of": None if as_of is None else as_of.isoformat() if type(as_of) is date else _plain(as_of),
            "error": error if type(error) is str or error is None else _plain(error)}


def _verdict(result: CriterionResult) -> CriterionResult:
    if isinstance(result.verdict, Verdict):
        return result
    from dataclasses import replace

    return replace(result, verdict=Verdict(str(result.verdict)))


def _messages(criterion: Criterion, result: CriterionResult) -> dict[str, str]:
    custom = getattr(criterion, "messages", None)
    if callable(custom):
        try:
            texts = custom(result)
            if (type(texts) is dict or isinstance(texts, Mapping)) and texts.get("id"):
                return {"id": str(texts["id"]), "en": str(texts.get("en") or texts["id"])}
        except Exception:  # noqa: BLE001 - fall back to the platform's texts
            log.warning("criterion %s: messages() failed", criterion.code, exc_info=True)
    return {lang: reason_message(result.code, result.verdict.value, _plain(result.observed), _plain(result.limit),
                                 result.source, result.as_of, lang) for lang in ("id", "en")}


#: exact types a JSON round trip gives back unchanged (not subclasses: a str enum comes back a str)
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """``value`` as it comes back from JSON (as stored). The round trip is skipped for what criteria
    and facts carry almost always — None, exact str/int/float/bool, dates, flat lists of those —
    whose result is known; anything else still makes the round trip."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is date:
        return value.isoformat()
    if (kind is list or kind is tuple) and all(type(v) in _AS_IS for v in value):
        return list(value)
    return json.loads(json.dumps(value, default=_json_default))


def _key(name: Any) -> Any:
    """A fact name as a JSON object key comes back (a str subclass as its plain text)."""
    return name if type(name) is str else json.loads(json.dumps({name: 0}, default=_json_default)).popitem()[0]


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if hasattr(value, "value"):
        return value.value
    return str(value)
