"""Request ids: one per HTTP request or websocket, in the ``X-Request-Id`` response header, in the
logs and in every masked error, so a citizen's "unexpected error" can be found in the log.

A sane incoming ``X-Request-Id`` (a proxy's or a client's) is kept, so one id follows a request
through the gateway; anything else (too long, odd characters that could forge log lines) is replaced.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")

#: the current request's id; None outside a request (CLI, workers)
request_id: ContextVar[str | None] = ContextVar("perlinsos_request_id", default=None)


def current() -> str | None:
    return request_id.get()


def accepted(incoming: str | None) -> str:
    """The incoming id if it is sane, else a fresh one."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """ASGI middleware: sets the id for the request's task (and the tasks it starts) and answers it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = accepted(incoming)
        token = request_id.set(rid)
        raw = rid.encode("latin-1")

        async def send_with_id(message):
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", raw)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record, so a deployment's log format may use ``%(request_id)s``
    ("-" outside a request): e.g. in uvicorn's ``--log-config``, a ``filters`` entry with
    ``(): perlinsos.requestids.RequestIdFilter`` on its handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True
