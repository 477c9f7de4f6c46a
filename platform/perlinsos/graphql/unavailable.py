"""Outages a client can tell from a bug, and an operator from a flood of tracebacks.

A database that cannot be reached (refused, cut, hung past its timeouts, SQLite locked past the
busy timeout) answers ``DATABASE_UNAVAILABLE`` with HTTP 503 and ``Retry-After``, for queries and
mutations alike; a data source or identity provider that did not answer, ``SOURCE_UNAVAILABLE``.
Neither is logged as a traceback: each process logs one WARNING as a database outage episode
starts (later failed requests at DEBUG, counted) and one INFO line when a statement succeeds again.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

from graphql import GraphQLError
from sqlalchemy import event
from starlette.responses import JSONResponse

from perlinsos import requestids
from perlinsos.db.outages import first_line, is_unavailable, kind_of
from perlinsos.errors import SourceUnavailable

log = logging.getLogger("perlinsos.outages")

DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
#: what a client is told to wait before trying again (seconds)
RETRY_AFTER_SECONDS = 5

MESSAGES = {
    DATABASE_UNAVAILABLE: {
        "id": "Basis data sedang tidak dapat dihubungi. Silakan coba lagi sebentar lagi.",
        "en": "The database cannot be reached at the moment. Please try again shortly.",
    },
    SOURCE_UNAVAILABLE: {
        "id": "Sumber data atau layanan identitas sedang tidak dapat dihubungi. Silakan coba lagi sebentar lagi.",
        "en": "A data source or the identity provider cannot be reached at the moment. Please try again shortly.",
    },
}


def classify(exc: BaseException | None) -> str | None:
    """``SOURCE_UNAVAILABLE``, ``DATABASE_UNAVAILABLE`` or ``None`` (a bug: masked and logged whole)."""
    if exc is None:
        return None
    seen, e = set(), exc
    while e is not None and id(e) not in seen:  # a source's error wrapped by a plugin is still one
        seen.add(id(e))
        if isinstance(e, SourceUnavailable):
            return SOURCE_UNAVAILABLE
        e = e.__cause__ or e.__context__
    return DATABASE_UNAVAILABLE if is_unavailable(exc) else None


def message(code: str, language: str | None = None) -> str:
    """The message in ``language``; both (Bahasa Indonesia first) when it is not known (websocket)."""
    texts = MESSAGES[code]
    return texts.get(language or "", f"{texts['id']} / {texts['en']}")


def typed_error(error: GraphQLError, code: str) -> GraphQLError:
    """A field's outage error as the client sees it (the cause kept for the view, never sent)."""
    rid = requestids.current()
    return GraphQLError(message(code), nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=error.original_error,
                        extensions={"code": code, **({"requestId": rid} if rid else {})})


def response(code: str, language: str) -> JSONResponse:
    """The whole answer to a request the outage stopped: 503, ``Retry-After``, a typed error."""
    rid = requestids.current()
    body = {"errors": [{"message": message(code, language),
                        "extensions": {"code": code, **({"requestId": rid} if rid else {})}}]}
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def database_failure(result: Any) -> BaseException | None:
    """The database outage among an execution result's errors (the first), if any."""
    for e in getattr(result, "errors", None) or ():
        if (e.extensions or {}).get("code") == DATABASE_UNAVAILABLE:
            return e.original_error or e
    return None


class OutageEpisodes:
    """One database's outage episodes as requests meet them (this process)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.failed = 0

    def failure(self, exc: BaseException) -> None:
        if self.since is None:
            self.since, self.failed = time.monotonic(), 1
            log.warning("database unavailable (%s: %s): requests answered DATABASE_UNAVAILABLE until it is back",
                        kind_of(exc), first_line(exc))
        else:
            self.failed += 1
            log.debug("database still unavailable (%d requests refused)", self.failed)

    def answered(self, *_: Any) -> None:
        """A statement succeeded: the episode, if one is open, is over."""
        if self.since is not None:
            down, self.since = time.monotonic() - self.since, None
            log.info("database back after %.1f s (%d requests answered DATABASE_UNAVAILABLE)", down, self.failed)


_episodes: weakref.WeakKeyDictionary[Any, OutageEpisodes] = weakref.WeakKeyDictionary()


def episodes(db) -> OutageEpisodes:
    """The episodes of ``db`` (a :class:`perlinsos.db.engine.Database`), watching its statements."""
    found = _episodes.get(db)
    if found is None:
        found = _episodes[db] = OutageEpisodes()
        event.listen(db.engine.sync_engine, "after_cursor_execute", found.answered)
    return found
