"""A training pilot (issue 14, item 5): created by an admin on the simulators only, its answers and
texts marked LATIHAN, left out of statistics, and reset to its start by an admin (GraphQL and CLI),
audited; any other pilot is refused with nothing changed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from fixtures import seed
from perlinsos.cli import main
from perlinsos.graphql.relay import from_global_id
from perlinsos.db.models import (Appeal, AuditEvent, ClientKey, Decision, EvidenceFile, Household, Notification, Person,
                                 Registration)
from sqlalchemy import func, select

ADMIN = "staff:admin"
CODE = "LATIHAN-01"
CREATE = """mutation($i: PilotInput!) { createPilot(input: $i) {
  pilot { code training } errors { code field message } } }"""
RESET = """mutation ResetTrainingPilot($code: String!) { resetTrainingPilot(code: $code) {
  pilot { code training } deleted { registrations consents decisions appeals evidenceFiles notifications
  selectionRuns } errors { code field message } } }"""
NOW = datetime.now(UTC)
PHASES = {"registrationOpens": (NOW - timedelta(days=1)).isoformat(),
          "registrationCloses": (NOW + timedelta(days=30)).isoformat(),
          "appealOpens": (NOW - timedelta(days=1)).isoformat(), "appealCloses": (NOW + timedelta(days=60)).isoformat()}


def training_input(ikd, **ikd_settings) -> dict:
    """A class in Banyuwangi (where the real pilot runs too: a training pilot takes no one's place)."""
    settings = {"issuer": ikd.issuer, "audience": ikd.audience, "client_secret": ikd.client_secret} | ikd_settings
    return {"code": CODE, "name": "Bimtek TOT pendamping Banyuwangi", "regions": ["35.10"], "programmes": ["PKH"],
            "phases": PHASES, "training": True,
            "plugins": [{"name": "ikd", "settings": settings},
                        {"name": "notify_sms", "settings": {"gateway_url": "http://127.0.0.1:8602",
                                                            "api_key": "dev-only-sms-key", "sender_id": "LATIHAN",
                                                            "portal_url": "http://127.0.0.1:8600"}}]}


@pytest.fixture
async def admin(client, db):
    await seed.staff(db, "admin", "ADMIN", "35")
    await seed.staff(db, "rev", "REVIEWER", "35.10", pilot_code="BWI-2025")
    return client


@pytest.fixture
async def trained(admin, ikd):
    data = await admin.data(CREATE, {"i": training_input(ikd)}, token=ADMIN)
    assert data["createPilot"] == {"pilot": {"code": CODE, "training": True}, "errors": []}
    return admin


async def counts(db) -> dict[str, int]:
    async with db.read() as s:
        return {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one()
                for m in (Registration, Decision, Appeal, EvidenceFile, Notification, AuditEvent)}


@pytest.mark.parametrize("given, field", [
    ({"issuer": "https://ikd.dukcapil.go.id"}, "plugins.ikd.issuer"),
    ({"person_api_url": "https://api.dukcapil.go.id/person"}, "plugins.ikd.person_api_url"),
])
async def test_a_training_pilot_refuses_a_real_identity_provider_and_stores_nothing(admin, ikd, db, given, field):
    before = await counts(db)
    data = await admin.data(CREATE, {"i": training_input(ikd, **given)}, token=ADMIN)
    assert data["createPilot"]["pilot"] is None
    assert [(e["code"], e["field"]) for e in data["createPilot"]["errors"]] == [("PILOT_INVALID", field)]
    assert (await admin.data(f'{{ pilot(code: "{CODE}") {{ code }} }}'))["pilot"] is None
    assert await counts(db) == before


async def test_a_training_pilot_refuses_a_real_sms_gateway_and_regional_sign_in(admin, ikd):
    i = training_input(ikd)
    i["plugins"][1]["settings"]["gateway_url"] = "https://sms.operator.co.id"
    errors = (await admin.data(CREATE, {"i": i}, token=ADMIN))["createPilot"]["errors"]
    assert [e["field"] for e in errors] == ["plugins.notify_sms.gateway_url"]
    i = training_input(ikd)
    i["plugins"] = i["plugins"][1:]  # no IKD simulator at all
    errors = (await admin.data(CREATE, {"i": i}, token=ADMIN))["createPilot"]["errors"]
    assert "plugins.ikd" in [e["field"] for e in errors]


def test_the_training_flag_is_fixed_once_created(database_url, tmp_path):
    """A real pilot turned training could be reset (its data deleted): loading may not change it."""
    from perlinsos.pilots.files import bundled_pilot_file

    runner = CliRunner()
    env = {"PERLINSOS_DATABASE_URL": database_url}
    assert runner.invoke(main, ["pilot", "load", str(bundled_pilot_file())], env=env).exit_code == 0
    bwi = tmp_path / "bwi.toml"
    bwi.write_text("training = true\n" + bundled_pilot_file().read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(main, ["pilot", "load", str(bwi)], env=env)
    assert result.exit_code == 1 and "training: whether a pilot is a training pilot is fixed" in result.output


async def test_answers_about_a_training_pilot_are_marked_and_it_has_no_statistics(trained):
    marked = await trained.post(f'{{ pilot(code: "{CODE}") {{ training }} }}', pilot=CODE)
    assert marked.status_code == 200 and marked.headers["X-Perlinsos-Training"] == "1"
    assert marked.json()["data"]["pilot"] == {"training": True}
    real = await trained.post('{ pilot(code: "BWI-2025") { training } }')
    assert "X-Perlinsos-Training" not in real.headers
    stats = await trained.data(f'{{ pilotStats(pilot: "{CODE}") {{ stats {{ pilot }} errors {{ code }} }} }}',
                               token=ADMIN)
    assert stats["pilotStats"] == {"stats": None, "errors": [{"code": "TRAINING_PILOT_NO_STATS"}]}
    real_stats = await trained.data('{ pilotStats(pilot: "BWI-2025") { stats { pilot } errors { code } } }',
                                    token=ADMIN)
    assert real_stats["pilotStats"]["stats"] == {"pilot": "BWI-2025"}


async def test_a_training_pilots_texts_say_latihan(trained, db, ikd):
    citizen = ikd.people(limit=1)[0]
    reg_id = await _citizen_with_decision(db, citizen["nik"])
    async with db.write() as s:
        d = (await s.execute(select(Decision.id).where(Decision.registration_id == reg_id))).scalar_one()
        person = (await s.execute(select(Person.id).where(Person.nik == citizen["nik"]))).scalar_one()
        pid = await _pilot_id(s)
        s.add(Notification(person_id=person, pilot_id=pid, decision_id=d, channel="portal", template="DECISION_NOT_ELIGIBLE",
                           language="id", status="DELIVERED", idempotency_key=f"t-{d}"))
    token = ikd.sign_in(citizen["nik"])
    inbox = "{ me { notifications { nodes { title body } } } }"
    for language, prefix in (("id", "LATIHAN: "), ("en", "TRAINING: ")):
        nodes = (await trained.data(inbox, token=token, pilot=CODE, language=language))["me"]["notifications"]["nodes"]
        assert nodes and all(n["title"].startswith(prefix) and n["body"].startswith(prefix) for n in nodes), nodes


async def test_an_admin_resets_a_training_pilot_and_only_it(trained, db):
    kept = await seed.registrations(db, "BWI-2025", 2)
    await seed.appeal(db, kept[0])
    regs = await seed.registrations(db, CODE, 3, start=100)
    appeal_id = await seed.appeal(db, regs[0])
    consent_id = await seed.consent(db, seed.nik(101))
    async with db.write() as s:
        await s.execute(Registration.__table__.update().where(Registration.id == regs[1]).values(consent_id=consent_id))
        s.add(EvidenceFile(appeal_id=appeal_id, kind="KTP", filename="ktp.jpg", content_type="image/jpeg",
                           size_bytes=10, sha256="a" * 64, uploaded_by="citizen"))
        d = (await s.execute(select(Decision.id).where(Decision.registration_id == regs[0]))).scalar_one()
        person = (await s.execute(select(Registration.person_id).where(Registration.id == regs[0]))).scalar_one()
        s.add(Notification(person_id=person, pilot_id=await _pilot_id(s), decision_id=d, channel="portal",
                           template="DECISION_NOT_ELIGIBLE", idempotency_key="reset-1"))
    before = await counts(db)

    reviewer = await trained.data(RESET, {"code": CODE}, token="staff:rev")
    assert reviewer["resetTrainingPilot"]["errors"][0]["code"] == "FORBIDDEN"
    refused = await trained.data(RESET, {"code": "BWI-2025"}, token=ADMIN)
    assert refused["resetTrainingPilot"] == {"pilot": None, "deleted": None,
                                             "errors": [{"code": "NOT_A_TRAINING_PILOT", "field": "pilot",
                                                         "message": refused["resetTrainingPilot"]["errors"][0]["message"]}]}
    assert "latihan" in refused["resetTrainingPilot"]["errors"][0]["message"]
    assert await counts(db) == before  # nothing changed, not even the audit log

    done = (await trained.data(RESET, {"code": CODE}, token=ADMIN))["resetTrainingPilot"]
    assert done["errors"] == [] and done["pilot"] == {"code": CODE, "training": True}
    assert done["deleted"] == {"registrations": 3, "consents": 1, "decisions": 3, "appeals": 1, "evidenceFiles": 1,
                               "notifications": 1, "selectionRuns": 0}
    after = await counts(db)
    assert after["registration"] == before["registration"] - 3 and after["appeal"] == before["appeal"] - 1
    assert after["audit_event"] > before["audit_event"]  # append-only: rows kept, the reset added
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Registration)
                                .where(Registration.id.in_(kept)))).scalar_one() == 2
        row = (await s.execute(select(AuditEvent).where(AuditEvent.action == "TRAINING_PILOT_RESET"))).scalar_one()
    assert (row.actor, row.entity_id) == ("admin", CODE)


IN_PERSON = """mutation($i: FileAppealInPersonInput!) { fileAppealInPerson(input: $i) { appeal { id channel }
  errors { code field } } }"""


async def test_a_client_key_sent_again_after_a_reset_is_a_new_request(admin, db, ikd):
    """The class repeats an exercise after a reset with the key it used before: the key's first
    answer (an appeal the reset deleted, whose id a new row may take) is never replayed; the
    request is refused as any new one would be, or done anew."""
    from perlinsos.graphql.relay import to_global_id

    i = training_input(ikd)
    i["plugins"].append({"name": "appeals", "settings": {}})  # the class practises appeals
    assert (await admin.data(CREATE, {"i": i}, token=ADMIN))["createPilot"]["errors"] == []
    trained = admin
    await seed.staff(db, "operator-latihan", "VILLAGE_OPERATOR", seed.KEMIREN, pilot_code=CODE, issuer=ikd.issuer)
    operator = ikd.sign_in_staff("operator-latihan")

    async def household(number: int) -> dict:
        (reg,) = await seed.registrations(db, CODE, 1, start=number)
        async with db.read() as s:
            nik, kk = (await s.execute(select(Person.nik, Household.kk_number).join(
                Household, Household.id == Person.household_id).join(
                Registration, Registration.person_id == Person.id).where(Registration.id == reg))).one()
            d = (await s.execute(select(Decision.id).where(Decision.registration_id == reg))).scalar_one()
        return {"nik": nik, "kk": kk, "decision": to_global_id("Decision", d), "ground": "DATA_INCORRECT",
                "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
                "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA (latihan).",
                "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900},
                "identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["SUPPORTING_DOCUMENT"]},
                "clientKey": "latihan-sanggah-01"}

    async def file(form: dict) -> dict:
        return (await trained.data(IN_PERSON, {"i": form}, token=operator, pilot=CODE))["fileAppealInPerson"]

    form = await household(300)
    first = await file(form)
    assert first["errors"] == [] and first["appeal"]["channel"] == "VILLAGE_OFFICE"
    assert (await file(form))["appeal"] == first["appeal"]  # before the reset: a retry, the same appeal

    reset = (await trained.data(RESET, {"code": CODE}, token=ADMIN))["resetTrainingPilot"]
    assert reset["errors"] == [] and reset["deleted"]["appeals"] == 1
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(ClientKey))).scalar_one() == 0

    again = await file(form)  # the same request: its decision is gone too, refused as any new request
    assert again["appeal"] is None and [e["code"] for e in again["errors"]] == ["DECISION_NOT_FOUND"]
    fresh = await file(await household(301))  # the exercise redone on new data, the same key
    assert fresh["errors"] == [] and fresh["appeal"]["channel"] == "VILLAGE_OFFICE"
    async with db.read() as s:
        appeal = await s.get(Appeal, from_global_id("Appeal", fresh["appeal"]["id"]))
        assert appeal is not None and appeal.channel.value == "VILLAGE_OFFICE"


def test_the_cli_resets_a_training_pilot_and_refuses_another(database_url, tmp_path):
    from perlinsos.pilots.files import bundled_pilot_file

    runner = CliRunner()
    env = {"PERLINSOS_DATABASE_URL": database_url}
    assert runner.invoke(main, ["pilot", "load", str(bundled_pilot_file())], env=env).exit_code == 0
    refused = runner.invoke(main, ["pilot", "reset-training", "BWI-2025"], env=env)
    assert refused.exit_code == 1 and "NOT_A_TRAINING_PILOT" in refused.output
    text = bundled_pilot_file().read_text(encoding="utf-8").replace('code = "BWI-2025"', 'code = "LATIHAN-02"')
    (tmp_path / "class.toml").write_text("training = true\n" + text, encoding="utf-8")
    assert runner.invoke(main, ["pilot", "load", str(tmp_path / "class.toml")], env=env).exit_code == 0
    done = runner.invoke(main, ["pilot", "reset-training", "LATIHAN-02"], env=env)
    assert done.exit_code == 0 and "training pilot LATIHAN-02 reset: registrations=0" in done.output


async def _pilot_id(session) -> int:
    from perlinsos.pilots.store import get_pilot

    return (await get_pilot(session, CODE)).id


async def _citizen_with_decision(db, nik: str) -> int:
    """A registration of the simulator's citizen ``nik`` in the training pilot, decided NOT_ELIGIBLE."""
    from perlinsos.db.models import Household, Outcome

    async with db.write() as s:
        hh = Household(kk_number="3510150101990001", region_code="35.10.15.2004")
        s.add(hh)
        await s.flush()
        person = Person(nik=nik, household_id=hh.id, name="Warga Latihan", birth_date=date(1980, 1, 1), sex="M",
                        region_code="35.10.15.2004")
        s.add(person)
        await s.flush()
        reg = Registration(pilot_id=await _pilot_id(s), programme="PKH", person_id=person.id, household_id=hh.id,
                           region_code="35.10.15.2004", channel="SELF")
        s.add(reg)
        await s.flush()
        s.add(Decision(registration_id=reg.id, version=1, outcome=Outcome.NOT_ELIGIBLE, criteria_versions={},
                       inputs_digest="0" * 64))
        return reg.id


async def test_demo_training_seats_a_class_and_prints_sign_in_cards(tmp_path, database_url, db):
    """`perlinsos demo --training --class-size 3`: the training pilot beside the demo's, one
    facilitator per seat in their household's village, and a card per seat saying what to type."""
    import csv
    import os
    import subprocess
    import sys

    from perlinsos.db.models import Pilot, StaffAssignment
    from perlinsos.idnumbers import is_valid_nik
    from test_demo import free_ports, port_free

    env = {k: v for k, v in os.environ.items()
           if k not in ("PERLINSOS_EXTRA_PLUGINS", "PERLINSOS_DISABLED_PLUGINS", "PERLINSOS_DEFAULT_PILOT")}
    api, ikd_port, sms = ports = free_ports(3)
    done = subprocess.run(
        [sys.executable, "-m", "perlinsos.cli", "demo", "--people", "200", "--no-script", "--exit-after-script",
         "--port", str(api), "--ikd-port", str(ikd_port), "--sms-port", str(sms), "--training", "--class-size", "3",
         "--cards", "kelas.csv"],
        cwd=tmp_path, env=env | {"PERLINSOS_DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(port_free(p) for p in ports), done.stdout
    assert "training pilot LATIHAN-DEMO: 3 seats, sign-in cards in kelas.csv" in done.stdout
    cards = list(csv.DictReader((tmp_path / "kelas.csv").open(encoding="utf-8")))
    assert [c["facilitator_staff_id"] for c in cards] == ["latihan-01", "latihan-02", "latihan-03"]
    assert all(is_valid_nik(c["citizen_nik"]) and c["village_code"].startswith("35.10.") for c in cards)
    async with db.read() as s:
        pilot = (await s.execute(select(Pilot).where(Pilot.code == "LATIHAN-DEMO"))).scalar_one()
        seats = (await s.execute(select(StaffAssignment.subject, StaffAssignment.region_code)
                                 .where(StaffAssignment.pilot_id == pilot.id, StaffAssignment.role == "FACILITATOR")
                                 .order_by(StaffAssignment.subject))).all()
    assert pilot.training and [tuple(r) for r in seats] == [(c["facilitator_staff_id"], c["village_code"])
                                                           for c in cards]
