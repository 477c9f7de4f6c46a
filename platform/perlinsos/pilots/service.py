"""Pilot operations used by the CLI (and, later, the admin API): validate, store, list."""

from __future__ import annotations

from pathlib import Path

from perlinsos.db.engine import Database
from perlinsos.pilots.files import load_pilot_file
from perlinsos.pilots.store import list_pilots, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings


async def load_and_store(settings: Settings, plugins: PluginManager, path: Path) -> tuple[str, bool]:
    """Validate the file fully before touching the database; store it in one transaction."""
    spec = load_pilot_file(path, plugins)
    db = Database(settings.database_url)
    try:
        await db.ping()
        async with db.write() as session:
            row, created = await save_pilot(session, spec)
            return row.code, created
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
