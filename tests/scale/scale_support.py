"""What the scale tests share: ``perlinsos`` commands as real subprocesses (API servers, workers,
selection runs) against the test's database, killed with SIGKILL where a test says so, and the
checks that every process's log is free of lock errors and tracebacks.

Subprocesses load the installed plugins plus the test modules named in ``extra_plugins``
(``PERLINSOS_EXTRA_PLUGINS``; ``tests`` and ``tests/scale`` are on their ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PG_URL
from perlinsos.testing.database import admin_execute, empty_pg_database
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
#: what must never appear in a response or a server's log
LOCK_ERRORS = ("database is locked", "database table is locked", "deadlock detected")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(database_url: str, *, extra_plugins: tuple[str, ...] = ("fixtures.static_auth",),
            **extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TESTS), str(HERE), os.environ.get("PYTHONPATH")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERLINSOS_")}
    return env | {"PYTHONPATH": path, "PERLINSOS_DATABASE_URL": database_url,
                  "PERLINSOS_EXTRA_PLUGINS": ",".join(extra_plugins), "PERLINSOS_DISPATCHER_IN_PROCESS": "0",
                  # the test sign-in stands in for IKD: national, so its `citizen:<NIK>` is that NIK
                  "PERLINSOS_NATIONAL_PROVIDERS": "ikd,fixtures.static_auth",
                  "PYTHONUNBUFFERED": "1"} | extra


class Proc:
    """``perlinsos <args>`` in a subprocess, stdout and stderr in ``<logdir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logdir: Path):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", *args], env=env, cwd=logdir,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill9(self) -> None:
        """SIGKILL: no handler, no cleanup, no flush — as a crash or the OOM killer."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL, self.process.returncode

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name} still running after {timeout} s:\n{self.log()[-3000:]}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def assert_clean_log(self) -> None:
        """No lock error and no traceback (an error the server hid behind a generic answer)."""
        text = self.log()
        for needle in (*LOCK_ERRORS, "Traceback", "Internal Server Error", "Exception in ASGI"):
            assert needle.lower() not in text.lower(), f"{self.name} log has {needle!r}:\n{text[-4000:]}"


class ApiServer(Proc):
    """``perlinsos serve --port P`` (one uvicorn worker; no dispatcher in the process)."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path, timeout: float = 60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(name, ["serve", "--port", str(self.port)], env, logdir)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"{name} exited:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{name} not ready after {timeout} s:\n{self.log()}"
            time.sleep(0.1)


class Processes:
    """Starts processes for one test and stops whatever is still running at its end."""

    def __init__(self, database_url: str, logdir: Path):
        self.database_url, self.logdir = database_url, logdir
        self.started: list[Proc] = []

    def env(self, **kwargs: Any) -> dict[str, str]:
        return env_for(self.database_url, **kwargs)

    def server(self, name: str, **env: Any) -> ApiServer:
        self.started.append(ApiServer(name, self.env(**env), self.logdir))
        return self.started[-1]

    def run(self, name: str, args: list[str], **env: Any) -> Proc:
        self.started.append(Proc(name, args, self.env(**env), self.logdir))
        return self.started[-1]

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(interval)


async def graphql(http: httpx.AsyncClient, url: str, query: str, variables: dict | None = None, *,
                  token: str | None = None, pilot: str = "BWI-2025") -> dict[str, Any]:
    """POST a query; the JSON answer, with the HTTP status under ``_status`` (asserting nothing)."""
    headers = {"X-Perlinsos-Pilot": pilot, **({"Authorization": f"Bearer {token}"} if token else {})}
    response = await http.post(f"{url}/graphql", json={"query": query, "variables": variables or {}},
                               headers=headers)
    try:
        body = response.json()
    except ValueError:
        body = {"errors": [{"message": response.text[:300]}]}
    return body | {"_status": response.status_code}


def problems_in(answers: list[dict[str, Any]]) -> list[str]:
    """HTTP 5xx, GraphQL-level errors (a masked exception is one) and lock errors, as text."""
    found = []
    for answer in answers:
        text = str(answer)
        if answer.get("_status", 200) >= 500 or answer.get("errors") or any(e in text for e in LOCK_ERRORS):
            found.append(text[:400])
    return found


# --- a database of the test's own --------------------------------------------------------------


@pytest.fixture
async def database_url(database_template, tmp_path) -> AsyncIterator[str]:
    """Overrides tests/conftest.py's: on PostgreSQL a new database per test, dropped afterwards
    (processes killed with SIGKILL leave sessions behind; no other test should meet them)."""
    if not PG_URL:
        path = tmp_path / "perlinsos.db"
        shutil.copy(database_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"perlinsos_scale_{uuid.uuid4().hex[:10]}"
    await admin_execute(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{make_url(database_template).database}"')
    url = make_url(database_template).set(database=name).render_as_string(hide_password=False)
    try:
        # The template holds whatever the previous core test left (core tests empty it at their start).
        await empty_pg_database(url)
        yield url
    finally:
        await admin_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
