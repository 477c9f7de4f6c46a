"""The facilitator's and the village office's screens (see test_operations.py): assisted consent,
registration and appeal, the households of their villages, the worklist of those the channels did
not reach, an appeal brought to the village office in person, and a training pilot for their class
reset by the national office between classes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from conftest import PILOT
from fixtures import seed
from fixtures.screens import api, appeal_input, appellant, decided, op, run, select, upload  # noqa: F401 - fixtures
from perlinsos.db.models import Decision, Household, Person, Registration
from perlinsos.graphql.relay import to_global_id
from perlinsos.registration.consent import SCOPES
from sqlalchemy import select as sql_select


# --- facilitator -----------------------------------------------------------------------------------


async def test_facilitator_registers_and_appeals_for_a_citizen_and_lists_their_villages(api, db, plugin_manager,
                                                                                       ikd):
    person = appellant(ikd)
    await seed.staff(db, "pendamping", "FACILITATOR", person["region_code"], PILOT, issuer=ikd.issuer)
    facilitator, citizen = ikd.sign_in_staff("pendamping"), ikd.sign_in(person["nik"])
    assert "FACILITATOR" in (await run(api, "Viewer", token=facilitator))["viewer"]["roles"]
    on_behalf = {"citizenToken": citizen}
    consent = await run(api, "GiveConsent", {"scopes": list(SCOPES), "policyVersion": "2025-08", **on_behalf},
                        token=facilitator)
    assert consent["giveConsent"]["consent"]["assistedBy"] == "pendamping"
    registered = (await run(api, "RegisterHousehold", {"programme": "PKH", **on_behalf},
                            token=facilitator))["registerHousehold"]["registration"]
    assert (registered["channel"], registered["assistedBy"]) == ("ASSISTED", "pendamping")

    await select(api, ikd.sign_in_staff("kantor-pusat"))
    village = (await run(api, "VillageRegistrations", {"pilot": PILOT}, token=facilitator))["registrations"]
    (node,) = [edge["node"] for edge in village["edges"]]
    assert node["id"] == registered["id"] and node["region"]["code"] == person["region_code"]
    assert node["registrant"]["name"] == person["name"] and "*" in node["registrant"]["nik"]  # masked for staff
    assert "*" in node["household"]["kkNumber"] and node["decision"]["outcome"] == "NOT_ELIGIBLE"

    decision_id = (await run(api, "MyDecision", token=citizen))["me"]["registrations"][0]["decision"]["id"]
    evidence = await upload(api, facilitator, citizen_token=citizen)
    filed = (await run(api, "FileAppeal", {"input": appeal_input(decision_id, [evidence], citizen)},
                       token=facilitator))["fileAppeal"]["appeal"]
    assert filed["channel"] == "ASSISTED" and filed["status"] == "SUBMITTED"


async def test_facilitator_sees_who_was_not_reached_and_records_informing_them(api, db, decided, ikd):
    person = decided["person"]  # the SMS gateway is down: their decision reached the portal only
    await seed.staff(db, "pendamping-desa", "FACILITATOR", person["region_code"], PILOT, issuer=ikd.issuer)
    facilitator = ikd.sign_in_staff("pendamping-desa")
    listed = await run(api, "FacilitatorWorklist", {"notInformed": True}, token=facilitator)
    (node,) = [edge["node"] for edge in listed["worklist"]["edges"]]
    assert (node["name"], node["state"], node["outcome"]) == (person["name"], "NOT_INFORMED", "NOT_ELIGIBLE")
    assert "*" in node["nik"] and node["failedReasons"][0]["code"] == "ELECTRICITY_ABOVE_LIMIT"
    assert listed["worklistCounts"] == [{"village": person["region_code"], "state": "NOT_INFORMED", "count": 1}]
    record = {"id": node["id"], "informedAt": datetime.now(UTC).isoformat(), "how": "IN_PERSON",
              "note": "Dijelaskan di rumah.", "clientKey": "kunjungan-0001"}
    informed = (await run(api, "RecordInformed", {"input": record}, token=facilitator))["recordInformed"]
    assert informed["informed"]["registration"] == node["id"] and informed["informed"]["how"] == "IN_PERSON"
    after = await run(api, "FacilitatorWorklist", {"notInformed": True}, token=facilitator)
    assert after["worklist"]["edges"] == []
    assert after["worklistCounts"] == [{"village": person["region_code"], "state": "INFORMED", "count": 1}]


async def test_village_operator_records_an_appeal_brought_in_person(api, db, decided, ikd):
    person = decided["person"]
    await seed.staff(db, "operator-desa", "VILLAGE_OPERATOR", person["region_code"], PILOT, issuer=ikd.issuer)
    operator = ikd.sign_in_staff("operator-desa")
    decision_id = (await run(api, "MyDecision", token=decided["citizen"]))["me"]["registrations"][0]["decision"]["id"]
    form = {key: value for key, value in appeal_input(decision_id, []).items()
            if key not in ("evidence", "citizenToken")}
    form |= {"nik": person["nik"], "kk": person["kk_number"], "clientKey": "kantor-desa-0001",
             "identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["SUPPORTING_DOCUMENT"]}}
    filed = (await run(api, "FileAppealInPerson", {"input": form}, token=operator))["fileAppealInPerson"]["appeal"]
    assert (filed["channel"], filed["status"], filed["filedBy"]["subject"]) == ("VILLAGE_OFFICE", "SUBMITTED",
                                                                                "operator-desa")
    assert [a["kind"] for a in filed["attestations"]] == ["OWNER_PRESENT", "KTP_SEEN",
                                                          "DOCUMENT_SEEN:SUPPORTING_DOCUMENT"]
    again = (await run(api, "FileAppealInPerson", {"input": form}, token=operator))["fileAppealInPerson"]["appeal"]
    assert again["id"] == filed["id"]  # a retry after a dropped connection: the same appeal


# --- a training pilot (Bimtek) ---------------------------------------------------------------------


async def test_national_office_resets_a_training_pilot_between_classes(api, db, ikd):
    admin, now = ikd.sign_in_staff("kantor-pusat"), datetime.now(UTC)
    phases = {"registrationOpens": (now - timedelta(days=1)).isoformat(),
              "registrationCloses": (now + timedelta(days=30)).isoformat(),
              "appealOpens": (now - timedelta(days=1)).isoformat(),
              "appealCloses": (now + timedelta(days=60)).isoformat()}
    training = {"code": "LATIHAN-01", "name": "Bimtek operator desa Banyuwangi", "regions": ["35.10"],
                "programmes": ["PKH"], "phases": phases, "training": True,
                "plugins": [{"name": "ikd", "settings": {"issuer": ikd.issuer, "audience": ikd.audience,
                                                         "client_secret": ikd.client_secret}},
                            {"name": "appeals", "settings": {}}]}
    await run(api, "CreatePilot", {"input": training}, token=admin)
    # the class: a village operator of the training pilot records a made-up household's appeal
    await seed.staff(db, "operator-latihan", "VILLAGE_OPERATOR", seed.KEMIREN, "LATIHAN-01", issuer=ikd.issuer)
    operator, classroom = ikd.sign_in_staff("operator-latihan"), replace(api, pilot="LATIHAN-01")
    (reg,) = await seed.registrations(db, "LATIHAN-01", 1, start=400)
    async with db.read() as s:
        nik, kk, decision = (await s.execute(
            sql_select(Person.nik, Household.kk_number, Decision.id)
            .join(Registration, Registration.person_id == Person.id)
            .join(Household, Household.id == Registration.household_id)
            .join(Decision, Decision.registration_id == Registration.id).where(Registration.id == reg))).one()
    form = {key: value for key, value in appeal_input(to_global_id("Decision", decision), []).items()
            if key not in ("evidence", "citizenToken")}
    form |= {"nik": nik, "kk": kk, "clientKey": "latihan-sanggah-0001",
             "identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["SUPPORTING_DOCUMENT"]}}
    filed = (await run(classroom, "FileAppealInPerson", {"input": form}, token=operator))["fileAppealInPerson"]
    assert filed["appeal"]["channel"] == "VILLAGE_OFFICE"

    reset = (await run(api, "ResetTrainingPilot", {"code": "LATIHAN-01"}, token=admin))["resetTrainingPilot"]
    assert reset["pilot"]["code"] == "LATIHAN-01" and reset["pilot"]["training"] is True
    assert reset["deleted"] == {"registrations": 1, "consents": 0, "decisions": 1, "appeals": 1, "evidenceFiles": 0,
                                "notifications": 1, "selectionRuns": 0}  # the appeal's receipt
    # the next class sends the same request with the same key: a new request, not the deleted appeal
    again = await classroom.query(op("FileAppealInPerson"), {"input": form}, token=operator)
    assert again["data"]["fileAppealInPerson"]["appeal"] is None
    assert [e["code"] for e in again["data"]["fileAppealInPerson"]["errors"]] == ["DECISION_NOT_FOUND"]
    # the real pilot is never reset: refused, with nothing deleted
    refused = await api.query(op("ResetTrainingPilot"), {"code": PILOT}, token=admin)
    assert refused["data"]["resetTrainingPilot"]["deleted"] is None
    assert [e["code"] for e in refused["data"]["resetTrainingPilot"]["errors"]] == ["NOT_A_TRAINING_PILOT"]
