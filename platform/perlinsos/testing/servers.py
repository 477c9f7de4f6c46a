"""What the simulator helpers share: a free local port, polling, and a server subprocess
(``perlinsos <command>``) with its log, stopped cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

#: a test's extra plugins are not importable in the subprocess: it loads the installed ones only
_PLUGIN_ENV = ("PERLINSOS_EXTRA_PLUGINS", "PERLINSOS_DISABLED_PLUGINS")


def free_port() -> int:
    """A local TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 5, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


class SubprocessServer:
    """Needs ``process`` (Popen), ``http`` (httpx.Client), ``_log`` (the open log file) and ``log_path``."""

    process: subprocess.Popen
    http: Any
    _log: Any
    log_path: Any

    def _start(self, name: str, args: list[str], *, url: str, ready_path: str, timeout: float,
               drop_env: tuple[str, ...] = ()) -> None:
        """Run ``perlinsos <name> <args>`` with its output in a log file; return once ``ready_path``
        answers 200 (stopping it and raising with the log if it exits or is not ready in time)."""
        self.name = name
        self._log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        self.log_path = Path(self._log.name)
        env = {k: v for k, v in os.environ.items() if k not in (*_PLUGIN_ENV, *drop_env)}
        self.process = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", name, *args],
                                        stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.http = httpx.Client(base_url=url, timeout=10)
        try:
            self._wait_ready(ready_path, timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.http.get(path).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
