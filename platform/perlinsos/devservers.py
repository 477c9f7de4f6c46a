"""Serving a development server (a simulator) from a thread of this process."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any


def serve_in_thread(server: Any, *, name: str, summary: str, timeout: float = 60) -> Any:
    """Run a ``uvicorn.Server`` in a daemon thread; return it once it accepts connections.
    Stop it with ``server.should_exit = True``."""
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start ({summary})")
        time.sleep(0.02)
    logging.getLogger(f"perlinsos.devservers.{name}").info(summary)
    return server
