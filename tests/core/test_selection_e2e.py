"""Stage 2 end to end: citizens of the IKD simulator register through GraphQL, selection runs with
the real criteria plugin over the simulator's consented facts, and every reason is explained."""

from __future__ import annotations

from collections import Counter

from perlinsos.registration import consent
from perlinsos.db.models import Decision
from perlinsos.pilots.store import get_pilot, pilot_context
from perlinsos.selection import run_selection
from sqlalchemy import func, select

SCOPES = list(consent.SCOPES)  # every scope: person and all facts
CONSENT = """mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) { errors { code } } }"""
REGISTER = """mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }"""
MY_DECISION = """{ me { registrations { decision { outcome version
  reasons { code verdict observed limit source asOf message } } decisionHistory { version } } } }"""


async def register_people(client, ikd, people) -> dict[str, str]:
    tokens = {}
    for person in people:
        token = ikd.sign_in(person["nik"])
        assert (await client.query(CONSENT, {"s": SCOPES}, token=token))["data"]["giveConsent"]["errors"] == []
        assert (await client.query(REGISTER, token=token))["data"]["registerHousehold"]["errors"] == []
        tokens[person["nik"]] = token
    return tokens


async def hooks_for(db, plugin_manager):
    async with db.read() as session:
        row = await get_pilot(session, "BWI-2025")
    return plugin_manager.for_pilot(pilot_context(row, plugin_manager))


async def test_selection_explains_every_decision_and_a_rerun_writes_nothing(ikd_client, ikd, db, plugin_manager):
    people = ikd.people(limit=20, role="HEAD")
    tokens = await register_people(ikd_client, ikd, people)
    hooks = await hooks_for(db, plugin_manager)
    summary = await run_selection(db, hooks, chunk_size=8)
    assert summary.processed == summary.decided == len(people)
    assert ikd.stats().get("POST /facts") == 3  # one batch per chunk of 8: 8, 8, 4

    for person in people:
        decision = (await ikd_client.query(MY_DECISION, token=tokens[person["nik"]]))["data"]["me"][
            "registrations"][0]["decision"]
        codes = Counter(r["code"] for r in decision["reasons"])
        assert len(codes) == 9 and set(codes.values()) == {1}  # every criterion (the consent rule, passed, is not shown)
        failed = sorted(r["code"] for r in decision["reasons"] if r["verdict"] == "FAIL")
        assert failed == sorted(person["pkh_reasons"]), person["nik"][-4:]
        assert decision["outcome"] == ("NOT_ELIGIBLE" if failed else "ELIGIBLE")
        for reason in decision["reasons"]:
            assert reason["message"] and reason["source"]
        if "ELECTRICITY_ABOVE_LIMIT" in failed:
            text = next(r["message"] for r in decision["reasons"] if r["code"] == "ELECTRICITY_ABOVE_LIMIT")
            assert "di atas batas 1.300 VA (sumber: PLN" in text

    again = await run_selection(db, hooks, chunk_size=8)
    assert again.decided == 0 and again.unchanged == len(people)
    async with db.read() as s:
        assert (await s.execute(select(func.count(Decision.id)))).scalar_one() == len(people)


async def test_a_source_down_means_pending_then_decided_on_the_next_run(ikd_client, ikd, db, plugin_manager):
    people = ikd.people(limit=4, role="HEAD")
    tokens = await register_people(ikd_client, ikd, people)
    hooks = await hooks_for(db, plugin_manager)
    ikd.set_fault("down", paths=("/facts",))
    first = await run_selection(db, hooks)
    assert first.outcomes == {"PENDING": len(people)}
    decision = (await ikd_client.query(MY_DECISION, token=tokens[people[0]["nik"]]))["data"]["me"][
        "registrations"][0]["decision"]
    unknown = [r for r in decision["reasons"] if r["verdict"] == "UNKNOWN"]
    assert len(unknown) == 6 and all("ditunda" in r["message"] for r in unknown)
    ikd.set_fault(None)
    second = await run_selection(db, hooks)
    assert second.decided == len(people) and "PENDING" not in second.outcomes
    history = (await ikd_client.query(MY_DECISION, token=tokens[people[0]["nik"]]))["data"]["me"][
        "registrations"][0]["decisionHistory"]
    assert [h["version"] for h in history] == [2, 1]


async def test_preview_a_lower_electricity_limit(ikd_client, ikd, db, plugin_manager):
    from fixtures import seed

    people = ikd.people(limit=30, role="HEAD")
    await register_people(ikd_client, ikd, people)
    await run_selection(db, await hooks_for(db, plugin_manager))
    await seed.staff(db, "admin", "ADMIN", "35", issuer=ikd.issuer)
    query = """query($s: JSON!) { selectionPreview(pilot: "BWI-2025", settings: $s) {
      preview { total failedReasons { code count } } errors { code message } } }"""
    admin = ikd.sign_in_staff("admin")

    async def electricity_failures(settings) -> int:
        data = (await ikd_client.query(query, {"s": settings}, token=admin))["data"]["selectionPreview"]
        assert data["errors"] == [], data
        return {r["code"]: r["count"] for r in data["preview"]["failedReasons"]}.get("ELECTRICITY_ABOVE_LIMIT", 0)

    current = await electricity_failures({})
    stricter = await electricity_failures({"criteria": {"electricity_limit_va": 450}})
    expected_now = sum("ELECTRICITY_ABOVE_LIMIT" in p["pkh_reasons"] for p in people)
    assert current == expected_now and stricter > current
    wrong = (await ikd_client.query(query, {"s": {"criteria": {"electricity_limit_va": "banyak"}}}, token=admin,
                                    language="en"))  # the validator's English prose: English message only
    error = wrong["data"]["selectionPreview"]["errors"][0]
    assert error["code"] == "SETTINGS_INVALID" and "electricity_limit_va" in error["message"]
