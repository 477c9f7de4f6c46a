"""Filing an appeal: every rule checked before anything is written, then one transaction for
the appeal, its evidence, its audit row and its notification (outbox)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from perlinsos.problems import problem

OPEN = (AppealStatus.SUBMITTED.value, AppealStatus.UNDER_REVIEW.value)
DEFAULT_SLA_DAYS = 14


async def grounds(hooks: PilotHooks) -> dict[str, AppealGround]:
    found: dict[str, AppealGround] = {}
    for ground in await hooks.merged("appeal_grounds"):
        found.setdefault(ground.code, ground)
    return found


def _check_comparison(ground: AppealGround, data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        kind = ground.comparison_fields.get(name)
        if kind is None:
            raise problem("COMPARISON_DATA_INVALID", field=f"comparisonData.{name}", detail=f"unknown field {name}")
        ok = {"int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
              "str": isinstance(value, str) and 0 < len(value) <= 200}.get(kind)
        if kind == "date":
            try:
                date.fromisoformat(str(value))
                ok = True
            except ValueError:
                ok = False
        if not ok:
            raise problem("COMPARISON_DATA_INVALID", field=f"comparisonData.{name}", detail=f"{name}: {kind}")


def _problem_of(found: AppealProblem) -> Problem:
    return Problem(found.code, dict(found.message), field=found.field)


async def file_appeal(db: Database, hooks: PilotHooks, actor: Actor, *, decision_id: int, ground: str,
                      disputed: Sequence[str], statement: str, comparison: Mapping[str, Any],
                      evidence_ids: Sequence[int]) -> Appeal:
    from perlinsos.appeals import evidence as evidence_files

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
    known = await grounds(hooks)
    chosen = known.get(ground)
    if chosen is None:
        raise problem("GROUND_UNKNOWN", field="ground")
    disputed = tuple(dict.fromkeys(disputed))
    if not disputed or any(reasons.get(code) not in ("FAIL", "UNKNOWN") for code in disputed):
        raise problem("REASON_NOT_DISPUTABLE", field="disputedReasons")
    if any(code not in chosen.disputable_reasons for code in disputed):
        raise problem("GROUND_REASON_MISMATCH", field="disputedReasons")
    statement = (statement or "").strip()
    if not 10 <= len(statement) <= 4000:
        raise problem("STATEMENT_INVALID", field="statement")
    _check_comparison(chosen, comparison)
    kinds = tuple(f.kind for f in files)
    missing = [k for k in chosen.required_evidence if k not in kinds]
    if missing:
        raise problem("EVIDENCE_MISSING", field="evidence", detail=", ".join(missing))
    settings = pilot.settings_for("appeals")
    if len(files) > getattr(settings, "max_files", 5):
        raise problem("EVIDENCE_TOO_MANY", field="evidence")
    draft = AppealDraft(decision_id=decision_id, ground=ground, disputed_reasons=disputed, statement=statement,
                        comparison_data=dict(comparison), evidence_kinds=kinds, appellant_nik=actor.citizen.nik,
                        assisted_by=actor.assisted_by)
    summary = {"id": decision.id, "outcome": decision.outcome.value, "reasons": reasons, "programme":
               registration.programme, "region_code": registration.region_code}
    for found in await hooks.merged("check_appeal", appeal=draft, decision=summary,
                                    principal=actor.facilitator or actor.citizen):
        raise _problem_of(found)
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
        await audit.record_change(session, actor.facilitator or actor.citizen, action="APPEAL_FILED",
                                  entity_type="appeal", entity_id=appeal.id, subject_person_id=person.id,
                                  details={"ground": ground, "disputed": list(disputed)})
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
