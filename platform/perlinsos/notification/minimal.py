"""Minimal notification texts, for channels that leave the platform (SMS through a third-party
gateway, to a phone the household may share): the outcome and the *kind* of each reason only.

Never an amount (income, VA, decile, number of cars), never a flag about another person (PPATK
account flags, a member's employment), never a reviewer's free-text resolution: the full reasons
stay in the portal, behind sign-in, and the text says so (sign in, or ask the facilitator).
A channel opts into the full texts by declaring ``detail = "full"`` (the SMS plugin's
``[plugins.notify_sms] detail`` setting); a channel that declares nothing gets these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MINIMAL, FULL = "minimal", "full"
DETAILS = (MINIMAL, FULL)

#: reason code → (Bahasa Indonesia, English): the kind of data a reason rests on, nothing about its value
KINDS: dict[str, tuple[str, str]] = {
    "NIK_INVALID": ("data kependudukan", "population records"),
    "OUTSIDE_PILOT_REGION": ("domisili", "residence"),
    "STATE_EMPLOYEE": ("data pekerjaan", "employment records"),
    "INCOME_ABOVE_LIMIT": ("data penghasilan", "income records"),
    "UNUSUAL_TRANSACTIONS": ("data keuangan", "financial records"),
    "ELECTRICITY_ABOVE_LIMIT": ("data listrik", "electricity records"),
    "WELFARE_DECILE_ABOVE_LIMIT": ("data kesejahteraan", "welfare records"),
    "OWNS_CAR": ("data kendaraan", "vehicle records"),
    "CONSENT_MISSING": ("persetujuan akses data", "consent to data access"),
    "ALREADY_REGISTERED": ("data pendaftaran", "registration records"),
}
#: a reason code the platform does not know (a criteria plugin's own) says no more than this
OTHER_KIND = ("data pendukung", "supporting records")

_SIGN_IN = {"id": "masuk (login) ke {portal_url} atau tanyakan kepada pendamping",
            "en": "sign in at {portal_url} or ask your facilitator"}
_ID, _EN = _SIGN_IN["id"], _SIGN_IN["en"]

#: the platform's templates (see :mod:`.templates`), with no reason text, amount or resolution
TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "DECISION_ELIGIBLE": {
        "id": {"title": "Anda memenuhi syarat {programme}",
               "body": f"Hasil seleksi {{programme}} ({{pilot}}) untuk NIK {{nik}}: MEMENUHI SYARAT.\n"
                       f"Rinciannya ada di portal: {_ID}.",
               "short": "Perlinsos: NIK {nik} MEMENUHI SYARAT {programme}. Rincian: masuk ke {portal_url}"},
        "en": {"title": "You are eligible for {programme}",
               "body": f"Selection result for {{programme}} ({{pilot}}), NIK {{nik}}: ELIGIBLE.\n"
                       f"The details are in the portal: {_EN}.",
               "short": "Perlinsos: NIK {nik} is ELIGIBLE for {programme}. Details: sign in at {portal_url}"},
    },
    "DECISION_NOT_ELIGIBLE": {
        "id": {"title": "Anda belum memenuhi syarat {programme}",
               "body": f"Hasil seleksi {{programme}} ({{pilot}}) untuk NIK {{nik}}: TIDAK MEMENUHI SYARAT.\n"
                       f"Terkait:\n{{reasons}}\nAlasan lengkap ada di portal: {_ID}. "
                       f"Jika data itu keliru, Anda dapat mengajukan sanggah.",
               "short": "Perlinsos: NIK {nik} TIDAK MEMENUHI SYARAT {programme} (terkait {main_reason}). "
                        "Alasan lengkap & sanggah: masuk ke {portal_url} atau tanya pendamping"},
        "en": {"title": "You are not eligible for {programme}",
               "body": f"Selection result for {{programme}} ({{pilot}}), NIK {{nik}}: NOT ELIGIBLE.\n"
                       f"Concerning:\n{{reasons}}\nThe full reasons are in the portal: {_EN}. "
                       f"If that data is wrong, you can file an appeal.",
               "short": "Perlinsos: NIK {nik} NOT ELIGIBLE for {programme} ({main_reason}). "
                        "Full reasons & appeal: sign in at {portal_url} or ask your facilitator"},
    },
    "DECISION_PENDING": {
        "id": {"title": "Keputusan {programme} ditunda",
               "body": f"Seleksi {{programme}} ({{pilot}}) untuk NIK {{nik}} belum dapat diputuskan.\n"
                       f"Terkait:\n{{reasons}}\nKeterangan ada di portal: {_ID}.",
               "short": "Perlinsos: keputusan {programme} untuk NIK {nik} DITUNDA (terkait {main_reason}). "
                        "Info: masuk ke {portal_url}"},
        "en": {"title": "Your {programme} decision is pending",
               "body": f"Selection for {{programme}} ({{pilot}}), NIK {{nik}}, cannot be decided yet.\n"
                       f"Concerning:\n{{reasons}}\nThe details are in the portal: {_EN}.",
               "short": "Perlinsos: {programme} decision for NIK {nik} is PENDING ({main_reason}). "
                        "Info: sign in at {portal_url}"},
    },
    "APPEAL_RECEIVED": {
        "id": {"title": "Sanggah Anda diterima",
               "body": f"Sanggah atas keputusan {{programme}} untuk NIK {{nik}} telah diterima dan akan diperiksa.\n"
                       f"Statusnya ada di portal: {_ID}.",
               "short": "Perlinsos: sanggah NIK {nik} ({programme}) diterima dan akan diperiksa. {portal_url}"},
        "en": {"title": "Your appeal was received",
               "body": f"Your appeal against the {{programme}} decision for NIK {{nik}} was received and will be "
                       f"reviewed.\nIts status is in the portal: {_EN}.",
               "short": "Perlinsos: appeal for NIK {nik} ({programme}) received; it will be reviewed. {portal_url}"},
    },
    "APPEAL_UPHELD": {
        "id": {"title": "Sanggah Anda dikabulkan",
               "body": f"Sanggah atas keputusan {{programme}} untuk NIK {{nik}} DIKABULKAN; seleksi diulang.\n"
                       f"Hasil baru dan penjelasannya ada di portal: {_ID}.",
               "short": "Perlinsos: sanggah NIK {nik} ({programme}) DIKABULKAN. Hasil baru: masuk ke {portal_url}"},
        "en": {"title": "Your appeal was upheld",
               "body": f"Your appeal against the {{programme}} decision for NIK {{nik}} was UPHELD; selection was "
                       f"run again.\nThe new result and the explanation are in the portal: {_EN}.",
               "short": "Perlinsos: appeal for NIK {nik} ({programme}) UPHELD. New result: sign in at {portal_url}"},
    },
    "APPEAL_DISMISSED": {
        "id": {"title": "Sanggah Anda ditolak",
               "body": f"Sanggah atas keputusan {{programme}} untuk NIK {{nik}} DITOLAK.\n"
                       f"Penjelasannya ada di portal: {_ID}.",
               "short": "Perlinsos: sanggah NIK {nik} ({programme}) DITOLAK. Penjelasan: masuk ke {portal_url}"},
        "en": {"title": "Your appeal was dismissed",
               "body": f"Your appeal against the {{programme}} decision for NIK {{nik}} was DISMISSED.\n"
                       f"The explanation is in the portal: {_EN}.",
               "short": "Perlinsos: appeal for NIK {nik} ({programme}) DISMISSED. Explanation: sign in at {portal_url}"},
    },
}


def kind_of(code: str | None, lang: str) -> str:
    """The kind of data reason ``code`` rests on, e.g. "data penghasilan" / "income records"."""
    return KINDS.get(code or "", OTHER_KIND)[0 if lang == "id" else 1]


def minimal_values(codes: Iterable[str | None], lang: str) -> dict[str, Any]:
    """What a minimal text may say about the reasons (failed and unknown ones, in notice order):
    their kinds, each once. Anything a pilot's override could reach that carries values — the
    reviewer's resolution, the appeal ground — is blanked."""
    kinds = list(dict.fromkeys(kind_of(code, lang) for code in codes))
    return {"reasons": "\n".join(f"- {k}" for k in kinds), "main_reason": kinds[0] if kinds else "",
            "resolution": "", "ground": ""}


def detail_of(channel: Any) -> str:
    """The detail a channel asked for: ``full`` only when it says so, else ``minimal``."""
    return FULL if getattr(channel, "detail", MINIMAL) == FULL else MINIMAL
