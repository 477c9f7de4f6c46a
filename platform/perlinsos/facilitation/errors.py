"""The refusals of the facilitators' flows: a code and a message in Bahasa Indonesia and English,
never naming a person."""

from __future__ import annotations

from perlinsos.errors import Problem
from perlinsos.problems import MESSAGES as SHARED

MESSAGES: dict[str, tuple[str, str]] = {
    "UNAUTHENTICATED": SHARED["UNAUTHENTICATED"],  # "not signed in" reads the same everywhere (docs/errors.md)
    "PILOT_REQUIRED": ("Pilih uji coba terlebih dahulu.", "Choose a pilot first."),
    "NOT_A_FACILITATOR": ("Hanya pendamping desa/kelurahan dalam uji coba ini yang dapat melakukan ini.",
                          "Only a facilitator of a village in this pilot can do this."),
    "FACILITATOR_OUT_OF_AREA": ("Keluarga ini tinggal di luar desa/kelurahan tugas Anda.",
                                "This household lives outside the villages assigned to you."),
    "NOTIFICATION_OR_REGISTRATION_NOT_FOUND": ("Pemberitahuan atau pendaftaran tidak ditemukan.",
                                               "No such notification or registration."),
    "NOT_DECIDED": ("Belum ada keputusan untuk pendaftaran ini.", "There is no decision for this registration yet."),
    "DECISION_NOT_CURRENT": ("Keputusan ini sudah diganti keputusan yang lebih baru; sampaikan yang terbaru.",
                             "This decision was replaced by a newer one; explain the current one."),
    "ALREADY_INFORMED": ("Keluarga ini sudah tercatat diberi penjelasan tentang keputusan ini.",
                         "This household is already recorded as informed of this decision."),
    "INFORMED_AT_INVALID": ("Waktu penjelasan tidak boleh di masa depan atau sebelum keputusan dibuat.",
                            "The time of informing cannot be in the future or before the decision was made."),
    "NOTE_TOO_LONG": ("Catatan paling banyak 500 karakter.", "The note may have at most 500 characters."),
    "CLIENT_KEY_INVALID": ("Kunci permintaan harus 8 sampai 100 karakter.",
                           "The client key must have 8 to 100 characters."),
    "DAYS_INVALID": ("Jumlah hari harus 0 sampai 366.", "The number of days must be between 0 and 366."),
    "SEARCH_TOO_LONG": ("Kata pencarian paling banyak 100 karakter.", "The search may have at most 100 characters."),
}


def problem(code: str, field: str | None = None) -> Problem:
    id_text, en_text = MESSAGES[code]
    return Problem(code, {"id": id_text, "en": en_text}, field=field)
