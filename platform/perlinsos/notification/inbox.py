"""The portal inbox: a citizen's delivered portal notifications, read/unread, newest first; and
the outbox as the national office sees it (dead rows to re-queue)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from perlinsos.db.engine import Database
from perlinsos.db.models import Notification, NotificationStatus, Person
from perlinsos.db.types import utcnow

n = Notification.__table__
DELIVERED = NotificationStatus.DELIVERED.value


def _mine(person_id: int):
    return (n.c.person_id == person_id) & (n.c.channel == "portal") & (n.c.status == DELIVERED)


async def person_id_of(conn: AsyncConnection, nik: str) -> int | None:
    return (await conn.execute(select(Person.id).where(Person.nik == nik))).scalar_one_or_none()


async def inbox_rows(conn: AsyncConnection, person_id: int, *, before_id: int | None, limit: int,
                     unread_only: bool = False) -> list:
    stmt = select(n).where(_mine(person_id)).order_by(n.c.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(n.c.id < before_id)
    if unread_only:
        stmt = stmt.where(n.c.read_at.is_(None))
    return list((await conn.execute(stmt)).all())


async def newer_than(conn: AsyncConnection, person_id: int, after_id: int) -> list:
    return list((await conn.execute(select(n).where(_mine(person_id), n.c.id > after_id).order_by(n.c.id))).all())


async def latest_id(conn: AsyncConnection, person_id: int) -> int:
    return (await conn.execute(select(func.max(n.c.id)).where(_mine(person_id)))).scalar() or 0


async def unread_count(conn: AsyncConnection, person_id: int) -> int:
    return (await conn.execute(select(func.count()).select_from(n)
                               .where(_mine(person_id), n.c.read_at.is_(None)))).scalar_one()


async def mark_read(db: Database, person_id: int, ids: list[int]) -> int:
    """Mark the citizen's own notifications read; others' ids are silently not theirs to mark."""
    if not ids:
        return 0
    async with db.write() as session:
        result = await (await session.connection()).execute(
            update(n).where(_mine(person_id), n.c.id.in_(ids), n.c.read_at.is_(None)).values(read_at=utcnow()))
    return result.rowcount


async def outbox_rows(conn: AsyncConnection, *, status: str | None, pilot_id: int | None, after_id: int | None,
                      limit: int) -> list:
    stmt = select(n).order_by(n.c.id).limit(limit)
    if status is not None:
        stmt = stmt.where(n.c.status == status)
    if pilot_id is not None:
        stmt = stmt.where(n.c.pilot_id == pilot_id)
    if after_id is not None:
        stmt = stmt.where(n.c.id > after_id)
    return list((await conn.execute(stmt)).all())
