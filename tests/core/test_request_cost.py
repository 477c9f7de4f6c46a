"""Nothing in a citizen's request grows with the size of the pilot: the SQL statements of the
portal's announcement-day reads (``me`` with decisions and reasons, and ``me.notifications``) are
counted at a small pilot and again after it grew fiftyfold, and must be the same.

A real citizen signs in at the IKD simulator, consents, registers and is selected (a decision with
reasons, a portal notification); the rest of the pilot is synthetic households (a head with a valid
NIK, a registration, a current decision with three reasons, a delivered portal notification),
bulk-loaded by one ``INSERT ... SELECT`` per table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, func, select, text

from perlinsos import regions
from perlinsos.db.models import Pilot, Registration
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.pilots.store import get_pilot, pilot_context
from perlinsos.registration import consent
from perlinsos.selection import run_selection

ME = "{ me { registrations { id programme decision { outcome version reasons { code verdict message } } } } }"
INBOX = "{ me { unreadNotifications notifications(first: 10) { nodes { id template title body readAt } } } }"
SMALL, LARGE = 1_000, 50_000
BASE = 10_000_000  # synthetic ids: far above what the API's own rows take


async def test_a_citizens_reads_cost_the_same_statements_at_1000_and_50000_registrations(
        ikd_client, ikd, db, app, plugin_manager):
    token = await registered_and_notified(ikd_client, ikd, db, plugin_manager)
    engine = app.state.perlinsos.db.engine.sync_engine
    statements: list[str] = []

    def seen(conn, cursor, statement, *_):
        statements.append(statement)

    async def cost(query: str) -> int:
        await ikd_client.data(query, token=token)  # warm: the JWKS, the pilot's plugins
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            data = await ikd_client.data(query, token=token)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        me = data["me"]
        assert me["registrations"][0]["decision"]["reasons"] if "registrations" in me else \
            me["notifications"]["nodes"], data
        return len(statements)

    await grow(db, 1, SMALL)
    small = {"me": await cost(ME), "me.notifications": await cost(INBOX)}
    await grow(db, SMALL + 1, LARGE)
    async with db.read() as s:
        assert (await s.execute(select(func.count(Registration.id)))).scalar_one() == LARGE + 1
    large = {"me": await cost(ME), "me.notifications": await cost(INBOX)}
    assert large == small, f"statements per request at {SMALL:,} vs {LARGE:,} registrations: {small} vs {large}"
    assert small["me"] <= 8, small  # the principal, the person with registrations and decisions, the reasons


async def registered_and_notified(client, ikd, db, plugin_manager) -> str:
    person = ikd.people(limit=1, role="HEAD")[0]
    token = ikd.sign_in(person["nik"])
    give = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
    assert (await client.data(give, {"s": list(consent.SCOPES)}, token=token))["giveConsent"]["errors"] == []
    register = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
    assert (await client.data(register, token=token))["registerHousehold"]["errors"] == []
    async with db.read() as session:
        context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
    await run_selection(db, plugin_manager.for_pilot(context))
    await Dispatcher(db, plugin_manager, portal_url="https://portal.test").drain()  # the portal inbox
    return token


async def grow(db, first: int, last: int) -> None:
    """Synthetic households ``first``..``last`` of the pilot, one INSERT ... SELECT per table."""
    pg = not db.is_sqlite
    now = datetime.now(UTC)
    async with db.read() as s:
        pilot_id = (await s.execute(select(Pilot.id).where(Pilot.code == "BWI-2025"))).scalar_one()
    villages = [r.code for r in regions.villages("35.10.15")]
    if pg:
        listed = ", ".join(f"'{v}'" for v in villages)
        src = (f"(SELECT i, (ARRAY[{listed}])[1 + i % {len(villages)}] AS village "
               f"FROM generate_series(CAST(:a AS BIGINT), CAST(:b AS BIGINT)) AS s(i)) AS src")
        nik = ("'351015' || lpad(((i / 5000) % 28 + 1)::text, 2, '0') || lpad(((i / 140000) % 12 + 1)::text, 2, '0') "
               "|| '70' || lpad((5000 + i % 5000)::text, 4, '0')")
        kk, true = "'SYN' || lpad(i::text, 13, '0')", "true"
    else:
        cases = " ".join(f"WHEN {k} THEN '{v}'" for k, v in enumerate(villages))
        src = (f"(WITH RECURSIVE s(i) AS (SELECT :a UNION ALL SELECT i + 1 FROM s WHERE i < :b) "
               f"SELECT i, CASE i % {len(villages)} {cases} END AS village FROM s) AS src")
        nik = "printf('351015%02d%02d70%04d', (i / 5000) % 28 + 1, (i / 140000) % 12 + 1, 5000 + i % 5000)"
        kk, true = "printf('SYN%013d', i)", "1"
    b = ":base + i"
    for stmt in (
        f"INSERT INTO household (id, kk_number, region_code, created_at, updated_at) "
        f"SELECT {b}, {kk}, village, :now, :now FROM {src}",
        f"INSERT INTO person (id, nik, household_id, name, sex, region_code, created_at, updated_at) "
        f"SELECT {b}, {nik}, {b}, 'Warga Sintetis', 'M', village, :now, :now FROM {src}",
        f"INSERT INTO registration (id, pilot_id, programme, person_id, household_id, region_code, channel, "
        f"submitted_at) SELECT {b}, :pilot, 'PKH', {b}, {b}, village, 'SELF', :now FROM {src}",
        f"INSERT INTO decision (id, registration_id, version, outcome, is_current, criteria_versions, inputs_digest, "
        f"cause, inputs, decided_at) SELECT {b}, {b}, 1, 'NOT_ELIGIBLE', {true}, '{{}}', 'x', 'SELECTION', '{{}}', :now "
        f"FROM {src}",
        f"INSERT INTO decision_reason (id, decision_id, code, verdict, criterion_version, messages) "
        f"SELECT 3 * ({b}) + j, {b}, CASE j WHEN 1 THEN 'ELECTRICITY_ABOVE_LIMIT' ELSE 'OWNS_CAR' END, "
        f"CASE j WHEN 1 THEN 'FAIL' ELSE 'PASS' END, '1', '{{}}' FROM {src}, (SELECT 1 AS j UNION ALL SELECT 2 "
        f"UNION ALL SELECT 3) AS r",
        f"INSERT INTO notification (id, person_id, pilot_id, decision_id, channel, template, language, params, status, "
        f"attempts, next_attempt_at, idempotency_key, created_at, sent_at) SELECT {b}, {b}, :pilot, {b}, 'portal', "
        f"'DECISION_NOT_ELIGIBLE', 'id', '{{}}', 'DELIVERED', 1, :now, 'syn-' || i, :now, :now FROM {src}",
    ):
        async with db.write() as s:
            await s.execute(text(stmt), {"a": first, "b": last, "base": BASE, "pilot": pilot_id,
                                         "now": now if pg else now.replace(tzinfo=None).isoformat(" ")})
    async with db.engine.connect() as conn:  # planner statistics, as after any bulk load
        await conn.execute(text("ANALYZE"))
        await conn.commit()
