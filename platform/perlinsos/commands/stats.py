"""Transparency figures of a pilot as tables (the pilotStats query's numbers)."""

from __future__ import annotations

import asyncio

import click

from perlinsos.commands.common import database_option, fail, load_settings
from perlinsos.errors import ConfigurationError


@click.command("stats")
@click.option("--pilot", "pilot_code", required=True, help="Pilot code, e.g. BWI-2025.")
@click.option("--region", "region_code", default=None, help="Only this region (kode wilayah, e.g. 35.10.15).")
@click.option("--min-cell", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Counts from 1 to this minus one are suppressed (and whatever would give them away).")
@click.option("--json", "as_json", is_flag=True, help="JSON shaped like the pilotStats GraphQL answer.")
@database_option
def stats_cmd(pilot_code: str, region_code: str | None, min_cell: int, as_json: bool,
              database_url: str | None) -> None:
    """Transparency figures of a pilot: overall, per kecamatan and per village, small cells suppressed."""
    import json

    from perlinsos.db.engine import Database
    from perlinsos.errors import Problem
    from perlinsos.stats import pilot_stats
    from perlinsos.stats.report import as_json as to_json
    from perlinsos.stats.report import tables

    async def run():
        database = Database(load_settings(database_url).database_url)
        try:
            await database.ping()
            return await pilot_stats(database, pilot_code, region_code, min_cell)
        finally:
            await database.dispose()

    try:
        result = asyncio.run(run())
    except Problem as exc:
        raise click.ClickException(exc.message("id") + " / " + exc.message("en")) from None
    except ConfigurationError as exc:
        fail(exc)
    click.echo(json.dumps(to_json(result), indent=2, ensure_ascii=False) if as_json else tables(result))
