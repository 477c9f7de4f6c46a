"""The platform scaled out as README "Scale-out" describes, on one PostgreSQL: `scripts/scaleout
serve` runs 2 API processes (no in-process dispatcher) and 2 outbox dispatchers, households of the
IKD simulator register through both APIs, `scripts/scaleout select` shares one selection run
between 2 worker processes, and the dispatchers deliver to the SMS gateway simulator. Every
registration is decided exactly once, by partitions both workers claimed, and every notification
is sent exactly once — counted at the gateway and in the outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import PG_URL, ikd_pilot_data
from fixtures import static_auth
from perlinsos.registration import consent
from perlinsos.db.models import Decision, Notification, Registration, SelectionPartition
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from sqlalchemy import func, select

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="scale-out runs several processes on one database: PostgreSQL only "
                       "(set PERLINSOS_TEST_DATABASE_URL); SQLite is the one-machine embedded default")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "scaleout"
CONSENT = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
REGISTER = 'mutation { registerHousehold(input: {programme: "PKH"}) { registration { id } errors { code } } }'
FINAL = {"DELIVERED", "FAILED", "UNDELIVERABLE"}


def two_free_ports() -> int:
    """A port p with p+1 free too (scripts/scaleout serves on consecutive ports)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        try:
            with socket.socket() as b, socket.socket() as c:
                b.bind(("127.0.0.1", port))
                c.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def env_for(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PERLINSOS_EXTRA_PLUGINS", "PERLINSOS_DISABLED_PLUGINS")}
    return {**env, "PERLINSOS_DATABASE_URL": database_url}


async def register(urls: list[str], tokens: list[str]) -> Counter:
    """Consent and register each household, alternating between the API processes; served per API."""
    served: Counter = Counter()
    gate = asyncio.Semaphore(8)

    async def one(http: httpx.AsyncClient, i: int, token: str) -> None:
        url = urls[i % len(urls)]
        headers = {"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025"}
        async with gate:
            given = await http.post(f"{url}/graphql", headers=headers,
                                    json={"query": CONSENT, "variables": {"s": list(consent.SCOPES)}})
            assert given.json()["data"]["giveConsent"]["errors"] == [], given.text
            made = await http.post(f"{url}/graphql", headers=headers, json={"query": REGISTER})
            assert made.json()["data"]["registerHousehold"]["errors"] == [], made.text
        served[url] += 1

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(one(http, i, t) for i, t in enumerate(tokens)))
    return served


async def rows(db, stmt):
    async with db.read() as s:
        return (await s.execute(stmt)).all()


async def test_two_apis_two_dispatchers_two_selection_workers(database_url, db, ikd_sim, sms_sim, plugin_manager,
                                                              tmp_path):
    ikd_sim.reset()
    sms_sim.reset()
    port = two_free_ports()
    urls = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
    data = ikd_pilot_data(ikd_sim)
    del data["plugins"][static_auth.NAME]  # the processes run the installed plugins only
    data["plugins"]["notify_sms"] = {"gateway_url": sms_sim.url, "api_key": sms_sim.api_key, "sender_id": "PERLINSOS",
                                     "portal_url": "https://portal.test",
                                     "delivery_report_url": f"{urls[1]}/plugins/notify_sms/delivery-reports"}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    people = [p for p in ikd_sim.people(limit=200, role="HEAD") if p["phone"] and not p["phone_invalid"]]
    assert len(people) >= 40
    tokens = [ikd_sim.sign_in(p["nik"]) for p in people]
    env = env_for(database_url)
    serve = subprocess.Popen([sys.executable, str(SCRIPT), "--log-dir", str(tmp_path / "logs"), "serve",
                              "--api", "2", "--dispatchers", "2", "--base-port", str(port)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = serve.stdout.readline()
        assert ready.startswith("ready: "), ready + serve.stdout.read()
        assert ready.split()[1:] == urls

        served = await register(urls, tokens)
        assert served == {urls[0]: (len(people) + 1) // 2, urls[1]: len(people) // 2}
        registered = (await rows(db, select(func.count(Registration.id))))[0][0]
        assert registered == len(people)

        # the source answers in 0.2 s, as a real one might: the run lasts long enough for both workers
        ikd_sim.set_fault("slow", delay_seconds=0.2, paths=("/facts",))
        selection = subprocess.run([sys.executable, str(SCRIPT), "--log-dir", str(tmp_path / "logs"), "select",
                                    "--pilot", "BWI-2025", "--workers", "2", "--partition-size", "4",
                                    "--chunk-size", "2"], env=env, capture_output=True, text=True, timeout=300)
        ikd_sim.set_fault(None)
        assert selection.returncode == 0, selection.stdout + selection.stderr
        assert "selection worker worker-1" in selection.stdout and "selection worker worker-2" in selection.stdout

        # every registration decided exactly once, by partitions both workers claimed
        decided = Counter(r for (r,) in await rows(db, select(Decision.registration_id)))
        assert len(decided) == len(people) and set(decided.values()) == {1}
        partitions = await rows(db, select(SelectionPartition.claimed_by, SelectionPartition.status,
                                           SelectionPartition.attempts, SelectionPartition.decided))
        assert len(partitions) >= 8 and {p.status.value for p in partitions} == {"DONE"}
        by_worker = Counter(p.claimed_by for p in partitions)
        assert set(by_worker) == {"worker-1", "worker-2"}, by_worker
        assert {p.attempts for p in partitions} == {1} and sum(p.decided for p in partitions) == len(people)

        # the dispatchers deliver every notification: one inbox entry and one SMS per household
        deadline = time.monotonic() + 60
        while True:
            outbox = await rows(db, select(Notification.channel, Notification.status, Notification.attempts,
                                           Notification.idempotency_key))
            if len(outbox) == 2 * len(people) and all(n.status.value in FINAL for n in outbox):
                break
            assert time.monotonic() < deadline, Counter((n.channel, n.status.value) for n in outbox)
            await asyncio.sleep(0.2)
        sms = [n for n in outbox if n.channel == "sms"]
        assert len(sms) == len(people) and all(n.attempts == 1 for n in outbox)  # each claimed once
        assert Counter(n.channel for n in outbox if n.status.value == "DELIVERED")["portal"] == len(people)
        received = sms_sim.messages()
        assert len(received) == len(people) and sms_sim.stats()["duplicates"] == 0
        assert Counter(m["idempotency_key"] for m in received) == Counter(n.idempotency_key for n in sms)
        assert {m["to"] for m in received} == {p["phone"] for p in people}
    finally:
        ikd_sim.set_fault(None)
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0, serve.stdout.read()
