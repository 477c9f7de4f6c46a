"""The built-in channel "through the facilitator" (issue 14 item 2), end to end with the IKD and SMS
simulators: a citizen without a phone (SMS UNDELIVERABLE) and one whose SMS the gateway reports
FAILED become tasks on their village facilitator's worklist; the facilitator records that they
explained it in person, and only then is the notification DELIVERED; the stats show the share
informed per channel and village. Refusals (typed, nothing stored): another village, twice with
another client key, a decision no longer current."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ikd_pilot_data
from fixtures import seed
from perlinsos.db.models import AuditEvent, Decision, Notification, Person, Registration
from perlinsos.db.types import utcnow
from perlinsos.graphql.relay import to_global_id
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.pilots.files import PilotFileError, parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.registration import consent
from perlinsos.selection import run_selection
from perlinsos.stats import pilot_stats
from perlinsos_notify_sms.reports import sign
from sqlalchemy import func, select, update

OPS = Path(__file__).resolve().parents[2] / "schema" / "operations"
WORKLIST = (OPS / "FacilitatorWorklist.graphql").read_text()
RECORD = (OPS / "RecordInformed.graphql").read_text()
SCOPES = list(consent.SCOPES)
GIVE = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
REGISTER = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'


@dataclass
class World:
    village: str
    silent: dict  # the citizen without a phone
    failing: dict  # the citizen whose SMS the gateway reports FAILED
    reached: dict  # the citizen whose SMS is delivered


async def _pilot(db, plugin_manager, ikd, sms_sim, **notification):
    data = ikd_pilot_data(ikd)
    data["plugins"]["notify_sms"] = {"gateway_url": sms_sim.url, "api_key": sms_sim.api_key,
                                     "sender_id": "PERLINSOS", "portal_url": "https://portal.test"}
    data["notification"] = notification
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))


@pytest.fixture
async def world(ikd, sms_sim, db, plugin_manager, ikd_client) -> World:
    await _pilot(db, plugin_manager, ikd, sms_sim, channels=["sms", "facilitator"])
    heads = ikd.people(limit=200, role="HEAD")
    silent = next(p for p in heads if not p["phone"])
    village = silent["region_code"]
    # from the end of the population: the SMS gateway is the session's, other tests count the first ones' texts
    others = [p for p in reversed(heads) if p["phone"] and not p["phone_invalid"] and p["nik"] != silent["nik"]][:2]
    for person in [silent, *others]:
        token = ikd.sign_in(person["nik"])
        assert (await ikd_client.query(GIVE, {"s": SCOPES}, token=token))["data"]["giveConsent"]["errors"] == []
        assert (await ikd_client.query(REGISTER, token=token))["data"]["registerHousehold"]["errors"] == []
    async with db.read() as session:
        context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
    await run_selection(db, plugin_manager.for_pilot(context))
    await seed.staff(db, "fac", "FACILITATOR", village, pilot_code="BWI-2025")
    await seed.staff(db, "fac-away", "FACILITATOR", "35.10.99.9999" if village != "35.10.99.9999" else "35.10.01",
                     pilot_code="BWI-2025")
    for person in others:  # the facilitator's worklist covers all three: their villages are theirs too
        await seed.staff(db, "fac", "FACILITATOR", person["region_code"], pilot_code="BWI-2025")
    await Dispatcher(db, plugin_manager, portal_url="https://portal.test", policy=Policy(base_delay=0.0)).drain()
    return World(village=village, silent=silent, failing=others[0], reached=others[1])


async def _rows(db, nik: str) -> dict[str, tuple[str, int]]:
    async with db.read() as s:
        rows = (await s.execute(select(Notification.channel, Notification.status, Notification.id)
                                .join(Person, Person.id == Notification.person_id).where(Person.nik == nik))).all()
    return {c: (st.value, i) for c, st, i in rows}


async def _report(client, db, nik: str, status: str, key: str) -> int:
    async with db.read() as s:
        reference = (await s.execute(select(Notification.provider_reference)
                                     .join(Person, Person.id == Notification.person_id)
                                     .where(Person.nik == nik, Notification.channel == "sms"))).scalar_one()
    body = json.dumps({"message_id": reference, "status": status}).encode()
    answer = await client.http.post("/plugins/notify_sms/delivery-reports", content=body,
                                    headers={"X-Signature": sign(body, key), "Content-Type": "application/json"})
    return answer.status_code


def _record(task: str, key: str, how: str = "IN_PERSON", when: datetime | None = None) -> dict:
    return {"input": {"id": task, "informedAt": (when or datetime.now(UTC)).isoformat(), "how": how,
                      "note": "Dijelaskan di balai desa bersama anaknya.", "clientKey": key}}


async def test_a_citizen_without_a_phone_is_informed_through_the_facilitator(world, ikd_client, db, sms_sim):
    silent, failing, reached = world.silent, world.failing, world.reached
    # no phone: the SMS is undeliverable, and the decision is a task for the village's facilitator
    rows = await _rows(db, silent["nik"])
    assert rows["sms"][0] == "UNDELIVERABLE" and rows["facilitator"][0] == "SENT"
    assert "facilitator" not in await _rows(db, failing["nik"])  # its SMS went out: no task (yet)
    # the gateway reports one SMS FAILED, the other DELIVERED: only the failed one becomes a task
    assert await _report(ikd_client, db, failing["nik"], "FAILED", sms_sim.api_key) == 200
    assert await _report(ikd_client, db, reached["nik"], "DELIVERED", sms_sim.api_key) == 200
    assert (await _rows(db, failing["nik"]))["facilitator"][0] == "SENT"
    assert "facilitator" not in await _rows(db, reached["nik"])

    body = await ikd_client.query(WORKLIST, {"notInformed": True}, token="staff:fac")
    assert "errors" not in body, body
    nodes = {n["name"]: n for n in (e["node"] for e in body["data"]["worklist"]["edges"])}
    assert set(nodes) == {silent["name"], failing["name"]}
    assert {n["nik"] for n in nodes.values()} == {p["nik"][:4] + "********" + p["nik"][-4:] for p in (silent, failing)}
    task = nodes[silent["name"]]["task"]
    assert task == to_global_id("Notification", rows["facilitator"][1])
    assert nodes[silent["name"]]["state"] == "NOT_INFORMED" and nodes[silent["name"]]["outcome"]
    failing_task = (await _rows(db, failing["nik"]))["facilitator"][1]
    assert nodes[failing["name"]]["task"] == to_global_id("Notification", failing_task)

    # another village's facilitator: refused, nothing stored
    away = await ikd_client.query(RECORD, _record(task, "away-key-1"), token="staff:fac-away")
    assert away["data"]["recordInformed"] == {"informed": None, "errors": [
        {"code": "FACILITATOR_OUT_OF_AREA", "message": "Keluarga ini tinggal di luar desa/kelurahan tugas Anda.",
         "field": "id"}]}
    assert (await _rows(db, silent["nik"]))["facilitator"][0] == "SENT"

    done = await ikd_client.query(RECORD, _record(task, "visit-0001"), token="staff:fac")
    assert done["data"]["recordInformed"]["errors"] == [], done
    informed = done["data"]["recordInformed"]["informed"]
    assert informed["notification"] == task and informed["how"] == "IN_PERSON"
    assert (await _rows(db, silent["nik"]))["facilitator"][0] == "DELIVERED"
    # retried after a dropped connection: the same answer, nothing doubled
    again = await ikd_client.query(RECORD, _record(task, "visit-0001", how="PHONE_CALL"), token="staff:fac")
    assert again["data"]["recordInformed"] == done["data"]["recordInformed"]
    # a second record with another key: refused
    twice = await ikd_client.query(RECORD, _record(task, "visit-0002"), token="staff:fac", language="en")
    assert [e["code"] for e in twice["data"]["recordInformed"]["errors"]] == ["ALREADY_INFORMED"]
    async with db.read() as s:
        audited = (await s.execute(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.action == "HOUSEHOLD_INFORMED"))).scalar_one()
        tasks = (await s.execute(select(func.count()).select_from(Notification)
                                 .where(Notification.channel == "facilitator"))).scalar_one()
    assert (audited, tasks) == (1, 2)

    # the worklist says so
    body = await ikd_client.query(WORKLIST, {"search": silent["name"]}, token="staff:fac")
    node = next(e["node"] for e in body["data"]["worklist"]["edges"] if e["node"]["name"] == silent["name"])
    assert (node["state"], node["informed"], node["task"]) == ("INFORMED", True, None)

    # the stats: the share informed per channel, in the pilot and in the village
    stats = await pilot_stats(db, "BWI-2025", min_cell=1)
    facilitator = next(c for c in stats.overall.notifications if c.channel == "facilitator")
    assert facilitator.total.count == 2
    assert {r.key: r.rate for r in facilitator.rates}["DELIVERED"] == 0.5
    village = next(r for r in stats.villages if r.region_code == world.village)
    shares = {c.channel: {s.key: s.count for s in c.statuses} for c in village.notifications}
    assert shares["facilitator"]["DELIVERED"] == 1 and shares["sms"]["UNDELIVERABLE"] >= 1
    # ... and over GraphQL, where cells this small are suppressed but the channel is listed
    await seed.staff(db, "admin", "ADMIN", "35")
    figures = (await ikd_client.query((OPS / "PilotStats.graphql").read_text(), {"pilot": "BWI-2025"},
                                      token="staff:admin"))["data"]["pilotStats"]["stats"]
    assert "facilitator" in [c["channel"] for c in figures["overall"]["notifications"]]


async def test_a_decision_replaced_meanwhile_is_not_recorded(world, ikd_client, db):
    _, task_id = (await _rows(db, world.silent["nik"]))["facilitator"]
    async with db.write() as s:
        old = (await s.execute(select(Decision).join(Registration, Registration.id == Decision.registration_id)
                               .join(Person, Person.id == Registration.person_id)
                               .where(Person.nik == world.silent["nik"], Decision.is_current))).scalar_one()
        await s.execute(update(Decision).where(Decision.id == old.id).values(is_current=False, superseded_at=utcnow()))
        s.add(Decision(registration_id=old.registration_id, version=old.version + 1, outcome=old.outcome,
                       criteria_versions={}, inputs_digest="1" * 64, cause="APPEAL"))
    task = to_global_id("Notification", task_id)
    body = await ikd_client.query(RECORD, _record(task, "late-visit-1"), token="staff:fac")
    assert [e["code"] for e in body["data"]["recordInformed"]["errors"]] == ["DECISION_NOT_CURRENT"]
    # nor a time in the future, a short client key, or a facilitator of no village of the pilot
    future = _record(task, "future-visit", when=datetime.now(UTC) + timedelta(days=1))
    assert [e["code"] for e in (await ikd_client.query(RECORD, future, token="staff:fac"))
            ["data"]["recordInformed"]["errors"]] == ["INFORMED_AT_INVALID"]
    assert [e["code"] for e in (await ikd_client.query(RECORD, _record(task, "k"), token="staff:fac"))
            ["data"]["recordInformed"]["errors"]] == ["CLIENT_KEY_INVALID"]
    assert [e["code"] for e in (await ikd_client.query(RECORD, _record(task, "nobody-key"), token="staff:nobody"))
            ["data"]["recordInformed"]["errors"]] == ["NOT_A_FACILITATOR"]
    assert (await _rows(db, world.silent["nik"]))["facilitator"][0] == "SENT"  # nothing stored
    # the current decision (by its registration) can be recorded: a new record, DELIVERED
    async with db.read() as s:
        registration = (await s.execute(select(Registration.id).join(Person, Person.id == Registration.person_id)
                                        .where(Person.nik == world.silent["nik"]))).scalar_one()
    body = await ikd_client.query(RECORD, _record(to_global_id("Registration", registration), "visit-current",
                                                  how="VILLAGE_MEETING"), token="staff:fac")
    assert body["data"]["recordInformed"]["errors"] == [], body
    statuses = Counter(st for ch, (st, _) in (await _rows(db, world.silent["nik"])).items())
    assert statuses["DELIVERED"] >= 1


async def test_an_admin_edit_of_the_pilot_keeps_its_channel_order(ikd, sms_sim, db, plugin_manager, ikd_client):
    await _pilot(db, plugin_manager, ikd, sms_sim, channels=["sms", "facilitator"])
    await seed.staff(db, "admin", "ADMIN", "35")
    body = await ikd_client.query('mutation { updatePilot(code: "BWI-2025", input: {name: "Uji coba Banyuwangi 2"}) '
                                  "{ pilot { code } errors { code } } }", token="staff:admin")
    assert body["data"]["updatePilot"]["errors"] == [], body
    async with db.read() as session:
        assert (await get_pilot(session, "BWI-2025")).notification == {"channels": ["sms", "facilitator"]}


def test_the_channel_order_is_validated(plugin_manager):
    from fixtures.pilots import pilot_data

    for channels in (["sms", "sms"], ["portal"], ["SMS!"]):
        with pytest.raises(PilotFileError) as refused:
            parse_pilot(pilot_data() | {"notification": {"channels": channels}}, plugin_manager)
        assert refused.value.problems[0][0] == "notification.channels"
    assert parse_pilot(pilot_data() | {"notification": {"channels": ["sms", "facilitator"]}},
                       plugin_manager).notification.channels == ["sms", "facilitator"]
