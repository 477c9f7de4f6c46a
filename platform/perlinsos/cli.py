"""The ``perlinsos`` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError
from perlinsos.settings import Settings


class PerlinsosCLI(click.Group):
    """The root group; installed plugins add commands through ``register_commands`` on first use.

    Plugin commands are re-collected when the plugin settings change (tests invoke one group
    object under different environments).
    """

    _plugin_key: tuple | None = None
    _plugin_commands: tuple[str, ...] = ()
    plugin_error: Exception | None = None

    def _add_plugin_commands(self) -> None:
        try:
            settings = load_settings()
        except click.ClickException as exc:
            self.plugin_error = exc
            return
        key = (settings.extra_plugins, settings.disabled_plugins)
        if key == self._plugin_key:
            return
        for name in self._plugin_commands:
            self.commands.pop(name, None)
        self._plugin_key, self.plugin_error = key, None
        core = set(self.commands)
        try:
            from perlinsos.plugins import add_plugin_commands

            add_plugin_commands(self, load_plugins(settings))
        except ConfigurationError as exc:
            # Core commands (e.g. `perlinsos plugins`) must still run to diagnose the problem.
            self.plugin_error = exc
        self._plugin_commands = tuple(n for n in self.commands if n not in core)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._add_plugin_commands()
        command = super().get_command(ctx, name)
        if command is None and self.plugin_error is not None:
            raise click.ClickException(f"plugin commands unavailable: {self.plugin_error}")
        return command


@click.group(cls=PerlinsosCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perlinsos")
def main() -> None:
    """Perlinsos: the plugin-based GraphQL backend for digitised social assistance (bansos)."""


# --- db: perlinsos.commands.db (migrations, backups) -----------------------------------------


# --- schema -----------------------------------------------------------------------------------


@main.group()
def schema() -> None:
    """The published GraphQL contract."""


@schema.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("schema/schema.graphql"), show_default=True)
@click.option("--check", is_flag=True, help="Fail if the file differs from the code instead of writing.")
def schema_export(output: Path, check: bool) -> None:
    """Write the SDL of the schema (core + installed plugins) to OUTPUT."""
    from perlinsos.graphql.schema import build_schema, export_sdl

    settings = load_settings()
    try:
        sdl = export_sdl(build_schema(load_plugins(settings), settings))
    except ConfigurationError as exc:
        fail(exc)
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != sdl:
            raise click.ClickException(f"{output} is out of date; run `perlinsos schema export`")
        click.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(sdl, encoding="utf-8")
    click.echo(f"wrote {output}")


# --- serve ------------------------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes.")
@database_option
def serve(host: str, port: int, workers: int, database_url: str | None) -> None:
    """Serve the GraphQL API at /graphql (upgrades an embedded SQLite database first)."""
    import os

    import uvicorn

    settings = load_settings(database_url)
    try:
        prepare_database(settings)
        plugins = load_plugins(settings)  # fail fast, with the plugin named, before uvicorn starts
        if settings.production:  # as the app's start-up does, but without uvicorn's traceback
            _refuse_development_secrets(settings, plugins)
    except ConfigurationError as exc:
        fail(exc)
    if database_url:
        os.environ["PERLINSOS_DATABASE_URL"] = database_url
    click.echo(f"Perlinsos API at http://{host}:{port}/graphql")
    from perlinsos.app import server_options

    uvicorn.run("perlinsos.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", **server_options(settings))


def _refuse_development_secrets(settings: Settings, plugins) -> None:
    """Production: no stored pilot may hold a development secret (names pilot, plugin, setting)."""
    from perlinsos.db.engine import Database
    from perlinsos.pilots.rollout import refuse_development_secrets

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            await refuse_development_secrets(database, plugins)
        finally:
            await database.dispose()

    asyncio.run(run())


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=click.IntRange(1, 65535), help="The API's port.")
@click.option("--ikd-port", default=8601, show_default=True, type=click.IntRange(1, 65535),
              help="The IKD simulator's port (the pilot's issuer follows it).")
@click.option("--sms-port", default=8602, show_default=True, type=click.IntRange(1, 65535),
              help="The SMS gateway simulator's port (the pilot's gateway follows it).")
@click.option("--people", default=2000, show_default=True, type=click.IntRange(1, 5_000_000),
              help="Size of the synthetic population.")
@click.option("--no-simulators", is_flag=True, help="Do not start the IKD/SMS simulators (and run no script).")
@click.option("--no-script", is_flag=True, help="Only serve; do not run the scripted walk through the stages.")
@click.option("--exit-after-script", is_flag=True, help="Stop after the script (non-zero if it failed), e.g. in tests.")
@click.option("--pilot-region", "pilot_regions", multiple=True, metavar="CODE",
              help="Also run a pilot for this regency (repeatable), e.g. 35.09: pilot JBR-DEMO, citizens in the IKD "
                   "simulator.")
@click.option("--training", is_flag=True, help="Also run a facilitator class on training pilot LATIHAN-DEMO "
                                               "(simulators only, texts LATIHAN, out of statistics, resettable).")
@click.option("--class-size", default=40, show_default=True, type=click.IntRange(1, 1000),
              help="With --training: participants, each a facilitator paired with a synthetic household head.")
@click.option("--cards", default="latihan-kartu.csv", show_default=True, metavar="FILE",
              help="With --training: where to write the sign-in cards (.csv, or .pdf to print).")
@database_option
def demo(host: str, port: int, ikd_port: int, sms_port: int, people: int, no_simulators: bool, no_script: bool,
         exit_after_script: bool, pilot_regions: tuple[str, ...], training: bool, class_size: int, cards: str,
         database_url: str | None) -> None:
    """Run the platform on its embedded defaults with the simulators, and walk through the stages.

    Creates or upgrades the database, loads the bundled Banyuwangi pilot (pointed at the
    simulators' ports), serves the API, then runs a script over HTTP: citizens register (one with
    a facilitator), the national office runs selection, the decisions are delivered with their
    reasons, and a citizen's appeal about misrecorded data is upheld. The API keeps running.
    """
    from perlinsos import demo as demo_module

    settings = load_settings(database_url)
    ctx = click.get_current_context()
    try:
        prepare_database(settings)
        demo_module.run(settings, load_plugins(settings), demo_module.Ports(api=port, ikd=ikd_port, sms=sms_port),
                        host=host, people=people, simulators=not no_simulators,
                        script=not (no_script or no_simulators), exit_after_script=exit_after_script,
                        available=set(main.list_commands(ctx)), echo=click.echo, pilot_regions=pilot_regions,
                        class_size=class_size if training else 0, cards=cards)
    except (ConfigurationError, RuntimeError) as exc:
        fail(exc)


# --- the core's other commands, one module each -----------------------------------------------

from perlinsos.commands.audit import audit  # noqa: E402
from perlinsos.commands.db import db, prepare_database  # noqa: E402
from perlinsos.commands.evidence import evidence  # noqa: E402
from perlinsos.commands.notify import notify  # noqa: E402
from perlinsos.commands.pilots import pilot  # noqa: E402
from perlinsos.commands.plugins import plugin, plugins_cmd  # noqa: E402
from perlinsos.commands.regions import regions_cmd  # noqa: E402
from perlinsos.commands.schema_diff import schema_diff  # noqa: E402
from perlinsos.commands.selection import select_cmd  # noqa: E402
from perlinsos.commands.staff import staff  # noqa: E402
from perlinsos.commands.stats import stats_cmd  # noqa: E402

for _command in (db, pilot, select_cmd, notify, staff, plugins_cmd, plugin, stats_cmd, audit, evidence, regions_cmd):
    main.add_command(_command)
schema.add_command(schema_diff)


if __name__ == "__main__":  # pragma: no cover  (python -m perlinsos.cli: how the demo starts simulators)
    sys.exit(main())
