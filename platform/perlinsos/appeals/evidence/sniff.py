"""What a file *is*, from its first bytes only — never from its name or the type a client declares.

Accepted: JPEG, PNG and PDF. The stored ``content_type`` is always the sniffed one; a declared
type that contradicts the content is refused (``EVIDENCE_TYPE_MISMATCH``), a declared type we do
not accept is refused before the body is read (``EVIDENCE_TYPE_NOT_ALLOWED``).
"""

from __future__ import annotations

import re

from perlinsos.appeals.evidence.errors import refusal

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"

#: content type → file extensions (the first is the one given to names that lack a matching one).
EXTENSIONS: dict[str, tuple[str, ...]] = {JPEG: (".jpg", ".jpeg"), PNG: (".png",), PDF: (".pdf",)}

#: declared types that name one of ours (aliases some phones and old browsers send).
_DECLARED = {"image/jpeg": JPEG, "image/jpg": JPEG, "image/pjpeg": JPEG, "image/png": PNG, "image/x-png": PNG,
             "application/pdf": PDF, "application/x-pdf": PDF}
#: declared types that say nothing about the content; the sniffed type decides alone.
_UNSPECIFIC = {"", "application/octet-stream", "binary/octet-stream"}
#: forms a browser can post cross-site without a CORS preflight (and multipart in general).
FORM_TYPES = {"application/x-www-form-urlencoded"}

#: bytes needed to decide (PNG: signature + length + "IHDR").
HEAD_BYTES = 16

_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")


def sniff(head: bytes) -> str | None:
    """The content type of a file starting with ``head`` (at least :data:`HEAD_BYTES` of it when
    the file is that long), or ``None`` when it is none of ours."""
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return PNG
    if _PDF_HEADER.match(head):
        return PDF
    return None


def media_type(header: str | None) -> str:
    """``"Image/JPEG; charset=x"`` → ``"image/jpeg"``."""
    return (header or "").split(";", 1)[0].strip().lower()


def declared_type(header: str | None) -> str | None:
    """The type a client declared, checked before any byte is read: one of ours, or ``None`` for
    "unspecified". Anything else is refused."""
    media = media_type(header)
    if media.startswith("multipart/") or media in FORM_TYPES:
        raise refusal("EVIDENCE_MULTIPART_NOT_ACCEPTED")
    if media in _UNSPECIFIC:
        return None
    if media in _DECLARED:
        return _DECLARED[media]
    raise refusal("EVIDENCE_TYPE_NOT_ALLOWED")


def check(head: bytes, declared: str | None) -> str:
    """The sniffed content type of a file starting with ``head``, or a refusal."""
    found = sniff(head)
    if found is None:
        # Content of no accepted type: "not what it claims" when it claimed one of ours.
        raise refusal("EVIDENCE_TYPE_MISMATCH" if declared else "EVIDENCE_TYPE_NOT_ALLOWED")
    if declared is not None and declared != found:
        raise refusal("EVIDENCE_TYPE_MISMATCH")
    return found
