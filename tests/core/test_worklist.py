"""The facilitator's worklist (issue 14 item 1) over GraphQL: the households of my villages with
where each stands (consent, decision and its failed reasons in id/en, informed or not, appeal),
filters, search, counts per village and state, masked NIKs, the access log; other villages and
other roles are refused with a typed error. Responses stay small (bytes per item measured)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixtures import seed
from perlinsos.db.models import AuditEvent, Notification, NotificationStatus, Person
from perlinsos.graphql.relay import to_global_id
from sqlalchemy import select

OPS = Path(__file__).resolve().parents[2] / "schema" / "operations"
WORKLIST = (OPS / "FacilitatorWorklist.graphql").read_text()
FAC, FAC_LATENG, REVIEWER = "staff:fac-k", "staff:fac-l", "staff:rev"


async def _world(db) -> dict:
    """Kemiren: 4 decided (not eligible, electricity), one of them reached by SMS, one appealing;
    one registered without consent or decision. Lateng: 2 decided. A facilitator of each village."""
    kemiren = await seed.registrations(db, "BWI-2025", 4, region=seed.KEMIREN)
    pending = await seed.registrations(db, "BWI-2025", 1, region=seed.KEMIREN, start=20, with_decision=False)
    lateng = await seed.registrations(db, "BWI-2025", 2, region=seed.LATENG, start=10)
    await seed.appeal(db, kemiren[1])
    async with db.write() as s:
        person = (await s.execute(select(Person.id).where(Person.nik == seed.nik(0)))).scalar_one()
        s.add(Notification(person_id=person, pilot_id=await seed.pilot_id(db, "BWI-2025"), decision_id=1,
                           channel="sms", template="DECISION_NOT_ELIGIBLE", status=NotificationStatus.DELIVERED,
                           idempotency_key="decision-1-sms-test"))
    await seed.staff(db, "fac-k", "FACILITATOR", seed.KEMIREN, pilot_code="BWI-2025")
    await seed.staff(db, "fac-l", "FACILITATOR", seed.LATENG, pilot_code="BWI-2025")
    await seed.staff(db, "rev", "REVIEWER", "35.10", pilot_code="BWI-2025")
    return {"kemiren": kemiren, "pending": pending, "lateng": lateng}


async def worklist(client, token: str = FAC, language: str | None = None, **variables) -> dict:
    return await client.query(WORKLIST, variables, token=token, language=language)


def _nodes(body: dict) -> list[dict]:
    return [e["node"] for e in body["data"]["worklist"]["edges"]]


async def test_my_villages_households_with_where_each_stands(client, db):
    w = await _world(db)
    body = await worklist(client)
    assert "errors" not in body, body
    nodes = _nodes(body)
    # Kemiren only: Lateng's households are not mine
    assert [n["id"] for n in nodes] == [to_global_id("Registration", i) for i in w["kemiren"] + w["pending"]]
    assert {n["village"] for n in nodes} == {seed.KEMIREN}
    assert [n["state"] for n in nodes] == ["INFORMED", "APPEAL_OPEN", "NOT_INFORMED", "NOT_INFORMED",
                                           "CONSENT_MISSING"]
    # NIKs masked as the identifier policy shows them to a facilitator; names to explain in person
    assert nodes[0]["nik"] == seed.nik(0)[:4] + "********" + seed.nik(0)[-4:]
    assert nodes[0]["name"] == "Warga Sintetis 0"
    assert [n["informed"] for n in nodes] == [True, False, False, False, False]
    # the failed reason in plain words, in Bahasa Indonesia by default and English on request
    assert nodes[2]["outcome"] == "NOT_ELIGIBLE"
    assert nodes[2]["failedReasons"] == [{"code": "ELECTRICITY_ABOVE_LIMIT", "text": (
        "Daya listrik rumah tercatat 2.200 VA, di atas batas 1.300 VA (sumber: PLN, per 1 Agustus 2025)")}]
    english = _nodes(await worklist(client, language="en"))
    assert english[2]["failedReasons"][0]["text"].startswith("Household electricity recorded at 2,200 VA")
    assert nodes[1]["appealStatus"] == "SUBMITTED" and nodes[1]["appealDeadline"]
    assert nodes[4]["outcome"] is None and nodes[4]["failedReasons"] == []
    # counts per village and state
    assert body["data"]["worklistCounts"] == [
        {"village": seed.KEMIREN, "state": s, "count": c}
        for s, c in (("CONSENT_MISSING", 1), ("NOT_INFORMED", 2), ("INFORMED", 1), ("APPEAL_OPEN", 1))]
    # the other village's facilitator sees theirs
    assert [n["village"] for n in _nodes(await worklist(client, FAC_LATENG))] == [seed.LATENG] * 2


async def test_filters_search_and_pages(client, db):
    w = await _world(db)
    ids = lambda body: [n["id"] for n in _nodes(body)]  # noqa: E731
    reg = lambda i: to_global_id("Registration", i)  # noqa: E731
    assert ids(await worklist(client, notInformed=True)) == [reg(w["kemiren"][1]), reg(w["kemiren"][2]),
                                                             reg(w["kemiren"][3])]
    assert ids(await worklist(client, outcome="ELIGIBLE")) == []
    assert len(ids(await worklist(client, outcome="NOT_ELIGIBLE"))) == 4
    assert ids(await worklist(client, village=seed.KEMIREN, search="sintetis 2")) == [reg(w["kemiren"][2]),
                                                                                     reg(w["pending"][0])]
    assert ids(await worklist(client, search="%")) == []  # a wildcard is a character, not "anything"
    # the open appeal's review is due within its deadline (14 days in the seed)
    assert ids(await worklist(client, appealDeadlineWithinDays=30)) == [reg(w["kemiren"][1])]
    assert ids(await worklist(client, appealDeadlineWithinDays=0)) == []
    first = await worklist(client, first=2)
    assert len(_nodes(first)) == 2 and first["data"]["worklist"]["pageInfo"]["hasNextPage"]
    rest = await worklist(client, first=10, after=first["data"]["worklist"]["pageInfo"]["endCursor"])
    assert ids(first) + ids(rest) == ids(await worklist(client))


async def test_other_villages_and_other_roles_are_refused(client, db):
    await _world(db)
    refused = await worklist(client, village=seed.LATENG)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FACILITATOR_OUT_OF_AREA"
    assert "desa/kelurahan tugas Anda" in refused["errors"][0]["message"]
    english = await worklist(client, village=seed.LATENG, language="en")
    assert english["errors"][0]["message"] == "This household lives outside the villages assigned to you."
    for token in (REVIEWER, "staff:nobody", f"citizen:{seed.nik(0)}"):
        body = await worklist(client, token)
        assert body["errors"][0]["extensions"]["code"] == "NOT_A_FACILITATOR", token
    assert (await worklist(client, None))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = await worklist(client, appealDeadlineWithinDays=-1)
    assert bad["errors"][0]["extensions"]["code"] == "DAYS_INVALID"


async def test_reading_the_worklist_is_in_each_households_access_log(client, db):
    await _world(db)
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert "errors" not in await worklist(client, first=2)
    async with db.read() as s:
        rows = (await s.execute(select(AuditEvent.subject_person_id, AuditEvent.purpose, AuditEvent.actor)
                                .where(AuditEvent.occurred_at >= before, AuditEvent.purpose == "worklist"))).all()
        shown = (await s.execute(select(Person.id).where(Person.nik.in_([seed.nik(0), seed.nik(1)])))).scalars()
    assert sorted(r.subject_person_id for r in rows) == sorted(shown)
    assert {r.actor for r in rows} == {"fac-k"}
    # the counts carry no one's data: nothing logged
    n = len(rows)
    assert "errors" not in await client.query("{ worklistCounts { count } }", token=FAC)
    async with db.read() as s:
        assert len((await s.execute(select(AuditEvent.id).where(AuditEvent.purpose == "worklist"))).all()) == n


async def test_a_page_stays_small(client, db):
    """Bytes per household for the default operation (FacilitatorWorklist.graphql), measured."""
    await seed.registrations(db, "BWI-2025", 50, region=seed.KEMIREN, start=100)
    await seed.staff(db, "fac-k", "FACILITATOR", seed.KEMIREN, pilot_code="BWI-2025")
    response = await client.post(WORKLIST, {}, token=FAC)
    body = response.json()
    items = len(body["data"]["worklist"]["edges"])
    per_item = len(json.dumps(body["data"]["worklist"]["edges"], separators=(",", ":")).encode()) / items
    print(f"worklist: {items} items, {len(response.content)} bytes in all, {per_item:.0f} bytes per item")
    assert items == 50 and per_item < 600
