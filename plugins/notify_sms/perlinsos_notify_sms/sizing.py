"""Sizing a text for SMS: GSM-7 or UCS-2, segments, and shortening to a number of segments.

* **GSM-7** (3GPP TS 23.038, default alphabet): 160 septets in one SMS, 153 a segment once the
  text is split (the user data header takes 7). Characters of the extension table (``^ { } \\ [ ~ ] |
  €`` and form feed) take two septets (escape + character) and are never split across segments.
* **UCS-2**: any character outside GSM-7 turns the *whole* message into UCS-2: 70 UTF-16 code
  units in one SMS, 67 a segment. Characters beyond the BMP (emoji) take two units (a surrogate
  pair), never split across segments.

Typographic punctuation that has a GSM-7 twin (curly quotes, dashes, the ellipsis character,
non-breaking spaces) is replaced first (:func:`gsm_friendly`), as gateways' "smart encoding"
does: one ``’`` would otherwise halve the room of the whole message. Anything else non-GSM (an
emoji, ``ł``, Javanese script) keeps the text UCS-2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from perlinsos.idnumbers import mask_nik

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

#: (single message, per segment of a concatenated message), in septets (GSM-7) or UTF-16 units (UCS-2)
CAPACITY = {GSM7: (160, 153), UCS2: (70, 67)}

_SMART = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200b": "",
    "\t": " ",
})
# A 16-digit run not inside a longer number: a NIK or a KK number, never a phone number (at most 15).
_SIXTEEN_DIGITS = re.compile(r"(?<!\d)\d{16}(?!\d)")
_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?;\n]\s*")
POINTER_LABEL_MAX = 40  # a longer "label" before the URL is text, not part of the pointer


@dataclass(frozen=True)
class SmsText:
    """A text ready to send: its encoding, length in units (septets or UTF-16 units) and segments."""

    text: str
    encoding: str
    units: int
    segments: int
    shortened: bool = False


def gsm_friendly(text: str) -> str:
    """Replace typographic punctuation by its GSM-7 twin (see the module docstring)."""
    return text.translate(_SMART)


def mask_numbers(text: str) -> str:
    """Mask every 16-digit number (a NIK or KK number) as ``3510********0001``."""
    return _SIXTEEN_DIGITS.sub(lambda m: mask_nik(m.group()), text)


#: a text of GSM-7 characters only (one regex scan instead of a set lookup per character)
_GSM7_TEXT = re.compile("[" + "".join(re.escape(c) for c in sorted(GSM7_BASIC | GSM7_EXTENSION)) + "]*")


def encoding_of(text: str) -> str:
    return GSM7 if _GSM7_TEXT.fullmatch(text) else UCS2


def _units(text: str, encoding: str) -> int:
    """``sum(_weights(text, encoding))``, counted without a list per character."""
    if encoding == GSM7:
        return len(text) + sum(text.count(c) for c in GSM7_EXTENSION)
    return sum(_weights(text, encoding))


def _weights(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def measure(text: str) -> SmsText:
    """Encoding, units and segments of ``text`` as it would be sent."""
    encoding = encoding_of(text)
    units = _units(text, encoding)
    single, per_segment = CAPACITY[encoding]
    if units <= single:
        return SmsText(text, encoding, units, 1 if text else 0)
    segments, used = 1, 0
    for weight in _weights(text, encoding):  # an escape pair or surrogate pair never straddles two segments
        if used + weight > per_segment:
            segments, used = segments + 1, 0
        used += weight
    return SmsText(text, encoding, units, segments)


def _pointer_start(text: str, link: str | None) -> int | None:
    """Where the portal pointer ("Rincian: https://…") begins in ``text``, or ``None``."""
    start = _find_link(text, link) if link else None
    if start is None:
        urls = list(_URL.finditer(text))
        if not urls:
            return None
        start = urls[-1].start()
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
    label_start = ends[-1] if ends else 0
    return label_start if start - label_start <= POINTER_LABEL_MAX else start


def _find_link(text: str, link: str) -> int | None:
    bare = _bare(link)
    at = text.lower().rfind(bare.lower())
    if at < 0:
        return None
    for scheme in ("https://", "http://"):  # include the scheme written before it
        if text[max(0, at - len(scheme)):at].lower() == scheme:
            return at - len(scheme)
    return at


def _bare(link: str) -> str:
    return re.sub(r"^https?://", "", link, flags=re.IGNORECASE).rstrip("/")


def contains_link(text: str, link: str) -> bool:
    return _find_link(text, link) is not None


def fit(text: str, max_segments: int, *, link: str | None = None) -> SmsText:
    """``text`` in at most ``max_segments`` segments.

    A longer text is cut at a word boundary and given an ellipsis (``...`` in GSM-7, ``…`` when the
    text is UCS-2 anyway) *before* the portal pointer — the sentence holding ``link`` (or the last
    URL) — so the pointer always survives. A pointer that alone does not fit is reduced to its URL.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    whole = measure(text)
    if whole.segments <= max_segments:
        return whole
    start = _pointer_start(text, link)
    head, pointer = (text, "") if start is None else (text[:start], text[start:])
    separator = "\n" if "\n" in head[len(head.rstrip()):] else " "  # as the text had it
    for tail in dict.fromkeys((pointer, _url_only(pointer))):
        fitted = _fit_head(head.rstrip(), tail.strip(), max_segments, separator)
        if fitted is not None:
            return fitted
    return _hard_cut(text, max_segments)


def _url_only(pointer: str) -> str:
    found = _URL.search(pointer)
    return found.group() if found else pointer


def _fit_head(head: str, pointer: str, max_segments: int, separator: str) -> SmsText | None:
    def attempt(n: int) -> str:
        cut = head[:n].rstrip()
        ellipsis = "..." if encoding_of(cut + pointer) == GSM7 else "\u2026"
        return f"{cut}{ellipsis}{separator}{pointer}" if pointer else f"{cut}{ellipsis}"

    def fits(n: int) -> bool:
        return measure(attempt(n)).segments <= max_segments

    if not fits(0):
        return None
    low, high = 0, len(head)  # fits(low) holds; find the longest prefix that fits
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    n = low
    space = head.rfind(" ", 0, n + 1)
    if n < len(head) and head[n:n + 1] != " " and space > n - 20 and space > 0:
        n = space  # end on a whole word when one is near
    result = measure(attempt(n))
    return SmsText(result.text, result.encoding, result.units, result.segments, shortened=True)


def _hard_cut(text: str, max_segments: int) -> SmsText:
    """Last resort (a pointer longer than the room): the first segments' worth of text."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]).segments <= max_segments:
            low = mid
        else:
            high = mid - 1
    result = measure(text[:low])
    return SmsText(result.text, result.encoding, result.units, result.segments, shortened=True)
