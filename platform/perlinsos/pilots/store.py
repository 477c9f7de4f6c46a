"""Storing pilots and turning them into the :class:`PilotContext` hooks receive."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perlinsos.contract import PilotContext
from perlinsos.db.models import Pilot
from perlinsos.pilots.files import PilotSpec
from perlinsos.plugins import PluginManager


async def save_pilot(session: AsyncSession, spec: PilotSpec) -> tuple[Pilot, bool]:
    """Insert or update the pilot ``spec.code`` in the caller's transaction. Returns (row, created)."""
    row = (await session.execute(select(Pilot).where(Pilot.code == spec.code))).scalar_one_or_none()
    created = row is None
    if row is None:
        row = Pilot(code=spec.code)
        session.add(row)
    row.name = spec.name
    row.region_codes = list(spec.regions)
    row.programmes = list(spec.programmes)
    row.languages = list(spec.languages)
    row.registration_opens_at = spec.phases.registration_opens
    row.registration_closes_at = spec.phases.registration_closes
    row.appeal_opens_at = spec.phases.appeal_opens
    row.appeal_closes_at = spec.phases.appeal_closes
    row.plugins = {name: dict(settings) for name, settings in spec.plugins.items()}
    row.templates = dict(spec.templates)
    row.limits = spec.limits.model_dump()  # only what the file sets: {} keeps the defaults
    row.notification = spec.notification.model_dump(exclude_none=True)
    row.training = spec.training
    await session.flush()
    return row, created


async def get_pilot(session: AsyncSession, code: str) -> Pilot | None:
    return (await session.execute(select(Pilot).where(Pilot.code == code))).scalar_one_or_none()


async def list_pilots(session: AsyncSession) -> list[Pilot]:
    return list((await session.execute(select(Pilot).order_by(Pilot.id))).scalars())


def pilot_context(row: Pilot, plugins: PluginManager) -> PilotContext:
    """The hook context of a stored pilot; its plugin settings validated again (plugins may have
    been upgraded since the pilot was loaded, so a mismatch surfaces here, naming the setting)."""
    validated = {name: plugins.validate_settings(name, settings) for name, settings in row.plugins.items()}
    return PilotContext(
        id=row.id,
        code=row.code,
        name=row.name,
        region_codes=tuple(row.region_codes),
        programmes=tuple(row.programmes),
        plugins=validated,
        phases={
            "registration_opens": row.registration_opens_at,
            "registration_closes": row.registration_closes_at,
            "appeal_opens": row.appeal_opens_at,
            "appeal_closes": row.appeal_closes_at,
        },
        training=bool(getattr(row, "training", False)),
    )


async def pilot_rows(conn, *, after_id: int | None, limit: int) -> list:
    """A page of pilot rows (Core), oldest first, for listings."""
    stmt = select(Pilot.__table__).order_by(Pilot.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Pilot.id > after_id)
    return list((await conn.execute(stmt)).all())


async def pilot_row(conn, code: str):
    return (await conn.execute(select(Pilot.__table__).where(Pilot.code == code))).first()
