"""Appeals at the village office (issue 14, item 3): a village operator records the appeal the NIK
owner brings in person — NIK and KK checked against the record, only in the operator's villages,
never for a third party; the owner's presence and KTP are recorded (no image), the appeal carries
channel VILLAGE_OFFICE and the operator's identity, reviewers see it, and the citizen sees it and
the operator's read of their record in `me`. Every refusal stores nothing."""

from __future__ import annotations

import pytest
from fixtures import seed, static_auth
from perlinsos.db.models import Appeal, AppealAttestation, AuditEvent, Notification, StaffAssignment
from sqlalchemy import func, select

A, C = seed.nik(0), seed.nik(1)  # both of Kemiren, on their own family cards
B = seed.nik(2, "351016")  # of Lateng
KK_A, KK_C = "3510150101000000", "3510150101000001"
FILE = """mutation($i: FileAppealInPersonInput!) { fileAppealInPerson(input: $i) {
  appeal { id status channel filedBy { subject issuer } attestations { kind attestedBy { subject } } evidence { id } }
  errors { code field message } } }"""
OPERATOR, OUTSIDE = "staff:operator-kemiren", "staff:operator-lateng"


def decision(number: int) -> str:
    from perlinsos.graphql.relay import to_global_id

    return to_global_id("Decision", number)


def form(**changes) -> dict:
    values = {"nik": A, "kk": KK_A, "decision": decision(1), "ground": "DATA_INCORRECT",
              "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
              "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN asli diperlihatkan.",
              "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900},
              "identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["SUPPORTING_DOCUMENT"]}}
    return values | changes


@pytest.fixture
async def office(client, db, pilot):
    await seed.registrations(db, pilot, 2)  # decisions 1 (A) and 2 (C), Kemiren
    await seed.registrations(db, pilot, 1, region=seed.LATENG, start=2)  # decision 3 (B), Lateng
    await seed.staff(db, "operator-kemiren", "VILLAGE_OPERATOR", seed.KEMIREN)
    await seed.staff(db, "operator-lateng", "VILLAGE_OPERATOR", seed.LATENG)
    await seed.staff(db, "pendamping", "FACILITATOR", seed.KEMIREN)
    await seed.staff(db, "reviewer", "REVIEWER", "35.10.15")
    return client


async def snapshot(db) -> tuple:
    """What a refusal must leave as it was."""
    async with db.read() as s:
        return tuple([(await s.execute(select(func.count()).select_from(t))).scalar_one()
                      for t in (Appeal, AppealAttestation, Notification, AuditEvent)])


async def test_an_operator_files_for_the_owner_at_the_counter_and_everyone_sees_it(office, db):
    data = await office.query(FILE, {"i": form()}, token=OPERATOR)
    payload = data["data"]["fileAppealInPerson"]
    assert payload["errors"] == [], data
    appeal = payload["appeal"]
    assert appeal["status"] == "SUBMITTED" and appeal["channel"] == "VILLAGE_OFFICE" and appeal["evidence"] == []
    assert appeal["filedBy"] == {"subject": "operator-kemiren", "issuer": static_auth.ISSUER}
    assert [(a["kind"], a["attestedBy"]["subject"]) for a in appeal["attestations"]] == [
        ("OWNER_PRESENT", "operator-kemiren"), ("KTP_SEEN", "operator-kemiren"),
        ("DOCUMENT_SEEN:SUPPORTING_DOCUMENT", "operator-kemiren")]

    # the reviewer of the district sees the channel, the operator and what they saw
    listed = await office.query('{ appeals(pilot: "BWI-2025") { nodes { id channel filedBy { subject } '
                                "attestations { kind } } } }", token="staff:reviewer")
    (node,) = listed["data"]["appeals"]["nodes"]
    assert node["id"] == appeal["id"] and node["channel"] == "VILLAGE_OFFICE"
    assert node["filedBy"] == {"subject": "operator-kemiren"} and len(node["attestations"]) == 3

    # the citizen sees their appeal, who filed it, and the operator's read of their record
    mine = await office.query("""{ me { appeals { id channel filedBy { subject } }
      dataAccessLog { nodes { action actor actorRole purpose } } } }""", token=f"citizen:{A}")
    me = mine["data"]["me"]
    assert me["appeals"] == [{"id": appeal["id"], "channel": "VILLAGE_OFFICE",
                              "filedBy": {"subject": "operator-kemiren"}}]
    seen = {(n["action"], n["actor"], n["actorRole"], n["purpose"]) for n in me["dataAccessLog"]["nodes"]}
    assert ("READ_PERSONAL_DATA", "operator-kemiren", "VILLAGE_OPERATOR", "appeal-in-person") in seen
    assert ("APPEAL_FILED", "operator-kemiren", "VILLAGE_OPERATOR", None) in seen
    async with db.read() as s:
        stored = (await s.execute(select(Appeal))).scalar_one()
        assert (stored.channel.value, stored.assisted_by, stored.assisted_by_issuer) == (
            "VILLAGE_OFFICE", "operator-kemiren", static_auth.ISSUER)
        # the citizen is told the appeal was received, as for any filing
        assert (await s.execute(select(func.count()).select_from(Notification).where(
            Notification.appeal_id == stored.id))).scalar_one() >= 1


@pytest.mark.parametrize(("token", "changes", "codes"), [
    # an operator of another village: refused before learning whose decision it is
    (OUTSIDE, {}, [("OPERATOR_OUT_OF_AREA", "decision")]),
    (OUTSIDE, {"nik": B, "kk": "3510160101000002"}, [("OPERATOR_OUT_OF_AREA", "decision")]),
    # the owner's NIK, but a KK that is not theirs
    (OPERATOR, {"kk": KK_C}, [("KK_MISMATCH", "kk")]),
    # C at the counter (their own NIK and KK) filing against A's decision: a third party
    (OPERATOR, {"nik": C, "kk": KK_C}, [("DECISION_NOT_FOUND", "decision")]),
    (OPERATOR, {"identityCheck": {"ownerPresent": True, "ktpSeen": False}}, [("IDENTITY_CHECK_REQUIRED",
                                                                              "identityCheck")]),
    (OPERATOR, {"identityCheck": {"ownerPresent": False, "ktpSeen": True}}, [("IDENTITY_CHECK_REQUIRED",
                                                                              "identityCheck")]),
    (OPERATOR, {"nik": "123", "kk": "12"}, [("NIK_INVALID", "nik"), ("KK_INVALID", "kk")]),
    (OPERATOR, {"identityCheck": {"ownerPresent": True, "ktpSeen": True, "documentsSeen": ["FOTO_TETANGGA"]}},
     [("DOCUMENT_KIND_INVALID", "identityCheck.documentsSeen")]),
    # without the document seen, the ground's evidence is missing, as in any filing
    (OPERATOR, {"identityCheck": {"ownerPresent": True, "ktpSeen": True}}, [("EVIDENCE_MISSING", "evidence")]),
    # only operators: not a facilitator, not the citizen themselves
    ("staff:pendamping", {}, [("NOT_A_VILLAGE_OPERATOR", None)]),
    (f"citizen:{A}", {}, [("NOT_A_VILLAGE_OPERATOR", None)]),
    (None, {}, [("UNAUTHENTICATED", None)]),
])
async def test_refusals_store_nothing(office, db, token, changes, codes):
    before = await snapshot(db)
    data = await office.query(FILE, {"i": form(**changes)}, token=token)
    payload = data["data"]["fileAppealInPerson"]
    assert payload["appeal"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == codes, data
    assert await snapshot(db) == before


async def test_a_kk_mismatch_is_explained_in_both_languages(office):
    for language, text in (("id", "Nomor KK tidak cocok"), ("en", "The family card (KK) number does not match")):
        data = await office.query(FILE, {"i": form(kk=KK_C)}, token=OPERATOR, language=language)
        (error,) = data["data"]["fileAppealInPerson"]["errors"]
        assert error["message"].startswith(text) and A not in error["message"]


async def test_the_national_office_assigns_village_operators(office, db):
    await seed.staff(db, "admin", "ADMIN", "35")
    assign = """mutation { assignStaff(input: {subject: "operator-baru", role: VILLAGE_OPERATOR,
      regionCode: "35.10.15.2004", pilot: "BWI-2025", issuer: "urn:perlinsos:test:static-auth"}) {
      assignment { role region { code } } errors { code } } }"""
    data = await office.query(assign, token="staff:admin")
    assert data["data"] and data["data"]["assignStaff"] == {
        "assignment": {"role": "VILLAGE_OPERATOR", "region": {"code": seed.KEMIREN}}, "errors": []}
    async with db.read() as s:
        roles = (await s.execute(select(StaffAssignment.role).where(
            StaffAssignment.subject == "operator-baru"))).scalars().all()
    assert [r.value for r in roles] == ["VILLAGE_OPERATOR"]
    # the new operator files in their village straight away (pilot-scoped assignment)
    data = await office.query(FILE, {"i": form()}, token="staff:operator-baru")
    assert data["data"]["fileAppealInPerson"]["errors"] == [], data


def test_the_cli_assigns_village_operators(database_url):
    from click.testing import CliRunner
    from perlinsos.cli import main

    env = {"PERLINSOS_DATABASE_URL": database_url, "PERLINSOS_NATIONAL_ISSUERS": "https://ikd.example"}
    result = CliRunner().invoke(main, ["staff", "assign", "--subject", "operator-1", "--role", "VILLAGE_OPERATOR",
                                       "--region", seed.KEMIREN], env=env)
    assert result.exit_code == 0, result.output
    assert f"operator-1 (https://ikd.example) VILLAGE_OPERATOR in {seed.KEMIREN}" in result.output
