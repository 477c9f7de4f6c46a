"""`perlinsos demo --exit-after-script` as CI (or a developer) runs it: the simulators and the API
as real servers on free ports, the four stages through HTTP, a summary, the records stored, and
everything stopped afterwards. Run twice on one database, the second run recovers (the restarted
IKD simulator no longer knows the first run's consent grants) and changes no decision."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections import Counter

from perlinsos.db.models import Appeal, Decision, EvidenceFile, Notification, Pilot, Registration
from sqlalchemy import select


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def demo(tmp_path, database_url: str, ports: list[int]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PERLINSOS_EXTRA_PLUGINS", "PERLINSOS_DISABLED_PLUGINS", "PERLINSOS_DEFAULT_PILOT")}
    env["PERLINSOS_DATABASE_URL"] = database_url
    api, ikd, sms = ports
    return subprocess.run(
        [sys.executable, "-m", "perlinsos.cli", "demo", "--people", "300", "--exit-after-script",
         "--port", str(api), "--ikd-port", str(ikd), "--sms-port", str(sms)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def run_demo(tmp_path, database_url: str, ports: list[int]) -> str:
    done = demo(tmp_path, database_url, ports)
    assert done.returncode == 0, done.stdout + done.stderr
    # stopped cleanly: nothing is left holding the ports
    assert all(port_free(p) for p in ports), done.stdout
    return done.stdout


async def stored(db) -> dict:
    async with db.read() as s:
        registrations = (await s.execute(select(Registration.channel, Registration.assisted_by))).all()
        decisions = (await s.execute(select(Decision.version, Decision.cause, Decision.outcome,
                                            Decision.is_current))).all()
        notifications = (await s.execute(select(Notification.channel, Notification.status,
                                                Notification.template))).all()
        appeals = (await s.execute(select(Appeal.status))).scalars().all()
        evidence = (await s.execute(select(EvidenceFile.appeal_id))).scalars().all()
    return {
        "registrations": Counter((c.value, a) for c, a in registrations),
        "decisions": Counter((v, c, o.value, cur) for v, c, o, cur in decisions),
        "portal": Counter(t for ch, st, t in notifications if ch == "portal" and st.value == "DELIVERED"),
        "sms": Counter(st.value for ch, st, _ in notifications if ch == "sms"),
        "appeals": [a.value for a in appeals],
        "evidence": evidence,
    }


async def test_the_scripted_demo_walks_through_every_stage(tmp_path, database_url, db):
    ports = free_ports(3)
    out = run_demo(tmp_path, database_url, ports)

    stage = {n: re.search(rf"^stage {n} \w+: +(.*)$", out, re.M) for n in (1, 2, 3, 4)}
    assert all(stage.values()), out
    assert stage[1][1] == "23 self-registered, 1 assisted by pendamping-demo"
    run = re.match(r"run \S+ FINISHED: 24 processed, 24 new decisions, 0 unchanged; outcomes: (.*?); failed",
                   stage[2][1])
    assert run, stage[2][1]
    outcomes = dict(item.rsplit(" ", 1) for item in run[1].split(", "))
    assert set(outcomes) <= {"ELIGIBLE", "NOT_ELIGIBLE", "PENDING"} and sum(map(int, outcomes.values())) == 24
    sms = re.match(r"24 decisions in the citizens' portal inboxes; (\d+) SMS accepted", stage[3][1])
    assert sms and int(sms[1]) > 0, stage[3][1]
    assert re.search(r"disputed ELECTRICITY_ABOVE_LIMIT: appeal UPHELD by verifikator-demo; "
                     r"decision v1 NOT_ELIGIBLE -> v2 ELIGIBLE \(cause APPEAL\)", stage[4][1]), stage[4][1]
    # the example notification is the citizen's text, with its reason, in Bahasa Indonesia
    example = out.split("Example notification", 1)[1]
    assert "Alasan:" in example and "2.200 VA" in example and "1.300 VA" in example
    assert not re.search(r"\b3510\d{12}\b", out.split("Tokens")[0])  # NIKs only masked

    records = await stored(db)
    assert records["registrations"] == Counter({("SELF", None): 23, ("ASSISTED", "pendamping-demo"): 1})
    current = Counter(o for v, c, o, cur in records["decisions"].elements() if cur)
    assert sum(current.values()) == 24
    assert records["decisions"][(2, "APPEAL", "ELIGIBLE", True)] == 1
    assert records["decisions"][(1, "SELECTION", "NOT_ELIGIBLE", False)] == 1  # the appealed one, superseded
    portal = records["portal"]
    assert sum(n for t, n in portal.items() if t.startswith("DECISION_")) == 25  # 24, and the appellant's new one
    assert portal["APPEAL_RECEIVED"] == portal["APPEAL_UPHELD"] == 1
    # every SMS the gateway accepted is a row that went out (delivery reports may still be coming)
    assert sum(records["sms"][s] for s in ("SENT", "DELIVERED", "FAILED")) >= int(sms[1])
    assert records["sms"]["PENDING"] == records["sms"]["SENDING"] == 0
    assert records["appeals"] == ["UPHELD"] and len(records["evidence"]) == 1 and records["evidence"][0]

    # a second run on the same database: same story, nothing decided twice
    again = run_demo(tmp_path, database_url, free_ports(3))
    assert re.search(r"^stage 1 registration: 0 self-registered, 0 assisted by pendamping-demo "
                     r"\(24 already registered in an earlier run\)$", again, re.M), again
    assert re.search(r"^stage 2 selection: +run \S+ FINISHED: 24 processed, 0 new decisions, 24 unchanged", again,
                     re.M), again
    assert re.search(r"^stage 4 appeal: .* appealed in an earlier run: appeal UPHELD; current decision v2 ELIGIBLE",
                     again, re.M), again
    after = await stored(db)
    assert after["decisions"] == records["decisions"] and after["appeals"] == ["UPHELD"]


async def test_a_busy_port_is_named_before_anything_starts_or_is_stored(tmp_path, database_url, db):
    ports = free_ports(3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[1]))
        taken.listen()
        done = demo(tmp_path, database_url, ports)
    assert done.returncode == 1
    assert f"port {ports[1]} on 127.0.0.1 is not available" in done.stderr
    assert "choose another with --ikd-port" in done.stderr and "Traceback" not in done.stderr
    async with db.read() as s:
        assert (await s.execute(select(Pilot.code))).first() is None  # nothing loaded
    assert port_free(ports[0]) and port_free(ports[2])


async def test_a_second_regency_gets_a_pilot_beside_banyuwangi(tmp_path, database_url, db):
    """--pilot-region 35.09: the IKD simulator also populates Kabupaten Jember, the demo stores a
    Jember pilot next to the bundled one, and one Jember citizen goes through it; Banyuwangi's walk
    is the one it is without."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PERLINSOS_EXTRA_PLUGINS", "PERLINSOS_DISABLED_PLUGINS", "PERLINSOS_DEFAULT_PILOT")}
    api, ikd, sms = ports = free_ports(3)
    done = subprocess.run(
        [sys.executable, "-m", "perlinsos.cli", "demo", "--people", "300", "--exit-after-script", "--port", str(api),
         "--ikd-port", str(ikd), "--sms-port", str(sms), "--pilot-region", "35.09"],
        cwd=tmp_path, env=env | {"PERLINSOS_DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert all(port_free(p) for p in ports), out
    assert "pilot JBR-DEMO loaded for Kabupaten Jember (35.09): send the header X-Perlinsos-Pilot: JBR-DEMO" in out
    assert re.search(r"^stage 1 registration: 23 self-registered, 1 assisted by pendamping-demo$", out, re.M), out
    assert re.search(r"^stage 2 selection: +run \S+ FINISHED: 24 processed, 24 new decisions", out, re.M), out
    assert re.search(r"^stage 4 appeal: .* decision v1 NOT_ELIGIBLE -> v2 ELIGIBLE \(cause APPEAL\)$", out, re.M), out
    jember = re.search(r"^pilot JBR-DEMO \(Kabupaten Jember, 35\.09\): .* \(3509\*{8}\d{4}, "
                       r"village 35\.09\.\d\d\.\d{4}\) registered; run \S+ FINISHED: 1 processed, 1 new decisions, "
                       r"0 unchanged; decision v1 (ELIGIBLE|NOT_ELIGIBLE|PENDING)", out, re.M)
    assert jember, out
    assert not re.search(r"\b35(10|09)\d{12}\b", out.split("Tokens")[0])  # NIKs only masked

    async with db.read() as s:
        pilots = dict((await s.execute(select(Pilot.code, Pilot.region_codes))).all())
        registered = (await s.execute(select(Pilot.code, Registration.region_code)
                                      .join(Pilot, Pilot.id == Registration.pilot_id))).all()
    assert pilots == {"BWI-2025": ["35.10"], "JBR-DEMO": ["35.09"]}
    by_pilot = Counter(code for code, _ in registered)
    assert by_pilot == Counter({"BWI-2025": 24, "JBR-DEMO": 1})
    assert all(region.startswith({"BWI-2025": "35.10.", "JBR-DEMO": "35.09."}[code]) for code, region in registered)
