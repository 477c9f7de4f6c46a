"""The audit log: state changes and every read of personal data by someone not its owner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos.contract import Principal
from perlinsos.db.models import AuditEvent
from perlinsos.db.types import utcnow


def _actor(principal: Principal | None) -> tuple[str, str | None]:
    if principal is None:
        return "anonymous", None
    roles = sorted(r.value for r in principal.roles())
    return principal.subject, ",".join(roles) or None


async def record_reads(
    session: AsyncSession, principal: Principal | None, person_ids: Iterable[int], *, purpose: str,
    operation: str | None = None,
) -> None:
    """One row per person whose data was shown (so each citizen can list who saw their data)."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    actor, role = _actor(principal)
    now = utcnow()
    # Core insert on the session's connection: the ORM bulk path costs more and returns nothing we use.
    conn = await session.connection()
    await conn.execute(
        insert(AuditEvent.__table__),
        [
            {
                "occurred_at": now, "actor": actor, "actor_role": role, "action": "READ_PERSONAL_DATA",
                "entity_type": "person", "entity_id": str(pid), "subject_person_id": pid,
                "purpose": purpose, "details": {"operation": operation} if operation else {},
            }
            for pid in ids
        ],
    )


async def record_change(
    session: AsyncSession, principal: Principal | None, *, action: str, entity_type: str,
    entity_id: Any, details: dict[str, Any] | None = None, subject_person_id: int | None = None,
) -> None:
    actor, role = _actor(principal)
    session.add(
        AuditEvent(
            actor=actor, actor_role=role, action=action, entity_type=entity_type,
            entity_id=None if entity_id is None else str(entity_id), subject_person_id=subject_person_id,
            details=details or {},
        )
    )
