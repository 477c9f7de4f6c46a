"""The ``perlinsos`` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from perlinsos.errors import ConfigurationError
from perlinsos.settings import Settings, SettingsError


def _settings(database_url: str | None = None) -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if database_url:
        from dataclasses import replace

        settings = replace(settings, database_url=database_url)
    return settings


def _plugins(settings: Settings):
    from perlinsos.plugins import PluginManager

    return PluginManager(extra_plugins=settings.extra_plugins, disabled=settings.disabled_plugins)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from None


database_option = click.option(
    "--database-url", envvar="PERLINSOS_DATABASE_URL", default=None,
    help="SQLAlchemy URL (default: sqlite:///perlinsos.db; env PERLINSOS_DATABASE_URL).",
)


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
            settings = _settings()
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

            add_plugin_commands(self, _plugins(settings))
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


# --- db ---------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@database_option
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(database_url: str | None, revision: str) -> None:
    """Apply migrations up to REVISION (creates the SQLite file if needed)."""
    settings = _settings(database_url)
    try:
        _check_reachable(settings)
        from perlinsos.db import migrate

        migrate.upgrade(settings.database_url, revision)
    except ConfigurationError as exc:
        _fail(exc)
    click.echo(f"database upgraded to {revision}")


@db.command("current")
@database_option
def db_current(database_url: str | None) -> None:
    """Show the database's revision and whether it is the newest."""
    from perlinsos.db import migrate
    from perlinsos.db.engine import Database

    settings = _settings(database_url)

    async def run() -> tuple[str | None, str | None]:
        database = Database(settings.database_url)
        try:
            await database.ping()
            return await migrate.current_revision(database), migrate.head_revision()
        finally:
            await database.dispose()

    try:
        current, head = asyncio.run(run())
    except ConfigurationError as exc:
        _fail(exc)
    click.echo(f"current: {current or '(none)'}  head: {head}  {'up to date' if current == head else 'UPGRADE NEEDED'}")


def _check_reachable(settings: Settings) -> None:
    from perlinsos.db.engine import Database

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            await database.ping()
        finally:
            await database.dispose()

    asyncio.run(run())


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

    settings = _settings()
    try:
        sdl = export_sdl(build_schema(_plugins(settings), settings))
    except ConfigurationError as exc:
        _fail(exc)
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != sdl:
            raise click.ClickException(f"{output} is out of date; run `perlinsos schema export`")
        click.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(sdl, encoding="utf-8")
    click.echo(f"wrote {output}")


# --- pilots -----------------------------------------------------------------------------------


@main.group()
def pilot() -> None:
    """Pilots: regions, programmes, phases and plugin sets."""


@pilot.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
def pilot_load(file: Path, database_url: str | None) -> None:
    """Validate pilot FILE (TOML) and store it (insert or update by its code)."""
    from perlinsos.pilots.service import load_and_store

    settings = _settings(database_url)
    try:
        code, created = asyncio.run(load_and_store(settings, _plugins(settings), file))
    except ConfigurationError as exc:
        _fail(exc)
    click.echo(f"pilot {code} {'created' if created else 'updated'}")


@pilot.command("list")
@database_option
def pilot_list(database_url: str | None) -> None:
    """List stored pilots."""
    from perlinsos.pilots.service import stored_pilots

    settings = _settings(database_url)
    try:
        rows = asyncio.run(stored_pilots(settings))
    except ConfigurationError as exc:
        _fail(exc)
    for row in rows:
        click.echo(f"{row.code}\t{row.name}\tregions={','.join(row.region_codes)}\t"
                   f"programmes={','.join(row.programmes)}\tplugins={','.join(sorted(row.plugins))}")


# --- selection --------------------------------------------------------------------------------


@main.command("select")
@click.option("--pilot", "pilot_code", required=True, help="Pilot code, e.g. BWI-2025.")
@click.option("--programme", default=None, help="Only this programme (default: all of the pilot's).")
@click.option("--chunk-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--start-only", is_flag=True, help="Create (or resume) the run and its partitions, then exit: "
              "`--worker` processes do the work.")
@click.option("--worker", "as_worker", is_flag=True, help="Join the pilot's open run and take partitions until "
              "every one is done (run several, on several machines; PostgreSQL).")
@click.option("--worker-id", default=None, help="This worker's name in the partitions (default host:pid).")
@click.option("--wait", default=60.0, show_default=True, type=click.FloatRange(0, 86_400),
              help="--worker: seconds to wait for a run to be started.")
@click.option("--partition-size", default=2000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="A new run's partitions: small neighbouring villages packed up to this many registrations.")
@click.option("--lease", default=120.0, show_default=True, type=click.FloatRange(1, 86_400),
              help="Seconds a worker holds a partition without committing a chunk before others take it over.")
@database_option
def select_cmd(pilot_code: str, programme: str | None, chunk_size: int, progress: bool, start_only: bool,
               as_worker: bool, worker_id: str | None, wait: float, partition_size: int, lease: float,
               database_url: str | None) -> None:
    """Decide every registration of a pilot, with every reason; resumes an interrupted run.

    The run is split into village partitions that this process works through, alongside any
    `--worker` processes that join it; it returns when every partition is done."""
    from perlinsos.selection import service

    if start_only and as_worker:
        raise click.UsageError("--start-only and --worker exclude each other")
    settings = _settings(database_url)
    try:
        plugins = _plugins(settings)
        if start_only:
            summary, partitions = asyncio.run(service.start_for_cli(settings, plugins, pilot_code, programme,
                                                                    partition_size))
            click.echo(f"selection run {summary.run_id}{' (resumed)' if summary.resumed else ''}: "
                       f"{len(partitions)} partitions, {sum(p.total for p in partitions):,} registrations")
            return
        if as_worker:
            waiting = f"selection worker {worker_id or '(host:pid)'}: waiting for a run of {pilot_code}"
            result = asyncio.run(service.worker_for_cli(settings, plugins, pilot_code, programme, chunk_size,
                                                        wait=wait, lease=lease, worker=worker_id,
                                                        ready=lambda: click.echo(waiting)))
            click.echo(worker_table(result, worker_id))
            return
        summary = asyncio.run(service.run_for_cli(settings, plugins, pilot_code, programme, chunk_size, progress,
                                                  partition_size=partition_size, lease=lease, worker=worker_id))
    except ConfigurationError as exc:
        _fail(exc)
    click.echo(summary_table(summary))


def worker_table(result, worker_id: str | None) -> str:
    mine = result.mine
    return "\n".join([f"selection worker {worker_id or '(host:pid)'}: run {result.total.run_id} "
                      f"{'FINISHED' if result.finished else 'not finished'}",
                      f"  partitions finished here {len(result.partitions):>9,}",
                      f"  registrations processed  {mine.processed:>9,}",
                      f"  new decisions            {mine.decided:>9,}",
                      f"  whole run: processed {result.total.processed:,}, decided {result.total.decided:,}"])


def summary_table(summary) -> str:
    lines = [f"selection run {summary.run_id}{' (resumed)' if summary.resumed else ''}",
             f"  registrations processed  {summary.processed:>9,}",
             f"  new decisions            {summary.decided:>9,}",
             f"  unchanged (no new version){summary.unchanged:>8,}", "", "  outcome              count"]
    for outcome in ("ELIGIBLE", "NOT_ELIGIBLE", "PENDING"):
        lines.append(f"  {outcome:<18} {summary.outcomes.get(outcome, 0):>7,}")
    if summary.failed_reasons:
        lines += ["", "  reason (not eligible)       count"]
        lines += [f"  {code:<26} {n:>7,}" for code, n in summary.failed_reasons.most_common()]
    if summary.pending_reasons:
        lines += ["", "  reason (pending)            count"]
        lines += [f"  {code:<26} {n:>7,}" for code, n in summary.pending_reasons.most_common()]
    return "\n".join(lines)


# --- notifications ----------------------------------------------------------------------------


@main.group()
def notify() -> None:
    """The notification outbox."""


@notify.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 5000))
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--lease", default=120.0, show_default=True, type=click.FloatRange(1, 86_400),
              help="Seconds a claimed notification is held before another worker may send it again (a dead "
              "worker's rows wait this long; keep it well above the channels' answer time).")
@database_option
def notify_run(once: bool, batch: int, concurrency: int, lease: float, database_url: str | None) -> None:
    """Deliver due notifications (a worker; several may run against PostgreSQL)."""
    from perlinsos.notification.service import run_worker

    settings = _settings(database_url)
    try:
        counts = asyncio.run(run_worker(settings, _plugins(settings), once=once, batch=batch,
                                        concurrency=concurrency, lease=lease))
    except ConfigurationError as exc:
        _fail(exc)
    if once:
        click.echo("delivered: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing due"))


# --- staff ------------------------------------------------------------------------------------


@main.group()
def staff() -> None:
    """Staff assignments: facilitators, reviewers and the national office (ADMIN)."""


def _staff_session(settings: Settings, work):
    from perlinsos.db.engine import Database

    async def run():
        database = Database(settings.database_url)
        try:
            await database.ping()
            async with database.write() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


@staff.command("assign")
@click.option("--subject", required=True, help="The staff member's identity-provider subject.")
@click.option("--role", required=True, type=click.Choice(["FACILITATOR", "REVIEWER", "ADMIN"]))
@click.option("--region", "region_code", required=True, help="Kode wilayah, e.g. 35.10.15.2004.")
@click.option("--pilot", "pilot_code", default=None, help="Limit the role to one pilot.")
@click.option("--name", default=None)
@database_option
def staff_assign(subject, role, region_code, pilot_code, name, database_url) -> None:
    """Give SUBJECT a role in a region (e.g. the first national admin)."""
    from perlinsos import staff as service
    from perlinsos.errors import Problem

    settings = _settings(database_url)
    try:
        row = _staff_session(settings, lambda s: service.assign(
            s, None, subject=subject, role=role, region_code=region_code, pilot_code=pilot_code, name=name))
    except Problem as exc:
        raise click.ClickException(exc.message("en")) from None
    except ConfigurationError as exc:
        _fail(exc)
    click.echo(f"assignment {row.id}: {row.subject} {row.role.value} in {row.region_code}")


@staff.command("revoke")
@click.argument("assignment_id", type=int)
@database_option
def staff_revoke(assignment_id, database_url) -> None:
    """Revoke assignment ASSIGNMENT_ID."""
    from perlinsos import staff as service
    from perlinsos.errors import Problem

    settings = _settings(database_url)
    try:
        row = _staff_session(settings, lambda s: service.revoke(s, None, assignment_id))
    except Problem as exc:
        raise click.ClickException(exc.message("en")) from None
    except ConfigurationError as exc:
        _fail(exc)
    click.echo(f"assignment {row.id} revoked")


@staff.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked assignments.")
@database_option
def staff_list(include_revoked, database_url) -> None:
    """List staff assignments."""
    from perlinsos import staff as service

    settings = _settings(database_url)
    try:
        rows = _staff_session(settings, lambda s: service.page(s, after_id=None, limit=10_000,
                                                                 include_revoked=include_revoked))
    except ConfigurationError as exc:
        _fail(exc)
    for row in rows:
        revoked = f"\trevoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else ""
        click.echo(f"{row.id}\t{row.subject}\t{row.role.value}\t{row.region_code}{revoked}")


# --- plugins ----------------------------------------------------------------------------------


@main.command("plugins")
@database_option
def plugins_cmd(database_url: str | None) -> None:
    """List installed plugins, the hooks each implements, and the pilots that enable it."""
    settings = _settings(database_url)
    try:
        manager = _plugins(settings)
    except ConfigurationError as exc:
        _fail(exc)
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

    settings = _settings(database_url)
    try:
        prepare_database(settings)
        _plugins(settings)  # fail fast, with the plugin named, before uvicorn starts
    except ConfigurationError as exc:
        _fail(exc)
    if database_url:
        os.environ["PERLINSOS_DATABASE_URL"] = database_url
    click.echo(f"Perlinsos API at http://{host}:{port}/graphql")
    uvicorn.run("perlinsos.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info")


def prepare_database(settings: Settings) -> None:
    """SQLite (embedded) is upgraded in place; PostgreSQL must already be current (ops decide)."""
    from perlinsos.db import migrate
    from perlinsos.db.engine import Database
    from perlinsos.errors import DatabaseError

    _check_reachable(settings)
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
        return

    async def current() -> str | None:
        database = Database(settings.database_url)
        try:
            return await migrate.current_revision(database)
        finally:
            await database.dispose()

    if asyncio.run(current()) != migrate.head_revision():
        raise DatabaseError("the PostgreSQL schema is not current: run `perlinsos db upgrade` first")


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
@database_option
def demo(host: str, port: int, ikd_port: int, sms_port: int, people: int, no_simulators: bool, no_script: bool,
         exit_after_script: bool, database_url: str | None) -> None:
    """Run the platform on its embedded defaults with the simulators, and walk through the stages.

    Creates or upgrades the database, loads the bundled Banyuwangi pilot (pointed at the
    simulators' ports), serves the API, then runs a script over HTTP: citizens register (one with
    a facilitator), the national office runs selection, the decisions are delivered with their
    reasons, and a citizen's appeal about misrecorded data is upheld. The API keeps running.
    """
    from perlinsos import demo as demo_module

    settings = _settings(database_url)
    ctx = click.get_current_context()
    try:
        prepare_database(settings)
        demo_module.run(settings, _plugins(settings), demo_module.Ports(api=port, ikd=ikd_port, sms=sms_port),
                        host=host, people=people, simulators=not no_simulators,
                        script=not (no_script or no_simulators), exit_after_script=exit_after_script,
                        available=set(main.list_commands(ctx)), echo=click.echo)
    except (ConfigurationError, RuntimeError) as exc:
        _fail(exc)


# --- transparency figures ---------------------------------------------------------------------


@main.command("stats")
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
        database = Database(_settings(database_url).database_url)
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
        _fail(exc)
    click.echo(json.dumps(to_json(result), indent=2, ensure_ascii=False) if as_json else tables(result))


# --- audit log --------------------------------------------------------------------------------


@main.group()
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
        database = Database(_settings(database_url).database_url)
        try:
            await database.ping()
            return await audit_log.verify(database, batch=batch)
        finally:
            await database.dispose()

    try:
        result = asyncio.run(run())
    except ConfigurationError as exc:
        _fail(exc)
    if isinstance(result, audit_log.Broken):
        where = f"seq {result.seq}" if result.seq is not None else "chain head"
        click.echo(f"audit chain BROKEN at {where}" + (f" (id {result.id})" if result.id is not None else "")
                   + f": {result.problem}: {result.detail}", err=True)
        sys.exit(1)
    click.echo(f"audit chain OK: {result.count} records, head seq {result.head_seq} hash {result.head_hash}")


# --- transparency figures ---------------------------------------------------------------------


@main.command("stats")
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
        database = Database(_settings(database_url).database_url)
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
        _fail(exc)
    click.echo(json.dumps(to_json(result), indent=2, ensure_ascii=False) if as_json else tables(result))


# --- evidence ---------------------------------------------------------------------------------


@main.group()
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
    from perlinsos.evidence.service import sweep_orphans
    from perlinsos.evidence.storage import LocalStorage

    settings = _settings(database_url)
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
        _fail(exc)
    click.echo(f"removed {unfinished} unfinished upload(s) and {removed} unused file(s) from {storage.root}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
