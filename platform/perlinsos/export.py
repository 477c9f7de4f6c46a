"""A citizen's rights over their data (UU 27/2022 on personal data protection): who accessed it
(the access log, from the audit chain) and a copy of everything the platform holds about them.

Pasal 7 gives the data subject the right to access and obtain a copy of their personal data;
Pasal 13 a copy in a machine-readable format. The export is one JSON document, and reading it is
itself recorded (purpose ``data_export``): household members whose data it includes see that.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos import audit
from perlinsos.contract import Principal, Role
from perlinsos.db.engine import Database
from perlinsos.db.models import (
    Appeal,
    AuditEvent,
    Consent,
    Decision,
    DecisionReason,
    EvidenceFile,
    Household,
    Notification,
    Person,
    Pilot,
    Registration,
)
from perlinsos.db.types import utcnow
from perlinsos.policy import identifiers

FORMAT = "perlinsos-data-export/1"
EXPORT_PURPOSE = "data_export"

# Operational columns that say nothing about the citizen (queue bookkeeping, provider ids).
_NOTIFICATION_HIDDEN = {"idempotency_key", "provider_reference", "last_error", "next_attempt_at", "person_id"}
# The identity provider's grant id (IKD's ``grant_...``) is a handle on the grant at the provider: GraphQL
# never shows it, nor does the export.
_CONSENT_HIDDEN = {"provider_reference"}


@dataclass(frozen=True)
class Access:
    """One access to a citizen's data, as the citizen is shown it."""

    seq: int
    at: datetime
    action: str
    actor_role: str | None
    actor: str | None  # a staff member's or system's id; never another citizen's identity
    actor_issuer: str | None  # ... and their identity provider (shown with the actor)
    purpose: str | None
    operation: str | None


def shown_actor(actor: str, actor_role: str | None) -> str | None:
    """Staff and system actors by id; citizens (a household member) only by role: their identity
    subject may be derived from their NIK, which the log must not give away."""
    roles = set((actor_role or "").split(","))
    return None if Role.CITIZEN.value in roles else actor


def _access(row) -> Access:
    details = row.details or {}
    actor = shown_actor(row.actor, row.actor_role)
    return Access(seq=row.seq, at=row.occurred_at, action=row.action, actor_role=row.actor_role,
                  actor=actor, actor_issuer=details.get("actor_issuer") if actor else None, purpose=row.purpose,
                  operation=details.get("operation"))


def _others(person_id: int, own: tuple[str | None, str]):
    e = AuditEvent.__table__.c
    issuer, subject = own
    # The citizen's own reads are not news to them; every other actor's are — including someone
    # of another identity provider who happens to carry the same subject.
    actor_issuer = func.coalesce(AuditEvent.details["actor_issuer"].as_string(), "")
    return and_(e.subject_person_id == person_id, or_(e.actor != subject, actor_issuer != (issuer or "")))


async def access_log(conn: AsyncConnection, person_id: int, own: tuple[str | None, str], *,
                     before_seq: int | None = None, limit: int | None = None) -> list[Access]:
    """Accesses by others to ``person_id``'s data, newest first (keyset on the chain's ``seq``)."""
    e = AuditEvent.__table__.c
    stmt = (select(e.seq, e.occurred_at, e.action, e.actor, e.actor_role, e.purpose, e.details)
            .where(_others(person_id, own)).order_by(e.seq.desc()))
    if before_seq is not None:
        stmt = stmt.where(e.seq < before_seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_access(r) for r in await conn.execute(stmt)]


def plain(value: Any) -> Any:
    """JSON-ready: datetimes and dates as ISO text, enums by value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _member(principal: Principal, m) -> dict[str, Any]:
    shown = identifiers.show_person(principal, nik=m.nik, birth_date=m.birth_date, sex=m.sex,
                                    region_code=m.region_code, household_id=m.household_id,
                                    viewer_household_id=m.household_id)
    return {"name": m.name, "nik": shown.nik, "birth_date": plain(shown.birth_date), "birth_year": shown.birth_year,
            "sex": shown.sex, "relationship": m.relationship, "region_code": shown.region_code}


def _row(row, hidden: set[str] = frozenset()) -> dict[str, Any]:
    return {k: plain(v) for k, v in row._mapping.items() if k not in hidden}


async def _all(conn: AsyncConnection, stmt) -> list:
    return list((await conn.execute(stmt)).all())


async def build(conn: AsyncConnection, principal: Principal) -> tuple[dict[str, Any], list[int]]:
    """The export of ``principal`` (a citizen) and the ids of the people whose data it shows."""
    person = (await conn.execute(select(Person.__table__).where(Person.nik == principal.nik))).first()
    doc: dict[str, Any] = {
        "format": FORMAT, "generated_at": plain(utcnow()),
        "legal_basis": "UU 27/2022 tentang Pelindungan Data Pribadi, Pasal 7 dan 13",
        "person": None, "household": None, "consents": [], "registrations": [], "notifications": [],
        "appeals": [], "unattached_evidence": [], "data_access_log": [],
    }
    if person is None:
        return doc, []
    shown = [person.id]
    doc["person"] = _row(person)
    if person.household_id is not None:
        household = (await conn.execute(
            select(Household.__table__).where(Household.id == person.household_id))).one()
        members = await _all(conn, select(Person.__table__).where(
            Person.household_id == household.id, Person.id != person.id).order_by(Person.id))
        shown += [m.id for m in members]
        # What the portal shows of the family on one's own KK (me.household.members), through the same
        # exposure rules (policy/identifiers.py): no phones; other members' NIKs masked, birth years only.
        kk = identifiers.show_household(principal, kk_number=household.kk_number, region_code=household.region_code,
                                        household_id=household.id, viewer_household_id=household.id)
        doc["household"] = {"kk_number": kk.kk_number, "region_code": kk.region_code,
                            "members": [_member(principal, m) for m in members]}
    doc["consents"] = [_row(r, _CONSENT_HIDDEN) for r in await _all(
        conn, select(Consent.__table__).where(Consent.person_id == person.id).order_by(Consent.id))]

    regs = await _all(conn, select(Registration.__table__, Pilot.code.label("pilot_code"))
                      .join(Pilot, Pilot.id == Registration.pilot_id)
                      .where(Registration.person_id == person.id).order_by(Registration.id))
    decisions = await _all(conn, select(Decision.__table__).where(
        Decision.registration_id.in_([r.id for r in regs])).order_by(Decision.id)) if regs else []
    reasons = await _all(conn, select(DecisionReason.__table__).where(
        DecisionReason.decision_id.in_([d.id for d in decisions])).order_by(DecisionReason.id)) if decisions else []
    by_decision: dict[int, list] = {}
    for r in reasons:
        by_decision.setdefault(r.decision_id, []).append(_row(r, {"decision_id"}))
    by_registration: dict[int, list] = {}
    for d in decisions:
        by_registration.setdefault(d.registration_id, []).append(
            {**_row(d, {"registration_id"}), "reasons": by_decision.get(d.id, [])})
    doc["registrations"] = [{**_row(r, {"person_id"}), "decisions": by_registration.get(r.id, [])}
                            for r in regs]

    doc["notifications"] = [_row(r, _NOTIFICATION_HIDDEN) for r in await _all(
        conn, select(Notification.__table__).where(Notification.person_id == person.id).order_by(Notification.id))]

    appeals = await _all(conn, select(Appeal.__table__).where(
        Appeal.appellant_person_id == person.id).order_by(Appeal.id))
    evidence = await _all(conn, select(EvidenceFile.__table__).where(
        EvidenceFile.appeal_id.in_([a.id for a in appeals])).order_by(EvidenceFile.id)) if appeals else []
    files: dict[int, list] = {}
    for f in evidence:  # metadata only: the files themselves are downloaded one by one
        files.setdefault(f.appeal_id, []).append(_row(f, {"appeal_id"}))
    doc["appeals"] = [{**_row(a, {"appellant_person_id", "row_version"}), "evidence": files.get(a.id, [])}
                      for a in appeals]
    doc["unattached_evidence"] = [_row(f, {"appeal_id"}) for f in await _all(
        conn, select(EvidenceFile.__table__).where(
            EvidenceFile.uploaded_by == principal.subject, EvidenceFile.uploaded_by_issuer == principal.issuer,
            EvidenceFile.appeal_id.is_(None)).order_by(EvidenceFile.id))]

    doc["data_access_log"] = [plain(vars(a)) for a in await access_log(conn, person.id, principal.identity)]
    return doc, shown


async def export(db: Database, principal: Principal, *, operation: str | None = None) -> dict[str, Any]:
    """Build the export, then record it as an access to everyone whose data it shows."""
    if not (principal.is_citizen and principal.nik):
        raise ValueError("only a citizen signed in with their NIK has an export")
    async with db.engine.connect() as conn:
        doc, shown = await build(conn, principal)
    if shown:
        async with db.write() as session:
            await audit.record_reads(session, principal, shown, purpose=EXPORT_PURPOSE, operation=operation)
    return doc
