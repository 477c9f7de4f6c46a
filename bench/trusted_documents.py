"""Trusted documents: what a request by ``documentId`` saves against sending the whole document.

Same run, same app, same answers: three operations of ``schema/persisted-documents.json`` (the
small ``Viewer``, the ``AppealQueue`` list and the largest, ``PilotStats``) are POSTed in process
(httpx's ASGI transport: no network, so the time is the server's — body decoding, parse, validation,
execution, JSON), one request of each way in turn, three ways:

- **document**: ``{"query": <the document>}`` — the baseline; the same text every time, so
  strawberry's parse and validation LRU caches hit, as they do for a popular client;
- **document, caches missed**: the document with a per-request comment, as when many clients and
  versions (or a flood of distinct documents) churn those caches: parse and validation every time;
- **documentId**: ``{"documentId": "sha256:…"}`` — the manifest document, parsed and validated once.

Prints request bytes and median server time per request, each as a ratio to the baseline measured
in the same run; checks the three answers are identical.

    .venv/bin/python bench/trusted_documents.py [--requests 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_auth  # noqa: E402
from _common import bench_pilot_data  # noqa: E402

from perlinsos.app import create_app  # noqa: E402
from perlinsos.db import migrate  # noqa: E402
from perlinsos.db.engine import Database  # noqa: E402
from perlinsos.db.models import StaffAssignment, StaffRole  # noqa: E402
from perlinsos.pilots.files import parse_pilot  # noqa: E402
from perlinsos.pilots.store import save_pilot  # noqa: E402
from perlinsos.plugins import PluginManager  # noqa: E402
from perlinsos.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "schema" / "persisted-documents.json"
OPERATIONS = {"Viewer": {}, "AppealQueue": {"pilot": "BWI-2025"}, "PilotStats": {"pilot": "BWI-2025"}}


def manifest_entries() -> dict[str, tuple[str, str]]:
    """operation name → (document id, document)."""
    found = {}
    for key, document in json.loads(MANIFEST.read_text(encoding="utf-8")).items():
        for name in OPERATIONS:
            if f"query {name}(" in document or f"query {name} " in document:
                found[name] = (key, document)
    missing = set(OPERATIONS) - set(found)
    if missing:
        raise SystemExit(f"not in {MANIFEST}: {', '.join(sorted(missing))}")
    return found


async def setup(url: str, plugins: PluginManager) -> None:
    await asyncio.to_thread(migrate.upgrade, url)  # alembic runs its own event loop
    db = Database(url)
    async with db.write() as s:
        await save_pilot(s, parse_pilot(bench_pilot_data(), plugins, source="bench"))
        s.add(StaffAssignment(issuer=bench_auth.ISSUER, subject="bench", role=StaffRole.ADMIN, region_code="35",
                              created_by="bench"))
    await db.dispose()


async def timed(http: httpx.AsyncClient, body: bytes, headers: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    response = await http.post("/graphql", content=body, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()


async def run(requests: int, rounds: int) -> int:
    entries = manifest_entries()
    plugins = PluginManager(extra_plugins=[(bench_auth.NAME, bench_auth)], national=bench_auth.NATIONAL)
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"
        await setup(url, plugins)
        settings = Settings(database_url=url, dispatcher_in_process=False, trusted_documents="allow",
                            trusted_documents_manifest=str(MANIFEST), evidence_dir=str(Path(workdir) / "evidence"))
        app = create_app(settings, plugins)
        headers = {"X-Perlinsos-Pilot": "BWI-2025", "Authorization": "Bearer staff:bench",
                   "Content-Type": "application/json"}
        print(f"{'operation':<12} {'way':<26} {'bytes':>6} {'x size':>7} {'ms/request':>11} {'x time':>7}")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            for name, (document_id, document) in entries.items():
                variables = OPERATIONS[name]
                ways = {
                    "document": lambda i: {"query": document, "variables": variables},
                    "document, caches missed": lambda i: {"query": f"{document} # {i}", "variables": variables},
                    "documentId": lambda i: {"documentId": document_id, "variables": variables},
                }
                times: dict[str, list[float]] = {w: [] for w in ways}
                answers: dict[str, dict] = {}
                sizes = {w: len(json.dumps(make(0)).encode()) for w, make in ways.items()}
                counter = 0
                for _ in range(rounds * requests):  # interleaved: no way pays for another's garbage
                    counter += 1
                    for way, make in ways.items():
                        elapsed, answer = await timed(http, json.dumps(make(counter)).encode(), headers)
                        times[way].append(elapsed)
                        answers.setdefault(way, answer)
                if any(a != answers["document"] for a in answers.values()) or "errors" in answers["document"]:
                    raise SystemExit(f"{name}: the answers differ or failed: {json.dumps(answers)[:500]}")
                base_ms = statistics.median(times["document"]) * 1000
                for way in ways:
                    ms = statistics.median(times[way]) * 1000
                    print(f"{name:<12} {way:<26} {sizes[way]:>6} {sizes[way] / sizes['document']:>7.2f} "
                          f"{ms:>11.3f} {ms / base_ms:>7.2f}")
        await app.state.perlinsos.db.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per way per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    return asyncio.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())
