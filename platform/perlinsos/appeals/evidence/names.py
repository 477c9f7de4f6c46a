"""File names of evidence: only ever shown (files are stored by sha256), still kept clean.

Two kinds of treatment:

* **refused** (``EVIDENCE_NAME_INVALID``): a name that tries to be a path or to hide what it is —
  a slash or backslash (or a look-alike), ``..`` at its start or as the whole name, a control
  character (NUL, newline, ...), a bidirectional override such as U+202E that makes
  ``gpj.exe`` read as ``exe.jpg``, or bytes that are not UTF-8;
* **sanitised**: NFC, invisible format characters dropped, characters Windows cannot store
  replaced by ``_``, leading dots and trailing dots/spaces removed, runs of spaces collapsed,
  the length cut (keeping the extension), the extension made to match the sniffed content, and
  an empty name becomes ``bukti``.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from perlinsos.appeals.evidence.errors import refusal
from perlinsos.appeals.evidence.sniff import EXTENSIONS

MAX_LENGTH = 120
DEFAULT_STEM = "bukti"

_SEPARATORS = set("/\\") | {"\u2044", "\u2215", "\u29f8", "\u29f9", "\uff0f", "\uff3c", "\ufe68"}
_BIDI_CONTROLS = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}
_WINDOWS_RESERVED = set('<>:"|?*')
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def decode_header(value: str | None) -> str | None:
    """The name from an ``X-Filename`` header: percent-encoded UTF-8 (raw UTF-8 is tolerated)."""
    if value is None or not value.strip():
        return None
    try:
        raw = value.encode("latin-1").decode("utf-8")  # Starlette hands header bytes over as latin-1
        return unquote(raw, encoding="utf-8", errors="strict")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise refusal("EVIDENCE_NAME_INVALID", field="filename") from None


def check(name: str) -> None:
    """Refuse names that try to be paths or hide what they are (see the module docstring)."""
    normal = unicodedata.normalize("NFKC", name)
    stripped = name.strip()
    if (
        any(c in _SEPARATORS for c in name) or any(c in "/\\" for c in normal)
        or stripped.startswith("..") or set(stripped) == {"."}
        or any(unicodedata.category(c) == "Cc" for c in name)
        or any(c in _BIDI_CONTROLS for c in name)
    ):
        raise refusal("EVIDENCE_NAME_INVALID", field="filename")


def clean(name: str | None, content_type: str) -> str:
    """A safe display name for a file of (sniffed) ``content_type``; refuses bad names."""
    if name is not None:
        check(name)
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn"))
    text = "".join("_" if c in _WINDOWS_RESERVED else c for c in text)
    text = " ".join(text.split())  # every kind of whitespace run → one space
    text = text.lstrip(". ").rstrip(". ")
    stem, ext = _split(text)
    allowed = EXTENSIONS[content_type]
    if ext.lower() not in allowed:
        ext = allowed[0]
    stem = stem.rstrip(". ") or DEFAULT_STEM
    if stem.upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    stem = stem[: MAX_LENGTH - len(ext)].rstrip(". ") or DEFAULT_STEM
    return stem + ext.lower()


def _split(text: str) -> tuple[str, str]:
    match = _EXTENSION.search(text)
    if match is None or match.start() == 0:
        return text, ""
    return text[: match.start()], match.group()
