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
from perlinsos.registration import consent as consent_flow


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
    proc, port = run("demo", "--no-simulators")
    wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql",
                        json={"query": "{ pilots { nodes { code registrationOpen regions { name } } } }"})
    (node,) = answer.json()["data"]["pilots"]["nodes"]
    assert isinstance(node["registrationOpen"], bool)  # depends on today's date
    assert answer.json()["data"]["pilots"]["nodes"] == [
        {"code": "BWI-2025", "registrationOpen": node["registrationOpen"], "regions": [{"name": "Kabupaten Banyuwangi"}]}
    ]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not (_port_free(8601) and _port_free(8602)),
                    reason="ports 8601/8602 (the bundled pilot's IKD issuer and SMS gateway) are in use")
def test_demo_runs_the_ikd_simulator_and_a_citizen_registers(run):
    proc, port = run("demo", "--people", "50")
    wait_healthy(f"http://127.0.0.1:{port}/health", proc, timeout=60)
    ikd = "http://127.0.0.1:8601"
    person = httpx.get(f"{ikd}/sim/people", params={"limit": 1, "role": "HEAD"}).json()["people"][0]
    token = httpx.post(f"{ikd}/sim/sign-in", json={"nik": person["nik"]}).json()["access_token"]
    api = f"http://127.0.0.1:{port}/graphql"
    headers = {"Authorization": f"Bearer {token}"}
    # every scope selection reads: registration refuses a consent lacking one (CONSENT_INSUFFICIENT)
    consent = httpx.post(api, headers=headers, json={
        "query": 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) '
                 '{ errors { code } } }', "variables": {"s": list(consent_flow.SCOPES)}})
    assert consent.json() == {"data": {"giveConsent": {"errors": []}}}
    registered = httpx.post(api, headers=headers, json={"query": 'mutation { registerHousehold(input: '
                                                                 '{programme: "PKH"}) { created errors { code } } }'})
    assert registered.json() == {"data": {"registerHousehold": {"created": True, "errors": []}}}
    # stopping the demo stops its simulator too (no orphan holding the port)
    proc.terminate()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while not (_port_free(8601) and _port_free(8602)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _port_free(8601) and _port_free(8602)
