"""One log line per request, and JSON logs (``PERLINSOS_LOG_FORMAT=json``).

Each HTTP request (but the health probes and ``/metrics``) ends in one INFO record on the
``perlinsos.requests`` logger carrying the request id, the pilot, the GraphQL operation's name,
the duration, the outcome code and the HTTP status — never personal data: no variables, no
document, no token, no NIK or name (only the operation's name, which the client's code chose).
The same record feeds the request metrics (:mod:`perlinsos.metrics`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from perlinsos import requestids

log = logging.getLogger("perlinsos.requests")

QUIET_PATHS = ("/health", "/metrics")  # probes and scrapes: counted by their callers, not logged
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,47}")


@dataclass
class RequestRecord:
    method: str
    path: str
    started: float
    status: int | None = None
    operation: str | None = None  # None: no GraphQL operation ran (refused before parsing)
    code: str | None = None
    pilot: str | None = None

    def outcome(self) -> str:
        """The outcome code: the first GraphQL error's code, a refusal's, else OK or the HTTP status's."""
        if self.code and _CODE.fullmatch(self.code):
            return self.code
        if self.code:
            return "OTHER"
        return "OK" if (self.status or 500) < 400 else f"HTTP_{self.status}"


current: ContextVar[RequestRecord | None] = ContextVar("perlinsos_request_record", default=None)


def note(**fields: Any) -> None:
    """Set fields of the current request's record (the first outcome code noted wins)."""
    record = current.get()
    if record is None:
        return
    for name, value in fields.items():
        if name == "code" and record.code is not None:
            continue
        setattr(record, name, value)


class RequestFacts(SchemaExtension):
    """Notes the executed operation's name (from the document, not the client's claim) and the
    outcome code (the first error's ``extensions.code``)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            wanted = context.operation_name
            for node in document.definitions:
                if isinstance(node, OperationDefinitionNode) and (wanted is None or
                                                                   (node.name and node.name.value == wanted)):
                    note(operation=node.name.value if node.name else "anonymous")
                    break
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            first = errors[0]
            code = (first.extensions or {}).get("code")
            note(code=code if isinstance(code, str) else
                 ("GRAPHQL_VALIDATION_FAILED" if first.path is None else "INTERNAL_SERVER_ERROR"))


class RequestLogMiddleware:
    """ASGI middleware (inside the request id's): times each HTTP request, then logs its line
    and counts it in ``metrics`` (a :class:`perlinsos.metrics.Metrics`, or ``None``)."""

    def __init__(self, app, metrics=None):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(QUIET_PATHS):
            return await self.app(scope, receive, send)
        record = RequestRecord(method=scope.get("method", ""), path=path, started=time.perf_counter())
        token = current.set(record)

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            current.reset(token)
            self.finished(record)

    def finished(self, record: RequestRecord) -> None:
        seconds = time.perf_counter() - record.started
        if record.status is None:
            record.status = 499  # the client went away before any answer (nginx's convention)
        operation, outcome = operation_label(record.operation), record.outcome()
        if self.metrics is not None and record.path == "/graphql":
            self.metrics.request(operation, outcome, seconds)
        if log.isEnabledFor(logging.INFO):  # the fields are built only when someone reads them
            log.info("%s %s %s %s %d %.1f ms", record.method, record.path, operation or "-", outcome, record.status,
                     seconds * 1000, extra={"request": {
                         "method": record.method, "path": record.path, "pilot": record.pilot, "operation": operation,
                         "outcome": outcome, "status": record.status, "duration_ms": round(seconds * 1000, 2)}})


def operation_label(name: str | None) -> str | None:
    """A GraphQL name as a log field or label: at most 64 name characters, else ``invalid``."""
    if name is None:
        return None
    return name if _NAME.fullmatch(name) else "invalid"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and a request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or requestids.current(),
        }
        entry.update(getattr(record, "request", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str) -> None:
    """``json``: every record (ours, uvicorn's) as one JSON line on stderr, our request line
    replacing uvicorn's access line. ``text``: left to the server's logging configuration."""
    if log_format != "json":
        return
    formatter = JsonFormatter()
    root = logging.getLogger()
    if not any(getattr(h, "_perlinsos_json", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._perlinsos_json = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
    logging.getLogger("uvicorn.access").disabled = True
