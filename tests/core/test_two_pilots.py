"""Two pilots side by side in one deployment: Banyuwangi (BWI-2025, the fixture pilot) and Jember
(35.09, created through createPilot), with different criteria limits and notification channels.
Every citizen gets their own pilot's behaviour: the same electricity and income are refused in one
pilot and admitted in the other, and only the pilot that enables SMS sends any.

The facts come over HTTP from a facts API speaking IKD's ``POST /facts`` protocol (the IKD simulator
only knows Banyuwangi's population), the SMS go to the SMS gateway simulator, selection runs
through ``runSelection`` and everything is read back through GraphQL with ``X-Perlinsos-Pilot``.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from conftest import GraphQLClient
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos.registration import consent
from perlinsos.db.models import Consent, Person
from perlinsos.devservers import serve_in_thread
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ADMIN = "staff:admin"
SECRET = "two-pilots-facts-secret"
JEMBER_VILLAGE = "35.09.01.2001"  # a village in Kabupaten Jember (35.09), Kemendagri numbering
BWI, JBR = "BWI-2025", "JBR-2026"
# (electricity VA, monthly income Rp) per household; the same three households in each regency
HOUSEHOLDS = [(2200, 1_500_000), (900, 2_820_000), (900, 1_500_000)]
# Banyuwangi: 1,300 VA and its UMK 2,810,139. Jember, as its pilot sets them: 2,200 VA and 2,838,642.
EXPECTED = {BWI: [("NOT_ELIGIBLE", ["ELECTRICITY_ABOVE_LIMIT"]), ("NOT_ELIGIBLE", ["INCOME_ABOVE_LIMIT"]),
                  ("ELIGIBLE", [])],
            JBR: [("ELIGIBLE", []), ("ELIGIBLE", []), ("ELIGIBLE", [])]}


class FactsApi:
    """IKD's consented facts API (``POST /facts``) over a fixed table of synthetic facts, served
    over real HTTP from a thread; refuses a wrong client secret like the real one."""

    def __init__(self, facts: dict[str, tuple[int, int]]):
        self.facts, self.requests = facts, 0
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        app = Starlette(routes=[Route("/facts", self.answer, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = serve_in_thread(uvicorn.Server(config), name="facts-api", summary=self.url)

    async def answer(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SECRET}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        self.requests += 1
        results = []
        for item in (await request.json())["requests"]:
            nik = item["nik"]
            if nik not in self.facts:
                results.append({**item, "error": {"code": "UNKNOWN_PERSON", "message": "Unknown NIK"}})
                continue
            va, income = self.facts[nik]
            facts = [("monthly_income", "facts:income", "BPJS Ketenagakerjaan", income),
                     ("bank_flags", "facts:bank", "PPATK", []), ("electricity_va", "facts:electricity", "PLN", va),
                     ("welfare_decile", "facts:welfare", "DTSEN", 3),
                     ("state_employment", "facts:employment", "BKN", []),
                     ("car_ownership", "facts:vehicles", "Korlantas Polri", 0)]
            results.append({**item, "facts": [{"name": n, "scope": s, "source": src, "as_of": "2025-08-01",
                                               "value": v, "members": {}} for n, s, src, v in facts]})
        return JSONResponse({"results": results})

    def close(self) -> None:
        self.server.should_exit = True


@pytest.fixture
def facts_api():
    api = FactsApi({})
    yield api
    api.close()


def phone(pilot: str, i: int) -> str:
    return f"+62812{'1' if pilot == BWI else '2'}77700{i:02d}"


IKD_ISSUER = "http://127.0.0.1:8601"  # the bundled pilot's


async def seed_households(db, pilot: str, region: str, facts_api: FactsApi) -> list[str]:
    """The three households, registered for PKH, each with a phone and a consent to every scope."""
    start = 0 if pilot == BWI else 100
    await seed.registrations(db, pilot, len(HOUSEHOLDS), region=region, start=start, with_decision=False)
    district = region[:8].replace(".", "")
    niks = [seed.nik(start + i, district) for i in range(len(HOUSEHOLDS))]
    for i, nik in enumerate(niks):
        facts_api.facts[nik] = HOUSEHOLDS[i]
        consent_id = await seed.consent(db, nik, consent.SCOPES)
        async with db.write() as s:
            await s.execute(update(Person).where(Person.nik == nik).values(phone=phone(pilot, i)))
            await s.execute(update(Consent).where(Consent.id == consent_id)
                            .values(provider_reference=f"grant-{nik[-6:]}", provider_issuer=IKD_ISSUER))
    return niks


RUN = "mutation($p: String!) { runSelection(pilot: $p) { run { id } errors { code message } } }"
RUN_STATUS = "query($id: ID!) { selectionRun(id: $id) { status decided } }"
MINE = """{ viewer { pilot } me { registrations { programme decision { outcome
  reasons { code verdict limit message } } } notifications { nodes { channel template title body } } } }"""
OUTBOX = "query($p: String!) { outbox(pilot: $p) { nodes { channel template status } } }"


async def run_selection(client: GraphQLClient, pilot: str) -> None:
    started = (await client.query(RUN, {"p": pilot}, token=ADMIN))["data"]["runSelection"]
    assert started["errors"] == [], started
    for _ in range(500):
        run = (await client.query(RUN_STATUS, {"id": started["run"]["id"]}, token=ADMIN))["data"]["selectionRun"]
        if run["status"] != "RUNNING":
            break
        await asyncio.sleep(0.02)
    assert run == {"status": "FINISHED", "decided": len(HOUSEHOLDS)}, run


async def test_two_pilots_one_deployment_each_citizen_gets_their_own_pilots_rules(client, db, facts_api, sms_sim,
                                                                                   plugin_manager):
    await seed.staff(db, "admin", "ADMIN", "35")
    # the facts API honours IKD's grants (Banyuwangi's IKD issuer; Jember names it, having no IKD plugin)
    facts = {"facts_api_url": facts_api.url, "client_secret": SECRET, "grant_issuer": IKD_ISSUER}
    # Banyuwangi: its limits as in the pilot file, SMS through the gateway simulator.
    bwi_plugins = pilot_data()["plugins"]
    bwi_plugins["criteria"] |= facts
    bwi_plugins["notify_sms"] = {"gateway_url": sms_sim.url, "api_key": sms_sim.api_key, "sender_id": "PERLINSOS",
                                 "portal_url": "https://portal.test"}
    changed = await client.query(
        """mutation($i: PilotUpdateInput!) { updatePilot(code: "BWI-2025", input: $i) { errors { code field } } }""",
        {"i": {"plugins": [{"name": n, "settings": s} for n, s in bwi_plugins.items()]}}, token=ADMIN)
    assert changed["data"]["updatePilot"]["errors"] == []
    # Jember: a higher electricity limit and its own income limit; the portal inbox only (no SMS plugin).
    jember = {"code": JBR, "name": "Uji coba Portal Perlinsos Kabupaten Jember", "regions": ["35.09"],
              "programmes": ["PKH"],
              "phases": {"registrationOpens": "2025-08-01T00:00:00+07:00",
                         "registrationCloses": "2027-06-30T23:59:59+07:00"},
              "plugins": [{"name": static_auth.NAME, "settings": {}},
                          {"name": "criteria", "settings": {"electricity_limit_va": 2200, "income_limit": 2_838_642}
                           | facts}]}
    created = await client.query("""mutation($i: PilotInput!) { createPilot(input: $i) {
        pilot { code enabledPlugins } errors { code field message } } }""", {"i": jember}, token=ADMIN)
    assert created["data"]["createPilot"] == {"pilot": {"code": JBR, "enabledPlugins": ["criteria", "static_auth"]},
                                              "errors": []}

    niks = {BWI: await seed_households(db, BWI, seed.KEMIREN, facts_api),
            JBR: await seed_households(db, JBR, JEMBER_VILLAGE, facts_api)}
    assert all(n.startswith("3509") for n in niks[JBR]) and all(n.startswith("3510") for n in niks[BWI])
    clients = {code: GraphQLClient(client.http, pilot=code) for code in (BWI, JBR)}
    # the gateway simulator is shared with the session's other tests: count what this test adds
    before = {(code, i): len(sms_sim.messages(to=phone(code, i))) for code in (BWI, JBR) for i in range(len(HOUSEHOLDS))}
    for code in (BWI, JBR):
        await run_selection(clients[code], code)
    assert facts_api.requests == 2  # one batch per pilot, each with its own credential and URL

    await Dispatcher(db, plugin_manager, portal_url="https://portal.test",
                     policy=Policy(lease=0.5, base_delay=0.0)).drain()

    for code in (BWI, JBR):
        for i, nik in enumerate(niks[code]):
            mine = (await clients[code].query(MINE, token=f"citizen:{nik}"))["data"]
            assert mine["viewer"]["pilot"] == code
            (registration,) = mine["me"]["registrations"]
            decision = registration["decision"]
            outcome, failed = EXPECTED[code][i]
            assert decision["outcome"] == outcome, (code, i, decision)
            assert sorted(r["code"] for r in decision["reasons"] if r["verdict"] == "FAIL") == failed
            electricity = next(r for r in decision["reasons"] if r["code"] == "ELECTRICITY_ABOVE_LIMIT")
            assert electricity["limit"] == (1300 if code == BWI else 2200)
            income = next(r for r in decision["reasons"] if r["code"] == "INCOME_ABOVE_LIMIT")
            assert income["limit"] == (2_810_139 if code == BWI else 2_838_642)
            # every citizen has their decision in the portal inbox, with its reasons
            (entry,) = mine["me"]["notifications"]["nodes"]
            assert entry["channel"] == "portal" and entry["template"] == f"DECISION_{outcome}"
            # an SMS only where the pilot enables it
            sent = sms_sim.messages(to=phone(code, i))
            assert len(sent) - before[code, i] == (1 if code == BWI else 0), (code, i, sent)

    # The same household facts, two answers: 2,200 VA is refused in Banyuwangi, admitted in Jember.
    first_bwi = (await clients[BWI].query(MINE, token=f"citizen:{niks[BWI][0]}"))["data"]["me"]
    refusal = next(r for r in first_bwi["registrations"][0]["decision"]["reasons"]
                   if r["code"] == "ELECTRICITY_ABOVE_LIMIT")
    assert "2.200 VA, di atas batas 1.300 VA" in refusal["message"]
    channels = {code: {n["channel"] for n in (await clients[code].query(OUTBOX, {"p": code}, token=ADMIN))[
        "data"]["outbox"]["nodes"]} for code in (BWI, JBR)}
    assert channels == {BWI: {"portal", "sms"}, JBR: {"portal"}}

