"""Pilot operations used by the CLI: validate, store (through :mod:`perlinsos.pilots.rollout`), list."""

from __future__ import annotations

from pathlib import Path

from perlinsos.db.engine import Database
from perlinsos.pilots.files import load_pilot_file, spec_warnings
from perlinsos.pilots import rollout
from perlinsos.pilots.store import get_pilot, list_pilots
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings


async def load_and_store(settings: Settings, plugins: PluginManager, path: Path) -> tuple[str, bool, list[str]]:
    """Validate the file fully before touching the database; store it in one transaction, through
    the same rules as the admin API (no overlapping pilots; audited). Returns the code, whether it
    was created, and what keeps the pilot from working yet (:func:`~perlinsos.pilots.files.spec_warnings`)."""
    spec = load_pilot_file(path, plugins)
    warnings = spec_warnings(spec, plugins)
    db = Database(settings.database_url)
    try:
        await db.ping()
        async with db.write() as session:
            existing = await get_pilot(session, spec.code)
            before = rollout.spec_data(existing) if existing is not None else None
            row, created = await rollout.store(session, None, spec, before=before, actor="system:cli")
            return row.code, created, warnings
    finally:
        await db.dispose()


async def stored_pilots(settings: Settings):
    db = Database(settings.database_url)
    try:
        await db.ping()
        async with db.read() as session:
            return await list_pilots(session)
    finally:
        await db.dispose()
