"""The user errors of the flows, each with a code and a message in Bahasa Indonesia and English.

GraphQL mutations return them as typed errors (errors as data); messages never contain a NIK
or any other personal data.
"""

from __future__ import annotations

from perlinsos.errors import Problem

MESSAGES: dict[str, tuple[str, str]] = {
    "UNAUTHENTICATED": ("Silakan masuk dengan IKD terlebih dahulu.", "Please sign in with IKD first."),
    "FORBIDDEN": ("Anda tidak berhak melakukan ini.", "You may not do this."),
    "NOT_A_CITIZEN": ("Hanya warga yang masuk dengan IKD-nya sendiri yang dapat melakukan ini.",
                      "Only a citizen signed in with their own IKD can do this."),
    "CITIZEN_TOKEN_REQUIRED": ("Pendamping harus menyertakan token IKD warga yang didampingi.",
                               "A facilitator must include the assisted citizen's own IKD token."),
    "CITIZEN_TOKEN_INVALID": ("Token IKD warga tidak sah atau kedaluwarsa; minta warga masuk ulang.",
                              "The citizen's IKD token is invalid or expired; ask them to sign in again."),
    "NOT_A_FACILITATOR": ("Hanya pendamping yang dapat mendaftarkan warga lain.",
                          "Only a facilitator may register another citizen."),
    "FACILITATOR_OUT_OF_AREA": ("Warga ini tinggal di luar desa/kelurahan tugas Anda.",
                                "This citizen lives outside the villages assigned to you."),
    "NIK_INVALID": ("NIK tidak valid.", "The NIK is not valid."),
    "KK_INVALID": ("Nomor KK tidak valid.", "The family card (KK) number is not valid."),
    "PERSON_UNKNOWN": ("Data kependudukan untuk NIK ini tidak ditemukan.",
                       "No population record was found for this NIK."),
    "IDENTITY_PROVIDER_UNAVAILABLE": ("Layanan IKD sedang tidak dapat dihubungi. Silakan coba lagi nanti.",
                                      "The IKD service cannot be reached. Please try again later."),
    "IDENTITY_PROVIDER_UNSUPPORTED": ("Penyedia identitas ini tidak mendukung persetujuan data.",
                                      "This identity provider does not support data consent."),
    "CONSENT_REQUIRED": ("Berikan persetujuan akses data terlebih dahulu.",
                         "Please give consent to data access first."),
    "CONSENT_INVALID": ("Persetujuan akses data sudah tidak berlaku; berikan persetujuan lagi.",
                        "Your consent to data access is no longer valid; please give it again."),
    "CONSENT_NOT_FOUND": ("Persetujuan tidak ditemukan.", "Consent not found."),
    "CONSENT_INSUFFICIENT": ("Persetujuan akses data belum mencakup data yang diperlukan untuk seleksi; berikan "
                             "persetujuan untuk data yang disebutkan.",
                             "Your consent to data access does not cover the data selection needs; consent to "
                             "the data named."),
    "SCOPE_UNKNOWN": ("Cakupan data tidak dikenal.", "Unknown data scope."),
    "PURPOSE_INVALID": ("Tujuan penggunaan data tidak dikenal.", "Unknown purpose of data use."),
    "PROGRAMME_NOT_IN_PILOT": ("Program ini tidak dibuka dalam uji coba ini.",
                               "This programme is not part of this pilot."),
    "REGISTRATION_CLOSED": ("Masa pendaftaran tidak sedang dibuka.", "Registration is not open."),
    "OUTSIDE_PILOT_REGION": ("Domisili Anda di luar wilayah uji coba ini.",
                             "Your residence is outside this pilot's region."),
    "ALREADY_REGISTERED_BY_HOUSEHOLD": (
        "Keluarga Anda sudah didaftarkan untuk program ini oleh anggota keluarga lain.",
        "Your household is already registered for this programme by another member."),
    "PILOT_REQUIRED": ("Pilih uji coba (header X-Perlinsos-Pilot).",
                       "Choose a pilot (X-Perlinsos-Pilot header)."),
    "REGION_UNKNOWN": ("Kode wilayah tidak dikenal.", "Unknown region code."),
    "ROLE_UNKNOWN": ("Peran tidak dikenal.", "Unknown role."),
    "PILOT_UNKNOWN": ("Uji coba tidak ditemukan.", "Pilot not found."),
    "ASSIGNMENT_NOT_FOUND": ("Penugasan tidak ditemukan.", "Assignment not found."),
    "INPUT_INVALID": ("Isian tidak valid.", "The input is not valid."),
    "NOTIFICATION_NOT_REQUEUEABLE": ("Notifikasi tidak ditemukan atau tidak berstatus DEAD/FAILED.",
                                     "Notification not found, or not DEAD or FAILED."),
    "DECISION_NOT_FOUND": ("Keputusan tidak ditemukan.", "Decision not found."),
    "DECISION_SUPERSEDED": ("Keputusan ini sudah diganti dengan versi yang lebih baru.",
                            "This decision has been replaced by a newer version."),
    "APPEAL_WINDOW_CLOSED": ("Masa sanggah sudah ditutup.", "The appeal window is closed."),
    "APPEAL_WINDOW_NOT_OPEN": ("Masa sanggah belum dibuka.", "The appeal window has not opened yet."),
    "APPEAL_ALREADY_OPEN": ("Sudah ada sanggah yang sedang diproses untuk keputusan ini.",
                            "An appeal against this decision is already open."),
    "GROUND_UNKNOWN": ("Alasan sanggah tidak dikenal.", "Unknown appeal ground."),
    "REASON_NOT_DISPUTABLE": ("Alasan yang disanggah bukan alasan penolakan dalam keputusan ini.",
                              "The disputed reasons are not failing reasons of this decision."),
    "GROUND_REASON_MISMATCH": ("Alasan sanggah ini tidak dapat dipakai untuk alasan keputusan tersebut.",
                               "This appeal ground cannot dispute that reason."),
    "STATEMENT_INVALID": ("Penjelasan sanggah harus 10 sampai 4.000 karakter.",
                          "The statement must be 10 to 4,000 characters."),
    "COMPARISON_DATA_INVALID": ("Data pembanding tidak sesuai.", "The comparison data is not valid."),
    "COMPARISON_DATA_MISSING": ("Data pembanding ini wajib diisi untuk alasan yang disanggah.",
                                "This comparison data is required for the disputed reason."),
    "EVIDENCE_MISSING": ("Bukti wajib belum dilampirkan.", "Required evidence is missing."),
    "EVIDENCE_TOO_MANY": ("Terlalu banyak berkas bukti.", "Too many evidence files."),
    "EVIDENCE_NOT_FOUND": ("Berkas bukti tidak ditemukan atau sudah dipakai.",
                           "Evidence file not found or already used."),
    "APPEAL_NOT_FOUND": ("Sanggah tidak ditemukan.", "Appeal not found."),
    "APPEAL_CONFLICT": ("Sanggah ini baru saja diubah oleh petugas lain; muat ulang dan periksa lagi.",
                        "Another reviewer changed this appeal just now; reload and check again."),
    "APPEAL_TRANSITION_NOT_ALLOWED": ("Langkah ini tidak dapat dilakukan pada status sanggah sekarang.",
                                      "This step is not allowed in the appeal's current status."),
    "RESOLUTION_NOTE_INVALID": ("Catatan keputusan harus 5 sampai 4.000 karakter.",
                                "The resolution note must be 5 to 4,000 characters."),
    "CORRECTION_INVALID": ("Data koreksi tidak valid.", "The corrected facts are not valid."),
    "CONFLICT_OF_INTEREST": ("Anda tidak dapat memeriksa sanggah ini: sanggah ini tentang Anda atau keluarga "
                             "Anda, atau Anda mendampinginya. Serahkan kepada petugas lain.",
                             "You may not review this appeal: it is about you or your household, or you "
                             "assisted it. Leave it to another reviewer."),
    "SETTINGS_INVALID": ("Pengaturan yang diusulkan tidak valid.", "The proposed settings are not valid."),
    "PILOT_INVALID": ("Isian uji coba tidak valid.", "The pilot input is not valid."),
    "PILOT_EXISTS": ("Sudah ada uji coba dengan kode ini.", "A pilot with this code already exists."),
    "PILOT_REGION_OVERLAP": ("Wilayah ini sudah tercakup uji coba lain untuk program yang sama pada waktu yang sama.",
                             "Another pilot already covers this region for the same programme at the same time."),
    "NOT_A_TRAINING_PILOT": ("Hanya uji coba latihan yang dapat diatur ulang; uji coba ini tidak diubah.",
                             "Only a training pilot can be reset; this pilot was not changed."),
    "TRAINING_PILOT_NO_STATS": ("Uji coba latihan tidak mempunyai statistik: latihan tidak dihitung.",
                                "A training pilot has no statistics: training is not counted."),
    "RESULTS_NOT_PUBLISHED": ("Hasil seleksi uji coba ini belum diumumkan; pengumuman desa belum dapat dibuat.",
                              "This pilot's selection results are not published yet; no village notice yet."),
    "SELECTION_ALREADY_RUNNING": ("Seleksi untuk uji coba ini sedang berjalan.",
                                  "Selection for this pilot is already running."),
    # --- who is who (issue 12) ---
    "NIK_NOT_CONFIRMED": ("NIK Anda belum dikonfirmasi oleh IKD. Berikan persetujuan data dengan IKD Anda "
                          "terlebih dahulu.",
                          "Your NIK has not been confirmed by IKD yet. Give your data consent with your IKD first."),
    "CONSENT_TOKEN_REQUIRED": ("Anda masuk dengan layanan daerah: persetujuan data diberikan melalui IKD. "
                               "Masuk dengan IKD untuk langkah ini (consentToken).",
                               "You signed in with a regional service: data consent is given through IKD. "
                               "Sign in with IKD for this step (consentToken)."),
    "CONSENT_TOKEN_INVALID": ("Token IKD untuk persetujuan tidak sah, kedaluwarsa, atau bukan milik Anda.",
                              "The IKD token for consent is invalid, expired, or not yours."),
    "ISSUER_REQUIRED": ("Sebutkan penyedia identitas (issuer) petugas.", "Name the staff member's identity provider (issuer)."),
    "ISSUER_NOT_TRUSTED": ("Penyedia identitas ini tidak dipercaya oleh uji coba tersebut.",
                           "This identity provider is not trusted by that pilot."),
    "NATIONAL_ROLE_NEEDS_NATIONAL_PROVIDER": (
        "Penugasan nasional (tanpa uji coba) hanya untuk akun penyedia identitas nasional (IKD).",
        "A national assignment (no pilot) is only for subjects of a national identity provider (IKD)."),
    "ADMIN_IS_NATIONAL": ("Peran ADMIN bersifat nasional: tugaskan tanpa uji coba.",
                          "The ADMIN role is national: assign it without a pilot."),
    "SCOPE_NOT_GRANTABLE": ("Penyedia identitas menolak memberikan persetujuan untuk cakupan data ini.",
                            "The identity provider cannot grant consent for these data scopes."),
    "RATE_LIMITED": ("Terlalu sering: batas untuk tindakan ini sudah tercapai.",
                     "Too many requests: the limit for this action is reached."),
    "REGION_OUTSIDE_PILOT": ("Wilayah penugasan berada di luar wilayah uji coba.",
                             "The assignment's region lies outside the pilot's area."),
}


def problem(code: str, field: str | None = None, *, english: str | None = None, **detail: str) -> Problem:
    """A :class:`Problem` from the catalogue; ``detail`` (names, numbers: no prose, no personal data)
    is appended in both languages; ``english`` (a validator's or plugin's English prose) only to the
    English message, so an Indonesian message never carries English (docs/errors.md)."""
    id_text, en_text = MESSAGES[code]
    extra = "; ".join(f"{v}" for v in detail.values())
    if extra:
        id_text = f"{id_text} ({extra})"
    en_extra = "; ".join(p for p in (extra, english) if p)
    if en_extra:
        en_text = f"{en_text} ({en_extra})"
    return Problem(code, {"id": id_text, "en": en_text}, field=field)
