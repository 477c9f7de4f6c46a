"""Evidence records: storing an upload, who may download it, attaching files to an appeal.

The owner of an evidence file is the citizen it was uploaded for (``uploaded_by`` holds their
identity subject), whether they uploaded it themselves or a facilitator did it on their phone
with the citizen's own token. Until it is attached to an appeal a file is visible to its owner,
to the facilitator who uploaded it, and to the national office (ADMIN); once attached, also to the
facilitator who assisted the appeal and to the reviewers of the registration's region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos import audit, globalids, policy
from perlinsos.policy import duties
from perlinsos.contract import Principal, Role
from perlinsos.db.engine import Database
from perlinsos.db.models import (
    Appeal,
    AuditEvent,
    Decision,
    EvidenceFile,
    Person,
    Registration,
)
from perlinsos.db.types import utcnow
from perlinsos.appeals.evidence.errors import refusal
from perlinsos.appeals.evidence.storage import Staged, Storage

UPLOADED = "EVIDENCE_UPLOADED"
DELETED = "EVIDENCE_DELETED"
READ = "READ_PERSONAL_DATA"
ENTITY = "evidence_file"

#: kinds every pilot accepts; a pilot's appeal grounds may name more (their ``required_evidence``).
BASE_KINDS = ("KTP", "KK", "ELECTRICITY_BILL", "HOUSE_PHOTO", "SKTM", "PAYSLIP", "INCOME_STATEMENT",
              "SUPPORTING_DOCUMENT")


async def kinds(hooks) -> tuple[str, ...]:
    """The evidence kinds the pilot accepts: the platform's plus any its appeal grounds require."""
    found = list(BASE_KINDS)
    if hooks is not None:
        for ground in await hooks.merged("appeal_grounds"):
            found += [k for k in getattr(ground, "required_evidence", ()) if k not in found]
    return tuple(found)


async def _lock(session: AsyncSession, key: str) -> None:
    """Serialise writers on ``key`` until the transaction ends. SQLite's write transactions are
    serialised already (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


Identity = tuple  # (issuer, subject): who owns a file; never a bare subject


def owned_by(owner: Identity):
    """The files of ``owner`` (issuer, subject)."""
    issuer, subject = owner
    return (EvidenceFile.uploaded_by == subject) & (EvidenceFile.uploaded_by_issuer == issuer)


def owner_lock(owner: Identity) -> str:
    return f"evidence-owner:{owner[0]}#{owner[1]}"


def object_lock(sha256: str) -> str:
    return f"evidence-object:{sha256}"


async def unattached_count(session: AsyncSession, owner: Identity) -> int:
    return (await session.execute(
        select(func.count()).select_from(EvidenceFile).where(owned_by(owner), EvidenceFile.appeal_id.is_(None))
    )).scalar_one()


async def unattached(session: AsyncSession, owner: Identity) -> list[EvidenceFile]:
    """The owner's files not yet attached to an appeal, oldest first (to list them to the citizen)."""
    return list((await session.execute(
        select(EvidenceFile).where(owned_by(owner), EvidenceFile.appeal_id.is_(None)).order_by(EvidenceFile.id)
    )).scalars())


@dataclass(frozen=True)
class Stored:
    row: EvidenceFile
    created: bool  # False: the same file (content and kind) was already waiting; no new row


async def record_upload(
    db: Database, staged: Staged, *, owner: Principal, person_id: int, uploader: Principal,
    facilitator: Principal | None, kind: str, filename: str, content_type: str, max_files: int,
) -> Stored:
    """One transaction: the count limit, the object put in place, the row and its audit row.

    A refusal discards the staged bytes, so nothing is stored. Re-sending a file that is already
    waiting for the same owner and kind answers that file (a retried upload is not a new one).
    """
    try:
        async with db.write() as session:
            await _lock(session, owner_lock(owner.identity))
            same = (await session.execute(
                select(EvidenceFile).where(
                    owned_by(owner.identity), EvidenceFile.appeal_id.is_(None),
                    EvidenceFile.sha256 == staged.sha256, EvidenceFile.kind == kind)
                .order_by(EvidenceFile.id).limit(1)
            )).scalar_one_or_none()
            if same is not None:
                await staged.discard()
                return Stored(same, created=False)
            if await unattached_count(session, owner.identity) >= max_files:
                raise refusal("EVIDENCE_TOO_MANY", detail=(f"maks. {max_files}", f"at most {max_files}"))
            await _lock(session, object_lock(staged.sha256))
            await staged.commit()
            now = utcnow()
            row = EvidenceFile(appeal_id=None, kind=kind, filename=filename, content_type=content_type,
                               size_bytes=staged.size, sha256=staged.sha256, uploaded_by=owner.subject,
                               uploaded_by_issuer=owner.issuer, uploaded_at=now)
            session.add(row)
            await session.flush()
            # The upload's audit row (same timestamp as the row, so it is found by index) is also
            # the record of the facilitator who assisted, until the file is attached to an appeal.
            await audit.record_change(
                session, uploader, occurred_at=now, action=UPLOADED, entity_type=ENTITY,
                entity_id=row.id, subject_person_id=person_id, purpose="appeal-evidence",
                details={"owner": owner.subject, "owner_issuer": owner.issuer,
                         "assisted_by": facilitator.subject if facilitator else None,
                         "assisted_by_issuer": facilitator.issuer if facilitator else None, "kind": kind,
                         "sha256": staged.sha256, "size": staged.size, "content_type": content_type})
            return Stored(row, created=True)
    finally:
        await staged.discard()  # no-op once committed; removes the temporary file otherwise


@dataclass(frozen=True)
class Access:
    row: EvidenceFile
    owner: bool  # the citizen whose evidence it is
    assisted: bool  # the facilitator who uploaded it for them
    person_id: int | None  # whose personal data the file is


async def _upload_record(session: AsyncSession, row: EvidenceFile) -> dict[str, Any] | None:
    event = (await session.execute(
        select(AuditEvent.subject_person_id, AuditEvent.details).where(
            AuditEvent.occurred_at == row.uploaded_at, AuditEvent.action == UPLOADED,
            AuditEvent.entity_type == ENTITY, AuditEvent.entity_id == str(row.id))
        .limit(1)
    )).first()
    if event is None:
        return None
    return {"person_id": event.subject_person_id, **(event.details or {})}


def _facilitator_of(principal: Principal, region_code: str | None) -> bool:
    """A facilitator whose villages include ``region_code`` (the same rule as for registrations)."""
    scopes = [s for s in principal.scopes if s.role == Role.FACILITATOR]
    return region_code is not None and policy.region_in_scopes(region_code, scopes)


async def access(session: AsyncSession, principal: Principal, evidence_id: int) -> Access | None:
    """The file and how ``principal`` may see it, or ``None`` — for a missing file and for one
    they may not see alike (a file you may not see does not exist for you)."""
    row = await session.get(EvidenceFile, evidence_id)
    if row is None:
        return None
    upload = await _upload_record(session, row) or {}
    person_id = upload.get("person_id")
    uploaded_for_them = principal.is_citizen and principal.identity == (row.uploaded_by_issuer, row.uploaded_by)
    assisted_upload = upload.get("assisted_by") is not None and \
        (upload.get("assisted_by_issuer"), upload.get("assisted_by")) == principal.identity
    if row.appeal_id is None:
        upload_facilitator = False
        if assisted_upload and person_id is not None:  # still assigned to the citizen's village
            regions = (await session.execute(
                select(Registration.region_code).where(Registration.person_id == person_id))).scalars()
            upload_facilitator = any(_facilitator_of(principal, region) for region in regions)
        if uploaded_for_them or upload_facilitator or policy.is_admin(principal):
            return Access(row, uploaded_for_them, upload_facilitator, person_id)
        return None
    found = (await session.execute(
        select(Appeal, Registration, Person.nik)
        .join(Person, Person.id == Appeal.appellant_person_id)
        .join(Decision, Decision.id == Appeal.decision_id)
        .join(Registration, Registration.id == Decision.registration_id)
        .where(Appeal.id == row.appeal_id)
    )).first()
    if found is None:
        return None
    appeal, registration, appellant_nik = found
    region, appellant_id = registration.region_code, appeal.appellant_person_id
    upload_facilitator = assisted_upload and _facilitator_of(principal, region)
    if uploaded_for_them or (principal.is_citizen and principal.nik == appellant_nik):
        return Access(row, True, upload_facilitator, appellant_id)
    # admin, reviewers of the region, the facilitator who assisted the appeal (in their villages):
    # the registration rules of perlinsos.policy, with the appeal's facilitator.
    if upload_facilitator:
        return Access(row, False, True, appellant_id)
    if not policy.can_view_registration(principal, applicant_nik=appellant_nik, region_code=region,
                                        assisted_by=appeal.assisted_by, assisted_by_issuer=appeal.assisted_by_issuer,
                                        pilot_id=registration.pilot_id):
        return None
    # separation of duties: a reviewer tied to the appeal (about them, their household, assisted by
    # them) does not read its evidence either, unless another ground lets them
    if policy.reads_appeal_as_reviewer_only(
            principal, appellant_nik=appellant_nik, region_code=region, pilot_id=registration.pilot_id,
            assisted=[(appeal.assisted_by, appeal.assisted_by_issuer)]) \
            and await duties.appeal_conflict(session, principal, appeal, registration) is not None:
        return None
    return Access(row, False, False, appellant_id)


async def record_download(db: Database, principal: Principal, found: Access) -> None:
    """Someone not the owner read the file: the access log says who, whose and which file."""
    async with db.write() as session:
        await audit.record_change(
            session, principal, action=READ, entity_type=ENTITY, entity_id=found.row.id,
            subject_person_id=found.person_id, purpose="appeal-evidence",
            details={"operation": "downloadEvidence", "kind": found.row.kind})


async def delete_unattached(db: Database, storage: Storage, principal: Principal, evidence_id: int) -> None:
    """The owner (or the facilitator who uploaded it) deletes a file not yet attached to an appeal;
    its bytes go too when no other record uses the same content."""
    async with db.write() as session:
        found = await access(session, principal, evidence_id)
        if found is None:
            raise refusal("EVIDENCE_NOT_FOUND")
        if not (found.owner or found.assisted):
            raise refusal("FORBIDDEN")  # staff may read it, only the citizen (or their facilitator) deletes
        row = found.row
        if row.appeal_id is not None:
            raise refusal("EVIDENCE_ALREADY_ATTACHED")
        deleted = (await session.execute(
            EvidenceFile.__table__.delete().where(EvidenceFile.id == row.id, EvidenceFile.appeal_id.is_(None))
        )).rowcount
        if deleted != 1:  # attached meanwhile
            raise refusal("EVIDENCE_ALREADY_ATTACHED")
        await audit.record_change(session, principal, action=DELETED, entity_type=ENTITY,
                                  entity_id=row.id, subject_person_id=found.person_id,
                                  purpose="appeal-evidence", details={"kind": row.kind})
        await _lock(session, object_lock(row.sha256))
        others = (await session.execute(
            select(func.count()).select_from(EvidenceFile).where(EvidenceFile.sha256 == row.sha256)
        )).scalar_one()
        if others == 0:
            await storage.delete(row.sha256)


async def sweep_orphans(db: Database, storage: Storage, *, older_than: timedelta = timedelta(hours=1)) -> int:
    """Delete stored objects no record uses (left by a process that died between storing a file
    and committing its row). Returns how many were deleted."""
    cutoff = (utcnow() - older_than).timestamp()
    removed = 0
    for sha256, modified in list(storage.objects()):
        if modified > cutoff:
            continue
        async with db.write() as session:
            await _lock(session, object_lock(sha256))
            used = (await session.execute(
                select(func.count()).select_from(EvidenceFile).where(EvidenceFile.sha256 == sha256)
            )).scalar_one()
            if used == 0:
                await storage.delete(sha256)
                removed += 1
    return removed


# --- for the appeals service ------------------------------------------------------------------


def _number(value: int | str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return globalids.decode("EvidenceFile", str(value))
    except globalids.MalformedId:  # a malformed id is simply "not found"
        raise refusal("EVIDENCE_NOT_FOUND", field="evidence") from None


async def attachable(session: AsyncSession, owner: Identity, ids: Sequence[int | str]) -> list[EvidenceFile]:
    """The files ``ids`` (numbers or ``EvidenceFile`` global ids), in the given order without
    repeats, checked to be ``owner``'s ((issuer, subject)) and not attached to any appeal yet.

    Raises the ``EVIDENCE_NOT_FOUND`` problem (field ``evidence``) for any id that is missing,
    someone else's or already attached — the same answer for all three.
    """
    numbers = list(dict.fromkeys(_number(i) for i in ids))
    if not numbers:
        return []
    rows = {r.id: r for r in (await session.execute(
        select(EvidenceFile).where(EvidenceFile.id.in_(numbers), owned_by(owner), EvidenceFile.appeal_id.is_(None))
    )).scalars()}
    if len(rows) != len(numbers):
        raise _not_found()
    return [rows[n] for n in numbers]


async def attach(session: AsyncSession, appeal_id: int, files: Sequence[EvidenceFile]) -> None:
    """Attach ``files`` (from :func:`attachable`) to the appeal, in the caller's transaction.

    Conditional on each file still being unattached: when a concurrent appeal took one first,
    raises ``EVIDENCE_NOT_FOUND`` and the caller's transaction must roll back.
    """
    ids = [f.id for f in files]
    if not ids:
        return
    done = (await session.execute(
        update(EvidenceFile).where(EvidenceFile.id.in_(ids), EvidenceFile.appeal_id.is_(None))
        .values(appeal_id=appeal_id).execution_options(synchronize_session=False)
    )).rowcount
    if done != len(ids):
        raise _not_found()
    for f in files:
        f.appeal_id = appeal_id


def _not_found():
    from perlinsos.problems import MESSAGES, problem

    if "EVIDENCE_NOT_FOUND" in MESSAGES:  # the appeals catalogue's text ("not found or already used")
        return problem("EVIDENCE_NOT_FOUND", field="evidence")
    return refusal("EVIDENCE_NOT_FOUND", field="evidence")
