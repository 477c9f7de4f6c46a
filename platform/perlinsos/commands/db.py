"""``perlinsos db``: schema migrations (upgrade, downgrade, current) and backups (backup, restore)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from perlinsos.commands.common import database_option, fail, load_settings
from perlinsos.errors import ConfigurationError
from perlinsos.settings import Settings


@click.group()
def db() -> None:
    """Database schema (Alembic migrations) and backups."""


@db.command("upgrade")
@database_option
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(database_url: str | None, revision: str) -> None:
    """Apply migrations up to REVISION (creates the SQLite file if needed).

    Refuses, changing nothing, an unknown revision, a database newer than this release, and a
    target older than the database (that is `db downgrade`)."""
    settings = load_settings(database_url)
    try:
        _check_reachable(settings)
        from perlinsos.db import migrate

        outcome = migrate.upgrade(settings.database_url, revision)
    except ConfigurationError as exc:
        fail(exc)
    if outcome.changed:
        click.echo(f"database upgraded from {outcome.before or '(empty)'} to {outcome.after}")
    else:
        click.echo(f"database already at {outcome.after}")


@db.command("downgrade")
@database_option
@click.option("--revision", required=True, help="Target revision ('base' removes every table).")
def db_downgrade(database_url: str | None, revision: str) -> None:
    """Undo migrations down to REVISION, with the release that applied them. Take a backup first:
    what the undone migrations added is dropped."""
    settings = load_settings(database_url)
    try:
        _check_reachable(settings)
        from perlinsos.db import migrate

        outcome = migrate.downgrade(settings.database_url, revision)
    except ConfigurationError as exc:
        fail(exc)
    if outcome.changed:
        click.echo(f"database downgraded from {outcome.before} to {outcome.after or '(empty)'}")
    else:
        click.echo(f"database already at {outcome.after or '(empty)'}")


@db.command("current")
@database_option
def db_current(database_url: str | None) -> None:
    """Show the database's revision and whether this release may serve on it."""
    from perlinsos.db import migrate

    settings = load_settings(database_url)
    try:
        _check_reachable(settings)
        state = asyncio.run(_schema_state(settings))
    except ConfigurationError as exc:
        fail(exc)
    words = {migrate.CURRENT: "up to date", migrate.OUTDATED: "UPGRADE NEEDED", migrate.MISSING: "UPGRADE NEEDED",
             migrate.COMPATIBLE: "newer than this release, compatible with it",
             migrate.INCOMPATIBLE: "NEWER than this release, which may not serve on it"}
    click.echo(f"current: {state.revision or '(none)'}  head: {migrate.head_revision()}  {words[state.state]}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@database_option
def db_backup(path: Path, force: bool, database_url: str | None) -> None:
    """Back the database up into PATH, safely while the platform serves.

    SQLite: SQLite's online backup (one consistent snapshot). PostgreSQL: pg_dump's custom format
    (for pg_restore). Copy the evidence directory too, after the database."""
    from perlinsos.db import backup

    settings = load_settings(database_url)
    try:
        if backup.sqlite_file(settings.database_url) is None:
            argv = backup.backup_postgresql(settings.database_url, path, force=force)
            click.echo(f"backed up with {argv[0]} into {path} (restore with pg_restore)")
        else:
            snapshot = backup.backup_sqlite(settings.database_url, path, force=force)
            click.echo(f"backed up into {path}: {snapshot.describe()}")
            click.echo("keep the audit head line outside the database (see `perlinsos audit verify`)")
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"now copy the evidence directory ({settings.evidence_dir}) beside the backup")


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds tables (stop the platform first).")
@database_option
def db_restore(path: Path, force: bool, database_url: str | None) -> None:
    """Restore a SQLite backup from PATH into the database (PostgreSQL: use pg_restore)."""
    from perlinsos.db import backup

    settings = load_settings(database_url)
    try:
        if backup.sqlite_file(settings.database_url) is None:
            raise backup.BackupError(
                "on PostgreSQL restore with pg_restore into an empty database: "
                f"`pg_restore --no-owner --dbname=postgresql://user@host/newdb {path}`; "
                "see docs/operations/backups.md")
        snapshot = backup.restore_sqlite(settings.database_url, path, force=force)
    except ConfigurationError as exc:
        fail(exc)
    click.echo(f"restored {path}: {snapshot.describe()}")
    click.echo("next: `perlinsos audit verify` (its head must match the one you kept), then `perlinsos db upgrade`")


async def _schema_state(settings: Settings):
    from perlinsos.db import migrate
    from perlinsos.db.engine import Database

    database = Database(settings.database_url)
    try:
        return await migrate.schema_state(database)
    finally:
        await database.dispose()


def _check_reachable(settings: Settings) -> None:
    from perlinsos.db.engine import Database

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            await database.ping()
        finally:
            await database.dispose()

    asyncio.run(run())


def prepare_database(settings: Settings) -> None:
    """Before serving: SQLite (embedded) is upgraded in place; PostgreSQL must already be current
    (ops decide). A schema newer than this release is served when it records this release as
    still compatible (a rolling upgrade), refused in one line otherwise."""
    from perlinsos.db import migrate

    _check_reachable(settings)
    state = asyncio.run(_schema_state(settings))
    if state.state == migrate.COMPATIBLE:
        click.echo(f"the database is at {state.revision}, newer than this release ({migrate.head_revision()}) "
                   "and compatible with it: serving without migrating", err=True)
        return
    if settings.is_sqlite and state.state in (migrate.OUTDATED, migrate.MISSING):
        migrate.upgrade(settings.database_url)
        return
    migrate.refuse_unservable(state)
