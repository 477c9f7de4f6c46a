"""Stage 2 from the command line: a selection run (or a worker joining one) with a progress bar."""

from __future__ import annotations

import asyncio

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError


@click.command("select")
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
    settings = load_settings(database_url)
    try:
        plugins = load_plugins(settings)
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
        fail(exc)
    click.echo(summary_table(summary))


def worker_table(result, worker_id: str | None) -> str:
    mine = result.mine
    return "\n".join([f"selection worker {worker_id or '(host:pid)'}: run {result.total.run_id} "
                      f"{'FINISHED' if result.finished else 'not finished'}",
                      f"  partitions finished here {len(result.partitions):>9,}",
                      f"  registrations processed  {mine.processed:>9,}",
                      f"  new decisions            {mine.decided:>9,}",
                      f"  whole run: processed {result.total.processed:,}, decided {result.total.decided:,}"]
                     + outage_lines(result.total))


def outage_lines(summary) -> list[str]:
    """The database outages the run's workers rode out (none: no line)."""
    o = summary.outages
    if not o:
        return []
    return [f"  database outages         {o.get('count', 0):>9,} (last: {o.get('last_kind')}, "
            f"{o.get('last_seconds', 0):g} s)"]


def summary_table(summary) -> str:
    lines = [f"selection run {summary.run_id}{' (resumed)' if summary.resumed else ''}",
             f"  registrations processed  {summary.processed:>9,}",
             f"  new decisions            {summary.decided:>9,}",
             f"  unchanged (no new version){summary.unchanged:>8,}",
             f"  kept (a source failed)   {summary.kept:>9,}", *outage_lines(summary), "",
             "  outcome              count"]
    for outcome in ("ELIGIBLE", "NOT_ELIGIBLE", "PENDING"):
        lines.append(f"  {outcome:<18} {summary.outcomes.get(outcome, 0):>7,}")
    if summary.failed_reasons:
        lines += ["", "  reason (not eligible)       count"]
        lines += [f"  {code:<26} {n:>7,}" for code, n in summary.failed_reasons.most_common()]
    if summary.pending_reasons:
        lines += ["", "  reason (pending)            count"]
        lines += [f"  {code:<26} {n:>7,}" for code, n in summary.pending_reasons.most_common()]
    if summary.failed_facts:  # the decisions stayed; each registration's attempt is audited (DECISION_KEPT)
        lines += ["", "  facts not read (kept)       count"]
        lines += [f"  {name:<26} {n:>7,}" for name, n in summary.failed_facts.most_common()]
    return "\n".join(lines)
