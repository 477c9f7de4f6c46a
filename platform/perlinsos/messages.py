"""Texts a citizen reads about a criterion result, in Bahasa Indonesia (default) and English.

The reason codes are the platform's (DOMAIN.md); criteria plugins may override a text by
shipping their own message with the result (``CriterionResult.detail``).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from perlinsos import scopes

MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
}

#: code → (unit formatter name, {lang: failed text}, {lang: passed text})
REASONS: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "NIK_INVALID": ("plain", {"id": "NIK tidak valid atau tidak sesuai data kependudukan",
                              "en": "The NIK is invalid or does not match the population record"},
                    {"id": "NIK sesuai data kependudukan", "en": "The NIK matches the population record"}),
    "OUTSIDE_PILOT_REGION": ("plain", {"id": "Domisili {observed} di luar wilayah uji coba",
                                       "en": "Residence {observed} is outside the pilot region"},
                             {"id": "Domisili di wilayah uji coba", "en": "Residence is within the pilot region"}),
    "STATE_EMPLOYEE": ("plain", {"id": "Anggota keluarga tercatat sebagai {observed}",
                                 "en": "A household member is recorded as {observed}"},
                       {"id": "Tidak ada anggota keluarga ASN/TNI/Polri/BUMN",
                        "en": "No household member is ASN/TNI/Polri/BUMN staff"}),
    "INCOME_ABOVE_LIMIT": ("rupiah", {"id": "Penghasilan bulanan tercatat {observed}, di atas batas {limit}",
                                      "en": "Recorded monthly income {observed}, above the limit of {limit}"},
                           {"id": "Penghasilan bulanan {observed}, tidak melebihi batas {limit}",
                            "en": "Monthly income {observed}, within the limit of {limit}"}),
    "UNUSUAL_TRANSACTIONS": ("plain", {"id": "Rekening anggota keluarga ditandai: {observed}",
                                       "en": "A household member's account is flagged: {observed}"},
                             {"id": "Tidak ada rekening yang ditandai", "en": "No flagged accounts"}),
    "ELECTRICITY_ABOVE_LIMIT": ("va", {"id": "Daya listrik rumah tercatat {observed}, di atas batas {limit}",
                                       "en": "Household electricity recorded at {observed}, above the limit of {limit}"},
                                {"id": "Daya listrik rumah {observed}, tidak melebihi batas {limit}",
                                 "en": "Household electricity {observed}, within the limit of {limit}"}),
    "WELFARE_DECILE_ABOVE_LIMIT": ("decile", {"id": "Keluarga berada di {observed}, di atas batas {limit}",
                                              "en": "The family is in {observed}, above the limit of {limit}"},
                                   {"id": "Keluarga berada di {observed}, dalam batas {limit}",
                                    "en": "The family is in {observed}, within the limit of {limit}"}),
    "OWNS_CAR": ("plain", {"id": "Anggota keluarga tercatat memiliki mobil",
                           "en": "A household member is recorded as owning a car"},
                 {"id": "Tidak tercatat memiliki mobil", "en": "No car ownership recorded"}),
    "CONSENT_MISSING": ("plain", {"id": "Persetujuan akses data tidak berlaku", "en": "No consent to data access"},
                        {"id": "Persetujuan akses data berlaku", "en": "Consent to data access is in force"}),
    "ALREADY_REGISTERED": ("plain", {"id": "NIK sudah terdaftar untuk program ini di tempat lain",
                                     "en": "The NIK is already registered for this programme elsewhere"},
                           {"id": "Belum terdaftar di tempat lain", "en": "Not registered elsewhere"}),
}

#: UNKNOWN texts that say more than "data not yet available"
UNKNOWN_BY_CODE = {
    "CONSENT_MISSING": {
        "id": "Persetujuan akses data tidak berlaku (dicabut atau kedaluwarsa); keputusan ditunda sampai "
              "persetujuan diberikan lagi",
        "en": "Consent to data access is not in force (withdrawn or expired); the decision waits until "
              "consent is given again",
    },
}

#: CONSENT_MISSING says which scopes are missing, or through which provider the consent was given
CONSENT_DETAIL = {
    "missing_scopes": {
        "id": "Persetujuan akses data belum mencakup: {items}; keputusan ditunda sampai persetujuan untuk data "
              "itu diberikan",
        "en": "Your consent to data access does not cover: {items}; the decision waits until you consent to "
              "that data",
    },
    "provider": {
        "id": "Persetujuan akses data diberikan melalui {items}, yang tidak dapat dipakai sumber data program "
              "ini; berikan persetujuan melalui IKD agar keputusan dapat dibuat",
        "en": "Your consent to data access was given through {items}, which this programme's data sources "
              "cannot use; give your consent through IKD so a decision can be made",
    },
}

UNKNOWN = {
    "id": "Data belum tersedia ({code}); keputusan ditunda dan akan diperiksa ulang",
    "en": "Data not yet available ({code}); the decision is pending and will be checked again",
}


def format_number(value: int | float, lang: str) -> str:
    text = f"{value:,.0f}"
    return text.replace(",", ".") if lang == "id" else text


def format_value(kind: str, value: Any, lang: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return ("ya" if value else "tidak") if lang == "id" else ("yes" if value else "no")
    if kind == "rupiah" and isinstance(value, int | float):
        return f"Rp{format_number(value, lang)}"
    if kind == "va" and isinstance(value, int | float):
        return f"{format_number(value, lang)} VA"
    if kind == "decile" and isinstance(value, int | float):
        return f"desil {int(value)}" if lang == "id" else f"decile {int(value)}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def format_date(value: date, lang: str) -> str:
    return f"{value.day} {MONTHS[lang][value.month - 1]} {value.year}"


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def reason_message(code: str, verdict: str, observed: Any, limit: Any, source: str | None,
                   as_of: date | None, lang: str = "id") -> str:
    """E.g. "Daya listrik rumah tercatat 2.200 VA, di atas batas 1.300 VA (sumber: PLN, per 1
    Agustus 2025)". Cached: a page repeats the same few texts hundreds of times."""
    return _cached(code, verdict, _freeze(observed), _freeze(limit), source, as_of, lang)


@lru_cache(maxsize=8192)
def _cached(code: str, verdict: str, observed: Any, limit: Any, source: str | None,
            as_of: date | None, lang: str) -> str:
    lang = lang if lang in MONTHS else "id"
    detail = dict(observed) if code == "CONSENT_MISSING" and isinstance(observed, tuple) and observed \
        and all(isinstance(p, tuple) and len(p) == 2 for p in observed) else {}
    if verdict == "UNKNOWN" and detail.keys() & CONSENT_DETAIL.keys():
        key = "missing_scopes" if "missing_scopes" in detail else "provider"
        value = detail[key]
        items = ", ".join(scopes.text_of(s, lang) for s in value) if key == "missing_scopes" else str(value)
        text = CONSENT_DETAIL[key][lang].format(items=items)
    elif verdict == "UNKNOWN":
        text = UNKNOWN_BY_CODE.get(code, UNKNOWN)[lang].format(code=code)
    else:
        kind, failed, passed = REASONS.get(code, ("plain", {"id": code, "en": code}, {"id": code, "en": code}))
        template = (failed if verdict == "FAIL" else passed)[lang]
        text = template.format(observed=format_value(kind, observed, lang), limit=format_value(kind, limit, lang))
    if source:
        label = "sumber" if lang == "id" else "source"
        when = f", per {format_date(as_of, lang)}" if as_of and lang == "id" else (
            f", as of {format_date(as_of, lang)}" if as_of else "")
        text += f" ({label}: {source}{when})"
    return text
