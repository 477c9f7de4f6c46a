"""The hash-chained audit log: verify it end to end."""

from __future__ import annotations

import asyncio
import sys

import click

from perlinsos.commands.common import database_option, fail, load_settings
from perlinsos.errors import ConfigurationError


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--batch", default=5000, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows read per query.")
@database_option
def audit_verify(batch: int, database_url: str | None) -> None:
    """Recompute the audit hash chain; exit 1 naming the first broken link."""
    from perlinsos import audit as audit_log
    from perlinsos.db.engine import Database

    async def run():
        database = Database(load_settings(database_url).database_url)
        try:
            await database.ping()
            return await audit_log.verify(database, batch=batch)
        finally:
            await database.dispose()

    try:
        result = asyncio.run(run())
    except ConfigurationError as exc:
        fail(exc)
    if isinstance(result, audit_log.Broken):
        where = f"seq {result.seq}" if result.seq is not None else "chain head"
        click.echo(f"audit chain BROKEN at {where}" + (f" (id {result.id})" if result.id is not None else "")
                   + f": {result.problem}: {result.detail}", err=True)
        sys.exit(1)
    click.echo(f"audit chain OK: {result.count} records, head seq {result.head_seq} hash {result.head_hash}")
