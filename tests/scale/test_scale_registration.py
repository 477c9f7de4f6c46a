"""Two real API servers (``perlinsos serve``) on one database, 16 clients each, registering
households through the IKD simulator at once: some citizens submit to both servers at the same
moment, and some households have two members registering at once, one on each server.

Nothing may be locked, lost, doubled or hidden behind a 5xx; the database must hold exactly one
registration per household that was told it is registered."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from conftest import ikd_pilot_data
from fixtures.ikd import IkdSimulator
from perlinsos.registration import consent
from perlinsos.db.models import Household, Person, Registration
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
import scale_support
from scale_support import Processes, graphql, problems_in
from sqlalchemy import func, select

database_url = scale_support.database_url  # a database of this test's own (the fixture)

CLIENTS = 16  # per server
HOUSEHOLDS = 120
CONSENT = """mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) {
  consent { live } errors { code } } }"""
REGISTER = """mutation { registerHousehold(input: {programme: "PKH"}) {
  created registration { id } errors { code } } }"""


@pytest.fixture(scope="module")
def population():
    # larger than the session's simulator: enough households for 32 clients
    with IkdSimulator(people=600, seed=88) as simulator:
        yield simulator


def registration_id(gid: str) -> int:
    kind, _, key = base64.urlsafe_b64decode(gid).decode().partition(":")
    assert kind == "Registration", gid
    return int(key)


def households(ikd: IkdSimulator) -> dict[str, dict[str, dict]]:
    """kk_number -> {"head": person, "spouse": person or absent}, for HOUSEHOLDS households."""
    found: dict[str, dict[str, dict]] = {}
    for role in ("HEAD", "SPOUSE"):
        for person in ikd.people(limit=1000, role=role):
            if role == "HEAD" or person["kk_number"] in found:
                found.setdefault(person["kk_number"], {})[role.lower()] = person
    return dict(list(found.items())[:HOUSEHOLDS])


async def run_clients(queue: asyncio.Queue, clients: int) -> None:
    async def worker() -> None:
        while not queue.empty():
            job = queue.get_nowait()
            await job()

    await asyncio.gather(*(worker() for _ in range(clients)))


async def test_two_servers_sixteen_clients_each_lose_and_double_nothing(database_url, db, plugin_manager, tmp_path,
                                                                       population):
    ikd = population
    data = ikd_pilot_data(ikd)
    data["plugins"]["ikd"]["timeout_seconds"] = 20.0  # 32 clients on 2 CPUs: the simulator answers late, not never
    del data["plugins"]["static_auth"]  # IKD is the identity provider here, as in production
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    procs = Processes(database_url, tmp_path)
    try:
        servers = [procs.server("api-a"), procs.server("api-b")]
        homes = households(ikd)
        assert len(homes) == HOUSEHOLDS
        tokens = {p["nik"]: ikd.sign_in(p["nik"]) for members in homes.values() for p in members.values()}
        # plan: households alternate between the servers; every 4th head also submits to the other
        # server at the same time; every 5th household's spouse registers on the other server
        plan: list[tuple[int, str, str]] = []  # (server index, nik, kk_number)
        for i, (kk, members) in enumerate(homes.items()):
            side = i % 2
            plan.append((side, members["head"]["nik"], kk))
            if i % 4 == 0:
                plan.append((1 - side, members["head"]["nik"], kk))
            if i % 5 == 0 and "spouse" in members:
                plan.append((1 - side, members["spouse"]["nik"], kk))
        answers: list[dict] = []
        results: list[tuple[str, str, dict]] = []  # (nik, kk, registerHousehold payload)

        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as http:
            async def consent_job(side: int, nik: str) -> None:
                answer = await graphql(http, servers[side].url, CONSENT, {"s": list(consent.SCOPES)},
                                       token=tokens[nik])
                answers.append(answer)
                assert ((answer.get("data") or {}).get("giveConsent") or {}).get("errors") == [], answer

            async def register_job(side: int, nik: str, kk: str) -> None:
                answer = await graphql(http, servers[side].url, REGISTER, token=tokens[nik])
                answers.append(answer)
                if answer.get("data"):
                    results.append((nik, kk, answer["data"]["registerHousehold"]))

            queues = [asyncio.Queue(), asyncio.Queue()]
            for side, nik in {(side, nik) for side, nik, _ in plan}:
                queues[side].put_nowait(lambda side=side, nik=nik: consent_job(side, nik))
            await asyncio.gather(*(run_clients(q, CLIENTS) for q in queues))
            queues = [asyncio.Queue(), asyncio.Queue()]
            for side, nik, kk in plan:  # a double submission sits at the same place in both queues
                queues[side].put_nowait(lambda side=side, nik=nik, kk=kk: register_job(side, nik, kk))
            await asyncio.gather(*(run_clients(q, CLIENTS) for q in queues))

        assert problems_in(answers) == []
        assert len(results) == len(plan)
        for server in servers:
            server.assert_clean_log()
    finally:
        procs.stop_all()

    by_kk: dict[str, list[tuple[str, dict]]] = {}
    for nik, kk, payload in results:
        by_kk.setdefault(kk, []).append((nik, payload))
    async with db.read() as s:
        stored = {kk: (rid, nik) for kk, rid, nik in await s.execute(
            select(Household.kk_number, Registration.id, Person.nik)
            .join(Household, Household.id == Registration.household_id)
            .join(Person, Person.id == Registration.person_id))}
        doubled = (await s.execute(select(Registration.household_id).group_by(
            Registration.pilot_id, Registration.programme, Registration.household_id)
            .having(func.count() > 1))).all()
    assert doubled == []
    assert set(stored) == set(by_kk)  # every household told "registered" is, and no other
    for kk, answered in by_kk.items():
        registration, registrant = stored[kk]
        created = [nik for nik, p in answered if p["created"]]
        assert len(created) == 1, answered  # exactly one submission created it
        assert registrant == created[0]
        for nik, payload in answered:
            if nik == registrant:  # the winner and its double submission: the same row
                assert payload["errors"] == [] and registration_id(payload["registration"]["id"]) == registration
            else:  # the other member of the household, at the same moment on the other server
                assert [e["code"] for e in payload["errors"]] == ["ALREADY_REGISTERED_BY_HOUSEHOLD"], payload
