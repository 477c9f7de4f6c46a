"""What a chunk is decided on: the facts of every source (one ``collect_facts`` call per plugin
for the whole chunk, grants routed to the sources that may read under them) and every
criterion's verdict. Nothing here writes; :mod:`.engine` reads and prepares the next chunk with
this while the current one is being written."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from perlinsos import scopes
from perlinsos.contract import FACTS, ConsentGrant, Fact, RegistrantRef
from perlinsos.db.types import utcnow
from perlinsos.plugins import PilotHooks
from perlinsos.selection import evaluate as ev
from perlinsos.selection.chunks import FACT_SCOPES, PLATFORM, Chunk

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A chunk with its facts and evaluations (registration id → each), ready to be written."""

    chunk: Chunk
    facts: dict[int, dict[str, Fact]]
    evaluations: dict[int, ev.Evaluation]


async def prepare(hooks: PilotHooks, chunk: Chunk, criteria: dict[str, list]) -> Prepared:
    """Gather ``chunk``'s facts and evaluate every registration; ``criteria`` (programme → the
    pilot's criteria) is the run's cache, filled on first use."""
    facts = await collect(hooks, chunk)
    evaluations = {}
    for ref in chunk.refs:
        if ref.programme not in criteria:
            criteria[ref.programme] = await ev.criteria_for(hooks, ref.programme)
        evaluations[ref.registration_id] = ev.evaluate(criteria[ref.programme], facts[ref.registration_id], ref)
    return Prepared(chunk, facts, evaluations)


async def collect(hooks: PilotHooks, chunk: Chunk) -> dict[int, dict[str, Fact]]:
    """One ``collect_facts`` call per plugin for the whole chunk; a failing plugin costs only its
    own facts (its criteria then answer UNKNOWN: PENDING, never a rejection).

    Grants go only to the source that can honour them: a plugin bound to a provider for facts
    receives only the registrants who consented through that provider; a plugin bound to none
    receives everyone, with no provider's grant id. Registrants whose consent no bound source can
    read get a platform fact that says so (the consent criterion then names the provider)."""
    facts: dict[int, dict[str, Fact]] = {rid: dict(pf) for rid, pf in chunk.platform_facts.items()}
    trust = await hooks.trust()
    bound = trust.bound_plugins(FACTS)
    readable = {i for p in bound for i in trust.issuers_of(p, FACTS)}
    unbound_refs: list[RegistrantRef] = []  # built once, when a plugin bound to no provider asks
    today = utcnow().date()
    required = _required_scopes(hooks)
    for ref in chunk.refs:
        missing = [s for s in required if ref.consent and not ref.consent.allows(s)]
        if missing:
            facts[ref.registration_id]["platform.consent_missing_scopes"] = Fact(
                ref.registration_id, "platform.consent_missing_scopes", missing, PLATFORM, today)
        if bound and ref.consent is not None and ref.consent.issuer is not None and ref.consent.issuer not in readable:
            facts[ref.registration_id]["platform.consent_unreadable"] = Fact(
                ref.registration_id, "platform.consent_unreadable",
                trust.name_of(ref.consent.issuer) or ref.consent.issuer, PLATFORM, today)

    def registrants_for(plugin: str) -> dict[str, Any] | None:
        if plugin not in bound:
            if not unbound_refs:
                unbound_refs.extend(_without_grant_ids(r) if r.consent and (r.consent.reference or r.consent.issuer)
                                    else r for r in chunk.refs)
            return {"registrants": unbound_refs}
        issuers = trust.issuers_of(plugin, FACTS)
        mine = [r for r in chunk.refs if r.consent is not None and r.consent.issuer in issuers]
        return {"registrants": mine} if mine else None

    for plugin, result in await hooks.settled_each("collect_facts", registrants_for):
        if isinstance(result, Exception):
            log.warning("plugin %s: collect_facts failed for a chunk of %d: %r", plugin, len(chunk.refs), result)
            continue
        for fact in result or ():
            if isinstance(fact, Fact) and fact.registration_id in facts and not fact.name.startswith("platform."):
                facts[fact.registration_id][fact.name] = fact
    for registration_id, corrected in chunk.corrections.items():
        facts[registration_id].update(corrected)
    return facts


def _without_grant_ids(r: RegistrantRef) -> RegistrantRef:
    """``r`` for a source bound to no provider: its consent without the provider's grant id and
    issuer. Built field by field (``dataclasses.replace`` twice per registrant was a visible
    share of a chunk); a new field of either class must be added here."""
    c = r.consent
    return RegistrantRef(r.registration_id, r.nik, r.kk_number, r.region_code, r.programme, r.member_niks,
                         ConsentGrant(c.nik, c.scopes, c.purpose, c.policy_version, c.given_at, c.expires_at))


# _without_grant_ids copies these fields by position; a change to either class must change it too
if ([f.name for f in fields(RegistrantRef)] != ["registration_id", "nik", "kk_number", "region_code", "programme",
                                                "member_niks", "consent"]
        or [f.name for f in fields(ConsentGrant)] != ["nik", "scopes", "purpose", "policy_version", "given_at",
                                                      "expires_at", "reference", "issuer"]):
    raise RuntimeError("RegistrantRef or ConsentGrant changed: update selection.engine._without_grant_ids")


def _required_scopes(hooks: PilotHooks) -> tuple[str, ...]:
    """The scopes selection reads under: the platform's fact scopes and every scope the pilot's
    plugins declare (a land registry's ``facts:land``), never ``person`` (registration needs it)."""
    declared, _ = scopes.merge(hooks.sync_results("consent_scopes"))
    return (*FACT_SCOPES, *(code for code in declared if code not in scopes.BUILTIN))
