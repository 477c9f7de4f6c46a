"""Several reviewers on one appeal at once, through two real API servers (``perlinsos serve``)
on one database: exactly one claim wins and every other reviewer gets a clear error code; the
winner's resolution, double-submitted to both servers while the others try to resolve too, is
applied once (one new decision version, one audit event, one notification).

tests/core/test_appeals.py has two claims at once in one process (ASGI transport); here the
requests race across processes, each with its own connection pool, as behind a load balancer."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import scale_support
from conftest import ikd_pilot_data
from fixtures import seed
from perlinsos.registration import consent
from perlinsos.db.models import Appeal, AppealStatus, AuditEvent, Decision, Notification
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.selection import run_selection
from scale_support import Processes, graphql, problems_in
from sqlalchemy import select

database_url = scale_support.database_url  # a database of this test's own (the fixture)
REVIEWERS = 6
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CONSENT = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
REGISTER = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
MINE = "{ me { registrations { decision { id } } } }"
FILE = "mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id status } errors { code } } }"
CLAIM = "mutation($id: ID!) { claimAppeal(id: $id) { appeal { status } errors { code } } }"
RESOLVE = """mutation($i: ResolveAppealInput!) { resolveAppeal(input: $i) { appeal { status }
  errors { code } } }"""


def codes(answer: dict, field: str) -> tuple[str, ...]:
    return tuple(e["code"] for e in answer["data"][field]["errors"])


async def test_reviewers_racing_on_two_servers_one_claim_wins_one_resolution_applies(
        database_url, db, plugin_manager, ikd, tmp_path):
    data = ikd_pilot_data(ikd)
    data["plugins"]["ikd"]["timeout_seconds"] = 20.0
    del data["plugins"]["static_auth"]  # IKD is the identity provider here, as in production
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    person = ikd.people(limit=1, role="HEAD", error="ELECTRICITY_MISRECORDED")[0]
    citizen = ikd.sign_in(person["nik"])
    subjects = [f"rev-{n}" for n in range(REVIEWERS)]
    for subject in subjects:
        await seed.staff(db, subject, "REVIEWER", person["region_code"][:8], issuer=ikd.issuer)
    reviewers = {s: ikd.sign_in_staff(s) for s in subjects}
    procs = Processes(database_url, tmp_path)
    answers: list[dict] = []
    try:
        servers = [procs.server("api-a"), procs.server("api-b")]
        a = servers[0].url
        async with httpx.AsyncClient(timeout=60) as http:
            # the citizen registers, is selected (NOT_ELIGIBLE on a misrecorded 2,200 VA) and appeals
            assert codes(await graphql(http, a, CONSENT, {"s": list(consent.SCOPES)}, token=citizen),
                         "giveConsent") == ()
            assert codes(await graphql(http, a, REGISTER, token=citizen), "registerHousehold") == ()
            async with db.read() as session:
                context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
            await run_selection(db, plugin_manager.for_pilot(context))
            decision = (await graphql(http, a, MINE, token=citizen))["data"]["me"]["registrations"][0]["decision"]
            uploaded = await http.post(f"{a}/evidence", content=PDF, headers={
                "Authorization": f"Bearer {citizen}", "X-Perlinsos-Pilot": "BWI-2025",
                "Content-Type": "application/pdf", "X-Filename": "tagihan-pln.pdf",
                "X-Evidence-Kind": "SUPPORTING_DOCUMENT"})
            assert uploaded.status_code == 201, uploaded.text
            filed = await graphql(http, a, FILE, {"i": {
                "decision": decision["id"], "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
                "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
                "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900},
                "evidence": [uploaded.json()["id"]]}}, token=citizen)
            assert codes(filed, "fileAppeal") == (), filed
            appeal = filed["data"]["fileAppeal"]["appeal"]["id"]

            # every reviewer claims at once, on alternating servers
            claims = await asyncio.gather(*(graphql(http, servers[i % 2].url, CLAIM, {"id": appeal}, token=t)
                                            for i, t in enumerate(reviewers.values())))
            answers += claims
            outcome = Counter(codes(c, "claimAppeal") for c in claims)
            assert outcome == {(): 1, ("APPEAL_CONFLICT",): REVIEWERS - 1}, outcome
            winner = next(s for s, c in zip(reviewers, claims, strict=True) if codes(c, "claimAppeal") == ())

            # the winner's resolution sent twice to each server while every other reviewer tries too
            resolution = {"appeal": appeal, "upheld": True, "note": "Tagihan PLN menunjukkan 900 VA.",
                          "correctedFacts": {"electricity_va": 900}}
            attempts = [(s, servers[n % 2].url) for s in reviewers for n in range(4 if s == winner else 1)]
            resolves = await asyncio.gather(*(graphql(http, url, RESOLVE, {"i": resolution}, token=reviewers[s])
                                              for s, url in attempts))
            answers += resolves
        for server in servers:
            server.assert_clean_log()
    finally:
        procs.stop_all()
    assert problems_in(answers) == []
    applied = [(s, r) for (s, _), r in zip(attempts, resolves, strict=True) if codes(r, "resolveAppeal") == ()]
    assert [s for s, _ in applied] == [winner] and applied[0][1]["data"]["resolveAppeal"]["appeal"] == {
        "status": "UPHELD"}
    clear = {"APPEAL_CONFLICT", "APPEAL_TRANSITION_NOT_ALLOWED"}  # the others: a clear refusal, not a crash
    assert all(len(codes(r, "resolveAppeal")) == 1 and codes(r, "resolveAppeal")[0] in clear
               for r in resolves if codes(r, "resolveAppeal") != ())

    async with db.read() as s:
        stored = (await s.execute(select(Appeal))).scalar_one()
        versions = (await s.execute(select(Decision.id, Decision.version, Decision.cause, Decision.is_current)
                                    .order_by(Decision.version))).all()
        actions = Counter((await s.execute(select(AuditEvent.action).where(
            AuditEvent.entity_type == "appeal"))).scalars())
        notes = Counter((await s.execute(select(Notification.template).where(
            Notification.channel == "portal"))).scalars())
    assert (stored.status, stored.reviewer) == (AppealStatus.UPHELD, winner)
    assert [(v, c, cur) for _, v, c, cur in versions] == [(1, "SELECTION", False), (2, "APPEAL", True)]
    assert stored.resulting_decision_id == versions[1].id
    assert actions["APPEAL_CLAIMED"] == 1 and actions["APPEAL_UPHELD"] == 1
    assert notes["APPEAL_UPHELD"] == 1
