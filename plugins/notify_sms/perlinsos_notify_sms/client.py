"""HTTP to the SMS gateway: one pooled ``httpx.AsyncClient`` per event loop, every call bounded.

The dispatcher's sends reuse kept-alive connections (:mod:`perlinsos.httpclients`).
"""

from __future__ import annotations

from typing import Any

import httpx

from perlinsos.httpclients import LoopClients

_CLIENTS = LoopClients("perlinsos-notify-sms")


async def client() -> httpx.AsyncClient:
    """The running loop's client (created on first use)."""
    return await _CLIENTS.get()


async def aclose() -> None:
    """Close the running loop's client now (it is recreated on next use)."""
    await _CLIENTS.aclose()


async def post(url: str, *, timeout: float, **kwargs: Any) -> httpx.Response:
    """POST within ``timeout`` seconds overall. Raises ``TimeoutError`` or ``httpx.HTTPError``."""
    return await _CLIENTS.post(url, timeout=timeout, **kwargs)
