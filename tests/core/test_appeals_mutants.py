"""Appeal filing and review rules, each pinned through GraphQL (issue 19: mutation testing of
perlinsos.appeals.filing and .review). Every test here was written against surviving mutants;
what a step stores (audit row, notifications, events) is read back as test_appeals.py does."""

from __future__ import annotations

from datetime import datetime

import pytest
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos import hookimpl
from perlinsos.app import create_app
from perlinsos.contract import AppealDraft
from perlinsos.db.models import Appeal, AuditEvent, Decision, DecisionReason, Notification, Outcome, Verdict
from perlinsos.graphql.relay import to_global_id
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager
from sqlalchemy import select, update

from test_appeals import appeal_input
from test_appeals import upload as upload_as

FILE = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id status ground disputedReasons
  statement comparisonData channel submittedAt reviewDueAt evidence { kind } } errors { code field message } } }"""
CLAIM = "mutation($id: ID!) { claimAppeal(id: $id) { appeal { status } errors { code } } }"
RESOLVE = """mutation($i: ResolveAppealInput!) { resolveAppeal(input: $i) { appeal { status resolutionNote resolvedAt
  decision { version } resultingDecision { version } } errors { code field } } }"""
WITHDRAW = "mutation($id: ID!) { withdrawAppeal(id: $id) { appeal { status resolvedAt } errors { code } } }"
DECISION = "{ me { registrations { decision { id } } } }"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n% {n}\ntrailer <<>>\n%%EOF\n"


def citizen(i: int) -> str:
    return f"citizen:{seed.nik(i)}"


async def decision_of(client, i: int) -> str:
    return (await client.query(DECISION, token=citizen(i)))["data"]["me"]["registrations"][0]["decision"]["id"]


async def upload(client, i: int, n: int, kind: str = "SUPPORTING_DOCUMENT") -> str:
    """Citizen ``i``'s ``n``-th file, each with its own content (an identical file is a duplicate)."""
    return await upload_as(client, citizen(i), kind, content=PDF.replace(b"{n}", f"{i}-{n}".encode()))


async def file(client, i: int, values: dict, pilot: str | None = None) -> dict:
    return (await client.query(FILE, {"i": values}, token=citizen(i), pilot=pilot))["data"]["fileAppeal"]


def codes(result: dict) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in result["errors"]]


def details(result: dict) -> list[str]:
    """What each error names, the part in brackets that ends its message (``problem(..., detail=...)``)."""
    return sorted(e["message"].rsplit(" (", 1)[1].rstrip(")") for e in result["errors"] if " (" in e["message"])


async def appeal_rows(db) -> int:
    async with db.read() as s:
        return len((await s.execute(select(Appeal.id))).all())


async def audited(db, action: str) -> list[tuple]:
    async with db.read() as s:
        found = (await s.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        return [(e.actor, e.entity_id, {k: v for k, v in e.details.items() if k != "actor_issuer"})
                for e in found.scalars()]


async def notified(db, appeal_id: int) -> list[tuple]:
    async with db.read() as s:
        return sorted((n.channel, n.template, n.language, n.params) for n in (await s.execute(
            select(Notification).where(Notification.appeal_id == appeal_id))).scalars())


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def set_pilot(db, plugin_manager, **changes) -> None:
    data = pilot_data()
    for name, value in changes.items():
        data["plugins"].setdefault(name, {}).update(value)
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))


@pytest.fixture
async def citizens(db, pilot):
    """Three citizens of Kemiren, each NOT_ELIGIBLE: electricity FAIL, income and decile PASS, car UNKNOWN."""
    return await seed.registrations(db, pilot, 3)


# --- filing -------------------------------------------------------------------------------------


async def test_only_the_current_decision_of_this_pilot_is_appealed(client, db, plugin_manager, citizens):
    evidence = await upload(client, 0, 0)
    decision = await decision_of(client, 0)
    # the same decision asked for under another pilot does not exist there
    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_data(code="BWI-2026"), plugin_manager))
    elsewhere = await file(client, 0, appeal_input(decision, [evidence]), pilot="BWI-2026")
    assert codes(elsewhere) == [("DECISION_NOT_FOUND", "decision")]
    # a decision made again (version 2) leaves version 1 closed to appeals
    async with db.write() as s:
        old = (await s.execute(select(Decision).where(Decision.registration_id == citizens[0]))).scalar_one()
        await s.execute(update(Decision).where(Decision.id == old.id).values(is_current=False))
        s.add(Decision(registration_id=citizens[0], version=2, outcome=Outcome.NOT_ELIGIBLE,
                       criteria_versions=old.criteria_versions, inputs_digest="1" * 64))
    assert codes(await file(client, 0, appeal_input(decision, [evidence]))) == [("DECISION_SUPERSEDED", "decision")]
    assert await appeal_rows(db) == 0


async def test_which_reasons_may_be_disputed_and_the_whole_form_is_checked_at_once(client, db, citizens):
    evidence = await upload(client, 0, 0)
    decision = await decision_of(client, 0)
    refused = {  # disputed reasons (ground DATA_INCORRECT) → errors
        (): [("REASON_NOT_DISPUTABLE", "disputedReasons")],
        ("INCOME_ABOVE_LIMIT",): [("REASON_NOT_DISPUTABLE", "disputedReasons")],  # it passed
        ("NO_SUCH_REASON",): [("REASON_NOT_DISPUTABLE", "disputedReasons")],
        ("ELECTRICITY_ABOVE_LIMIT", "INCOME_ABOVE_LIMIT"): [("REASON_NOT_DISPUTABLE", "disputedReasons")],
    }
    for disputed, expected in refused.items():
        assert codes(await file(client, 0, appeal_input(decision, [evidence], disputedReasons=list(disputed)))) == \
            expected, disputed
    # an unknown ground with a reason that passed: both, and no evidence or comparison check (no ground to ask)
    both = await file(client, 0, appeal_input(decision, [], ground="TETANGGA_IRI", comparisonData={"x": 1},
                                              disputedReasons=["INCOME_ABOVE_LIMIT"]))
    assert codes(both) == [("GROUND_UNKNOWN", "ground"), ("REASON_NOT_DISPUTABLE", "disputedReasons")]
    # every fault of a known ground in one answer
    many = await file(client, 0, appeal_input(decision, [], statement="pendek", comparisonData={"colour": "biru"}))
    assert sorted(codes(many)) == [("COMPARISON_DATA_INVALID", "comparisonData.colour"), *(
        ("COMPARISON_DATA_MISSING", f"comparisonData.{name}") for name in ("electricity_va", "meter_id")),
        ("EVIDENCE_MISSING", "evidence"), ("STATEMENT_INVALID", "statement")]
    assert details(many) == ["SUPPORTING_DOCUMENT", "electricity_va", "meter_id", "unknown field colour"]
    assert await appeal_rows(db) == 0
    # a reason the sources could not decide (UNKNOWN) is disputable; a reason named twice counts once
    values = appeal_input(decision, [evidence], disputedReasons=["OWNS_CAR", "ELECTRICITY_ABOVE_LIMIT", "OWNS_CAR"],
                          statement="  Kami tidak punya mobil; daya listrik 900 VA.  ")
    filed = await file(client, 0, values)
    assert filed["errors"] == [], filed
    appeal = filed["appeal"]
    assert {k: appeal[k] for k in ("status", "ground", "disputedReasons", "statement", "comparisonData", "channel",
                                   "evidence")} == {
        "status": "SUBMITTED", "ground": "DATA_INCORRECT", "disputedReasons": ["OWNS_CAR", "ELECTRICITY_ABOVE_LIMIT"],
        "statement": "Kami tidak punya mobil; daya listrik 900 VA.", "channel": "SELF",
        "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900},
        "evidence": [{"kind": "SUPPORTING_DOCUMENT"}]}
    assert seconds(appeal["submittedAt"], appeal["reviewDueAt"]) == 14 * 24 * 3600  # the pilot's SLA


async def test_statement_and_comparison_data_limits(client, db, citizens):
    evidence = [await upload(client, i, 0) for i in range(2)]
    decisions = [await decision_of(client, i) for i in range(2)]

    def values(i, **changes):
        return appeal_input(decisions[i], [evidence[i]], **changes)

    good = {"meter_id": "5123-0099-77", "electricity_va": 900}
    va, meter = ([("COMPARISON_DATA_INVALID", f"comparisonData.{name}")] for name in ("electricity_va", "meter_id"))
    refused = [
        ({"statement": "  123456789  "}, [("STATEMENT_INVALID", "statement")]),  # 9 once trimmed
        ({"statement": "x" * 4001}, [("STATEMENT_INVALID", "statement")]),
        ({"comparisonData": good | {"electricity_va": -1}}, va),
        ({"comparisonData": good | {"electricity_va": True}}, va),
        ({"comparisonData": good | {"electricity_va": "900"}}, va),
        ({"comparisonData": good | {"meter_id": ""}}, meter),
        ({"comparisonData": good | {"meter_id": "1" * 201}}, meter),
        ({"comparisonData": good | {"meter_id": 5123}}, meter),
        # an unknown field does not stop the check of the next one
        ({"comparisonData": {"colour": "biru", "electricity_va": -1, "meter_id": "1"}},
         [("COMPARISON_DATA_INVALID", "comparisonData.colour"), *va]),
    ]
    for changes, expected in refused:
        result = await file(client, 0, values(0, **changes))
        assert codes(result) == expected, changes
        if "comparisonData" in changes and "colour" not in changes["comparisonData"]:
            assert details(result) == [expected[0][1].split(".")[1] + (": int" if expected is va else ": str")]
    assert await appeal_rows(db) == 0
    # the limits themselves are allowed: 10 and 4,000 characters, 0 VA, a 200-character meter id
    low = await file(client, 0, values(0, statement=" 1234567890 ", comparisonData={"meter_id": "1" * 200,
                                                                                  "electricity_va": 0}))
    assert low["errors"] == [] and low["appeal"]["statement"] == "1234567890"
    assert (await file(client, 1, values(1, statement="y" * 4000)))["errors"] == []


async def test_a_date_field_and_the_grounds_own_check(client, db, citizens):
    """CIRCUMSTANCES_CHANGED asks for an SKTM and a date; the appeals plugin refuses a future date."""
    async with db.write() as s:  # citizen 2's income failed
        decision_id = (await s.execute(select(Decision.id).where(Decision.registration_id == citizens[2]))).scalar_one()
        await s.execute(update(DecisionReason).where(DecisionReason.decision_id == decision_id,
                                                     DecisionReason.code == "INCOME_ABOVE_LIMIT")
                        .values(verdict=Verdict.FAIL))
    sktm = await upload(client, 2, 0, kind="SKTM")
    decision = await decision_of(client, 2)

    def values(since):
        return appeal_input(decision, [sktm], ground="CIRCUMSTANCES_CHANGED", disputedReasons=["INCOME_ABOVE_LIMIT"],
                            comparisonData={"monthly_income": 900_000, "since": since})

    for since in ("2025-13-01", "kemarin", "2999-01-01"):
        result = await file(client, 2, values(since))
        assert codes(result) == [("COMPARISON_DATA_INVALID", "comparisonData.since")]
        assert details(result) == ([] if since == "2999-01-01" else ["since: date"])  # the plugin's own message
    filed = await file(client, 2, values("2025-06-01"))
    assert filed["errors"] == [] and filed["appeal"]["evidence"] == [{"kind": "SKTM"}]


async def test_the_pilots_file_limit_and_review_deadline(client, db, plugin_manager, citizens):
    await set_pilot(db, plugin_manager, appeals={"max_files": 2, "review_sla_days": 3})
    evidence = [await upload(client, 0, n) for n in range(3)]
    decision = await decision_of(client, 0)
    assert codes(await file(client, 0, appeal_input(decision, evidence))) == [("EVIDENCE_TOO_MANY", "evidence")]
    filed = await file(client, 0, appeal_input(decision, evidence[:2]))
    assert filed["errors"] == []
    assert seconds(filed["appeal"]["submittedAt"], filed["appeal"]["reviewDueAt"]) == 3 * 24 * 3600


# --- what each step leaves behind: audit row, notifications, events ------------------------------


class StatusLog:
    """Records every appeal_status_changed event whole, and what a ground's check is given."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.checked: list[tuple] = []

    @hookimpl
    def check_appeal(self, appeal, decision, principal, pilot):
        self.checked.append((appeal, decision, principal.subject))
        return []

    @hookimpl
    def appeal_status_changed(self, appeal, old_status, new_status, pilot):
        self.events.append((pilot.code, appeal, old_status, new_status))


async def test_each_step_is_audited_notified_and_announced(settings, db, plugin_manager, citizens):
    import httpx
    from conftest import GraphQLClient

    log = StatusLog()
    pm = PluginManager(extra_plugins=[(static_auth.NAME, static_auth), ("status_log", log)],
                       national=static_auth.NATIONAL)
    await set_pilot(db, pm, status_log={})
    await seed.staff(db, "rev-1", "REVIEWER", "35.10.15")
    await seed.staff(db, "fac-1", "FACILITATOR", seed.KEMIREN)
    app = create_app(settings, pm)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        client = GraphQLClient(http)
        decisions = [await decision_of(client, i) for i in range(2)]
        ids = []
        for i in range(2):  # citizen 0 alone, citizen 1 with their facilitator
            values = appeal_input(decisions[i], [await upload(client, i, 0)])
            token = citizen(0) if i == 0 else "staff:fac-1"
            filed = (await client.query(FILE, {"i": values | ({"citizenToken": citizen(1)} if i else {})},
                                        token=token))["data"]["fileAppeal"]
            assert filed["errors"] == [], filed
            ids.append(filed["appeal"]["id"])
        assert (await client.query(CLAIM, {"id": ids[0]}, token="staff:rev-1"))["data"]["claimAppeal"]["errors"] == []
        dismissed = (await client.query(RESOLVE, {"i": {"appeal": ids[0], "upheld": False, "note": "Tagihan lain.",
                                                          "correctedFacts": {"income": 1}}},  # ignored
                                        token="staff:rev-1"))["data"]["resolveAppeal"]
        assert dismissed["errors"] == [] and dismissed["appeal"]["resolvedAt"] is not None
        withdrawn = (await client.query(WITHDRAW, {"id": ids[1]}, token=citizen(1)))["data"]["withdrawAppeal"]
        assert withdrawn["appeal"]["status"] == "WITHDRAWN" and withdrawn["appeal"]["resolvedAt"] is not None
    await app.state.perlinsos.db.dispose()
    async with db.read() as s:
        rows = {r.id: r for r in (await s.execute(select(Appeal))).scalars()}
    first, second = sorted(rows)
    d1, d2 = rows[first].decision_id, rows[second].decision_id
    event = {"ground": "DATA_INCORRECT"}
    assert log.events == [
        ("BWI-2025", {"id": first, "decision_id": d1, "status": "SUBMITTED"} | event, None, "SUBMITTED"),
        ("BWI-2025", {"id": second, "decision_id": d2, "status": "SUBMITTED"} | event, None, "SUBMITTED"),
        ("BWI-2025", {"id": first, "decision_id": d1, "status": "UNDER_REVIEW"} | event, "SUBMITTED", "UNDER_REVIEW"),
        ("BWI-2025", {"id": first, "decision_id": d1, "status": "DISMISSED"} | event, "UNDER_REVIEW", "DISMISSED"),
        ("BWI-2025", {"id": second, "decision_id": d2, "status": "WITHDRAWN"} | event, "SUBMITTED", "WITHDRAWN")]
    # a ground's own check sees the whole form and the decision (its id, outcome, reasons, programme, village)
    verdicts = {"ELECTRICITY_ABOVE_LIMIT": "FAIL", "INCOME_ABOVE_LIMIT": "PASS", "WELFARE_DECILE_ABOVE_LIMIT": "PASS",
                "OWNS_CAR": "UNKNOWN"}
    form = appeal_input(None, None)
    assert log.checked == [(
        AppealDraft(decision_id=d, ground="DATA_INCORRECT", disputed_reasons=("ELECTRICITY_ABOVE_LIMIT",),
                    statement=form["statement"], comparison_data=form["comparisonData"],
                    evidence_kinds=("SUPPORTING_DOCUMENT",), appellant_nik=seed.nik(i), assisted_by=by),
        {"id": d, "outcome": "NOT_ELIGIBLE", "reasons": verdicts, "programme": "PKH", "region_code": seed.KEMIREN},
        who) for i, d, by, who in ((0, d1, None, f"citizen-{seed.nik(0)}"), (1, d2, "fac-1", "fac-1"))]
    disputed = {"ground": "DATA_INCORRECT", "disputed": ["ELECTRICITY_ABOVE_LIMIT"]}
    assert [e[1:] for e in await audited(db, "APPEAL_FILED")] == [
        (str(first), disputed | {"channel": "SELF"}), (str(second), disputed | {"channel": "ASSISTED"})]
    assert await audited(db, "APPEAL_CLAIMED") == [
        ("rev-1", str(first), {"from": "SUBMITTED", "to": "UNDER_REVIEW"})]
    assert [e[1:] for e in await audited(db, "APPEAL_DISMISSED")] == [
        (str(first), {"from": "UNDER_REVIEW", "to": "DISMISSED"})]
    assert await audited(db, "APPEAL_WITHDRAWN") == [  # by the appellant
        (f"citizen-{seed.nik(1)}", str(second), {"from": "SUBMITTED", "to": "WITHDRAWN"})]
    async with db.read() as s:
        subjects = set((await s.execute(select(AuditEvent.action, AuditEvent.entity_type, AuditEvent.subject_person_id)
                                        .where(AuditEvent.action.like("APPEAL_%")))).all())
    p1, p2 = rows[first].appellant_person_id, rows[second].appellant_person_id
    assert subjects == {(f"APPEAL_{step}", "appeal", person) for step, person in (
        ("FILED", p1), ("FILED", p2), ("CLAIMED", p1), ("DISMISSED", p1), ("WITHDRAWN", p2))}
    # the portal and the pilot's SMS channel, in Indonesian, naming the appeal
    assert await notified(db, first) == sorted((c, t, "id", {"appeal": first}) for c in ("portal", "sms")
                                               for t in ("APPEAL_RECEIVED", "APPEAL_DISMISSED"))
    assert await notified(db, second) == sorted((c, "APPEAL_RECEIVED", "id", {"appeal": second})
                                                for c in ("portal", "sms"))
    assert rows[first].reviewer == "rev-1" and rows[first].claimed_at is not None
    assert rows[first].resolution_note == "Tagihan lain." and rows[first].corrected_facts is None


# --- review -------------------------------------------------------------------------------------


@pytest.fixture
async def submitted(client, db, plugin_manager, citizens):
    """Citizen 0's appeal (SUBMITTED); reviewers rev-1 and rev-2 and a facilitator of Kemiren; pilot BWI-2026."""
    for subject in ("rev-1", "rev-2"):
        await seed.staff(db, subject, "REVIEWER", "35.10.15")
    await seed.staff(db, "fac-1", "FACILITATOR", seed.KEMIREN)
    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_data(code="BWI-2026"), plugin_manager))
    return to_global_id("Appeal", await seed.appeal(db, citizens[0], "SUBMITTED"))


async def claim(client, appeal: str, who: str, pilot: str | None = None) -> list[str]:
    result = await client.query(CLAIM, {"id": appeal}, token=f"staff:{who}", pilot=pilot)
    return [e["code"] for e in result["data"]["claimAppeal"]["errors"]]


async def resolve(client, appeal: str, who: str, **values) -> dict:
    values = {"appeal": appeal, "upheld": False, "note": "Tagihan lain."} | values
    return (await client.query(RESOLVE, {"i": values}, token=f"staff:{who}"))["data"]["resolveAppeal"]


async def test_who_claims_and_resolves(client, db, submitted):
    appeal = submitted
    assert await claim(client, appeal, "fac-1") == ["APPEAL_NOT_FOUND"]  # a facilitator is not a reviewer
    assert await claim(client, appeal, "rev-1", pilot="BWI-2026") == ["APPEAL_NOT_FOUND"]  # another pilot's
    withdraw = await client.query(WITHDRAW, {"id": appeal}, token=citizen(0), pilot="BWI-2026")
    assert [e["code"] for e in withdraw["data"]["withdrawAppeal"]["errors"]] == ["APPEAL_NOT_FOUND"]
    assert await claim(client, appeal, "rev-1") == []
    # claiming it again (a retried request) changes nothing and succeeds
    assert await claim(client, appeal, "rev-1") == []
    assert len(await audited(db, "APPEAL_CLAIMED")) == 1
    # held by rev-1: rev-2 can neither take it nor resolve it
    assert await claim(client, appeal, "rev-2") == ["APPEAL_CONFLICT"]
    assert codes(await resolve(client, appeal, "rev-2")) == [("APPEAL_CONFLICT", None)]
    upheld = await resolve(client, appeal, "rev-1", upheld=True, correctedFacts={"electricity_va": 900})
    assert upheld["errors"] == [], upheld
    # the appealed decision stays; the one made again is version 2
    assert upheld["appeal"]["decision"] == {"version": 1} and upheld["appeal"]["resultingDecision"] == {"version": 2}
    # selection ran again for this registration only
    others = "{ me { registrations { decision { version } } } }"
    for i in (1, 2):
        assert (await client.query(others, token=citizen(i)))["data"]["me"]["registrations"] == [
            {"decision": {"version": 1}}]
    # resolved: no step is left, for anyone
    assert await claim(client, appeal, "rev-1") == ["APPEAL_TRANSITION_NOT_ALLOWED"]
    assert codes(await resolve(client, appeal, "rev-1")) == [("APPEAL_TRANSITION_NOT_ALLOWED", None)]
    again = await client.query(WITHDRAW, {"id": appeal}, token=citizen(0))
    assert [e["code"] for e in again["data"]["withdrawAppeal"]["errors"]] == ["APPEAL_TRANSITION_NOT_ALLOWED"]
    assert [e[2] for e in await audited(db, "APPEAL_UPHELD")] == [{"from": "UNDER_REVIEW", "to": "UPHELD"}]


async def test_a_claimed_appeal_is_still_open(client, db, citizens, submitted):
    """No second appeal on the decision while the first is under review."""
    assert await claim(client, submitted, "rev-1") == []
    evidence = await upload(client, 0, 0)
    refused = await file(client, 0, appeal_input(await decision_of(client, 0), [evidence]))
    assert codes(refused) == [("APPEAL_ALREADY_OPEN", None)]
    assert await appeal_rows(db) == 1


async def test_a_facilitator_files_for_the_owner_in_their_own_area(client, db, citizens):
    await seed.staff(db, "fac-1", "FACILITATOR", seed.KEMIREN)
    await seed.staff(db, "fac-far", "FACILITATOR", seed.LATENG)
    document = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { channel filedBy { subject issuer } }
      errors { code } } }"""
    values = appeal_input(await decision_of(client, 0), [await upload(client, 0, 0)], citizenToken=citizen(0))
    far = (await client.query(document, {"i": values}, token="staff:fac-far"))["data"]["fileAppeal"]
    assert [e["code"] for e in far["errors"]] == ["FACILITATOR_OUT_OF_AREA"]
    filed = (await client.query(document, {"i": values}, token="staff:fac-1"))["data"]["fileAppeal"]
    assert filed == {"appeal": {"channel": "ASSISTED", "filedBy": {"subject": "fac-1", "issuer": static_auth.ISSUER}},
                     "errors": []}
    assert [(e[0], e[2]["channel"]) for e in await audited(db, "APPEAL_FILED")] == [("fac-1", "ASSISTED")]
