"""Training pilots: a safe place for a facilitator class (Bimtek TOT).

A training pilot (``training = true`` in the pilot file, or createPilot's ``training``) runs on the
simulators only: its citizens sign in at the IKD simulator (the synthetic population) and its SMS
go to the SMS simulator, so a class can never reach a real person or a real record. Its texts are
prefixed LATIHAN / TRAINING, it is left out of every statistic, and an admin can reset it to its
start for the next class (:func:`reset`): its registrations, consents, decisions, appeals, evidence
and notifications are deleted, and so are the client keys (:mod:`perlinsos.idempotency`) whose
answer names one of them (a key sent again after the reset is a new request, never a replay of a
deleted row); the audit log is append-only, so its rows stay and the reset adds one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit
from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.globalids import MalformedId, decode
from perlinsos.db.models import (Appeal, Base, ClientKey, Consent, Decision, DecisionReason, EvidenceFile, Notification,
                                 Pilot, Registration, SelectionPartition, SelectionRun)
from perlinsos.problems import problem

#: what a training pilot's texts begin with, per language
PREFIX = {"id": "LATIHAN: ", "en": "TRAINING: "}
#: the header every response about a training pilot carries
HEADER = "X-Perlinsos-Training"
#: the identity plugin a training pilot must use (pointing at its simulator) and the ones it may not
SIMULATED_IDENTITY = "ikd"
REFUSED_PLUGINS = {"oidc": "a regional identity provider signs in real people: a training pilot signs in "
                           "the IKD simulator's synthetic population only"}
#: settings naming a server a plugin talks to; in a training pilot each must be a simulator (loopback)
_SERVER_SETTINGS = ("issuer", "jwks_url", "person_api_url", "gateway_url", "consent_url", "token_url")


def _is_simulator(url: Any) -> bool:
    """The simulators run on this machine (perlinsos ikd-sim / sms-sim): a loopback address."""
    host = urlsplit(str(url)).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def training_problems(given: dict[str, Any], validated: dict[str, Any]) -> list[tuple[str, str]]:
    """Why a training pilot's plugins could reach real people or real records, named by setting."""
    problems: list[tuple[str, str]] = []
    if SIMULATED_IDENTITY not in given:
        problems.append((f"plugins.{SIMULATED_IDENTITY}", "a training pilot signs citizens in at the IKD simulator: "
                                                          "enable the ikd plugin with the simulator's issuer"))
    for name, settings in validated.items():
        if name in REFUSED_PLUGINS:
            problems.append((f"plugins.{name}", REFUSED_PLUGINS[name]))
            continue
        for key in _SERVER_SETTINGS:
            value = getattr(settings, key, None)
            if value is not None and not _is_simulator(value):
                problems.append((f"plugins.{name}.{key}",
                                 f"{value} is not a simulator: a training pilot talks only to the local "
                                 "simulators (perlinsos ikd-sim, perlinsos sms-sim), never a real service"))
    return problems


def mark(text: str | None, language: str) -> str | None:
    """A training pilot's notification text, marked as training (once)."""
    if text is None:
        return None
    prefix = PREFIX.get(language, PREFIX["id"])
    return text if text.startswith(prefix) else prefix + text


@dataclass(frozen=True)
class ResetCounts:
    registrations: int = 0
    consents: int = 0
    decisions: int = 0
    appeals: int = 0
    evidence_files: int = 0
    notifications: int = 0
    selection_runs: int = 0


async def reset(db: Database, principal: Principal | None, code: str, *, actor: str | None = None,
                storage: Any = None) -> ResetCounts:
    """Delete what a class did in training pilot ``code``, in one transaction, audited. Raises
    :class:`Problem` PILOT_UNKNOWN / NOT_A_TRAINING_PILOT before anything is changed."""
    async with db.write() as session:
        row = (await session.execute(select(Pilot).where(Pilot.code == code))).scalar_one_or_none()
        if row is None:
            raise problem("PILOT_UNKNOWN", field="pilot")
        if not row.training:
            raise problem("NOT_A_TRAINING_PILOT", field="pilot")
        counts, hashes = await _delete_all(session, row.id)
        await audit.record_change(session, principal, action="TRAINING_PILOT_RESET", entity_type="pilot",
                                  entity_id=row.code, details=vars(counts), actor=actor)
        orphaned = [sha for sha in hashes if not (await session.execute(
            select(func.count()).select_from(EvidenceFile).where(EvidenceFile.sha256 == sha))).scalar_one()]
    if storage is not None:  # bytes no record uses any more; a crash here leaves them to sweep_orphans
        for sha in orphaned:
            await storage.delete(sha)
    return counts


async def _delete_all(session: AsyncSession, pilot_id: int) -> tuple[ResetCounts, list[str]]:
    regs = select(Registration.id).where(Registration.pilot_id == pilot_id).scalar_subquery()
    decisions = select(Decision.id).where(Decision.registration_id.in_(regs)).scalar_subquery()
    appeals = select(Appeal.id).where(Appeal.decision_id.in_(decisions)).scalar_subquery()
    consent_ids = [c for c in (await session.execute(
        select(Registration.consent_id).where(Registration.pilot_id == pilot_id,
                                              Registration.consent_id.is_not(None)))).scalars()]
    hashes = list((await session.execute(
        select(EvidenceFile.sha256).where(EvidenceFile.appeal_id.in_(appeals)).distinct())).scalars())

    async def gone(stmt) -> int:
        return (await session.execute(stmt.execution_options(synchronize_session=False))).rowcount or 0

    # client keys answering with a row about to go: before the rows, while the subqueries still find them
    evidence_ids = select(EvidenceFile.id).where(EvidenceFile.appeal_id.in_(appeals)).scalar_subquery()
    await gone(delete(ClientKey).where(
        ((ClientKey.operation == "registerHousehold") & ClientKey.entity_id.in_(regs))
        | (ClientKey.operation.in_(("fileAppeal", "fileAppealInPerson")) & ClientKey.entity_id.in_(appeals))
        | ((ClientKey.operation == "evidenceUpload") & ClientKey.entity_id.in_(evidence_ids))))
    await _forget_legacy_uploads(session, set((await session.execute(
        select(EvidenceFile.id).where(EvidenceFile.appeal_id.in_(appeals)))).scalars()))

    notifications = await gone(delete(Notification).where(
        (Notification.pilot_id == pilot_id) | Notification.decision_id.in_(decisions)
        | Notification.appeal_id.in_(appeals)))
    evidence = await gone(delete(EvidenceFile).where(EvidenceFile.appeal_id.in_(appeals)))
    attestation = Base.metadata.tables.get("appeal_attestation")  # village-office appeals
    if attestation is not None:
        await gone(attestation.delete().where(attestation.c.appeal_id.in_(appeals)))
    appeal_count = await gone(delete(Appeal).where(Appeal.decision_id.in_(decisions)))
    await gone(delete(DecisionReason).where(DecisionReason.decision_id.in_(decisions)))
    decision_count = await gone(delete(Decision).where(Decision.registration_id.in_(regs)))
    runs = select(SelectionRun.id).where(SelectionRun.pilot_id == pilot_id).scalar_subquery()
    await gone(delete(SelectionPartition).where(SelectionPartition.run_id.in_(runs)))
    run_count = await gone(delete(SelectionRun).where(SelectionRun.pilot_id == pilot_id))
    registrations = await gone(delete(Registration).where(Registration.pilot_id == pilot_id))
    consents = 0
    if consent_ids:  # a consent another pilot's registration still rests on stays
        still_used = select(Registration.consent_id).where(Registration.consent_id.is_not(None)).scalar_subquery()
        consents = await gone(delete(Consent).where(Consent.id.in_(consent_ids), Consent.id.not_in(still_used)))
        await gone(delete(ClientKey).where(ClientKey.operation == "giveConsent", ClientKey.entity_id.in_(consent_ids),
                                           ClientKey.entity_id.not_in(select(Consent.id).scalar_subquery())))
    return ResetCounts(registrations=registrations, consents=consents, decisions=decision_count,
                       appeals=appeal_count, evidence_files=evidence, notifications=notifications,
                       selection_runs=run_count), hashes


async def _forget_legacy_uploads(session: AsyncSession, evidence_ids: set[int]) -> None:
    """Upload keys completed before they recorded their entity id name the file only in the stored
    answer: those naming a file about to go are deleted too."""
    if not evidence_ids:
        return
    rows = (await session.execute(select(ClientKey).where(
        ClientKey.operation == "evidenceUpload", ClientKey.entity_id.is_(None),
        ClientKey.completed_at.is_not(None)))).scalars().all()
    for row in rows:
        try:
            named = decode("EvidenceFile", ((row.response or {}).get("body") or {}).get("id"))
        except MalformedId:  # an answer naming no file names none of these
            continue
        if named in evidence_ids:
            await session.delete(row)
