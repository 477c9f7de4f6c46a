"""Grants go only to the source that issued them (issue 12, item 3).

Two fact sources over real HTTP, each recording every NIK and grant id it receives: IKD's facts API
(the built-in ``criteria`` plugin, bound to IKD's issuer) and a regency's own data service (a
fixture plugin bound to another provider). Citizens consented through IKD, through the regency's
provider, or through a provider no source of the pilot serves. Each server sees its own
provider's grants and NIKs only; the third citizen is PENDING with a reason naming the provider.
"""

from __future__ import annotations

import socket

import httpx
import pytest
import uvicorn
from perlinsos import hookimpl
from perlinsos.contract import FACTS, SIGN_IN, IdentityProvider
from perlinsos.db.models import Consent, Decision, DecisionReason
from perlinsos.devservers import serve_in_thread
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.registration.consent import SCOPES
from perlinsos.selection import run_selection
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fixtures import seed, static_auth
from fixtures.pilots import pilot_data

IKD = "https://ikd.example"
REGENCY = "https://data.jemberkab.example"
UNKNOWN = "https://sso.elsewhere.example"
SECRET = "routing-test-secret"


class RecordingSource:
    """A ``POST /facts`` server that remembers every (NIK, grant id) it was sent and knows no one."""

    def __init__(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url, self.seen = f"http://127.0.0.1:{port}", []
        app = Starlette(routes=[Route("/facts", self.answer, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = serve_in_thread(uvicorn.Server(config), name="recording-source", summary=self.url)

    async def answer(self, request: Request) -> JSONResponse:
        items = (await request.json())["requests"]
        self.seen += [(i["nik"], i["grant_id"]) for i in items]
        return JSONResponse({"results": [{**i, "error": {"code": "UNKNOWN_PERSON", "message": "-"}} for i in items]})


class RegencyData:
    """A regency's data service: reads under the grants its own provider (REGENCY) issues."""

    NAME = "regency_data"

    def __init__(self, source: RecordingSource):
        self.source = source

    @hookimpl
    def identity_providers(self, pilot):
        return [IdentityProvider(issuer=REGENCY, name="Data Kabupaten Jember", capabilities=frozenset({FACTS}))]

    @hookimpl
    async def collect_facts(self, registrants, pilot):
        body = {"requests": [{"nik": r.nik, "grant_id": r.consent.reference} for r in registrants]}
        async with httpx.AsyncClient() as http:
            (await http.post(f"{self.source.url}/facts", json=body)).raise_for_status()
        return []


class RegionalSignIn:
    """The regency's provider signs its people in (so the pilot trusts it)."""

    NAME = "regency_sso"

    @hookimpl
    def identity_providers(self, pilot):
        return [IdentityProvider(issuer=REGENCY, name="SSO Kabupaten Jember", capabilities=frozenset({SIGN_IN}))]


@pytest.fixture
def sources():
    found = {"ikd": RecordingSource(), "regency": RecordingSource()}
    yield found
    for source in found.values():
        source.server.should_exit = True


async def test_each_source_sees_only_its_own_providers_grants_and_niks(db, sources):
    regency = RegencyData(sources["regency"])
    plugins = PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (RegencyData.NAME, regency),
                                           (RegionalSignIn.NAME, RegionalSignIn())], national=static_auth.NATIONAL)
    data = pilot_data()
    data["plugins"] = {static_auth.NAME: {}, RegionalSignIn.NAME: {}, RegencyData.NAME: {},
                       "ikd": {"issuer": IKD, "audience": "portal", "client_secret": SECRET},
                       "criteria": {"facts_api_url": sources["ikd"].url, "client_secret": SECRET}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
    await seed.registrations(db, "BWI-2025", 3, with_decision=False)
    niks = [seed.nik(i) for i in range(3)]
    issuers = [IKD, REGENCY, UNKNOWN]
    for i, nik in enumerate(niks):
        consent_id = await seed.consent(db, nik, SCOPES)
        async with db.write() as session:
            await session.execute(update(Consent).where(Consent.id == consent_id).values(
                provider_reference=f"grant-{i}", provider_issuer=issuers[i]))
    async with db.read() as session:
        hooks = plugins.for_pilot(pilot_context(await get_pilot(session, "BWI-2025"), plugins))
    await run_selection(db, hooks)

    assert sources["ikd"].seen == [(niks[0], "grant-0")]
    assert sources["regency"].seen == [(niks[1], "grant-1")]
    async with db.read() as session:
        rows = (await session.execute(
            select(DecisionReason.observed).join(Decision, Decision.id == DecisionReason.decision_id)
            .where(DecisionReason.code == "CONSENT_MISSING", Decision.registration_id == 3))).scalars().all()
        outcomes = (await session.execute(select(Decision.registration_id, Decision.outcome)
                                          .order_by(Decision.registration_id))).all()
    assert rows == [{"value": {"provider": UNKNOWN}}]
    assert [o.value for _, o in outcomes] == ["PENDING", "PENDING", "PENDING"]  # the sources know no one


async def test_a_source_of_no_provider_gets_everyone_but_no_grant_ids(db, sources):
    """A source bound to no provider (e.g. a region's own open register) may read every consented
    registrant's public facts, but never a provider's grant id."""
    received = []

    class OpenRegister:
        @hookimpl
        def collect_facts(self, registrants, pilot):
            received.extend((r.nik, r.consent.reference if r.consent else None,
                             r.consent.issuer if r.consent else None) for r in registrants)
            return []

    plugins = PluginManager(extra_plugins=[(static_auth.NAME, static_auth), ("open_register", OpenRegister())],
                            national=static_auth.NATIONAL)
    data = pilot_data()
    data["plugins"] = {static_auth.NAME: {}, "open_register": {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
    await seed.registrations(db, "BWI-2025", 2, with_decision=False)
    for i in range(2):
        consent_id = await seed.consent(db, seed.nik(i), SCOPES)
        async with db.write() as session:
            await session.execute(update(Consent).where(Consent.id == consent_id).values(
                provider_reference=f"grant-{i}", provider_issuer=IKD))
    async with db.read() as session:
        hooks = plugins.for_pilot(pilot_context(await get_pilot(session, "BWI-2025"), plugins))
    await run_selection(db, hooks)
    assert sorted(received) == [(seed.nik(0), None, None), (seed.nik(1), None, None)]
