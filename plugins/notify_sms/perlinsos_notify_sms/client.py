"""HTTP to the SMS gateway: one pooled ``httpx.AsyncClient`` per event loop, every call bounded.

A client is bound to the event loop it was first used in (its connection pool is), so clients are
kept per running loop: the dispatcher's sends reuse kept-alive connections instead of paying a new
connection (and TLS context) per SMS. Each client is closed when its loop shuts down (an async
generator registered with the loop is finalised then), so nothing leaks when tests run a loop per
test. Same design as the IKD plugin's client.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
_ssl_context: Any = None


async def _close_at_shutdown(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> AsyncIterator[None]:
    try:
        yield  # never resumed: only finalised, by loop.shutdown_asyncgens() (asyncio.run, uvicorn, pytest)
    finally:
        if _clients.get(loop) is client:
            del _clients[loop]
        await client.aclose()


async def client() -> httpx.AsyncClient:
    """The running loop's client (created on first use)."""
    global _ssl_context
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()  # once per process; shared by every client
        found = _clients[loop] = httpx.AsyncClient(
            verify=_ssl_context, follow_redirects=False, headers={"User-Agent": "perlinsos-notify-sms"},
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        closer = _closers[loop] = _close_at_shutdown(loop, found)
        await closer.__anext__()  # registers with the loop: aclose() runs at loop shutdown
    return found


async def aclose() -> None:
    """Close the running loop's client now (it is recreated on next use)."""
    found = _clients.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()


async def post(url: str, *, timeout: float, **kwargs: Any) -> httpx.Response:
    """POST within ``timeout`` seconds overall (connect + answer). Raises ``TimeoutError`` or
    ``httpx.HTTPError``.

    httpx's timeout bounds each phase (connect, each read); the outer deadline bounds the whole
    call, so a gateway that trickles bytes cannot hold the dispatcher.
    """
    http = await client()
    async with asyncio.timeout(timeout):
        return await http.post(url, timeout=timeout, **kwargs)
