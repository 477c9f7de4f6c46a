"""Rate limits of what costs money or storage (issue 15, item 6): evidence uploads, appeal filing
(a file-and-withdraw loop), consent and the SMS a filing queues — per citizen and per facilitator,
set in the pilot file, shared by every process on one database; a refusal is RATE_LIMITED with a
retry-after (HTTP 429 and ``Retry-After`` on ``/evidence``) and stores nothing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
import pytest
from conftest import GraphQLClient, ikd_pilot_data
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.appeals.evidence.storage import local_storage
from perlinsos.db.models import Appeal, AuditEvent, Consent, EvidenceFile, Notification, Pilot, RateLimitWindow
from perlinsos.pilots.files import bundled_pilot_file, load_pilot_file, parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.registration import consent as consent_flow
from sqlalchemy import func, select

from test_pilots import pilot_count, run_cli

OWNER, SECOND, THIRD = seed.nik(0), seed.nik(1), seed.nik(2)
DAY = 24 * 60 * 60
FILE = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id } errors { code message retryAfter } } }"""
WITHDRAW = "mutation($id: ID!) { withdrawAppeal(id: $id) { errors { code } } }"
DECISION = "{ me { registrations { decision { id } } } }"
CONSENT = """mutation($s: [String!]!, $citizenToken: String) { giveConsent(input: {scopes: $s, policyVersion: "1",
  citizenToken: $citizenToken}) { consent { id } errors { code message retryAfter } } }"""


def pdf(i: int) -> bytes:
    """A distinct small PDF per ``i`` (the same bytes twice would be the same file)."""
    return b"%PDF-1.4\n1 0 obj <<>> endobj\n% " + str(i).encode() + b"\ntrailer <<>>\n%%EOF\n"


async def set_limits(db, plugin_manager, limits: dict, data=None) -> None:
    async with db.write() as session:
        await save_pilot(session, parse_pilot((data or pilot_data()) | {"limits": limits}, plugin_manager))


@pytest.fixture
async def people(db, pilot):
    """Three citizens of Kemiren with a NOT_ELIGIBLE decision each, and two of its facilitators."""
    await seed.registrations(db, pilot, 3, region=seed.KEMIREN)
    await seed.staff(db, "pendamping-1", "FACILITATOR", seed.KEMIREN)
    await seed.staff(db, "pendamping-2", "FACILITATOR", seed.KEMIREN)


async def upload(client, i: int, token: str = f"citizen:{OWNER}", citizen: str | None = None,
                 language: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": "BWI-2025", "Content-Type": "application/pdf",
               "X-Evidence-Kind": "SUPPORTING_DOCUMENT"}
    if citizen:
        headers["X-Citizen-Token"] = f"citizen:{citizen}"
    if language:
        headers["Accept-Language"] = language
    return await client.http.post("/evidence", content=pdf(i), headers=headers)


async def stored(db, settings) -> tuple[int, int, list]:
    async with db.read() as s:
        count = (await s.execute(select(func.count(EvidenceFile.id)))).scalar_one()
    store = local_storage(settings.evidence_dir)
    return count, len(list(store.objects())), store.temp_files()


def limited(response: httpx.Response, window: int = DAY) -> dict:
    assert response.status_code == 429, response.text
    retry = int(response.headers["Retry-After"])
    assert 0 < retry <= window
    (first,) = response.json()["errors"]  # the one error shape of every route (docs/errors.md)
    error = {"message": first["message"], **first["extensions"]}
    assert error["code"] == "RATE_LIMITED" and error["retryAfter"] == retry
    return error


# --- evidence uploads ---------------------------------------------------------------------------


async def test_uploads_over_a_citizens_limit_get_429_with_retry_after_and_store_nothing(
        client, db, plugin_manager, people, settings):
    await set_limits(db, plugin_manager, {"evidence_upload": {"citizen": 3, "window_seconds": 3600}})
    assert [(await upload(client, i)).status_code for i in range(3)] == [201, 201, 201]
    before = await stored(db, settings)
    error = limited(await upload(client, 3), window=3600)
    assert "coba lagi dalam" in error["message"] and "unggah berkas bukti" in error["message"]
    assert "try again in" in limited(await upload(client, 4, language="en"), window=3600)["message"]
    assert await stored(db, settings) == before == (3, 3, [])
    # the limit is the citizen's: another citizen uploads as before
    assert (await upload(client, 5, token=f"citizen:{SECOND}")).status_code == 201


async def test_a_facilitator_has_a_higher_limit_of_their_own_and_the_citizens_still_applies(
        client, db, plugin_manager, people, settings):
    await set_limits(db, plugin_manager, {"evidence_upload": {"citizen": 2, "facilitator": 3}})
    fac = "staff:pendamping-1"
    assert [(await upload(client, i, fac, OWNER)).status_code for i in range(2)] == [201, 201]
    limited(await upload(client, 2, fac, OWNER))                  # the citizen's limit: 2
    assert (await upload(client, 3, fac, SECOND)).status_code == 201  # the facilitator's 3rd
    limited(await upload(client, 4, fac, THIRD))                  # the facilitator's limit: 3
    assert (await upload(client, 5, "staff:pendamping-2", THIRD)).status_code == 201  # per staff subject
    assert (await stored(db, settings))[0] == 4


# --- appeals and the SMS a filing queues ---------------------------------------------------------


async def file(client, token: str, decision: str, evidence: str) -> dict:
    values = {"decision": decision, "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
              "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
              "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900}, "evidence": [evidence]}
    return (await client.query(FILE, {"i": values}, token=token))["data"]["fileAppeal"]


async def appeal_counts(db) -> tuple[int, int, int]:
    async with db.read() as s:
        return ((await s.execute(select(func.count(Appeal.id)))).scalar_one(),
                (await s.execute(select(func.count(Notification.id)))).scalar_one(),
                (await s.execute(select(func.count(EvidenceFile.id)).where(EvidenceFile.appeal_id.is_not(None))))
                .scalar_one())


@pytest.mark.parametrize(("limits", "action"), [
    ({"appeal": {"citizen": 2}}, "pengajuan sanggah"),
    ({"notification": {"citizen": 2}}, "pemberitahuan (SMS)"),  # each filing queues an SMS
])
async def test_a_file_and_withdraw_loop_stops_at_the_limit(client, db, plugin_manager, people, limits, action):
    await set_limits(db, plugin_manager, limits)
    token = f"citizen:{OWNER}"
    decision = (await client.query(DECISION, token=token))["data"]["me"]["registrations"][0]["decision"]["id"]
    for i in range(2):
        filed = await file(client, token, decision, (await upload(client, i)).json()["id"])
        assert filed["errors"] == [], filed
        assert (await client.query(WITHDRAW, {"id": filed["appeal"]["id"]}, token=token)
                )["data"]["withdrawAppeal"]["errors"] == []
    before = await appeal_counts(db)
    refused = await file(client, token, decision, (await upload(client, 2)).json()["id"])
    assert refused["appeal"] is None
    (error,) = refused["errors"]
    assert error["code"] == "RATE_LIMITED" and 0 < error["retryAfter"] <= DAY and action in error["message"]
    assert await appeal_counts(db) == before  # no appeal, no SMS queued, the file not attached


# --- consent --------------------------------------------------------------------------------------


async def test_consent_repeats_count_too(ikd_client, ikd, db, plugin_manager):
    await set_limits(db, plugin_manager, {"consent": {"citizen": 2}}, ikd_pilot_data(ikd))
    token = ikd.sign_in(ikd.people(limit=1, role="HEAD")[0]["nik"])
    scopes = list(consent_flow.SCOPES)
    given = [(await ikd_client.query(CONSENT, {"s": scopes}, token=token))["data"]["giveConsent"] for _ in range(3)]
    assert given[0]["errors"] == given[1]["errors"] == [] and given[0]["consent"] == given[1]["consent"]
    (error,) = given[2]["errors"]
    assert error["code"] == "RATE_LIMITED" and error["retryAfter"] > 0 and given[2]["consent"] is None
    async with db.read() as s:
        assert (await s.execute(select(func.count(Consent.id)))).scalar_one() == 1
        actions = sorted((await s.execute(select(AuditEvent.action).where(
            AuditEvent.action.like("CONSENT_%")))).scalars())
    assert actions == ["CONSENT_GIVEN", "CONSENT_REPEATED"]  # the refused third wrote nothing


# --- pilot files --------------------------------------------------------------------------------------


def test_limits_are_validated_when_a_pilot_file_is_loaded(database_url, tmp_path):
    path = tmp_path / "pilot.toml"
    base = bundled_pilot_file().read_text(encoding="utf-8")
    for table, field, message in [("[limits.appeal]\ncitizen = 0\n", "limits.appeal.citizen", "greater than"),
                                  ("[limits.appeal]\nper_hour = 5\n", "limits.appeal.per_hour", "unknown field"),
                                  ("[limits.sms_blast]\ncitizen = 5\n", "limits.sms_blast", "unknown field"),
                                  ("[limits.consent]\nwindow_seconds = 5\n", "limits.consent.window_seconds", "60")]:
        path.write_text(base + table, encoding="utf-8")
        result = run_cli(["pilot", "load", str(path)], database_url)
        assert result.exit_code == 1 and f"{field}:" in result.output and message in result.output, result.output
    assert pilot_count(database_url) == 0


async def test_limits_from_a_toml_pilot_file_apply_and_survive_an_update(client, db, plugin_manager, people, tmp_path):
    path = tmp_path / "pilot.toml"
    path.write_text(bundled_pilot_file().read_text(encoding="utf-8") + "\n[plugins.static_auth]\n"
                    "\n[limits.evidence_upload]\ncitizen = 1\nwindow_seconds = 600\n", encoding="utf-8")
    async with db.write() as session:
        await save_pilot(session, load_pilot_file(path, plugin_manager))
    assert (await upload(client, 0)).status_code == 201
    limited(await upload(client, 1), window=600)
    # an admin's update of something else keeps them
    await seed.staff(db, "admin", "ADMIN", "35")
    update = 'mutation { updatePilot(code: "BWI-2025", input: {name: "Uji coba Banyuwangi"}) { errors { code } } }'
    assert (await client.query(update, token="staff:admin"))["data"]["updatePilot"]["errors"] == []
    async with db.read() as s:
        assert (await s.execute(select(Pilot.limits))).scalar_one() == {
            "evidence_upload": {"citizen": 1, "window_seconds": 600}}
    limited(await upload(client, 2), window=600)


# --- across processes, and old windows ------------------------------------------------------------------


async def test_two_app_instances_on_one_database_accept_exactly_the_limit(
        db, plugin_manager, people, settings):
    """Two apps, each with its own engine and connections (as two processes would have), hit one
    citizen's limit at once: the database's atomic count lets exactly the limit through."""
    limit, attempts = 5, 24
    await set_limits(db, plugin_manager, {"evidence_upload": {"citizen": limit}})
    settings = replace(settings, max_evidence_files=attempts)  # only the rate limit stops uploads here
    apps = [create_app(settings, plugin_manager) for _ in range(2)]
    clients = [GraphQLClient(httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://perlinsos.test"))
               for a in apps]
    try:
        responses = await asyncio.gather(*(upload(clients[i % 2], i) for i in range(attempts)))
    finally:
        for c, a in zip(clients, apps, strict=True):
            await c.http.aclose()
            await a.state.perlinsos.db.dispose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * limit + [429] * (attempts - limit), statuses
    assert (await stored(db, settings))[:2] == (limit, limit)


async def test_ended_windows_are_deleted_when_a_new_one_opens(client, db, plugin_manager, people):
    past = int(time.time()) - 2 * DAY
    async with db.write() as s:
        s.add_all([RateLimitWindow(pilot_id=1, action="appeal", role="citizen", issuer="urn:x", subject=f"s{i}",
                                   window_start=past, count=3, expires_at=past + DAY) for i in range(3)])
    assert (await upload(client, 0)).status_code == 201
    async with db.read() as s:
        rows = (await s.execute(select(RateLimitWindow.action, RateLimitWindow.count))).all()
    assert rows == [("evidence_upload", 1)]
