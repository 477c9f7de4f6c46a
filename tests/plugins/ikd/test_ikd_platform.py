"""End to end: the platform's GraphQL API signs people in with tokens from the IKD simulator."""

from __future__ import annotations

import tomllib

import httpx
import pytest

from perlinsos.app import create_app
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot
from perlinsos.pilots.store import save_pilot
from fixtures.refusals import as_seen as _refusal

VIEWER = "{ viewer { subject kind roles pilot } }"
PILOT = "BWI-2025"


class Api:
    def __init__(self, http: httpx.AsyncClient):
        self.http = http

    async def post(self, query: str, token: str) -> httpx.Response:
        return await self.http.post("/graphql", json={"query": query},
                                    headers={"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": PILOT})

    async def query(self, query: str, token: str) -> dict:
        reply = await self.post(query, token)
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture
async def api(ikd_sim, db, settings, entry_point_plugins):
    """The platform (root fixtures: a migrated database) with the bundled pilot pointed at the simulator."""
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    data["plugins"]["ikd"] = {"issuer": ikd_sim.issuer, "audience": ikd_sim.audience,
                              "client_secret": ikd_sim.client_secret, "timeout_seconds": 0.5}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, entry_point_plugins))
    app = create_app(settings, entry_point_plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        yield Api(http)
    await app.state.perlinsos.db.dispose()


async def test_citizen_and_staff_sign_in(api, ikd_sim, citizen):
    viewer = (await api.query(VIEWER, token=ikd_sim.sign_in(citizen["nik"])))["data"]["viewer"]
    assert viewer["kind"] == "citizen" and viewer["roles"] == ["CITIZEN"] and viewer["pilot"] == PILOT
    assert viewer["subject"].startswith("ikd-")
    staff = (await api.query(VIEWER, token=ikd_sim.sign_in_staff("petugas.kemiren")))["data"]["viewer"]
    assert staff == {"subject": "petugas.kemiren", "kind": "staff", "roles": [], "pilot": PILOT}


async def test_forged_tokens_get_one_vague_401(api, ikd_sim, citizen):
    nik = citizen["nik"]
    forged = [
        ikd_sim.sign(nik=nik, algorithm="RS384"),
        ikd_sim.sign(nik=nik, claims={"aud": "another-portal"}),
        ikd_sim.sign(nik=nik, claims={"iss": ikd_sim.issuer + "/"}),
        ikd_sim.sign(nik=nik, headers={"kid": "unknown"}),
        ikd_sim.sign_in(nik)[:-4] + "AAAA",
        ikd_sim.sign(nik=nik, claims={"iss": "https://unknown-idp.example"}),  # nobody's token
    ]
    replies = [await api.post(VIEWER, token=token) for token in forged]
    assert [_refusal(r) for r in replies] == [_refusal(replies[0])] * len(replies)
    assert replies[0].status_code == 401


async def test_identity_provider_down_is_503(api, ikd_sim, citizen):
    ikd_sim.set_fault("slow", delay_seconds=2)
    reply = await api.post(VIEWER, token=ikd_sim.sign_in(citizen["nik"]))
    assert reply.status_code == 503
