"""Filing an appeal: every rule checked before anything is written, then one transaction for
the appeal, its evidence, its audit row and its notification (outbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from perlinsos import audit
from perlinsos.identity.auth import Actor
from perlinsos.contract import AppealDraft, AppealGround, AppealProblem
from perlinsos.db.engine import Database
from perlinsos.db.models import Appeal, AppealStatus, Decision, DecisionReason, Notification, Person, Registration
from perlinsos.db.types import utcnow
from perlinsos.notification import idempotency_key
from perlinsos.errors import Problem
from perlinsos.plugins import PilotHooks
from perlinsos.problemlist import raise_all
from perlinsos.problems import problem

OPEN = (AppealStatus.SUBMITTED.value, AppealStatus.UNDER_REVIEW.value)
DEFAULT_SLA_DAYS = 14


async def grounds(hooks: PilotHooks) -> dict[str, AppealGround]:
    found: dict[str, AppealGround] = {}
    for ground in await hooks.merged("appeal_grounds"):
        found.setdefault(ground.code, ground)
    return found


def _check_comparison(ground: AppealGround, data: Mapping[str, Any]) -> list[Problem]:
    """Every comparison field given that is at fault: unknown to the ground, or ill-typed."""
    found = []
    for name, value in data.items():
        kind = ground.comparison_fields.get(name)
        if kind is None:
            found.append(problem("COMPARISON_DATA_INVALID", field=f"comparisonData.{name}",
                                 detail=f"unknown field {name}"))
            continue
        ok = {"int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
              "str": isinstance(value, str) and 0 < len(value) <= 200}.get(kind)
        if kind == "date":
            try:
                date.fromisoformat(str(value))
                ok = True
            except ValueError:
                ok = False
        if not ok:
            found.append(problem("COMPARISON_DATA_INVALID", field=f"comparisonData.{name}", detail=f"{name}: {kind}"))
    return found


def _missing_comparison(ground: AppealGround, data: Mapping[str, Any], disputed: Sequence[str]) -> list[Problem]:
    """The comparison fields a disputed reason requires (``AppealGround.required_comparison``) left out."""
    required = dict.fromkeys(n for code in disputed for n in (ground.required_comparison or {}).get(code, ()))
    return [problem("COMPARISON_DATA_MISSING", field=f"comparisonData.{name}", detail=name)
            for name in required if name not in data]


def _problem_of(found: AppealProblem) -> Problem:
    return Problem(found.code, dict(found.message), field=found.field)


async def file_appeal(db: Database, hooks: PilotHooks, actor: Actor, *, decision_id: int, ground: str,
                      disputed: Sequence[str], statement: str, comparison: Mapping[str, Any],
                      evidence_ids: Sequence[int], attested_kinds: Sequence[str] = (),
                      on_write: Callable[[Any, Appeal], Awaitable[None]] | None = None) -> Appeal:
    """``attested_kinds``: evidence kinds a village operator saw as originals (they count as the
    ground's evidence); ``on_write`` runs in the filing's transaction (perlinsos.appeals.in_person)."""
    from perlinsos.appeals import evidence as evidence_files

    # who acts: the village operator, the assisting facilitator, or the citizen themselves
    who = getattr(actor, "operator", None) or actor.facilitator or actor.citizen

    pilot = hooks.pilot
    async with db.read() as session:
        row = (await session.execute(
            select(Decision, Registration, Person).join(Registration, Registration.id == Decision.registration_id)
            .join(Person, Person.id == Registration.person_id)
            .where(Decision.id == decision_id, Registration.pilot_id == pilot.id)
        )).first()
        # someone else's decision does not exist for you: an appeal about a NIK is its owner's
        if row is None or row.Person.nik != actor.citizen.nik:
            raise problem("DECISION_NOT_FOUND", field="decision")
        decision, registration, person = row
        if not decision.is_current:
            raise problem("DECISION_SUPERSEDED", field="decision")
        opens, closes = pilot.phases.get("appeal_opens"), pilot.phases.get("appeal_closes")
        if closes is None or utcnow() > closes:
            raise problem("APPEAL_WINDOW_CLOSED")
        # results are announced first, then the window opens (DOMAIN.md, appeals): no appeal before
        if opens is not None and utcnow() < opens:
            raise problem("APPEAL_WINDOW_NOT_OPEN")
        open_appeal = (await session.execute(select(Appeal.id).where(
            Appeal.decision_id == decision_id, Appeal.status.in_(OPEN)))).first()
        if open_appeal is not None:
            raise problem("APPEAL_ALREADY_OPEN")
        reasons = {r.code: r.verdict.value for r in (await session.execute(
            select(DecisionReason).where(DecisionReason.decision_id == decision_id))).scalars()}
        files = await evidence_files.attachable(session, actor.citizen.identity, list(evidence_ids))
    if actor.facilitator is not None:
        from perlinsos.registration import check_facilitator

        check_facilitator(actor, registration.region_code, pilot.code)
    # The form is checked whole: every field at fault is reported in one answer. Checks that
    # need a known ground (its fields, its evidence) run only once the ground is known and fits
    # the reasons: another ground asks for other fields and evidence.
    found: list[Problem] = []
    chosen = (await grounds(hooks)).get(ground)
    disputed = tuple(dict.fromkeys(disputed))
    if chosen is None:
        found.append(problem("GROUND_UNKNOWN", field="ground"))
    if not disputed or any(reasons.get(code) not in ("FAIL", "UNKNOWN") for code in disputed):
        found.append(problem("REASON_NOT_DISPUTABLE", field="disputedReasons"))
    elif chosen is not None and any(code not in chosen.disputable_reasons for code in disputed):
        found.append(problem("GROUND_REASON_MISMATCH", field="disputedReasons"))
    statement = (statement or "").strip()
    if not 10 <= len(statement) <= 4000:
        found.append(problem("STATEMENT_INVALID", field="statement"))
    kinds = tuple(f.kind for f in files) + tuple(attested_kinds)
    settings = pilot.settings_for("appeals")
    known = chosen is not None and not any(p.field == "disputedReasons" for p in found)
    if known:
        found += _check_comparison(chosen, comparison)
        found += [problem("EVIDENCE_MISSING", field="evidence", detail=k)
                  for k in chosen.required_evidence if k not in kinds]
    if len(files) > getattr(settings, "max_files", 5):
        found.append(problem("EVIDENCE_TOO_MANY", field="evidence"))
    if known:
        found += _missing_comparison(chosen, comparison, disputed)
        draft = AppealDraft(decision_id=decision_id, ground=ground, disputed_reasons=disputed, statement=statement,
                            comparison_data=dict(comparison), evidence_kinds=kinds,
                            appellant_nik=actor.citizen.nik, assisted_by=actor.assisted_by)
        summary = {"id": decision.id, "outcome": decision.outcome.value, "reasons": reasons, "programme":
                   registration.programme, "region_code": registration.region_code}
        found += [_problem_of(p) for p in await hooks.merged("check_appeal", appeal=draft, decision=summary,
                                                             principal=who)]
    raise_all(found)
    # Last check before the write: a filing queues an SMS; a refusal stores nothing (perlinsos.ratelimits).
    from perlinsos import ratelimits

    await ratelimits.consume(db, pilot, ("appeal", "notification"), actor)
    now = utcnow()
    sla = getattr(settings, "review_sla_days", DEFAULT_SLA_DAYS)
    async with db.write() as session:
        appeal = Appeal(decision_id=decision_id, appellant_person_id=person.id, channel=actor.channel,
                        assisted_by=actor.assisted_by, assisted_by_issuer=actor.assisted_by_issuer,
                        ground=ground, disputed_reasons=list(disputed),
                        statement=statement, comparison_data=dict(comparison), status=AppealStatus.SUBMITTED,
                        submitted_at=now, review_due_at=now + timedelta(days=sla))
        session.add(appeal)
        await session.flush()
        await evidence_files.attach(session, appeal.id, files)
        await notify(session, hooks, appeal, person.id, "APPEAL_RECEIVED")
        if on_write is not None:
            await on_write(session, appeal)
        await audit.record_change(session, who, action="APPEAL_FILED",
                                  entity_type="appeal", entity_id=appeal.id, subject_person_id=person.id,
                                  details={"ground": ground, "disputed": list(disputed),
                                           "channel": actor.channel.value})
    await hooks.notify("appeal_status_changed", appeal={"id": appeal.id, "decision_id": decision_id,
                                                        "ground": ground, "status": "SUBMITTED"},
                       old_status=None, new_status="SUBMITTED")
    return appeal


async def notify(session, hooks: PilotHooks, appeal: Appeal, person_id: int, template: str) -> None:
    """Outbox rows for an appeal step: the portal and each channel the pilot enables."""
    names = ["portal"]
    for plugin, result in await hooks.settled("notification_channels"):
        if not isinstance(result, Exception):
            names += [c.name for c in result or ()]
    now = utcnow()
    for name in dict.fromkeys(names):
        session.add(Notification(person_id=person_id, pilot_id=hooks.pilot.id, appeal_id=appeal.id, channel=name,
                                 template=template, language="id", params={"appeal": appeal.id},
                                 idempotency_key=idempotency_key("appeal", appeal.id, template, name), created_at=now,
                                 next_attempt_at=now))
