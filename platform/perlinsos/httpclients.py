"""Pooled HTTP clients for plugins: one ``httpx.AsyncClient`` per event loop, closed with it.

A client is bound to the event loop it was first used in (its connection pool is), so clients
are kept per running loop: calls reuse kept-alive connections instead of paying a new connection
(and TLS context, ~35 ms) each time. A client is closed when its loop shuts down (an async
generator registered with the loop is finalised then), so nothing leaks when tests run a loop per
test. Used by the criteria and SMS plugins (the IKD plugin keeps more per-loop state of its own).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx

from perlinsos import requestids

_ssl_context: Any = None


async def pass_request_id(request: httpx.Request) -> None:
    """httpx request hook: the current request's id (``X-Request-Id``) goes with every call a plugin
    makes for it, so a source's log can be matched with ours. Nothing outside a request (workers)."""
    rid = requestids.current()
    if rid and requestids.HEADER not in request.headers:
        request.headers[requestids.HEADER] = rid


#: ``event_hooks`` for a plugin's own ``httpx.AsyncClient``
EVENT_HOOKS = {"request": [pass_request_id]}


class LoopClients:
    def __init__(self, user_agent: str, *, max_connections: int = 50, max_keepalive: int = 20):
        self.user_agent = user_agent
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = \
            weakref.WeakKeyDictionary()
        self._closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    async def _close_at_shutdown(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> AsyncIterator[None]:
        try:
            yield  # never resumed: only finalised, by loop.shutdown_asyncgens() (asyncio.run, uvicorn, pytest)
        finally:
            if self._clients.get(loop) is client:
                del self._clients[loop]
            await client.aclose()

    async def get(self) -> httpx.AsyncClient:
        """The running loop's client (created on first use)."""
        global _ssl_context
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None or found.is_closed:
            if _ssl_context is None:
                _ssl_context = httpx.create_ssl_context()  # once per process; shared by every client
            found = self._clients[loop] = httpx.AsyncClient(
                verify=_ssl_context, follow_redirects=False, headers={"User-Agent": self.user_agent},
                limits=self.limits, event_hooks=EVENT_HOOKS)
            closer = self._closers[loop] = self._close_at_shutdown(loop, found)
            await closer.__anext__()  # registers with the loop: aclose() runs at loop shutdown
        return found

    async def aclose(self) -> None:
        """Close the running loop's client now (it is recreated on next use)."""
        found = self._clients.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found.aclose()

    async def post(self, url: str, *, timeout: float, **kwargs: Any) -> httpx.Response:
        """POST within ``timeout`` seconds overall (connect, send, every byte of the answer).

        httpx's timeout bounds each phase; the outer deadline bounds the whole call, so a server
        that trickles bytes cannot hold it open. Raises ``TimeoutError`` or ``httpx.HTTPError``.
        """
        http = await self.get()
        async with asyncio.timeout(timeout):
            return await http.post(url, timeout=timeout, **kwargs)
