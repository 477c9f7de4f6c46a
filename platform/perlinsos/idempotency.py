"""Retry-safe mutations: a client key makes a repeated request answer what the first one did.

A facilitator or village operator on a bad connection sends a mutation, the connection drops, and
they cannot know whether it was done. They send it again with the same ``clientKey`` (REST: the
``Idempotency-Key`` header): the platform answers with what it made the first time and makes
nothing new. The same key with another input is refused (``IDEMPOTENCY_KEY_REUSED``): a key names
one request, not a slot to fill.

Keys are per identity (issuer, subject) in the ``client_key`` table. A key is claimed *before* the
work (so two copies of a request racing each other cannot both do it: the second is told
``IDEMPOTENCY_KEY_IN_PROGRESS`` and retries), completed with the entity made, and released when
the work is refused (a refusal stores nothing, so the same request may be sent again once its
cause is fixed). A claim left by a process that died mid-work lapses after :data:`STALE_AFTER`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import ClientKey
from perlinsos.db.types import utcnow
from perlinsos.errors import Problem

#: a claim older than this whose work never completed (the process died) may be taken over
STALE_AFTER = timedelta(minutes=2)
MIN_LENGTH, MAX_LENGTH = 8, 100
#: the ``clientKey`` argument's description in the schema
DESCRIPTION = ("Retry safety (8-100 characters, new for each request): sent again with the same key and input "
               "after a dropped connection, the first answer is returned and nothing is done twice; the same key "
               "with another input is refused (IDEMPOTENCY_KEY_REUSED).")

MESSAGES: dict[str, tuple[str, str]] = {
    "CLIENT_KEY_INVALID": ("Kunci permintaan harus 8 sampai 100 karakter.",
                           "The client key must have 8 to 100 characters."),
    "IDEMPOTENCY_KEY_REUSED": ("Kunci permintaan ini sudah dipakai untuk permintaan lain; buat kunci baru "
                               "untuk permintaan baru.",
                               "This client key was already used for another request; use a new key for a "
                               "new request."),
    "IDEMPOTENCY_KEY_IN_PROGRESS": ("Permintaan dengan kunci ini sedang diproses; coba lagi sebentar lagi.",
                                    "A request with this key is still being processed; try again shortly."),
}

def refusal(code: str, field: str | None = "clientKey") -> Problem:
    id_text, en_text = MESSAGES[code]
    return Problem(code, {"id": id_text, "en": en_text}, field=field)


@dataclass(frozen=True)
class Done:
    """What the first request with a key made: an entity id and/or a stored response."""

    entity_id: int | None
    response: dict[str, Any] | None
    replayed: bool


def check_key(key: str | None, field: str = "clientKey") -> str | None:
    """``None`` (no key: no retry safety) or the key, checked: 8 to 100 printable characters."""
    if key is None:
        return None
    if not MIN_LENGTH <= len(key) <= MAX_LENGTH or not key.isprintable() or key != key.strip():
        raise refusal("CLIENT_KEY_INVALID", field)
    return key


def fingerprint(operation: str, payload: Mapping[str, Any], salt: str = "") -> str:
    """A digest of what the request asks: the operation and its input, keys sorted; salted with the
    key, so a stored digest cannot be matched against guessed inputs (an input may hold a NIK)."""
    text = json.dumps({"operation": operation, "input": payload, "salt": salt}, sort_keys=True, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _who(principal: Principal) -> tuple[str, str]:
    return principal.issuer or "", principal.subject


async def _stored(db: Database, who: tuple[str, str], key: str) -> ClientKey | None:
    async with db.read() as session:
        return (await session.execute(select(ClientKey).where(
            ClientKey.issuer == who[0], ClientKey.subject == who[1], ClientKey.key == key))).scalar_one_or_none()


async def claim(db: Database, principal: Principal, key: str, operation: str, digest: str,
                field: str = "clientKey") -> Done | None:
    """Claim ``key`` for this request; ``None`` when claimed (do the work, then :func:`complete`
    or :func:`release`), or what the first request with it made."""
    who = _who(principal)
    for _ in range(3):
        row = await _stored(db, who, key)
        if row is not None:
            if (row.operation, row.fingerprint) != (operation, digest):
                raise refusal("IDEMPOTENCY_KEY_REUSED", field)
            if row.completed_at is not None:
                return Done(row.entity_id, row.response, replayed=True)
            if utcnow() - row.created_at < STALE_AFTER:
                raise refusal("IDEMPOTENCY_KEY_IN_PROGRESS", field)
            async with db.write() as session:  # the claimer died mid-work: take the claim over
                taken = await session.execute(update(ClientKey).where(
                    ClientKey.issuer == who[0], ClientKey.subject == who[1], ClientKey.key == key,
                    ClientKey.completed_at.is_(None), ClientKey.created_at == row.created_at,
                ).values(created_at=utcnow()))
            if taken.rowcount == 1:
                return None
            continue
        try:
            async with db.write() as session:
                session.add(ClientKey(issuer=who[0], subject=who[1], key=key, operation=operation,
                                      fingerprint=digest, created_at=utcnow()))
            return None
        except IntegrityError:
            continue  # a copy of this request claimed it first: read what it holds
    raise refusal("IDEMPOTENCY_KEY_IN_PROGRESS", field)


async def complete(db: Database, principal: Principal, key: str, *, entity_id: int | None = None,
                   response: Mapping[str, Any] | None = None) -> None:
    who = _who(principal)
    async with db.write() as session:
        await session.execute(update(ClientKey).where(
            ClientKey.issuer == who[0], ClientKey.subject == who[1], ClientKey.key == key,
        ).values(entity_id=entity_id, response=dict(response) if response is not None else None,
                 completed_at=utcnow()))


async def release(db: Database, principal: Principal, key: str) -> None:
    who = _who(principal)
    async with db.write() as session:
        await session.execute(delete(ClientKey).where(
            ClientKey.issuer == who[0], ClientKey.subject == who[1], ClientKey.key == key,
            ClientKey.completed_at.is_(None)))


async def once(db: Database, principal: Principal | None, key: str | None, operation: str,
               payload: Mapping[str, Any], work: Callable[[], Awaitable[tuple[int, Mapping[str, Any] | None]]],
               ) -> Done:
    """Run ``work`` (which returns the id of the entity it made, and what else its answer needs) at
    most once per key. Without a key (or principal) it simply runs."""
    key = check_key(key)
    if key is None or principal is None:
        entity_id, response = await work()
        return Done(entity_id, dict(response) if response is not None else None, replayed=False)
    done = await claim(db, principal, key, operation, fingerprint(operation, payload, key))
    if done is not None:
        return done
    try:
        entity_id, response = await work()
    except BaseException:
        await release(db, principal, key)
        raise
    await complete(db, principal, key, entity_id=entity_id, response=response)
    return Done(entity_id, dict(response) if response is not None else None, replayed=False)
