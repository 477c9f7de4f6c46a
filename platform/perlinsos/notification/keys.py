"""Idempotency keys for outbox rows."""

from __future__ import annotations

import secrets


def idempotency_key(*parts: object) -> str:
    """``decision-41-sms-3f9c0a1b2d4e``: readable, the same on every attempt (it is stored on the
    row), and unique beyond this database. Gateways deduplicate by key across their whole account,
    so a key made of row ids alone would collide after a restore, between two deployments sharing
    a gateway account, or between staging and production — and the gateway would silently drop
    the later citizen's message as a duplicate."""
    return "-".join(str(p) for p in parts) + "-" + secrets.token_hex(6)
