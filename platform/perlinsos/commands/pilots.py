"""Pilots: validate a pilot file and store it; list what is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError


@click.group()
def pilot() -> None:
    """Pilots: regions, programmes, phases and plugin sets."""


@pilot.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
def pilot_load(file: Path, database_url: str | None) -> None:
    """Validate pilot FILE (TOML) and store it (insert or update by its code)."""
    from perlinsos.pilots.service import load_and_store

    settings = load_settings(database_url)
    plugins = load_plugins(settings)
    try:
        code, created, warnings = asyncio.run(load_and_store(settings, plugins, file))
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"pilot {code} {'created' if created else 'updated'}")
    for warning in warnings:  # e.g. nothing can grant consent yet: stored, but not ready for citizens
        click.echo(f"warning: {warning}", err=True)


@pilot.command("list")
@database_option
def pilot_list(database_url: str | None) -> None:
    """List stored pilots."""
    from perlinsos.pilots.service import stored_pilots

    settings = load_settings(database_url)
    try:
        rows = asyncio.run(stored_pilots(settings))
    except ConfigurationError as exc:
        fail(exc)
    for row in rows:
        click.echo(f"{row.code}\t{row.name}\tregions={','.join(row.region_codes)}\t"
                   f"programmes={','.join(row.programmes)}\tplugins={','.join(sorted(row.plugins))}")


@pilot.command("reset-training")
@click.argument("code")
@database_option
def pilot_reset_training(code: str, database_url: str | None) -> None:
    """Reset training pilot CODE to its start for the next class (audited; other pilots refused)."""
    from perlinsos.appeals.evidence.routes import storage_for
    from perlinsos.db.engine import Database
    from perlinsos.errors import Problem
    from perlinsos.pilots import training

    settings = load_settings(database_url)

    async def run():
        db = Database(settings.database_url)
        try:
            await db.ping()
            return await training.reset(db, None, code, actor="system:cli", storage=storage_for(settings))
        finally:
            await db.dispose()

    try:
        counts = asyncio.run(run())
    except Problem as exc:
        raise click.ClickException(f"{exc.code}: {exc.message('en')}") from None
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"training pilot {code} reset: " + ", ".join(f"{k}={v}" for k, v in vars(counts).items()))
