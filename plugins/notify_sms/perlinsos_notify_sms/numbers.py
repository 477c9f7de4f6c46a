"""Mobile numbers for SMS: validation to E.164 (through :func:`perlinsos.idnumbers.normalize_phone`,
i.e. Google's libphonenumber metadata plus DOMAIN.md's ``+62 8[1-35-9]`` rule) and masking for logs."""

from __future__ import annotations

from typing import Any

from perlinsos.errors import Undeliverable
from perlinsos.idnumbers import InvalidPhone, normalize_phone

NO_NUMBER = "no mobile number on record"


def e164(phone: Any) -> str:
    """The E.164 form of an Indonesian mobile number, or :class:`Undeliverable` with a reason in
    English that never contains the number."""
    if phone is None or (isinstance(phone, str) and not phone.strip()):
        raise Undeliverable(NO_NUMBER)
    if not isinstance(phone, str):
        raise Undeliverable("invalid mobile number: not text")
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
