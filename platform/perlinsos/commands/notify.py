"""Stage 3's worker: the outbox dispatcher."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import click

from perlinsos.commands.common import database_option, fail, load_plugins, load_settings
from perlinsos.errors import ConfigurationError


@click.group()
def notify() -> None:
    """The notification outbox."""


@notify.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 5000))
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--lease", default=30.0, show_default=True, type=click.FloatRange(1, 86_400),
              help="Seconds a claim is held without renewal before another worker may send it again (renewed "
              "every third of it while the worker sends; a dead worker's rows wait at most this long).")
@database_option
def notify_run(once: bool, batch: int, concurrency: int, lease: float, database_url: str | None) -> None:
    """Deliver due notifications (a worker; several may run against PostgreSQL)."""
    settings = load_settings(database_url)
    try:
        counts = asyncio.run(_run(settings, load_plugins(settings), once=once, batch=batch,
                                  concurrency=concurrency, lease=lease))
    except ConfigurationError as exc:  # DatabaseUnavailable too: out of patience, said in one line
        fail(exc)
    if once:
        click.echo("delivered: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing due"))


async def _run(settings, plugins, *, once: bool, batch: int, concurrency: int, lease: float) -> Counter:
    """The dispatcher, riding out database outages for up to PERLINSOS_DB_OUTAGE_PATIENCE_SECONDS
    (perlinsos.notification.worker)."""
    from perlinsos.db.engine import Database
    from perlinsos.db.outages import Outages
    from perlinsos.notification import worker
    from perlinsos.notification.dispatcher import Dispatcher
    from perlinsos.notification.outbox import Policy

    db = Database.from_settings(settings, worker=True)
    patience = settings.db_outage_patience_seconds
    try:
        await Outages(worker.WHAT, patience).call(db.ping)  # started during an outage: wait for the database
        dispatcher = Dispatcher(db, plugins, portal_url=settings.portal_url, batch=batch, concurrency=concurrency,
                                policy=Policy(lease=lease))
        if once:
            return await worker.drain(dispatcher, patience=patience)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # finish the batch in hand, then stop
            loop.add_signal_handler(sig, stop.set)
        await worker.deliver_until_stopped(dispatcher, stop, patience=patience)
        return Counter()
    finally:
        await db.dispose()
