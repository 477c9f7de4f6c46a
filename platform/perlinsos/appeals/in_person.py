"""Appeals filed in person at the village office, recorded by a village operator.

The NIK owner stands in front of the operator with their KTP; the operator checks the NIK and
the family card (KK) number against the record, says what they saw (the owner present, the KTP,
any original document) and files the appeal for them. The NIK-owner rule holds: the appeal must
be against a decision about *that* NIK, in one of the operator's villages; a KK that does not
match the record's is refused. Everything else is the ordinary filing
(:func:`perlinsos.appeals.filing.file_appeal`): the same checks, one transaction, the citizen
notified. The appeal carries channel ``VILLAGE_OFFICE`` and the operator's (issuer, subject);
what the operator saw is stored beside it (:class:`~perlinsos.db.models.AppealAttestation`), and
their read of the person's record is in the citizen's access log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from perlinsos import audit, policy
from perlinsos.appeals import filing
from perlinsos.contract import Principal, Role
from perlinsos.db.engine import Database
from perlinsos.db.models import Appeal, AppealAttestation, Channel, Decision, Household, Person, Registration
from perlinsos.db.types import utcnow
from perlinsos.errors import Problem
from perlinsos.identity.auth import Actor
from perlinsos.idnumbers import is_valid_nik
from perlinsos.plugins import PilotHooks
from perlinsos.problemlist import raise_all

PURPOSE = "appeal-in-person"

MESSAGES: dict[str, tuple[str, str]] = {
    "NOT_A_VILLAGE_OPERATOR": ("Hanya operator kantor desa/kelurahan dalam uji coba ini yang dapat mencatat "
                               "sanggah tatap muka.",
                               "Only a village office operator in this pilot can record an in-person appeal."),
    "OPERATOR_OUT_OF_AREA": ("Keputusan ini untuk warga di luar desa/kelurahan tugas Anda.",
                             "This decision is about a resident outside the villages assigned to you."),
    "KK_MISMATCH": ("Nomor KK tidak cocok dengan data kependudukan pemilik NIK; sanggah hanya dapat dicatat "
                    "untuk pemilik NIK yang hadir.",
                    "The family card (KK) number does not match the NIK owner's record; an appeal can only be "
                    "recorded for the NIK owner who is present."),
    "IDENTITY_CHECK_REQUIRED": ("Pemilik NIK harus hadir dan KTP-nya diperiksa sebelum sanggah dicatat.",
                                "The NIK owner must be present and their KTP checked before the appeal is "
                                "recorded."),
    "NIK_INVALID": ("NIK tidak valid.", "The NIK is not valid."),
    "KK_INVALID": ("Nomor KK tidak valid.", "The family card (KK) number is not valid."),
    "DECISION_NOT_FOUND": ("Keputusan tidak ditemukan untuk NIK ini.", "No such decision for this NIK."),
    "DOCUMENT_KIND_INVALID": ("Jenis dokumen yang diperiksa tidak dikenal.", "Unknown kind of document checked."),
}


def refusal(code: str, field: str | None = None) -> Problem:
    id_text, en_text = MESSAGES[code]
    return Problem(code, {"id": id_text, "en": en_text}, field=field)


@dataclass(frozen=True)
class IdentityCheck:
    """What the operator saw at the counter (their word; no image is taken)."""

    owner_present: bool
    ktp_seen: bool
    kk_seen: bool = False
    #: evidence kinds the operator saw as originals (e.g. SUPPORTING_DOCUMENT); they count as the
    #: ground's required evidence, as the original was checked at the office
    documents_seen: tuple[str, ...] = ()

    def kinds(self) -> list[str]:
        seen = ["OWNER_PRESENT", "KTP_SEEN"] + (["KK_SEEN"] if self.kk_seen else [])
        return seen + [f"DOCUMENT_SEEN:{k}" for k in dict.fromkeys(self.documents_seen)]


@dataclass(frozen=True)
class OfficeActor(Actor):
    """The NIK owner acting at the village office through an operator (no facilitator, no token)."""

    operator: Principal | None = None

    @property
    def channel(self) -> Channel:
        return Channel.VILLAGE_OFFICE

    @property
    def assisted_by(self) -> str | None:
        return self.operator.subject if self.operator else None

    @property
    def assisted_by_issuer(self) -> str | None:
        return self.operator.issuer if self.operator else None


def _is_operator(principal: Principal, pilot_id: int | None) -> bool:
    return any(s.role == Role.VILLAGE_OPERATOR and s.pilot_id in (None, pilot_id) for s in principal.scopes)


async def file_in_person(db: Database, hooks: PilotHooks, operator: Principal, *, nik: str, kk: str,
                         decision_id: int, ground: str, disputed: Sequence[str], statement: str,
                         comparison: Mapping[str, Any], check: IdentityCheck) -> Appeal:
    from perlinsos.appeals.evidence import service as evidence_service

    pilot = hooks.pilot
    if not _is_operator(operator, pilot.id):
        raise refusal("NOT_A_VILLAGE_OPERATOR")
    nik, kk = (nik or "").strip(), (kk or "").strip()
    found: list[Problem] = []
    if not is_valid_nik(nik):
        found.append(refusal("NIK_INVALID", "nik"))
    if not (len(kk) == 16 and kk.isdigit()):
        found.append(refusal("KK_INVALID", "kk"))
    if not (check.owner_present and check.ktp_seen):
        found.append(refusal("IDENTITY_CHECK_REQUIRED", "identityCheck"))
    accepted = await evidence_service.kinds(hooks)
    if any(k not in accepted for k in check.documents_seen):
        found.append(refusal("DOCUMENT_KIND_INVALID", "identityCheck.documentsSeen"))
    raise_all(found)  # every field at fault at once, as the ordinary filing reports them
    async with db.read() as session:
        row = (await session.execute(
            select(Registration.region_code, Person.id, Person.nik, Household.kk_number)
            .select_from(Decision).join(Registration, Registration.id == Decision.registration_id)
            .join(Person, Person.id == Registration.person_id)
            .outerjoin(Household, Household.id == Person.household_id)
            .where(Decision.id == decision_id, Registration.pilot_id == pilot.id))).first()
    if row is None:
        raise refusal("DECISION_NOT_FOUND", "decision")
    # The area first: outside their villages an operator learns nothing about whose decision it is.
    if not policy.village_operator_covers(operator, row.region_code, pilot.code):
        raise refusal("OPERATOR_OUT_OF_AREA", "decision")
    if row.nik != nik:  # a third party's decision: the operator files only for the NIK in front of them
        raise refusal("DECISION_NOT_FOUND", "decision")
    if row.kk_number != kk:
        raise refusal("KK_MISMATCH", "kk")
    citizen = Principal(subject=f"village-office:person-{row.id}", kind="citizen", nik=nik,
                        issuer=operator.issuer)
    actor = OfficeActor(citizen=citizen, citizen_token="", operator=operator)
    person_id = row.id

    async def attest(session, appeal: Appeal) -> None:
        now = utcnow()
        session.add_all([AppealAttestation(appeal_id=appeal.id, kind=kind, attested_by=operator.subject,
                                           attested_by_issuer=operator.issuer, attested_at=now)
                         for kind in check.kinds()])
        # The operator read the record (NIK, KK) to check the person in front of them.
        await audit.record_reads(session, operator, [person_id], purpose=PURPOSE, operation="fileAppealInPerson",
                                 details={"appeal": appeal.id})

    return await filing.file_appeal(
        db, hooks, actor, decision_id=decision_id, ground=ground, disputed=disputed, statement=statement,
        comparison=comparison, evidence_ids=[], attested_kinds=("KTP", *check.documents_seen), on_write=attest)
