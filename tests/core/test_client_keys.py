"""Retry-safe mutations (issue 14, item 4): a facilitator's or village operator's request sent again
with the same client key — after a connection that dropped once the server had done the work —
answers what the first did and stores nothing twice; the same key with another input is refused
(IDEMPOTENCY_KEY_REUSED) and stores nothing. Covers assisted consent and registration, evidence
upload (``Idempotency-Key``), assisted appeal filing and the in-person filing at the village office."""

from __future__ import annotations

import httpx
import pytest
from conftest import GraphQLClient
from fixtures import seed
from perlinsos.db.models import Appeal, AppealAttestation, ClientKey, Consent, EvidenceFile, Notification, Registration
from sqlalchemy import func, select

OWNER, OTHER = seed.nik(0), seed.nik(1)
KK_OWNER = "3510150101000000"
FACILITATOR, OPERATOR = "staff:pendamping", "staff:operator"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FILE = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id channel } errors { code field } } }"""
IN_PERSON = """mutation($i: FileAppealInPersonInput!) { fileAppealInPerson(input: $i) { appeal { id channel }
  errors { code field } } }"""
CONSENT = """mutation($s: [String!]!, $t: String, $k: String) { giveConsent(input: {scopes: $s, policyVersion: "1",
  citizenToken: $t, clientKey: $k}) { consent { id } errors { code field } } }"""
REGISTER = """mutation($p: String!, $t: String, $k: String) { registerHousehold(input: {programme: $p, citizenToken: $t,
  clientKey: $k}) { registration { id } created errors { code field } } }"""


class Dropped(Exception):
    """The connection broke while the answer was on its way."""


def dropping(app):
    """The app behind a connection that drops as the answer starts: the server has done its work,
    the client never reads the answer."""
    async def wrapped(scope, receive, send):
        async def lost(message):
            if message["type"].startswith("http.response"):
                raise Dropped()
            await send(message)
        await app(scope, receive, lost)
    return wrapped


@pytest.fixture
async def flaky(app):
    transport = httpx.ASGITransport(app=dropping(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        yield GraphQLClient(http)


async def counts(db) -> dict:
    async with db.read() as s:
        return {t.__name__: (await s.execute(select(func.count()).select_from(t))).scalar_one()
                for t in (Appeal, AppealAttestation, Consent, EvidenceFile, Notification, Registration, ClientKey)}


@pytest.fixture
async def village(client, db, pilot):
    await seed.registrations(db, pilot, 2)  # decisions 1 (OWNER) and 2 (OTHER), Kemiren
    await seed.staff(db, "pendamping", "FACILITATOR", seed.KEMIREN)
    await seed.staff(db, "operator", "VILLAGE_OPERATOR", seed.KEMIREN)
    return client


def decision(number: int = 1) -> str:
    from perlinsos.graphql.relay import to_global_id

    return to_global_id("Decision", number)


async def upload(http: httpx.AsyncClient, key: str | None, content: bytes = PDF, citizen: str = OWNER):
    headers = {"Authorization": f"Bearer {FACILITATOR}", "X-Perlinsos-Pilot": "BWI-2025",
               "Content-Type": "application/pdf", "X-Evidence-Kind": "SUPPORTING_DOCUMENT",
               "X-Citizen-Token": f"citizen:{citizen}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post("/evidence", content=content, headers=headers)


def refused(response: httpx.Response) -> str:
    """The code of an /evidence refusal (docs/errors.md: GraphQL's error shape)."""
    body = response.json()
    return body["errors"][0]["extensions"]["code"] if "errors" in body else body["error"]["code"]


def appeal_input(evidence: list[str], key: str, **changes) -> dict:
    values = {"decision": decision(), "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
              "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
              "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900}, "evidence": evidence,
              "citizenToken": f"citizen:{OWNER}", "clientKey": key}
    return values | changes


async def test_evidence_and_an_assisted_appeal_survive_a_dropped_connection(village, flaky, db):
    # the upload reaches the server, the answer never reaches the facilitator
    with pytest.raises(Dropped):
        await upload(flaky.http, "unggah-bukti-0001")
    after_first = await counts(db)
    assert after_first["EvidenceFile"] == 1
    retried = await upload(village.http, "unggah-bukti-0001")
    assert retried.status_code == 201, retried.text  # the first upload's answer, not "already waiting" (200)
    evidence = retried.json()["id"]
    assert await counts(db) == after_first
    # another file under the same key: refused, nothing stored
    other = await upload(village.http, "unggah-bukti-0001", content=PDF + b"% lain\n")
    assert other.status_code == 409 and refused(other) == "IDEMPOTENCY_KEY_REUSED"
    assert await counts(db) == after_first

    with pytest.raises(Dropped):
        await flaky.query(FILE, {"i": appeal_input([evidence], "sanggah-0001")}, token=FACILITATOR)
    filed = await counts(db)
    assert filed["Appeal"] == 1
    again = await village.query(FILE, {"i": appeal_input([evidence], "sanggah-0001")}, token=FACILITATOR)
    payload = again["data"]["fileAppeal"]
    assert payload["errors"] == [] and payload["appeal"]["channel"] == "ASSISTED", again
    assert await counts(db) == filed  # one appeal, one set of notifications
    changed = await village.query(FILE, {"i": appeal_input([evidence], "sanggah-0001", statement="Lain sekali, "
                                                                                                  "tagihan baru.")},
                                  token=FACILITATOR)
    assert changed["data"]["fileAppeal"] == {"appeal": None, "errors": [{"code": "IDEMPOTENCY_KEY_REUSED",
                                                                         "field": "clientKey"}]}
    assert await counts(db) == filed


async def test_the_same_answer_twice_and_a_refusal_is_not_remembered(village, db):
    # refused first (no evidence): the key is released, so the fixed request may use it again
    refused = await village.query(FILE, {"i": appeal_input([], "sanggah-0002")}, token=FACILITATOR)
    assert [e["code"] for e in refused["data"]["fileAppeal"]["errors"]] == ["EVIDENCE_MISSING"]
    assert (await counts(db))["ClientKey"] == 0
    evidence = (await upload(village.http, None)).json()["id"]
    first = await village.query(FILE, {"i": appeal_input([evidence], "sanggah-0002")}, token=FACILITATOR)
    second = await village.query(FILE, {"i": appeal_input([evidence], "sanggah-0002")}, token=FACILITATOR)
    assert first == second and first["data"]["fileAppeal"]["errors"] == []
    # without a key a repeat is a new request: the open appeal refuses it
    third = await village.query(FILE, {"i": appeal_input([evidence], None)}, token=FACILITATOR)
    assert [e["code"] for e in third["data"]["fileAppeal"]["errors"]] == ["APPEAL_ALREADY_OPEN"]
    # keys are per identity: another facilitator's same key is a new request of theirs, not a replay
    await seed.staff(db, "pendamping-2", "FACILITATOR", seed.KEMIREN)
    fourth = await village.query(FILE, {"i": appeal_input([evidence], "sanggah-0002")}, token="staff:pendamping-2")
    assert [e["code"] for e in fourth["data"]["fileAppeal"]["errors"]] == ["APPEAL_ALREADY_OPEN"]


@pytest.mark.parametrize("key", ["pendek", "x" * 101, " spasi-di-depan"])
async def test_a_malformed_key_is_refused(village, db, key):
    before = await counts(db)
    evidence = await upload(village.http, key)
    assert evidence.status_code == 400 and refused(evidence) == "CLIENT_KEY_INVALID"
    data = await village.query(FILE, {"i": appeal_input([], key)}, token=FACILITATOR)
    assert data["data"]["fileAppeal"]["errors"][0]["code"] == "CLIENT_KEY_INVALID"
    assert await counts(db) == before


def in_person(key: str, **changes) -> dict:
    values = {"nik": OWNER, "kk": KK_OWNER, "decision": decision(), "ground": "DATA_INCORRECT",
              "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
              "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan asli diperlihatkan.",
              "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900},
              "identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["SUPPORTING_DOCUMENT"]},
              "clientKey": key}
    return values | changes


async def test_an_in_person_appeal_survives_a_dropped_connection(village, flaky, db):
    with pytest.raises(Dropped):
        await flaky.query(IN_PERSON, {"i": in_person("kantor-desa-0001")}, token=OPERATOR)
    filed = await counts(db)
    assert (filed["Appeal"], filed["AppealAttestation"]) == (1, 3)
    again = await village.query(IN_PERSON, {"i": in_person("kantor-desa-0001")}, token=OPERATOR)
    assert again["data"]["fileAppealInPerson"]["errors"] == []
    assert again["data"]["fileAppealInPerson"]["appeal"]["channel"] == "VILLAGE_OFFICE"
    assert await counts(db) == filed
    other = await village.query(IN_PERSON, {"i": in_person("kantor-desa-0001", nik=OTHER,
                                                           kk="3510150101000001", decision=decision(2))},
                                token=OPERATOR)
    assert other["data"]["fileAppealInPerson"]["errors"] == [{"code": "IDEMPOTENCY_KEY_REUSED", "field": "clientKey"}]
    assert await counts(db) == filed


async def test_assisted_consent_and_registration_survive_a_dropped_connection(ikd_client, ikd, app, db):
    transport = httpx.ASGITransport(app=dropping(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        flaky = GraphQLClient(http)
        person = ikd.people(limit=1, role="HEAD")[0]
        await seed.staff(db, "pendamping-ikd", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
        staff, citizen = ikd.sign_in_staff("pendamping-ikd"), ikd.sign_in(person["nik"])
        from perlinsos.registration import consent as consent_flow

        scopes = list(consent_flow.SCOPES)
        with pytest.raises(Dropped):
            await flaky.query(CONSENT, {"s": scopes, "t": citizen, "k": "setuju-0001"}, token=staff)
        consented = await counts(db)
        assert consented["Consent"] == 1
        again = await ikd_client.query(CONSENT, {"s": scopes, "t": citizen, "k": "setuju-0001"}, token=staff)
        assert again["data"]["giveConsent"]["errors"] == [] and again["data"]["giveConsent"]["consent"]["id"]
        assert await counts(db) == consented
        other = await ikd_client.query(CONSENT, {"s": scopes[:1], "t": citizen, "k": "setuju-0001"}, token=staff)
        assert other["data"]["giveConsent"]["errors"] == [{"code": "IDEMPOTENCY_KEY_REUSED", "field": "clientKey"}]
        assert await counts(db) == consented

        with pytest.raises(Dropped):
            await flaky.query(REGISTER, {"p": "PKH", "t": citizen, "k": "daftar-0001"}, token=staff)
        registered = await counts(db)
        assert registered["Registration"] == 1
        again = await ikd_client.query(REGISTER, {"p": "PKH", "t": citizen, "k": "daftar-0001"}, token=staff)
        payload = again["data"]["registerHousehold"]
        assert payload["errors"] == [] and payload["created"] is True  # the first answer, as it was
        assert await counts(db) == registered
        other = await ikd_client.query(REGISTER, {"p": "SEMBAKO", "t": citizen, "k": "daftar-0001"}, token=staff)
        assert other["data"]["registerHousehold"]["errors"] == [{"code": "IDEMPOTENCY_KEY_REUSED",
                                                                 "field": "clientKey"}]
        assert await counts(db) == registered


async def test_two_copies_racing_make_one_appeal(village, db):
    """A client that gave up waiting and resent while the first copy was still running."""
    import asyncio

    evidence = (await upload(village.http, None)).json()["id"]
    answers = await asyncio.gather(*[village.query(FILE, {"i": appeal_input([evidence], "sanggah-balap-01")},
                                                   token=FACILITATOR) for _ in range(3)])
    payloads = [a["data"]["fileAppeal"] for a in answers]
    made = {p["appeal"]["id"] for p in payloads if p["appeal"]}
    assert len(made) == 1, payloads  # one appeal; the others replay it or are told to retry
    assert all(p["errors"] in ([], [{"code": "IDEMPOTENCY_KEY_IN_PROGRESS", "field": "clientKey"}])
               for p in payloads), payloads
    assert (await counts(db))["Appeal"] == 1
