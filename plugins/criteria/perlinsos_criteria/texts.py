"""What a citizen reads about each result, in Bahasa Indonesia and English.

Most PASS/FAIL texts are the core's catalogue (``perlinsos.messages``), e.g. "Daya listrik rumah
tercatat 2.200 VA, di atas batas 1.300 VA (sumber: PLN, per 1 Agustus 2025)". This module adds
what the catalogue cannot say: which flags or kinds of state employment, which village, which
other pilot, how many cars, and — for UNKNOWN — which data is missing and why (no consent, the
source is down ...) instead of the reason code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from perlinsos import regions
from perlinsos.contract import CriterionResult, Verdict
from perlinsos.messages import format_date, reason_message
from perlinsos_criteria import facts as F

LANGS = ("id", "en")

#: The data each criterion needs, as the subject of an UNKNOWN text.
DATA = {
    "NIK_INVALID": ("Kecocokan NIK dengan data kependudukan", "Whether the NIK matches the population record"),
    "OUTSIDE_PILOT_REGION": ("Domisili", "Residence"),
    "STATE_EMPLOYEE": ("Data kepegawaian (ASN/TNI/Polri/BUMN)", "Employment records (ASN/TNI/Polri/BUMN)"),
    "INCOME_ABOVE_LIMIT": ("Data penghasilan", "Income records"),
    "UNUSUAL_TRANSACTIONS": ("Data rekening yang ditandai", "Flagged-account records"),
    "ELECTRICITY_ABOVE_LIMIT": ("Data daya listrik", "Electricity records"),
    "WELFARE_DECILE_ABOVE_LIMIT": ("Desil kesejahteraan DTSEN", "The DTSEN welfare decile"),
    "OWNS_CAR": ("Data kepemilikan mobil", "Car ownership records"),
    "ALREADY_REGISTERED": ("Data pendaftaran di tempat lain", "Registrations elsewhere"),
}
_SOURCE_DOWN = ("sumber data sedang tidak dapat dihubungi", "the data source could not be reached")
CAUSES = {
    F.NO_CONSENT: ("belum ada persetujuan akses data", "no consent to read the data has been given"),
    F.CONSENT_INVALID: ("persetujuan akses data sudah dicabut atau kedaluwarsa",
                        "the consent to read the data was withdrawn or has expired"),
    F.SCOPE_NOT_GRANTED: ("persetujuan akses data tidak mencakup data ini", "the consent does not cover this data"),
    F.UNKNOWN_PERSON: ("NIK tidak ditemukan di sumber data", "the source does not know the NIK"),
    F.HOUSEHOLD_MISMATCH: ("nomor KK di sumber data berbeda dengan pendaftaran",
                           "the source has another family card (KK) number than the registration"),
    F.INVALID_DATA: ("data dari sumber tidak valid", "the source's data is not valid"),
    **{code: _SOURCE_DOWN for code in F.SOURCE_ERRORS},
}
_NOT_YET = ("data belum tersedia", "the data is not available yet")
_PENDING = ("keputusan ditunda dan akan diperiksa ulang", "the decision is pending and will be checked again")

EMPLOYMENT = {"ASN": ("ASN", "a civil servant (ASN)"), "TNI": ("anggota TNI", "a member of the armed forces (TNI)"),
              "POLRI": ("anggota Polri", "a police officer (Polri)"),
              "BUMN": ("pegawai BUMN", "an employee of a state-owned enterprise (BUMN)"),
              "BUMD": ("pegawai BUMD", "an employee of a regional government enterprise (BUMD)")}
FLAGS = {"JUDI_ONLINE": ("terkait judi online", "linked to online gambling"),
         "TRANSAKSI_TIDAK_WAJAR": ("transaksi tidak wajar", "unusual transactions")}


def _index(lang: str) -> int:
    return 0 if lang == "id" else 1


def _join(items: Sequence[str], lang: str) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {'dan' if lang == 'id' else 'and'} {items[-1]}"


def _named(values: Any, names: dict[str, tuple[str, str]], lang: str) -> str:
    values = values if isinstance(values, list | tuple) else [values]
    return _join([names.get(str(v), (str(v), str(v)))[_index(lang)] for v in values], lang)


def suffix(result: CriterionResult, lang: str) -> str:
    """" (sumber: PLN, per 1 Agustus 2025)", as the core's catalogue writes it."""
    if not result.source:
        return ""
    when = f", {'per' if lang == 'id' else 'as of'} {format_date(result.as_of, lang)}" if result.as_of else ""
    return f" ({'sumber' if lang == 'id' else 'source'}: {result.source}{when})"


def _unknown(result: CriterionResult, lang: str) -> str:
    i = _index(lang)
    subject = DATA.get(result.code, (result.code, result.code))[i]
    cause = CAUSES.get(result.detail or "", _NOT_YET)[i]
    verb = "belum dapat diperiksa" if lang == "id" else "could not be checked"
    return f"{subject} {verb}: {cause}; {_PENDING[i]}{suffix(result, lang)}"


def _employment(result: CriterionResult, lang: str) -> str:
    kinds = _named(result.observed, EMPLOYMENT, lang)
    return (f"Anggota keluarga tercatat sebagai {kinds}" if lang == "id"
            else f"A household member is recorded as {kinds}")


def _flags(result: CriterionResult, lang: str) -> str:
    flags = _named(result.observed, FLAGS, lang)
    return (f"Rekening anggota keluarga ditandai: {flags}" if lang == "id"
            else f"A household member's account is flagged: {flags}")


def _region(result: CriterionResult, lang: str) -> str:
    code = str(result.observed)
    found = regions.get(code)
    if found is not None:
        kind = {"desa": "Desa", "kelurahan": "Kelurahan"}.get(found.kind or "", "")
        where = f"{kind + ' ' if kind else ''}{found.name} ({code})"
    else:
        where = code
    return (f"Domisili {where} di luar wilayah uji coba" if lang == "id"
            else f"Residence {where} is outside the pilot region")


def _elsewhere(result: CriterionResult, lang: str) -> str:
    pilots = _join([str(p) for p in result.observed or ()], lang)
    return (f"NIK sudah terdaftar untuk program ini di uji coba lain: {pilots}" if lang == "id"
            else f"The NIK is already registered for this programme in another pilot: {pilots}")


def _cars(result: CriterionResult, lang: str) -> str:
    cars = result.observed
    if lang == "id":
        return f"Anggota keluarga tercatat memiliki {cars} mobil"
    return f"Household members are recorded as owning {cars} car{'s' if cars != 1 else ''}"


FAILED: dict[str, Callable[[CriterionResult, str], str]] = {
    "STATE_EMPLOYEE": _employment, "UNUSUAL_TRANSACTIONS": _flags, "OUTSIDE_PILOT_REGION": _region,
    "ALREADY_REGISTERED": _elsewhere, "OWNS_CAR": _cars,
}


def message(result: CriterionResult, lang: str = "id") -> str:
    verdict = Verdict(result.verdict)
    if verdict is Verdict.UNKNOWN:
        return _unknown(result, lang)
    if verdict is Verdict.FAIL and result.code in FAILED and result.observed not in (None, [], ()):
        return FAILED[result.code](result, lang) + suffix(result, lang)
    return reason_message(result.code, verdict.value, result.observed, result.limit, result.source,
                          result.as_of, lang)


def messages(result: CriterionResult) -> dict[str, str]:
    return {lang: message(result, lang) for lang in LANGS}
