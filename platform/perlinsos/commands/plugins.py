"""What is installed: plugins, the hooks each implements, the pilots that enable it."""

from __future__ import annotations

import asyncio

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError


@click.command("plugins")
@database_option
def plugins_cmd(database_url: str | None) -> None:
    """List installed plugins, the hooks each implements, and the pilots that enable it."""
    settings = load_settings(database_url)
    try:
        manager = load_plugins(settings)
    except ConfigurationError as exc:
        fail(exc)
    enabled_by: dict[str, list[str]] = {}
    try:
        from perlinsos.pilots.service import stored_pilots

        for row in asyncio.run(stored_pilots(settings)):
            for name in row.plugins:
                enabled_by.setdefault(name, []).append(row.code)
    except Exception as exc:  # noqa: BLE001 - listing plugins must work without a database
        click.echo(f"(pilots not shown: {exc})", err=True)
    for name in manager.names():
        click.echo(f"{name}  [{manager.sources[name]}]")
        click.echo(f"  hooks:  {', '.join(manager.hooks_of(name)) or '(none)'}")
        click.echo(f"  pilots: {', '.join(enabled_by.get(name, [])) or '(none)'}")
