"""Prometheus metrics at ``/metrics`` (docs/operations/observability.md).

Off unless ``PERLINSOS_METRICS=1`` or ``PERLINSOS_METRICS_TOKEN`` is set; with a token every
scrape must carry it (``Authorization: Bearer …``), and production refuses to start with metrics on
and no token. Each app has its own registry: request counters and latency histograms are this
process's; the database's figures (outbox depth, dispatcher lag, selection progress) are read at
scrape time with a few GROUP BY queries, reused for ``DB_FIGURES_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perlinsos.db.models import Notification, NotificationStatus, PartitionStatus, RunStatus, SelectionPartition, \
    SelectionRun
from perlinsos.db.outages import first_line, kind_of
from perlinsos.errors import ConfigurationError

log = logging.getLogger(__name__)

DB_FIGURES_SECONDS = 5.0  # scrapes within this time reuse the database's figures
DB_FIGURES_TIMEOUT = 2.0  # a database that does not answer leaves the last figures (and _up 0)
MAX_OPERATIONS = 200  # distinct operation names counted; later new names are counted as "other"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def enabled(settings) -> bool:
    """Whether ``/metrics`` is served; raises when production would serve it unprotected."""
    on = settings.metrics or bool(settings.metrics_token)
    if on and settings.production and not settings.metrics_token:
        raise ConfigurationError("PERLINSOS_METRICS in production needs PERLINSOS_METRICS_TOKEN "
                                 "(scrapes must carry it as a bearer token)")
    return on


class Metrics:
    def __init__(self, db, token: str | None = None):
        self.db, self.token = db, token
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("perlinsos_graphql_requests", "GraphQL requests by operation name and outcome code",
                                ["operation", "code"], registry=self.registry)
        self.latency = Histogram("perlinsos_graphql_request_duration_seconds",
                                 "Time to answer a GraphQL request, by operation name", ["operation"],
                                 buckets=BUCKETS, registry=self.registry)
        self._operations: set[str] = set()
        self._figures: list[GaugeMetricFamily] = []
        self._figures_at = 0.0
        self._figures_ok = False
        self._lock: asyncio.Lock | None = None
        self.registry.register(_Snapshot(self))

    # --- requests -----------------------------------------------------------------------------

    def request(self, operation: str | None, code: str, seconds: float) -> None:
        label = self._operation_label(operation)
        self.requests.labels(label, code).inc()
        self.latency.labels(label).observe(seconds)

    def _operation_label(self, operation: str | None) -> str:
        """Bounded: named operations (first ``MAX_OPERATIONS`` seen), else a bucket."""
        if operation is None:
            return "none"  # refused before an operation ran (bad body, CSRF, size, outage)
        if operation in ("anonymous", "invalid") or operation in self._operations:
            return operation
        if len(self._operations) < MAX_OPERATIONS:
            self._operations.add(operation)
            return operation
        return "other"

    # --- the scrape ---------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        if self.token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return JSONResponse({"error": "UNAUTHENTICATED"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        await self._refresh()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    async def _refresh(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # concurrent scrapes share one refresh
            if time.monotonic() - self._figures_at < DB_FIGURES_SECONDS:
                return
            try:
                async with asyncio.timeout(DB_FIGURES_TIMEOUT):
                    self._figures = await self._read_figures()
                self._figures_ok = True
            except Exception as exc:  # noqa: BLE001 - a scrape reports the database's absence, not a 500
                self._figures_ok = False
                log.debug("metrics: database figures unavailable (%s: %s)", kind_of(exc), first_line(exc))
            self._figures_at = time.monotonic()

    async def _read_figures(self) -> list[GaugeMetricFamily]:
        outbox = GaugeMetricFamily("perlinsos_outbox_notifications", "Notifications in the outbox by status "
                                   "and channel", labels=["status", "channel"])
        lag = GaugeMetricFamily("perlinsos_outbox_oldest_due_age_seconds", "Dispatcher lag: how long the oldest "
                                "notification due for sending has waited (0: none waiting)")
        runs = GaugeMetricFamily("perlinsos_selection_runs", "Selection runs by status", labels=["status"])
        progress = GaugeMetricFamily("perlinsos_selection_registrations", "Registrations of running selection "
                                     "runs: total, and processed so far", labels=["state"])
        partitions = GaugeMetricFamily("perlinsos_selection_partitions", "Partitions of running selection runs "
                                       "by status", labels=["status"])
        now = datetime.now(UTC)
        async with self.db.read() as session:
            rows = await session.execute(select(Notification.status, Notification.channel, func.count())
                                         .group_by(Notification.status, Notification.channel))
            for status, channel, count in rows:
                outbox.add_metric([_value(status), channel], count)
            oldest = (await session.execute(
                select(func.min(Notification.next_attempt_at)).where(
                    Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now)
            )).scalar()
            lag.add_metric([], max(0.0, (now - _aware(oldest)).total_seconds()) if oldest else 0.0)
            counted = dict((await session.execute(
                select(SelectionRun.status, func.count()).group_by(SelectionRun.status))).all())
            for status in RunStatus:
                runs.add_metric([status.value], counted.get(status, counted.get(status.value, 0)))
            running = SelectionRun.status == RunStatus.RUNNING
            total, processed = (await session.execute(
                select(func.coalesce(func.sum(SelectionPartition.total), 0),
                       func.coalesce(func.sum(SelectionPartition.processed), 0))
                .join(SelectionRun, SelectionRun.id == SelectionPartition.run_id).where(running))).one()
            progress.add_metric(["total"], total)
            progress.add_metric(["processed"], processed)
            by_status = dict((await session.execute(
                select(SelectionPartition.status, func.count())
                .join(SelectionRun, SelectionRun.id == SelectionPartition.run_id).where(running)
                .group_by(SelectionPartition.status))).all())
            for status in PartitionStatus:
                partitions.add_metric([status.value], by_status.get(status, by_status.get(status.value, 0)))
        return [outbox, lag, runs, progress, partitions]

    def live(self) -> list[GaugeMetricFamily]:
        """Figures read from this process at every scrape: the pool, the last database read."""
        up = GaugeMetricFamily("perlinsos_metrics_database_up", "1 when the last scrape read the database's figures")
        up.add_metric([], 1.0 if self._figures_ok else 0.0)
        pool = GaugeMetricFamily("perlinsos_db_pool_connections", "This process's pooled database connections "
                                 "by state (PostgreSQL; SQLite opens one per session)", labels=["state"])
        raw = self.db.engine.sync_engine.pool
        for state, method in (("size", "size"), ("checked_out", "checkedout"), ("idle", "checkedin"),
                              ("overflow", "overflow")):
            reading = getattr(raw, method, None)
            if callable(reading):
                pool.add_metric([state], max(0, reading()))
        return [up, pool]


class _Snapshot:
    """A collector handing out the figures read at the last refresh (collect() cannot await)."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self):
        yield from self.metrics._figures
        yield from self.metrics.live()

    def describe(self):
        return []


def routes(metrics: Metrics | None) -> list[Route]:
    return [] if metrics is None else [Route("/metrics", metrics.endpoint, methods=["GET"])]


def _value(status: Any) -> str:
    return getattr(status, "value", status)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
