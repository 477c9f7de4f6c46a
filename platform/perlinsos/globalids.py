"""Opaque ids and cursors: ``base64("Kind:123")``, shared by GraphQL and the HTTP routes.

Kept below the API layers so that a route beside GraphQL (``/evidence``) reads the same ids as the
schema without importing it.

:func:`decode` is the one strict reader: an id is exactly what :func:`encode` writes for a key the
database can hold. Anything else (another kind, a sign, spaces, ``_``, non-ASCII digits such as
``١``, leading zeros, other base64 spellings, a key beyond BIGINT) is :class:`MalformedId`, which
every caller answers as "not found" or a typed bad-input error, never a database error.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid

#: Every key behind an id or cursor is a BIGINT column on PostgreSQL (SQLite's INTEGER is 64-bit
#: too; see db.types.BigId), and keys start at 1. A larger number would only fail in the driver.
MIN_KEY, MAX_KEY = 1, 2**63 - 1
#: ``int()`` accepts "+1", " 1_0" and "١"; ids accept the canonical ASCII form only.
_KEY = re.compile(r"[1-9][0-9]{0,18}")
#: Far above any real id ("StaffAssignment:" + 19 digits is 48 characters encoded); longer input is
#: refused before it is decoded at all.
_MAX_LENGTH = 128


class MalformedId(ValueError):
    """Not an id (or cursor) of the expected kind."""


def encode(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode(kind: str, value: str) -> int:
    """The key of ``value``, an id of ``kind``; :class:`MalformedId` for anything else."""
    if not isinstance(value, str) or len(value) > _MAX_LENGTH:
        raise MalformedId(kind)
    try:
        text = base64.urlsafe_b64decode(value.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        raise MalformedId(kind) from None
    prefix, colon, key = text.partition(":")
    if prefix != kind or not colon or not _KEY.fullmatch(key):
        raise MalformedId(kind)
    number = int(key)
    # One id, one spelling: base64 without padding, with "+/" or with stray characters is refused,
    # so ids compare (and cache, and audit) as plain strings.
    if not MIN_KEY <= number <= MAX_KEY or encode(kind, number) != value:
        raise MalformedId(kind)
    return number


def uuid_key(value: str) -> str | None:
    """The key of an id that is a bare UUID (selection runs), or None when ``value`` is not one in
    its canonical form (lower-case, hyphenated): a stray byte such as NUL would fail in PostgreSQL."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return value if str(uuid.UUID(value)) == value else None
    except ValueError:
        return None
