"""The appeal form described for frontends, so it is built from the API alone: the pilot's grounds
(from the ``appeal_grounds`` hook) with the reasons each may dispute, the evidence each requires
and its typed comparison fields; the evidence kinds ``POST /evidence`` accepts; and, for one
decision, which of its reasons each ground applies to. The same rules ``fileAppeal`` checks
(perlinsos.appeals.filing), described rather than enforced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from perlinsos import policy
from perlinsos.appeals.evidence import kinds as accepted_kinds
from perlinsos.appeals.evidence.sniff import EXTENSIONS
from perlinsos.appeals.filing import grounds
from perlinsos.appeals.review import CORRECTABLE
from perlinsos.contract import AppealGround, Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, DecisionReason, Registration
from perlinsos.plugins import PilotHooks
from perlinsos.problems import problem

#: verdicts a citizen may dispute (as fileAppeal: a failing or undecidable reason)
DISPUTABLE = ("FAIL", "UNKNOWN")

#: labels of the platform's evidence kinds; a kind only a plugin's ground names shows its code
EVIDENCE_LABELS: dict[str, dict[str, str]] = {
    "KTP": {"id": "KTP (Kartu Tanda Penduduk)", "en": "Identity card (KTP)"},
    "KK": {"id": "Kartu Keluarga (KK)", "en": "Family card (KK)"},
    "ELECTRICITY_BILL": {"id": "Tagihan atau struk listrik PLN", "en": "PLN electricity bill or receipt"},
    "HOUSE_PHOTO": {"id": "Foto rumah", "en": "Photo of the house"},
    "SKTM": {"id": "Surat Keterangan Tidak Mampu (SKTM)", "en": "Certificate of low income (SKTM)"},
    "PAYSLIP": {"id": "Slip gaji", "en": "Payslip"},
    "INCOME_STATEMENT": {"id": "Surat keterangan penghasilan", "en": "Income statement"},
    "SUPPORTING_DOCUMENT": {"id": "Dokumen pendukung (mis. tagihan PLN, surat desa)",
                            "en": "Supporting document (e.g. a PLN bill, a letter from the village)"},
}

#: the comparison field types a ground may declare
FIELD_TYPES = ("str", "int", "date")


@dataclass(frozen=True)
class EvidenceKind:
    code: str
    label: Mapping[str, str]
    content_types: tuple[str, ...]
    max_bytes: int


@dataclass(frozen=True)
class ComparisonField:
    name: str
    type: str  # one of FIELD_TYPES
    label: Mapping[str, str]
    required_for: tuple[str, ...]  # disputed reasons that require it


@dataclass(frozen=True)
class GroundForm:
    code: str
    title: Mapping[str, str]
    disputable_reasons: tuple[str, ...]
    required_evidence: tuple[EvidenceKind, ...]
    fields: tuple[ComparisonField, ...]
    #: the reasons of the decision asked about this ground may dispute; None without a decision
    applies_to: tuple[str, ...] | None


def _label(code: str, labels: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    found = labels.get(code) or {}
    return {"id": found.get("id") or code, "en": found.get("en") or found.get("id") or code}


def evidence_kind(code: str, max_bytes: int) -> EvidenceKind:
    return EvidenceKind(code, _label(code, EVIDENCE_LABELS), tuple(EXTENSIONS), max_bytes)


async def evidence_kinds(hooks: PilotHooks | None, max_bytes: int) -> list[EvidenceKind]:
    """The kinds ``POST /evidence`` accepts in the pilot, with the types and size it takes."""
    return [evidence_kind(code, max_bytes) for code in await accepted_kinds(hooks)]


def _fields(ground: AppealGround) -> tuple[ComparisonField, ...]:
    required = ground.required_comparison or {}
    return tuple(
        ComparisonField(name, kind, _label(name, ground.comparison_labels or {}),
                        tuple(reason for reason, names in required.items() if name in names))
        for name, kind in ground.comparison_fields.items())


async def decision_reasons(db: Database, principal: Principal | None, pilot_id: int, decision_id: int) -> list[str]:
    """The reasons of a decision the viewer may see that may be disputed, in the decision's
    order; DECISION_NOT_FOUND for any other (as for any record one may not see)."""
    async with db.read() as session:
        found = (await session.execute(
            select(Decision.id).join(Registration, Registration.id == Decision.registration_id)
            .where(Decision.id == decision_id, Registration.pilot_id == pilot_id,
                   policy.registration_filter(principal)))).first()
        if found is None:
            raise problem("DECISION_NOT_FOUND", field="decision")
        rows = (await session.execute(select(DecisionReason).where(DecisionReason.decision_id == decision_id)
                                      .order_by(DecisionReason.id))).scalars()
        return [r.code for r in rows if r.verdict.value in DISPUTABLE]


async def ground_forms(hooks: PilotHooks, max_bytes: int, disputable: list[str] | None = None) -> list[GroundForm]:
    """Every ground of the pilot, described; with ``disputable`` (a decision's reasons that may
    be disputed), which of them each ground applies to."""
    return [GroundForm(
        code=g.code, title=_label(g.code, {g.code: g.title or {}}), disputable_reasons=tuple(g.disputable_reasons),
        required_evidence=tuple(evidence_kind(k, max_bytes) for k in g.required_evidence), fields=_fields(g),
        applies_to=None if disputable is None else tuple(r for r in disputable if r in g.disputable_reasons),
    ) for g in (await grounds(hooks)).values()]


#: what a reviewer reads beside each correctable fact (``ResolveAppealInput.correctedFacts``)
CORRECTED_LABELS: dict[str, dict[str, str]] = {
    "monthly_income": {"id": "Penghasilan bulanan (Rp)", "en": "Monthly income (Rp)"},
    "electricity_va": {"id": "Daya listrik rumah (VA)", "en": "Household electricity capacity (VA)"},
    "welfare_decile": {"id": "Desil kesejahteraan (1-10)", "en": "Welfare decile (1-10)"},
    "car_ownership": {"id": "Jumlah mobil yang dimiliki", "en": "Number of cars owned"},
    "bank_flags": {"id": "Penanda rekening bank (kosong bila tidak ada)", "en": "Bank account flags (empty if none)"},
    "state_employment": {"id": "Pekerjaan ASN/TNI/Polri/BUMN anggota keluarga (kosong bila tidak ada)",
                         "en": "Household members' state employment (empty if none)"},
}


@dataclass(frozen=True)
class CorrectedFact:
    name: str
    type: str  # "int" (a whole number, 0 or more) or "list" (a list of strings)
    label: Mapping[str, str]


def corrected_facts() -> list[CorrectedFact]:
    """The facts a reviewer may correct when upholding an appeal, as ``resolveAppeal`` checks them."""
    return [CorrectedFact(name, "int" if kind is int else "list", _label(name, CORRECTED_LABELS))
            for name, kind in CORRECTABLE.items()]
