"""The demo: the platform on its embedded defaults, with the simulators its pilot points at.

The simulators are commands that plugins add (``perlinsos ikd-sim``, ...); the demo starts each
one that is installed as a child process on the port the bundled pilot names, and stops them
when it stops. It never imports a plugin itself.
"""

from __future__ import annotations

import atexit
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Simulator:
    command: str
    port: int
    ready_path: str
    args: tuple[str, ...] = ()


#: what the bundled Banyuwangi pilot points at (platform/perlinsos/pilots/banyuwangi.toml)
SIMULATORS = (
    Simulator("ikd-sim", 8601, "/.well-known/openid-configuration"),
    Simulator("sms-sim", 8602, "/health"),
)


def start_simulators(available: set[str], *, people: int, echo=print, timeout: float = 60) -> list[subprocess.Popen]:
    """Start each installed simulator; return the processes (stopped at exit)."""
    processes = []
    for sim in SIMULATORS:
        if sim.command not in available:
            echo(f"{sim.command}: not installed, skipped")
            continue
        args = [sys.executable, "-m", "perlinsos.cli", sim.command, "--port", str(sim.port), *sim.args]
        if sim.command == "ikd-sim":
            args += ["--people", str(people)]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        processes.append(process)
        atexit.register(_stop, process)
        _wait(f"http://127.0.0.1:{sim.port}{sim.ready_path}", process, sim.command, timeout)
        echo(f"{sim.command}: http://127.0.0.1:{sim.port}")
    return processes


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the demo dies. uvicorn re-raises the SIGTERM it caught
    after shutting down, so the demo's own atexit handlers never run on ``kill``."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait(url: str, process: subprocess.Popen, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} (is port {url.split(':')[2].split('/')[0]} free?)")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer at {url} within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
