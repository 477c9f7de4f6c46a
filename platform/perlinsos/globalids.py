"""Opaque ids and cursors: ``base64("Kind:123")``, shared by GraphQL and the HTTP routes.

Kept below the API layers so that a route beside GraphQL (``/evidence``) reads the same ids as the
schema without importing it.
"""

from __future__ import annotations

import base64
import binascii


class MalformedId(ValueError):
    """Not an id (or cursor) of the expected kind."""


def encode(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode(kind: str, value: str) -> int:
    try:
        prefix, _, key = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        if prefix != kind:
            raise ValueError
        return int(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise MalformedId(kind) from None
