"""`perlinsos serve` and `perlinsos demo` as a person runs them: real processes, real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not answer in time")


@pytest.fixture
def run(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        env = {**os.environ, "PERLINSOS_DATABASE_URL": f"sqlite:///{tmp_path / 'perlinsos.db'}"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "perlinsos.cli", *args, "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        procs.append(proc)
        return proc, port

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_serve_creates_the_embedded_database_and_answers(run, tmp_path):
    proc, port = run("serve")
    health = wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    assert health.status_code == 200 and health.json()["schema"] == "current"
    assert Path(tmp_path / "perlinsos.db").exists()
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ viewer { kind language } }"})
    assert answer.json() == {"data": {"viewer": {"kind": "anonymous", "language": "id"}}}


def test_demo_serves_the_banyuwangi_pilot(run):
    proc, port = run("demo")
    wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql",
                        json={"query": "{ pilots { nodes { code registrationOpen regions { name } } } }"})
    (node,) = answer.json()["data"]["pilots"]["nodes"]
    assert isinstance(node["registrationOpen"], bool)  # depends on today's date
    assert answer.json()["data"]["pilots"]["nodes"] == [
        {"code": "BWI-2025", "registrationOpen": node["registrationOpen"], "regions": [{"name": "Kabupaten Banyuwangi"}]}
    ]
