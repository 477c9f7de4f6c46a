"""Alembic migrations, driven from code (``perlinsos db upgrade``) rather than an alembic.ini."""

from __future__ import annotations

import asyncio
import functools
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from perlinsos.db.engine import Database, normalise_url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("perlinsos") / "db" / "migrations"))
    # ConfigParser interpolates '%': escape it so passwords with '%' survive.
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


@functools.cache
def head_revision() -> str | None:
    # The migration scripts ship inside the package and do not change while a process runs;
    # re-reading the folder cost /health more than a GraphQL query.
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; runs its own event loop in env.py)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def is_current(db: Database) -> bool:
    return await current_revision(db) == head_revision()


async def upgrade_async(database_url: str) -> None:
    """Run :func:`upgrade` from async code (alembic's env.py starts its own loop)."""
    await asyncio.to_thread(upgrade, database_url)
