"""Appeal evidence housekeeping."""

from __future__ import annotations

import asyncio

import click

from perlinsos.commands.common import database_option, fail, load_settings
from perlinsos.errors import ConfigurationError


@click.group()
def evidence() -> None:
    """Appeal evidence files."""


@evidence.command("sweep")
@click.option("--older-than", default=60.0, show_default=True, type=click.FloatRange(0, 525_600),
              help="Minutes: leave anything touched more recently (it may be an upload in flight).")
@database_option
def evidence_sweep(older_than: float, database_url: str | None) -> None:
    """Remove what crashed uploads left: temporary files of dead processes (or untouched for
    OLDER_THAN minutes) and stored files no record uses."""
    from datetime import timedelta

    from perlinsos.db.engine import Database
    from perlinsos.appeals.evidence.service import sweep_orphans
    from perlinsos.appeals.evidence.storage import LocalStorage

    settings = load_settings(database_url)
    storage = LocalStorage(settings.evidence_dir)

    async def orphans() -> int:
        database = Database(settings.database_url)
        try:
            await database.ping()
            return await sweep_orphans(database, storage, older_than=timedelta(minutes=older_than))
        finally:
            await database.dispose()

    try:
        removed = asyncio.run(orphans())  # the database first: an unreachable one stops before anything is removed
        unfinished = storage.clean_temp(stale_after=older_than * 60)
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"removed {unfinished} unfinished upload(s) and {removed} unused file(s) from {storage.root}")

