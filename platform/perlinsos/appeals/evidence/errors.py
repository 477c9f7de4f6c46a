"""Why an evidence upload or download is refused: a code, an HTTP status and a message a person
understands, in Bahasa Indonesia (default) and English. Messages never hold personal data."""

from __future__ import annotations

from perlinsos.errors import Problem
from perlinsos import errorshape as language_errors
from perlinsos.problems import MESSAGES as SHARED

#: code → (HTTP status, Bahasa Indonesia, English)
MESSAGES: dict[str, tuple[int, str, str]] = {
    "EVIDENCE_TOO_LARGE": (413, "Berkas bukti terlalu besar.", "The evidence file is too large."),
    "EVIDENCE_TOO_MANY": (409, ("Anda sudah memiliki terlalu banyak berkas bukti yang belum dilampirkan pada "
                                "sanggah; lampirkan atau hapus dulu sebagian."),
                          ("You already hold too many evidence files not yet attached to an appeal; attach or "
                           "delete some first.")),
    "EVIDENCE_EMPTY": (422, "Berkas bukti kosong.", "The evidence file is empty."),
    "EVIDENCE_TYPE_NOT_ALLOWED": (415, "Jenis berkas tidak diterima; kirim foto JPEG atau PNG, atau dokumen PDF.",
                                  "This kind of file is not accepted; send a JPEG or PNG photo or a PDF document."),
    "EVIDENCE_TYPE_MISMATCH": (422, ("Isi berkas tidak sesuai dengan jenis yang dinyatakan (berkas ini bukan "
                                     "seperti yang diakuinya)."),
                               "The file's content does not match the type it claims to be."),
    "EVIDENCE_MULTIPART_NOT_ACCEPTED": (415, ("Kirim berkas sebagai isi permintaan apa adanya, bukan formulir "
                                              "multipart."),
                                        "Send the file as the raw request body, not as a multipart form."),
    "EVIDENCE_NAME_INVALID": (422, "Nama berkas tidak boleh berisi garis miring, '..', atau karakter kendali.",
                              "The file name must not contain slashes, '..' or control characters."),
    "EVIDENCE_KIND_INVALID": (422, "Jenis bukti tidak dikenal.", "Unknown kind of evidence."),
    "EVIDENCE_NOT_REGISTERED": (403, "Bukti hanya dapat diunggah oleh warga yang sudah terdaftar.",
                                "Evidence can only be uploaded for a registered citizen."),
    "EVIDENCE_NOT_FOUND": (404, "Berkas bukti tidak ditemukan.", "Evidence file not found."),
    "EVIDENCE_ALREADY_ATTACHED": (409, "Berkas bukti sudah dilampirkan pada sanggah dan tidak dapat dihapus.",
                                  "The evidence file is attached to an appeal and cannot be deleted."),
    "SERVICE_UNAVAILABLE": (503, "Layanan sedang tidak tersedia. Silakan coba lagi nanti.",
                            "The service is unavailable. Please try again later."),
}

#: HTTP statuses of the platform's shared codes (their texts live in perlinsos.problems).
SHARED_STATUS: dict[str, int] = {
    "UNAUTHENTICATED": 401,
    "PILOT_REQUIRED": 400,
    "PILOT_UNKNOWN": 400,
    "NOT_A_CITIZEN": 403,
    "NOT_A_FACILITATOR": 403,
    "CITIZEN_TOKEN_REQUIRED": 403,
    "CITIZEN_TOKEN_INVALID": 403,
    "FACILITATOR_OUT_OF_AREA": 403,
    "IDENTITY_PROVIDER_UNAVAILABLE": 503,
    "FORBIDDEN": 403,
}


class EvidenceRefused(Problem):
    """A refused evidence request: :class:`~perlinsos.errors.Problem` plus its HTTP status."""

    def __init__(self, code: str, messages: dict[str, str], status: int, field: str | None = None):
        super().__init__(code, messages, field=field)
        self.status = status


def refusal(code: str, *, field: str | None = None, detail: str | tuple[str, str] | None = None) -> EvidenceRefused:
    """The refusal ``code`` from the catalogue; ``detail`` (no personal data; one text, or one per
    language as ``(id, en)``) is appended in brackets."""
    if code in MESSAGES:
        status, id_text, en_text = MESSAGES[code]
    else:
        status = SHARED_STATUS.get(code, 400)
        id_text, en_text = SHARED[code]
    if detail:
        id_detail, en_detail = (detail, detail) if isinstance(detail, str) else detail
        id_text, en_text = f"{id_text} ({id_detail})", f"{en_text} ({en_detail})"
    return EvidenceRefused(code, {"id": id_text, "en": en_text}, status, field=field)


def status_of(problem: Problem) -> int:
    """The HTTP status for any :class:`Problem` (ours carry one; the platform's are mapped)."""
    return getattr(problem, "status", None) or SHARED_STATUS.get(problem.code, 400)


#: the request header a refusal's ``field`` names (REST has headers where GraphQL has input fields)
HEADERS = {"filename": "X-Filename", "kind": "X-Evidence-Kind"}


def body(problem: Problem, lang: str, **extra) -> dict:
    """The refusal in the one error shape of every route (docs/errors.md):
    ``{"errors": [{"message", "extensions": {"code", "header"?, "requestId"?, ...}}]}``."""
    where = {"header": HEADERS[problem.field]} if problem.field in HEADERS else {"field": problem.field}
    return language_errors.body(problem.code, problem.message(lang), lang, **where, **extra)
