"""``perlinsos serve`` killed with SIGKILL while a citizen's evidence upload is still arriving
(a large body, streamed slowly): no partial file is visible or attached, no record points to a
missing file, ``perlinsos evidence sweep`` clears what the dead process left (its temporary file;
a stored file whose record never committed), and the citizen can upload again.

tests/core/test_evidence.py kills a hand-built uvicorn server the same way; this runs the real
``perlinsos serve`` command and the sweep command an operator would run."""

from __future__ import annotations

import os
import socket
import time

import httpx
import scale_support
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos.db.models import EvidenceFile
from perlinsos.appeals.evidence.storage import LocalStorage
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from scale_support import Processes, wait_for
from sqlalchemy import select

database_url = scale_support.database_url  # a database of this test's own (the fixture)
AUTH = "fixtures.static_auth"  # the test identity plugin, by the name a subprocess loads it under
OWNER = seed.nik(0)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x11" * 2000
TOTAL = 2 * 1024 * 1024  # what the slow upload announces; it never gets there


def headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer citizen:{OWNER}", "X-Perlinsos-Pilot": "BWI-2025", "X-Evidence-Kind": "KTP",
            "Content-Type": "image/jpeg", **extra}


async def records(db) -> list[EvidenceFile]:
    async with db.read() as s:
        return list((await s.execute(select(EvidenceFile).order_by(EvidenceFile.id))).scalars())


async def test_a_server_killed_mid_upload_leaves_nothing_half_stored_and_sweep_clears_it(database_url, db, tmp_path):
    data = pilot_data()
    data["plugins"] = {AUTH: {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, PluginManager(extra_plugins=[(AUTH, static_auth)], national=static_auth.NATIONAL)))
    await seed.registrations(db, "BWI-2025", 1)
    folder = tmp_path / "evidence"
    store = LocalStorage(folder)
    procs = Processes(database_url, tmp_path)
    env = {"extra_plugins": (AUTH,), "PERLINSOS_EVIDENCE_DIR": str(folder)}
    try:
        server = procs.server("api-1", **env)
        kept = httpx.post(f"{server.url}/evidence", content=JPEG, headers=headers(), timeout=10)
        assert kept.status_code == 201, kept.text

        # a large photo over a slow link: headers, the first 300 kB, then the process dies
        big = JPEG + bytes(range(256)) * ((TOTAL - len(JPEG)) // 256 + 1)
        big = big[:TOTAL]
        head = ("POST /evidence HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers(**{"Content-Length": str(TOTAL)}).items())
                + "\r\n").encode()
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(head)
            for offset in range(0, 300_000, 30_000):
                conn.sendall(big[offset:offset + 30_000])
                time.sleep(0.02)
            wait_for(lambda: any(p.stat().st_size > 0 for p in store.temp_files()), 10, "the upload being written")
            server.kill9()
        assert [r.sha256 for r in await records(db)] == [kept.json()["sha256"]]
        assert [sha for sha, _ in store.objects()] == [kept.json()["sha256"]]  # nothing partial under a final name
        [leftover] = store.temp_files()  # only the dead writer's temporary file
        for row in await records(db):  # no record points to a missing file
            assert store.path_for(row.sha256).stat().st_size == row.size_bytes

        # a file stored by a process that died before its record committed: an orphan, once old
        orphan = store.path_for((await store.put(_chunks(b"%PDF-1.4 never recorded")))[0])
        sweep = procs.run("sweep-1", ["evidence", "sweep"], **env)
        assert sweep.wait(30) == 0, sweep.log()
        assert "removed 1 unfinished upload(s) and 0 unused file(s)" in sweep.log()  # the orphan is too fresh
        assert not leftover.exists() and orphan.exists()
        old = time.time() - 2 * 3600
        os.utime(orphan, (old, old))
        os.utime(store.path_for(kept.json()["sha256"]), (old, old))  # old too, but in use: kept
        sweep = procs.run("sweep-2", ["evidence", "sweep"], **env)
        assert sweep.wait(30) == 0, sweep.log()
        assert "removed 0 unfinished upload(s) and 1 unused file(s)" in sweep.log()
        assert not orphan.exists() and [sha for sha, _ in store.objects()] == [kept.json()["sha256"]]

        # the citizen tries again, on a restarted server, and the whole file arrives
        again = procs.server("api-2", **env)
        retried = httpx.post(f"{again.url}/evidence", content=big, headers=headers(), timeout=30)
        assert retried.status_code == 201, retried.text
        assert retried.json()["size"] == TOTAL
        fetched = httpx.get(f"{again.url}{retried.headers['location']}", headers=headers(), timeout=10)
        assert fetched.content == big
        again.assert_clean_log()
    finally:
        procs.stop_all()
    assert len(await records(db)) == 2 and store.temp_files() == []
    assert sorted(sha for sha, _ in store.objects()) == sorted(r.sha256 for r in await records(db))


def test_sweep_with_an_unreachable_database_removes_nothing(tmp_path):
    folder = tmp_path / "evidence"
    store = LocalStorage(folder)
    store.tmp.mkdir(parents=True)
    stale = store.tmp / "up-otherhost-1-abc.part"
    stale.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    procs = Processes(f"postgresql+asyncpg://postgres@127.0.0.1:{scale_support.free_port()}/none", tmp_path)
    try:
        sweep = procs.run("sweep", ["evidence", "sweep"], PERLINSOS_EVIDENCE_DIR=str(folder))
        assert sweep.wait(30) == 1
        assert "Error" in sweep.log() and "Traceback" not in sweep.log()
    finally:
        procs.stop_all()
    assert stale.exists()


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


