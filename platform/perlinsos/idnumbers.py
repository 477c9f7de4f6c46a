"""Validation of Indonesian identity numbers: NIK, KK number and mobile phone numbers.

Rules follow DOMAIN.md ("Identity numbers"). Error messages are user-facing (Bahasa Indonesia by
default, English on request) and never echo the submitted number, so they are safe to log and to return
through the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

__all__ = [
    "PROVINCE_CODES", "SUPPORTED_LANGS", "IdNumberError", "InvalidKk", "InvalidNik", "InvalidPhone",
    "Kk", "Nik", "is_valid_kk", "is_valid_nik", "is_valid_phone", "mask_kk", "mask_nik",
    "normalize_phone", "parse_kk", "parse_nik",
]

SUPPORTED_LANGS = ("id", "en")

# Kemendagri province codes (38 provinces, incl. the 2022 Papua split: 93-96). 97 is a BPS-only code.
PROVINCE_CODES = frozenset(
    {"11", "12", "13", "14", "15", "16", "17", "18", "19", "21"}
    | {"31", "32", "33", "34", "35", "36", "51", "52", "53"}
    | {"61", "62", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
    | {"81", "82", "91", "92", "93", "94", "95", "96"}
)

_WHITESPACE = re.compile(r"\s+")
_DIGITS16 = re.compile(r"[0-9]{16}")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# Characters people type around a phone number; anything else (letters, '#', 'ext') is rejected before
# phonenumbers sees it, because phonenumbers maps letters to keypad digits.
_PHONE_CHARS = re.compile(r"\+?[0-9 ().\-]+")
# DOMAIN.md: +62 then 8[1-35-9] and 7-10 more digits (national significant number).
_ID_MOBILE_NSN = re.compile(r"8[1-35-9][0-9]{7,10}")


def _lang(lang: str | None) -> str:
    """Map 'en-US', 'EN', None... to a supported language; unknown languages fall back to Indonesian."""
    short = (lang or "id").strip().lower()[:2]
    return short if short in SUPPORTED_LANGS else "id"


class IdNumberError(ValueError):
    """Base of all identity-number errors: a machine ``code``, the ``field`` and localised messages."""

    field: ClassVar[str] = "number"
    MESSAGES: ClassVar[dict[str, tuple[str, str]]] = {}  # code -> (Bahasa Indonesia, English)

    def __init__(self, code: str) -> None:
        if code not in self.MESSAGES:
            raise KeyError(f"unknown error code {code!r} for {type(self).__name__}")
        self.code = code
        # English in str()/args because that is what lands in server logs.
        super().__init__(f"{code}: {self.message('en')}")

    def message(self, lang: str = "id") -> str:
        return self.MESSAGES[self.code][SUPPORTED_LANGS.index(_lang(lang))]


class InvalidNik(IdNumberError):
    field = "nik"
    MESSAGES = {
        "EMPTY": ("NIK wajib diisi.", "The NIK is required."),
        "NOT_DIGITS": ("NIK hanya boleh berisi angka.", "The NIK may contain digits only."),
        "LENGTH": ("NIK harus terdiri dari 16 digit.", "The NIK must be exactly 16 digits."),
        "PROVINCE": ("Kode provinsi pada NIK tidak dikenal.", "The province code in the NIK is unknown."),
        "REGION": (
            "Kode kabupaten/kota atau kecamatan pada NIK tidak valid.",
            "The regency/city or district code in the NIK is invalid.",
        ),
        "DATE": ("Tanggal lahir pada NIK tidak valid.", "The date of birth in the NIK is invalid."),
        "SERIAL": (
            "Nomor urut pada NIK tidak valid (tidak boleh 0000).",
            "The serial number in the NIK is invalid (it cannot be 0000).",
        ),
    }


class InvalidKk(IdNumberError):
    field = "kk"
    MESSAGES = {
        "EMPTY": ("Nomor KK wajib diisi.", "The family card (KK) number is required."),
        "NOT_DIGITS": ("Nomor KK hanya boleh berisi angka.", "The KK number may contain digits only."),
        "LENGTH": ("Nomor KK harus terdiri dari 16 digit.", "The KK number must be exactly 16 digits."),
        "PROVINCE": (
            "Kode provinsi pada nomor KK tidak dikenal.",
            "The province code in the KK number is unknown.",
        ),
        "REGION": ("Kode wilayah pada nomor KK tidak valid.", "The region code in the KK number is invalid."),
        "SERIAL": (
            "Nomor urut pada nomor KK tidak valid (tidak boleh 0000).",
            "The serial number in the KK number is invalid (it cannot be 0000).",
        ),
    }


class InvalidPhone(IdNumberError):
    field = "phone"
    MESSAGES = {
        "EMPTY": ("Nomor HP wajib diisi.", "The mobile number is required."),
        "FORMAT": (
            "Nomor HP hanya boleh berisi angka, spasi, tanda hubung dan awalan +.",
            "The mobile number may contain only digits, spaces, dashes and a leading +.",
        ),
        "COUNTRY": ("Nomor HP harus nomor Indonesia (+62).", "The mobile number must be Indonesian (+62)."),
        "NOT_MOBILE": (
            "Nomor harus nomor HP (diawali 08 atau +628), bukan telepon rumah/kantor.",
            "The number must be a mobile number (starting 08 or +628), not a landline.",
        ),
        "LENGTH": (
            "Panjang nomor HP tidak valid (10-13 digit, diawali 08).",
            "The mobile number has an invalid length (10-13 digits, starting 08).",
        ),
        "PREFIX": (
            "Awalan nomor HP tidak dikenal (contoh yang benar: 0812...).",
            "The mobile number prefix is unknown (a valid example: 0812...).",
        ),
        "INVALID": ("Nomor HP tidak valid.", "The mobile number is invalid."),
    }


def _clean(value: object, error: type[IdNumberError]) -> str:
    """Remove all whitespace; ``value`` must be a string of ASCII digits afterwards."""
    if value is None:
        raise error("EMPTY")
    if not isinstance(value, str):
        raise TypeError(f"{error.field} must be a str, not {type(value).__name__}")
    digits = _WHITESPACE.sub("", value)
    if not digits:
        raise error("EMPTY")
    if not _ASCII_DIGITS.fullmatch(digits):  # str.isdigit() would accept non-ASCII digits
        raise error("NOT_DIGITS")
    if not _DIGITS16.fullmatch(digits):
        raise error("LENGTH")
    return digits


def _region(digits: str, error: type[IdNumberError]) -> str:
    """Check the leading region digits and return the dotted district code, e.g. "35.10.15"."""
    if digits[0:2] not in PROVINCE_CODES:
        raise error("PROVINCE")
    if digits[2:4] == "00" or digits[4:6] == "00":  # no regency or kecamatan is numbered 00
        raise error("REGION")
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}"


def _accepts(parse, *args, **kwargs) -> bool:
    try:
        parse(*args, **kwargs)
    except (IdNumberError, TypeError):
        return False
    return True


def _mask(value: object) -> str:
    if not isinstance(value, str):
        return "****"
    s = _WHITESPACE.sub("", value)
    if len(s) <= 8:  # too short to show anything without revealing most of it
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


# --- NIK ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nik:
    """A parsed NIK. ``regency``/``district``/``region_code`` are dotted Kemendagri codes."""

    value: str  # 16 digits, no spaces
    province: str  # "35"
    regency: str  # "35.10"
    district: str  # "35.10.15"
    region_code: str  # district of first registration, "35.10.15"
    birth_date: date
    sex: str  # "F" or "M"
    serial: str  # "0001"

    def __repr__(self) -> str:  # keep full NIKs out of logs and tracebacks
        return f"Nik(value={mask_nik(self.value)!r}, region_code={self.region_code!r})"


def parse_nik(value: str, *, today: date | None = None) -> Nik:
    """Validate and decode a NIK; raise :class:`InvalidNik` (never containing the number) if invalid."""
    digits = _clean(value, InvalidNik)
    region = _region(digits, InvalidNik)
    day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    sex = "M"
    if day > 40:  # women add 40 to the day
        sex, day = "F", day - 40
    today = today or date.today()
    # Century: 20yy unless that would be in the future (compared as tuples: 20yy may not be a real date).
    year = 2000 + yy
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    try:
        birth_date = date(year, month, day)
    except ValueError:
        raise InvalidNik("DATE") from None
    if birth_date > today:  # 19yy in the future too: only with a ``today`` before 2000
        raise InvalidNik("DATE")
    serial = digits[12:16]
    if serial == "0000":
        raise InvalidNik("SERIAL")
    return Nik(digits, digits[0:2], region[:5], region, region, birth_date, sex, serial)


def is_valid_nik(value: object, *, today: date | None = None) -> bool:
    return _accepts(parse_nik, value, today=today)


def mask_nik(value: str) -> str:
    """Show only the first and last 4 digits: ``3510********0001``. Never raises."""
    return _mask(value)


# --- KK ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kk:
    """A parsed family card (Kartu Keluarga) number; ``region_code`` is the region of issue."""

    value: str
    province: str
    regency: str
    district: str
    region_code: str
    serial: str

    def __repr__(self) -> str:
        return f"Kk(value={mask_kk(self.value)!r}, region_code={self.region_code!r})"


def parse_kk(value: str) -> Kk:
    """Validate a KK number; raise :class:`InvalidKk` if invalid."""
    digits = _clean(value, InvalidKk)
    region = _region(digits, InvalidKk)
    serial = digits[12:16]
    if serial == "0000":
        raise InvalidKk("SERIAL")
    return Kk(digits, digits[0:2], region[:5], region, region, serial)


def is_valid_kk(value: object) -> bool:
    return _accepts(parse_kk, value)


def mask_kk(value: str) -> str:
    return _mask(value)


# --- Mobile phone ------------------------------------------------------------------------------


def normalize_phone(value: str, region: str = "ID") -> str:
    """Return an Indonesian mobile number in E.164 (``+628...``); raise :class:`InvalidPhone`.

    Accepts ``08...``, ``+62 8...`` and ``62 8...`` with spaces, dashes, dots or parentheses.
    """
    if value is None:
        raise InvalidPhone("EMPTY")
    if not isinstance(value, str):
        raise TypeError(f"phone must be a str, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidPhone("EMPTY")
    if not _PHONE_CHARS.fullmatch(text):
        raise InvalidPhone("FORMAT")
    compact = re.sub(r"[ ().\-]", "", text)
    if not compact.lstrip("+"):
        raise InvalidPhone("FORMAT")
    if region.upper() == "ID":
        # Rewrite to +62 ourselves: phonenumbers keeps the trunk 0 of too-short numbers, and "62 812..."
        # (international form without '+') is never a national number.
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        elif compact.startswith("62"):
            compact = "+" + compact
        elif compact.startswith("0"):
            compact = "+62" + compact[1:]
    try:
        number = phonenumbers.parse(compact, region)
    except NumberParseException:
        raise InvalidPhone("INVALID") from None
    if number.country_code != 62:
        raise InvalidPhone("COUNTRY")
    nsn = phonenumbers.national_significant_number(number)
    if not nsn.startswith("8"):
        raise InvalidPhone("NOT_MOBILE")
    if not 9 <= len(nsn) <= 12:
        raise InvalidPhone("LENGTH")
    if not _ID_MOBILE_NSN.fullmatch(nsn):
        raise InvalidPhone("PREFIX")  # 080x / 084x: not a mobile range
    # Second opinion from phonenumbers' metadata, which tracks the allocated mobile ranges.
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("INVALID")
    if phonenumbers.number_type(number) not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidPhone("NOT_MOBILE")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_valid_phone(value: object, region: str = "ID") -> bool:
    return _accepts(normalize_phone, value, region)
