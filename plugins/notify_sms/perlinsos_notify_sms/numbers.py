"""Mobile numbers for SMS: validation to E.164 (through :func:`perlinsos.idnumbers.normalize_phone`,
i.e. Google's libphonenumber metadata plus DOMAIN.md's ``+62 8[1-35-9]`` rule) and masking for logs."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from perlinsos.errors import Undeliverable
from perlinsos.idnumbers import InvalidPhone, normalize_phone

NO_NUMBER = "no mobile number on record"
#: a number already in the E.164 form normalize_phone returns, with DOMAIN.md's +62 8[1-35-9] rule
_CANONICAL = re.compile(r"\+62(8[1-35-9][0-9]{7,10})")
_MOBILE = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _canonical(phone: str) -> bool:
    """Whether ``phone`` is what ``normalize_phone(phone)`` returns unchanged, checked without
    parsing: for ``+62`` and the digits, ``phonenumbers.parse`` gives exactly
    ``PhoneNumber(62, int(digits))``, and a mobile (or fixed-or-mobile) type from the metadata
    implies ``is_valid_number`` (the type is UNKNOWN otherwise). Stored numbers are normalised on
    the way in, so this is the common case; anything else takes the full path, and its reason."""
    match = _CANONICAL.fullmatch(phone)
    return match is not None and phonenumbers.number_type(
        phonenumbers.PhoneNumber(country_code=62, national_number=int(match[1]))) in _MOBILE


def e164(phone: Any) -> str:
    """The E.164 form of an Indonesian mobile number, or :class:`Undeliverable` with a reason in
    English that never contains the number."""
    if phone is None or (isinstance(phone, str) and not phone.strip()):
        raise Undeliverable(NO_NUMBER)
    if not isinstance(phone, str):
        raise Undeliverable("invalid mobile number: not text")
    if _canonical(phone):
        return phone
    try:
        return normalize_phone(phone)
    except InvalidPhone as exc:
        raise Undeliverable(f"invalid mobile number: {exc.message('en')}") from None


def mask_phone(phone: Any) -> str:
    """``+6281234567890`` → ``+62812*****890``: enough to tell numbers apart in a log, not to call."""
    if not isinstance(phone, str) or not phone:
        return "-"
    keep_head = 6 if phone.startswith("+") else 5
    if len(phone) <= keep_head + 3:
        return "*" * len(phone)
    return phone[:keep_head] + "*" * (len(phone) - keep_head - 3) + phone[-3:]
