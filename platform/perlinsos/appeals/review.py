"""The review workflow: SUBMITTED → UNDER_REVIEW (a reviewer of the region claims it) → UPHELD
or DISMISSED; WITHDRAWN by the appellant. Every move is one conditional UPDATE, so of two
reviewers acting at once exactly one wins and the other gets a conflict; every move is audited
and notified. Upholding records corrected facts and re-runs selection for the registration."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from perlinsos import audit, policy
from perlinsos.policy import duties
from perlinsos.appeals.filing import OPEN, notify
from perlinsos.contract import Principal, Role
from perlinsos.db.engine import Database
from perlinsos.db.models import Appeal, AppealStatus, Decision, Registration
from perlinsos.db.types import utcnow
from perlinsos.plugins import PilotHooks
from perlinsos.errors import Problem
from perlinsos.problems import problem
from perlinsos.selection import run_selection

S = AppealStatus
log = logging.getLogger(__name__)
CORRECTABLE = {"monthly_income": int, "electricity_va": int, "welfare_decile": int, "car_ownership": int,
               "bank_flags": list, "state_employment": list}


async def _load(db: Database, appeal_id: int, pilot_id: int):
    async with db.read() as session:
        return (await session.execute(
            select(Appeal, Registration).join(Decision, Decision.id == Appeal.decision_id)
            .join(Registration, Registration.id == Decision.registration_id)
            .where(Appeal.id == appeal_id, Registration.pilot_id == pilot_id))).first()


def _reviewer_for(principal: Principal, region_code: str) -> bool:
    scopes = [s for s in principal.scopes if s.role == Role.REVIEWER]
    return policy.region_in_scopes(region_code, scopes)


async def _reviewable(db: Database, hooks: PilotHooks, principal: Principal, appeal_id: int, step: str):
    """The appeal and its registration, when ``principal`` may review it: a reviewer of its region
    (else "not found", as for any record one may not see) who is not tied to it (separation of
    duties, perlinsos.policy.duties). Checked before any state rule; a refusal writes nothing."""
    found = await _load(db, appeal_id, hooks.pilot.id)
    if found is None or not _reviewer_for(principal, found.Registration.region_code):
        raise problem("APPEAL_NOT_FOUND")
    async with db.read() as session:
        tie = await duties.appeal_conflict(session, principal, found.Appeal, found.Registration)
    if tie is not None:
        # no audit row (no refusal is audited in the project); the log keeps the attempt, without the
        # subject (a test sign-in's subject embeds a NIK)
        log.warning("separation of duties: %s of appeal %s refused (%s)", step, appeal_id, tie)
        raise problem("CONFLICT_OF_INTEREST")
    return found


async def _move(db: Database, appeal: Appeal, principal: Principal, *, allowed: tuple[str, ...], values: dict,
                action: str, extra_where=None) -> None:
    conditions = [Appeal.id == appeal.id, Appeal.status.in_(allowed), Appeal.row_version == appeal.row_version]
    if extra_where is not None:
        conditions.append(extra_where)
    async with db.write() as session:
        result = await session.execute(update(Appeal).where(*conditions)
                                       .values(row_version=Appeal.row_version + 1, **values)
                                       .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise problem("APPEAL_CONFLICT")  # someone else moved it first
        await audit.record_change(session, principal, action=action, entity_type="appeal", entity_id=appeal.id,
                                  subject_person_id=appeal.appellant_person_id,
                                  details={"from": appeal.status.value, "to": values.get("status")})


async def claim(db: Database, hooks: PilotHooks, principal: Principal, appeal_id: int) -> None:
    """Take an appeal into review. Claiming one the reviewer already holds changes nothing and
    succeeds (a retried request, a second tab); held by another reviewer: APPEAL_CONFLICT."""
    appeal = (await _reviewable(db, hooks, principal, appeal_id, "claim")).Appeal
    if _held_by(appeal, principal):
        return
    if appeal.status != S.SUBMITTED:
        raise problem("APPEAL_CONFLICT" if appeal.status == S.UNDER_REVIEW else "APPEAL_TRANSITION_NOT_ALLOWED")
    try:
        await _move(db, appeal, principal, allowed=(S.SUBMITTED.value,), action="APPEAL_CLAIMED",
                    values={"status": S.UNDER_REVIEW.value, "reviewer": principal.subject,
                            "reviewer_issuer": principal.issuer, "claimed_at": utcnow()})
    except Problem:
        # the same reviewer's request racing itself: whichever won, the appeal is theirs
        if _held_by((await _load(db, appeal_id, hooks.pilot.id)).Appeal, principal):
            return
        raise
    await _event(hooks, appeal, S.SUBMITTED.value, S.UNDER_REVIEW.value)


def _held_by(appeal: Appeal, principal: Principal) -> bool:
    return appeal.status == S.UNDER_REVIEW and (appeal.reviewer_issuer, appeal.reviewer) == principal.identity


def _corrections(facts: dict[str, Any] | None) -> dict[str, Any]:
    facts = dict(facts or {})
    for name, value in facts.items():
        kind = CORRECTABLE.get(name)
        if kind is None or not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise problem("CORRECTION_INVALID", field=f"correctedFacts.{name}")
    return facts


async def resolve(db: Database, hooks: PilotHooks, principal: Principal, appeal_id: int, *, upheld: bool,
                  note: str, corrected_facts: dict[str, Any] | None = None) -> int | None:
    """Uphold (with corrected facts) or dismiss; returns the new decision id when upheld."""
    found = await _reviewable(db, hooks, principal, appeal_id, "resolve")
    appeal, registration = found.Appeal, found.Registration
    if appeal.status != S.UNDER_REVIEW:
        raise problem("APPEAL_TRANSITION_NOT_ALLOWED")
    if (appeal.reviewer_issuer, appeal.reviewer) != principal.identity:
        raise problem("APPEAL_CONFLICT")  # claimed by another reviewer (of any provider)
    note = (note or "").strip()
    if not 5 <= len(note) <= 4000:
        raise problem("RESOLUTION_NOTE_INVALID", field="note")
    facts = _corrections(corrected_facts) if upheld else None
    if upheld and not facts:
        raise problem("CORRECTION_INVALID", field="correctedFacts")
    status = S.UPHELD if upheld else S.DISMISSED
    await _move(db, appeal, principal, allowed=(S.UNDER_REVIEW.value,), action=f"APPEAL_{status.value}",
                values={"status": status.value, "resolution_note": note, "corrected_facts": facts,
                        "resolved_at": utcnow()},
                extra_where=(Appeal.reviewer == principal.subject) & (Appeal.reviewer_issuer == principal.issuer))
    new_decision = None
    if upheld:
        # the corrected facts now outrank the sources for this registration, in this and every later run
        await run_selection(db, hooks, registration_ids=[registration.id], started_by=principal.subject,
                            cause="APPEAL")
        async with db.write() as session:
            new_decision = (await session.execute(select(Decision.id).where(
                Decision.registration_id == registration.id, Decision.is_current.is_(True)))).scalar_one()
            await session.execute(update(Appeal).where(Appeal.id == appeal.id)
                                  .values(resulting_decision_id=new_decision)
                                  .execution_options(synchronize_session=False))
    async with db.write() as session:
        fresh = await session.get(Appeal, appeal.id)
        await notify(session, hooks, fresh, appeal.appellant_person_id, f"APPEAL_{status.value}")
    await _event(hooks, appeal, S.UNDER_REVIEW.value, status.value)
    return new_decision


async def withdraw(db: Database, hooks: PilotHooks, citizen: Principal, appeal_id: int) -> None:
    found = await _load(db, appeal_id, hooks.pilot.id)
    if found is None:
        raise problem("APPEAL_NOT_FOUND")
    appeal = found.Appeal
    async with db.read() as session:
        from perlinsos.db.models import Person

        owner = await session.get(Person, appeal.appellant_person_id)
    if owner is None or owner.nik != citizen.nik:
        raise problem("APPEAL_NOT_FOUND")
    if appeal.status.value not in OPEN:
        raise problem("APPEAL_TRANSITION_NOT_ALLOWED")
    await _move(db, appeal, citizen, allowed=OPEN, action="APPEAL_WITHDRAWN",
                values={"status": S.WITHDRAWN.value, "resolved_at": utcnow()})
    await _event(hooks, appeal, appeal.status.value, S.WITHDRAWN.value)


async def _event(hooks: PilotHooks, appeal: Appeal, old: str, new: str) -> None:
    await hooks.notify("appeal_status_changed", appeal={"id": appeal.id, "decision_id": appeal.decision_id,
                                                        "ground": appeal.ground, "status": new},
                       old_status=old, new_status=new)
