"""Health endpoints for load balancers and orchestrators.

- ``/health/live``: the process is up and its event loop answers. Never touches the database, so
  a database outage does not make an orchestrator restart every process at once.
- ``/health/ready``: the database answers within ``health_timeout_seconds`` and its schema is one
  this code may serve on: at this release's head, or newer but recorded compatible by
  ``perlinsos db upgrade`` (a rolling upgrade: old processes keep serving after an expand step).
- ``/health``: the same as ``/health/ready``, for clients written before the split.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from perlinsos import __version__
from perlinsos.db import migrate
from perlinsos.db.engine import Database

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}


class Readiness:
    """The readiness probe. One database check runs at a time: probes arriving while it is still
    waiting share it, so a hung database holds one connection, not one per probe."""

    def __init__(self, db: Database, timeout: float):
        self.db, self.timeout = db, timeout
        self._check: asyncio.Task | None = None
        self._ready = True  # log once per change, not once per probe

    async def respond(self, request: Request) -> JSONResponse:
        body = {"version": __version__, "head": migrate.head_revision()}
        check = self._check
        if check is None or check.done() or check.get_loop() is not asyncio.get_running_loop():
            check = self._check = asyncio.create_task(self._probe())
        # asyncio.wait, not wait_for: a driver stuck in a blocking call may not honour the
        # cancellation promptly, and the answer must not wait for it.
        done, _ = await asyncio.wait({check}, timeout=self.timeout)
        if not done:
            result = {"database": "timeout", "schema": None}
        else:
            result = check.result()
        ready = result["database"] == "ok" and result["schema"] in (migrate.CURRENT, migrate.COMPATIBLE)
        self._note(ready, result)
        status = {"status": "ok" if ready else "unavailable", **body, **result}
        return JSONResponse(status, 200 if ready else 503, headers=NO_STORE)

    async def _probe(self) -> dict:
        try:
            await self.db.ping()
            state = await migrate.schema_state(self.db)
        except Exception:  # noqa: BLE001 - DatabaseError, SQLAlchemy's, and drivers' own types
            # A probe answers "not ready", never 500: what failed goes to the log, once per change.
            return {"database": "unreachable", "schema": None}
        result = {"database": "ok", "schema": state.state, "revision": state.revision}
        if state.min_code_revision is not None:
            result["minCodeRevision"] = state.min_code_revision
        return result

    def _note(self, ready: bool, result: dict) -> None:
        if ready != self._ready:
            self._ready = ready
            if ready:
                log.info("ready again: database ok, schema %s", result["schema"])
            else:
                log.warning("not ready: database %s, schema %s", result["database"], result["schema"])


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__}, headers=NO_STORE)


def routes(db: Database, timeout: float) -> list[Route]:
    ready = Readiness(db, timeout)
    return [Route("/health/live", live), Route("/health/ready", ready.respond), Route("/health", ready.respond)]
