"""The ASGI application: ``uvicorn --factory perlinsos.app:create_app``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from perlinsos import graphiql, health, logs, metrics, tracing
from perlinsos.db.engine import Database
from perlinsos.appeals.evidence import routes as evidence
from perlinsos.notices import routes as notices
from perlinsos.graphiql import LocalGraphiQLView
from perlinsos.graphql import language_errors
from perlinsos.graphql.schema import build_schema
from perlinsos.graphql.view import PilotCache
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.worker import deliver_until_stopped
from perlinsos.pilots.rollout import refuse_development_secrets
from perlinsos.requestids import RequestIdMiddleware
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings

log = logging.getLogger(__name__)


#: paths whose answers are personal or per-user: no shared or browser cache may keep them
NO_STORE = ("/graphql", "/evidence", "/notices")


class NoStore:
    """``Cache-Control: no-store`` on every ``/graphql`` and ``/evidence`` answer (a refusal too:
    which of them an answer is, is itself per-user)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not any(path == p or path.startswith(p + "/") for p in NO_STORE):
            return await self.app(scope, receive, send)

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, sending)


def server_options(settings: Settings) -> dict:
    """uvicorn's options for every way the API is served (``perlinsos serve``, the demo): no
    ``Server: uvicorn`` banner; websocket messages capped at the request limit before they are
    read into memory (the app refuses a bigger one with close code 1009 too)."""
    return {"server_header": False, "date_header": True, "ws_max_size": settings.max_request_bytes}


@dataclass
class AppState:
    settings: Settings
    db: Database
    plugins: PluginManager
    pilots: PilotCache


def create_app(settings: Settings | None = None, plugins: PluginManager | None = None) -> Starlette:
    """Build the app. Plugin or schema problems raise here, at start-up, naming the plugin."""
    settings = settings or Settings.from_env()
    plugins = plugins or PluginManager(extra_plugins=settings.extra_plugins, disabled=settings.disabled_plugins,
                                       national=settings.national_providers, national_issuers=settings.national_issuers,
                                       production=settings.production)
    db = Database.from_settings(settings)  # with the request timeouts (PERLINSOS_DB_*_TIMEOUT_SECONDS)
    logs.configure(settings.log_format)
    meter = metrics.Metrics(db, settings.metrics_token) if metrics.enabled(settings) else None
    state = AppState(settings=settings, db=db, plugins=plugins, pilots=PilotCache(db, plugins, settings.pilot_cache_seconds))
    schema = build_schema(plugins, settings)
    graphql = LocalGraphiQLView(  # its IDE page loads GraphiQL from this server, not a CDN
        schema,
        state=state,
        graphql_ide=None if settings.production else "graphiql",
        allow_queries_via_get=True,  # GET runs queries only; strawberry refuses mutations over GET
        multipart_uploads_enabled=False,  # multipart skips CORS preflight (CSRF); uploads go elsewhere
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        if settings.production:
            # A stored pilot holding a development secret stops start-up, named (pilot, plugin, setting).
            await refuse_development_secrets(db, plugins)
        # Long-lived start-up objects never need collecting; freezing them and raising the
        # thresholds roughly doubled list-query throughput under load (ARCHITECTURE §6).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        stop, worker = asyncio.Event(), None
        if settings.dispatcher_in_process:
            # The embedded default delivers notifications itself; larger deployments run
            # `perlinsos notify run` workers and switch this off.
            dispatcher = Dispatcher(db, plugins, portal_url=settings.portal_url)
            worker = asyncio.create_task(deliver_until_stopped(dispatcher, stop))  # rides out db outages
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await worker
            await db.dispose()
            tracing.flush()

    app = Starlette(
        routes=[
            *health.routes(db, settings.health_timeout_seconds),  # /health/live, /health/ready, /health
            *metrics.routes(meter),  # /metrics, when turned on (PERLINSOS_METRICS, _METRICS_TOKEN)
            Route("/graphql", graphql),  # the view answers other methods itself, with a JSON 405
            Route("/evidence", evidence.upload, methods=["POST"]),  # raw body, not multipart (CSRF)
            Route("/evidence/{id}", evidence.evidence_file, methods=["GET", "DELETE"]),
            Route("/notices/{pilot}/{file}", notices.notice, methods=["GET"]),  # village notices, PDF/CSV
            WebSocketRoute("/graphql", graphql),
            *([] if settings.production else graphiql.routes()),  # the IDE's files: development only
            *plugins.routes(),  # under /plugins/<name>/, checked at start-up
        ],
        # the id is set first, for all; then each request is timed, logged and counted
        middleware=[Middleware(RequestIdMiddleware), Middleware(logs.RequestLogMiddleware, metrics=meter),
                    Middleware(NoStore)],
        lifespan=lifespan,
        # routing's own 404/405 (any route) in the one error shape, in the request's language
        exception_handlers={HTTPException: language_errors.http_refusal},
    )
    app.state.perlinsos = state
    tracing.instrument(app)  # only with the otel extra and OTEL_EXPORTER_OTLP_* set
    return app
