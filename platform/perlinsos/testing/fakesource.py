"""A fake HTTP data source: your routes (or one handler) served by Starlette under uvicorn on a free
local port, in a thread of the test process, recording every request.

    def facts(request_json):                       # a plain function of the JSON body ...
        return {"results": [...]}

    with fake_http_source({"POST /facts": facts}) as source:
        settings = {"url": source.url}              # point your plugin at it
        ...
        assert source.requests[0].json == {...}     # what your plugin sent

A route's handler receives the request's JSON body (``None`` without one) and returns the JSON to
answer (status 200), or a Starlette ``Response`` for anything else; it may be async. Give
``handler`` instead of routes for one handler of every request: it receives the Starlette
``Request`` (already recorded) and returns a ``Response`` (or JSON).
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from perlinsos.testing.servers import free_port


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake source received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-case
    body: bytes = field(repr=False)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FakeHttpSource:
    """A running fake source: ``url``, ``requests`` (a list of :class:`RecordedRequest`, in order),
    ``stop()`` (or use it as a context manager). ``clear()`` forgets the requests so far."""

    def __init__(self, routes: Mapping[str, Callable] | None = None, handler: Callable | None = None, *,
                 startup_timeout: float = 30):
        if (routes is None) == (handler is None):
            raise TypeError("give routes ({'POST /facts': handler, ...}) or handler, not both")
        import uvicorn
        from starlette.applications import Starlette
        from starlette.routing import Route

        from perlinsos.devservers import serve_in_thread

        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        if routes is not None:
            app = Starlette(routes=[self._route(spec, fn) for spec, fn in routes.items()])
        else:
            app = Starlette(routes=[Route("/{path:path}", self._endpoint(handler, raw=True),
                                          methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=1)
        self.server = serve_in_thread(uvicorn.Server(config), name="perlinsos-fake-source", summary=self.url,
                                      timeout=startup_timeout)

    def _route(self, spec: str, fn: Callable):
        from starlette.routing import Route

        method, _, path = spec.strip().partition(" ")
        if not path.startswith("/"):
            raise ValueError(f"route {spec!r}: write it as 'METHOD /path', e.g. 'POST /facts'")
        return Route(path, self._endpoint(fn, raw=False), methods=[method.upper()])

    def _endpoint(self, fn: Callable, *, raw: bool):
        from starlette.responses import JSONResponse, Response

        async def endpoint(request):
            body = await request.body()
            recorded = RecordedRequest(request.method, request.url.path, dict(request.query_params),
                                       {k.lower(): v for k, v in request.headers.items()}, body)
            with self._lock:
                self.requests.append(recorded)
            result = fn(request) if raw else fn(recorded.json)
            if inspect.isawaitable(result):
                result = await result
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        self.server.should_exit = True

    def __enter__(self) -> FakeHttpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fake_http_source(routes: Mapping[str, Callable] | None = None, handler: Callable | None = None) -> FakeHttpSource:
    """Start a :class:`FakeHttpSource` (see the module's docstring); stop it with ``stop()`` or
    ``with``. The ``perlinsos_fake_http_source`` fixture stops the ones it starts after the test."""
    return FakeHttpSource(routes, handler)
