"""HTTP to IKD: one pooled ``httpx.AsyncClient`` per event loop, every call bounded in time.

A client is bound to the event loop it was first used in (its connection pool is), so clients
are kept per running loop. Creating one per call would cost ~35 ms (the TLS context) and a new
connection each time; one per loop keeps connections alive. Each client is closed when its loop
shuts down (an async generator registered with the loop is finalised then), so nothing leaks when
tests run a loop per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx

from perlinsos.errors import SourceUnavailable
from perlinsos.httpclients import EVENT_HOOKS
from perlinsos_ikd.settings import IkdSettings

SOURCE = "IKD"


class _LoopState:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.locks: dict[str, asyncio.Lock] = {}
        self.closer: Any = None


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
_ssl_context: Any = None


async def _close_at_shutdown(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> AsyncIterator[None]:
    try:
        yield  # never resumed: only finalised, by loop.shutdown_asyncgens() (asyncio.run, uvicorn, pytest)
    finally:
        if _states.get(loop) is not None and _states[loop].client is client:
            del _states[loop]
        await client.aclose()


async def _state() -> _LoopState:
    global _ssl_context
    loop = asyncio.get_running_loop()
    state = _states.get(loop)
    if state is None or state.client.is_closed:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()  # once per process; shared by every client
        client = httpx.AsyncClient(verify=_ssl_context, follow_redirects=False,
                                   headers={"User-Agent": "perlinsos-ikd"}, event_hooks=EVENT_HOOKS)
        state = _states[loop] = _LoopState(client)
        state.closer = _close_at_shutdown(loop, client)
        await state.closer.__anext__()  # registers with the loop: aclose() runs at loop shutdown
    return state


async def lock(name: str) -> asyncio.Lock:
    """A lock for ``name`` in the running loop (asyncio locks belong to one loop)."""
    state = await _state()
    return state.locks.setdefault(name, asyncio.Lock())


async def aclose() -> None:
    """Close the running loop's client now (it is recreated on next use)."""
    state = _states.pop(asyncio.get_running_loop(), None)
    if state is not None:
        await state.client.aclose()


async def request(method: str, url: str, settings: IkdSettings, **kwargs: Any) -> httpx.Response:
    """One call to IKD within ``settings.timeout_seconds`` overall; SourceUnavailable otherwise.

    httpx's timeout bounds each phase (connect, each read); the outer deadline bounds the whole
    call, so a server that trickles bytes cannot hold a request open.
    """
    client = (await _state()).client
    try:
        async with asyncio.timeout(settings.timeout_seconds):
            response = await client.request(method, url, timeout=settings.timeout_seconds, **kwargs)
    except TimeoutError:
        raise SourceUnavailable(SOURCE, f"no answer within {settings.timeout_seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise SourceUnavailable(SOURCE, type(exc).__name__) from None
    if response.status_code >= 500:
        raise SourceUnavailable(SOURCE, f"HTTP {response.status_code}")
    return response


def json_body(response: httpx.Response, expected: type = dict) -> Any:
    """The JSON body, or SourceUnavailable when it is not JSON of the expected shape."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourceUnavailable(SOURCE, "the answer is not JSON") from None
    if not isinstance(body, expected):
        raise SourceUnavailable(SOURCE, "the answer has an unexpected shape")
    return body


def secret_headers(settings: IkdSettings, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.secret}", **extra}


@contextlib.contextmanager
def malformed(what: str):
    """Turn a missing or mistyped field in IKD's answer into SourceUnavailable."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SourceUnavailable(SOURCE, f"malformed {what}") from None
