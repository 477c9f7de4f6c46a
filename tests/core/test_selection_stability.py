"""Decisions are stable (issue 18, item 1): re-runs through the admin's `runSelection` mutation
with the real criteria plugin reading the IKD simulator over HTTP, whose facts API is made to fail.

A run whose only news is a failed source keeps every decided version and queues nothing (the
attempt is recorded); a threshold change that moves nobody across writes nothing; one that does
writes a new version, and notifies, for exactly the people it moves."""

from __future__ import annotations

import asyncio

import pytest
from fixtures import seed
from perlinsos.db.models import AuditEvent, Decision, DecisionReason, Notification
from perlinsos.registration import consent
from sqlalchemy import func, select

PILOT = "BWI-2025"
SCOPES = list(consent.SCOPES)
CONSENT = """mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "2025-08"}) {
  consent { id } errors { code } } }"""
WITHDRAW = "mutation($id: ID!) { withdrawConsent(id: $id) { errors { code } } }"
REGISTER = """mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }"""
RUN = "mutation { runSelection(pilot: \"BWI-2025\") { run { id } errors { code message } } }"
WATCH = "query($id: ID!) { selectionRun(id: $id) { status processed decided unchanged kept } }"
SETTINGS = '{ pilot(code: "BWI-2025") { pluginSettings { name settings } } }'
UPDATE = """mutation($i: PilotUpdateInput!) { updatePilot(code: "BWI-2025", input: $i) {
  errors { code message } } }"""


@pytest.fixture
async def office(ikd_client, ikd, db):
    """The national office's admin, signed in through IKD."""
    await seed.staff(db, "admin", "ADMIN", "35", issuer=ikd.issuer)
    return ikd.sign_in_staff("admin")


async def register(client, ikd, people) -> dict[str, str]:
    """Each person consents to every scope and registers: NIK → the consent's id."""
    consents = {}
    for person in people:
        token = ikd.sign_in(person["nik"])
        given = (await client.query(CONSENT, {"s": SCOPES}, token=token))["data"]["giveConsent"]
        assert given["errors"] == [], given
        assert (await client.query(REGISTER, token=token))["data"]["registerHousehold"]["errors"] == []
        consents[person["nik"]] = given["consent"]["id"]
    return consents


async def select_all(client, admin: str) -> dict:
    """Run selection through the mutation and wait for the background run to finish."""
    started = (await client.query(RUN, token=admin))["data"]["runSelection"]
    assert started["errors"] == [], started
    for _ in range(1200):
        run = (await client.query(WATCH, {"id": started["run"]["id"]}, token=admin))["data"]["selectionRun"]
        if run["status"] != "RUNNING":
            assert run["status"] == "FINISHED", run
            return run
        await asyncio.sleep(0.05)
    raise AssertionError("the selection run did not finish")


async def state(db) -> tuple[dict[int, tuple[int, str]], int]:
    """(registration → (current version, outcome), outbox rows)."""
    async with db.read() as s:
        current = {rid: (version, outcome.value) for rid, version, outcome in await s.execute(
            select(Decision.registration_id, Decision.version, Decision.outcome).where(Decision.is_current.is_(True)))}
        outbox = (await s.execute(select(func.count()).select_from(Notification))).scalar_one()
    return current, outbox


async def set_income_limit(client, admin: str, limit: int) -> None:
    plugins = (await client.query(SETTINGS, token=admin))["data"]["pilot"]["pluginSettings"]
    for plugin in plugins:  # secrets come back masked and the update keeps the stored ones
        if plugin["name"] == "criteria":
            plugin["settings"]["income_limit"] = limit
    done = (await client.query(UPDATE, {"i": {"plugins": plugins}}, token=admin))["data"]["updatePilot"]
    assert done["errors"] == [], done


async def incomes(db) -> tuple[int, dict[int, tuple[str, int | None]]]:
    """(the income limit the current decisions used, registration → (income verdict, observed income))."""
    async with db.read() as s:
        rows = (await s.execute(select(Decision.registration_id, DecisionReason.verdict, DecisionReason.observed,
                                       DecisionReason.limit)
                                .join(Decision, Decision.id == DecisionReason.decision_id)
                                .where(Decision.is_current.is_(True), DecisionReason.code == "INCOME_ABOVE_LIMIT"))).all()
    limits = {r.limit["value"] for r in rows if r.limit}
    assert len(limits) == 1, limits
    return limits.pop(), {r.registration_id: (r.verdict.value, (r.observed or {}).get("value")) for r in rows}


@pytest.mark.parametrize("fault", ["down", "garbage"])
async def test_a_flapping_source_keeps_every_decision_and_notifies_no_one(ikd_client, ikd, db, office, fault):
    people = ikd.people(limit=16, role="HEAD")
    await register(ikd_client, ikd, people[:15])
    first = await select_all(ikd_client, office)
    decided, outbox = await state(db)
    assert first["decided"] == 15 and len(decided) == 15 and outbox > 0
    assert {outcome for _, outcome in decided.values()} >= {"ELIGIBLE", "NOT_ELIGIBLE"}

    # the facts API fails; one citizen registers meanwhile: they have no decision, so theirs is PENDING
    await register(ikd_client, ikd, people[15:])
    ikd.set_fault(fault, paths=("/facts",))
    down = await select_all(ikd_client, office)
    during, outbox_during = await state(db)
    newcomer = (set(during) - set(decided)).pop()
    assert during[newcomer] == (1, "PENDING")
    assert {rid: during[rid] for rid in decided} == decided  # every decided version stays current
    assert (down["processed"], down["decided"], down["kept"], down["unchanged"]) == (16, 1, 15, 0)
    per_decision = outbox // 15
    assert outbox_during == outbox + per_decision  # the newcomer's notifications only
    async with db.read() as s:  # the failed attempt is on record, per registration
        kept = (await s.execute(select(AuditEvent).where(AuditEvent.action == "DECISION_KEPT"))).scalars().all()
    assert sorted(int(k.entity_id) for k in kept) == sorted(decided)
    assert all(k.details["failed_facts"] and k.details["reason"] == "SOURCE_FAILED" for k in kept)

    # the source is back: nothing changed for the 15, the newcomer is decided
    ikd.set_fault(None)
    healthy = await select_all(ikd_client, office)
    after, outbox_after = await state(db)
    assert (healthy["decided"], healthy["unchanged"], healthy["kept"]) == (1, 15, 0)
    assert {rid: after[rid] for rid in decided} == decided and after[newcomer][0] == 2
    assert outbox_after == outbox_during + per_decision


async def test_a_withdrawn_consent_is_still_a_change_while_a_source_is_down(ikd_client, ikd, db, office):
    people = ikd.people(limit=3, role="HEAD")
    consents = await register(ikd_client, ikd, people)
    await select_all(ikd_client, office)
    before, _ = await state(db)
    token = ikd.sign_in(people[0]["nik"])
    assert (await ikd_client.query(WITHDRAW, {"id": consents[people[0]["nik"]]}, token=token))[
        "data"]["withdrawConsent"]["errors"] == []
    ikd.set_fault("down", paths=("/facts",))
    run = await select_all(ikd_client, office)
    after, _ = await state(db)
    assert (run["decided"], run["kept"]) == (1, 2)
    changed = {rid for rid in after if after[rid] != before[rid]}
    assert len(changed) == 1 and after[changed.pop()][1] == "PENDING"


async def test_a_threshold_change_renotifies_only_the_people_it_moves(ikd_client, ikd, db, office):
    people = ikd.people(limit=30, role="HEAD")
    await register(ikd_client, ikd, people)
    await select_all(ikd_client, office)
    decided, outbox = await state(db)
    per_decision = outbox // len(decided)
    limit, income = await incomes(db)

    # one rupiah more moves nobody across: no new version, nothing queued
    assert not any(value == limit + 1 for _, value in income.values())
    await set_income_limit(ikd_client, office, limit + 1)
    noop = await select_all(ikd_client, office)
    assert (noop["decided"], noop["unchanged"]) == (0, len(decided))
    assert await state(db) == (decided, outbox)

    # a limit just under some passing incomes moves exactly those people
    earning = sorted(value for verdict, value in income.values() if verdict == "PASS" and value)
    new_limit = earning[-min(3, len(earning))] - 1
    moved = {rid for rid, (verdict, value) in income.items() if verdict == "PASS" and value > new_limit}
    assert 0 < len(moved) < len(decided)
    await set_income_limit(ikd_client, office, new_limit)
    real = await select_all(ikd_client, office)
    after, outbox_after = await state(db)
    assert real["decided"] == len(moved)
    assert {rid for rid in after if after[rid] != decided[rid]} == moved
    assert all(after[rid] == (decided[rid][0] + 1, "NOT_ELIGIBLE") for rid in moved if decided[rid][1] == "ELIGIBLE")
    async with db.read() as s:
        queued = set((await s.execute(select(Decision.registration_id).join(
            Notification, Notification.decision_id == Decision.id).where(Decision.version > 1))).scalars())
    assert queued == moved and outbox_after == outbox + per_decision * len(moved)


def test_cli_a_source_that_raises_keeps_the_decisions(database_url, monkeypatch):
    """`perlinsos select` with a fact plugin that raises for the whole chunk (its facts are then
    missing, not errors): the second run keeps every decision and says so; the third writes nothing.
    Sync: the CLI runs its own event loop."""
    from click.testing import CliRunner
    from fixtures import fixture_criteria as fc
    from fixtures.pilots import pilot_data
    from perlinsos.cli import main
    from perlinsos.db.engine import Database
    from perlinsos.pilots.files import parse_pilot
    from perlinsos.pilots.store import save_pilot
    from perlinsos.plugins import PluginManager

    fc.reset()
    names = {"fixtures.static_auth": {}, "fixtures.fixture_criteria": {}}
    plugins = PluginManager(extra_plugins=list(names), national=("fixtures.static_auth",))

    async def setup() -> None:
        db = Database(database_url)
        data = pilot_data()
        data["plugins"] = names
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugins))
        await seed.registrations(db, PILOT, 6, with_decision=False)
        for i in range(6):
            fc.FACTS[seed.nik(i)] = 900 if i % 2 else 2200
            await seed.consent(db, seed.nik(i), consent.SCOPES)
        await db.dispose()

    async def read() -> tuple:
        db = Database(database_url)
        try:
            return await state(db)
        finally:
            await db.dispose()

    asyncio.run(setup())
    monkeypatch.setenv("PERLINSOS_EXTRA_PLUGINS", ",".join(names))
    monkeypatch.setenv("PERLINSOS_NATIONAL_PROVIDERS", "fixtures.static_auth")
    monkeypatch.setenv("PERLINSOS_DATABASE_URL", database_url)
    try:
        def select_() -> str:
            result = CliRunner().invoke(main, ["select", "--pilot", PILOT, "--no-progress"])
            assert result.exit_code == 0, result.output
            return result.output

        select_()
        decided = asyncio.run(read())
        assert sorted(o for _, o in decided[0].values()) == ["ELIGIBLE"] * 3 + ["NOT_ELIGIBLE"] * 3
        fc.MODE["source"] = "raise"
        down = select_()
        assert "new decisions                    0" in down and "kept (a source failed)           6" in down
        assert "electricity_va                   6" in down  # the fact not read, for six registrations
        assert asyncio.run(read()) == decided
        fc.MODE["source"] = None
        again = select_()
        assert "new decisions                    0" in again and "unchanged (no new version)       6" in again
        assert asyncio.run(read()) == decided
    finally:
        fc.reset()
