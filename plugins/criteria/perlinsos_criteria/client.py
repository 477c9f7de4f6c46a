"""HTTP to the facts API: one pooled ``httpx.AsyncClient`` per event loop, every call bounded.

Pooled per event loop (:mod:`perlinsos.httpclients`).
"""

from __future__ import annotations

from typing import Any

import httpx

from perlinsos.httpclients import LoopClients

_CLIENTS = LoopClients("perlinsos-criteria")


async def client() -> httpx.AsyncClient:
    """The running loop's client (created on first use)."""
    return await _CLIENTS.get()


async def aclose() -> None:
    """Close the running loop's client now (it is recreated on next use)."""
    await _CLIENTS.aclose()


async def post_json(url: str, body: Any, *, secret: str, timeout: float) -> httpx.Response:
    """POST ``body`` within ``timeout`` seconds overall. Raises ``TimeoutError`` or ``httpx.HTTPError``."""
    return await _CLIENTS.post(url, json=body, timeout=timeout,
                               headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"})
