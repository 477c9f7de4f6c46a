"""Stage 3 through its public surfaces: the dispatcher (engine API and CLI), the inbox in GraphQL,
the subscription over a real websocket, and every failure ending visible, never lost."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace

import httpx
import pytest
from conftest import GraphQLClient
from fixtures import fixture_channel as ch
from fixtures import fixture_criteria as fc
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos.registration import consent
from perlinsos.app import create_app
from perlinsos.db.models import Notification, Person
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy, claim
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.selection import run_selection
from sqlalchemy import select, update

SCOPES = consent.SCOPES  # every scope: person and all facts
FAST = Policy(max_attempts=3, base_delay=0.0, lease=0.2, send_timeout=1.0)


@pytest.fixture
def plugins():
    fc.reset()
    ch.reset()
    yield PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (fc.NAME, fc), (ch.NAME, ch)], national=static_auth.NATIONAL)
    fc.reset()
    ch.reset()


@pytest.fixture
async def decided(db, plugins):
    """Four registrants selected: one without a phone number; portal + pesan rows in the outbox."""
    data = pilot_data()
    data["plugins"] = {static_auth.NAME: {}, fc.NAME: {}, ch.NAME: {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
        context = pilot_context(await get_pilot(session, data["code"]), plugins)
    await seed.registrations(db, "BWI-2025", 4, with_decision=False)
    async with db.write() as s:
        for i in range(4):
            await s.execute(update(Person).where(Person.nik == seed.nik(i))
                            .values(phone=None if i == 3 else f"+62812345678{i:02d}"))
    for i in range(4):
        fc.FACTS[seed.nik(i)] = 2200 if i == 0 else 900
        await seed.consent(db, seed.nik(i), SCOPES)
    await run_selection(db, plugins.for_pilot(context))
    return context


def dispatcher(db, plugins, policy=FAST) -> Dispatcher:
    return Dispatcher(db, plugins, portal_url="https://portal.test", batch=50, policy=policy)


async def statuses(db) -> Counter:
    async with db.read() as s:
        rows = (await s.execute(select(Notification.channel, Notification.status))).all()
    return Counter((c, st.value) for c, st in rows)


async def test_every_citizen_gets_an_inbox_entry_and_a_message_once(db, plugins, decided):
    done = await dispatcher(db, plugins).drain()
    assert done == {"DELIVERED": 4, "SENT": 3, "UNDELIVERABLE": 1}
    assert await statuses(db) == {("portal", "DELIVERED"): 4, ("pesan", "SENT"): 3, ("pesan", "UNDELIVERABLE"): 1}
    assert len(ch.SENT) == len(ch.delivered_keys()) == 3
    refused = next(m for m in ch.SENT if m.template == "DECISION_NOT_ELIGIBLE")
    assert "TIDAK MEMENUHI SYARAT PKH" in refused.short and "3510********" in refused.short
    # a channel gets the minimal texts (issue 15): the kind of reason, no amount; the inbox has it all
    assert "data listrik" in refused.body and "2.200" not in refused.body and seed.nik(0) not in refused.body
    async with db.read() as s:
        reason = (await s.execute(select(Notification.last_error)
                                  .where(Notification.status == "UNDELIVERABLE"))).scalar_one()
    assert reason == "no mobile number on record"
    assert await dispatcher(db, plugins).drain() == {}  # nothing twice


async def test_temporary_failures_back_off_then_die_visibly_and_can_be_requeued(db, plugins, decided, app):
    ch.MODE["mode"] = "temporary"
    d = dispatcher(db, plugins)
    for _ in range(FAST.max_attempts):
        await d.drain()
        async with db.write() as s:  # skip the back-off wait
            await s.execute(update(Notification).where(Notification.status == "PENDING").values(
                next_attempt_at=Notification.created_at))
    counts = await statuses(db)
    assert counts[("pesan", "DEAD")] == 3 and counts[("portal", "DELIVERED")] == 4
    async with db.read() as s:
        dead = (await s.execute(select(Notification.id, Notification.attempts, Notification.last_error)
                                .where(Notification.status == "DEAD"))).all()
    assert {(a, e) for _, a, e in dead} == {(3, "503 from gateway")}

    await seed.staff(db, "admin", "ADMIN", "35")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(app.state.perlinsos.settings, plugins)),
                                 base_url="http://t") as http:
        client = GraphQLClient(http)
        listed = await client.query("{ outbox(status: DEAD) { nodes { id lastError attempts } } }", token="staff:admin")
        nodes = listed["data"]["outbox"]["nodes"]
        assert len(nodes) == 3 and nodes[0]["lastError"] == "503 from gateway"
        requeued = await client.query("mutation($id: ID!) { requeueNotification(id: $id) { notification { status } "
                                      "errors { code } } }", {"id": nodes[0]["id"]}, token="staff:admin")
        assert requeued["data"]["requeueNotification"] == {"notification": {"status": "PENDING"}, "errors": []}
    ch.MODE["mode"] = None
    assert (await d.drain())["SENT"] == 1


@pytest.mark.parametrize("mode, status", [("permanent", "DEAD"), ("raise", "PENDING"), ("slow", "PENDING")])
async def test_each_kind_of_failure_ends_in_a_visible_state(db, plugins, decided, mode, status):
    ch.MODE["mode"] = mode
    await dispatcher(db, plugins).run_once()
    counts = await statuses(db)
    assert counts[("pesan", status)] == 3 and counts[("portal", "DELIVERED")] == 4


async def test_a_dispatcher_killed_mid_send_is_resent_with_the_same_key_and_delivered_once(db, plugins, decided):
    # dispatcher A claims the rows and dies before recording anything
    claimed = await claim(db, 50, FAST)
    assert len(claimed) == 8
    await asyncio.sleep(FAST.lease + 0.05)  # its lease runs out
    await dispatcher(db, plugins).drain()  # dispatcher B takes over
    assert await statuses(db) == {("portal", "DELIVERED"): 4, ("pesan", "SENT"): 3, ("pesan", "UNDELIVERABLE"): 1}
    # A wakes up late: its result for an old attempt is not recorded over B's
    from perlinsos.notification.outbox import _record

    stale = next(c for c in claimed if c.row.channel == "pesan" and c.person.phone)
    assert await _record(db, stale, status="DEAD", last_error="stale") is False
    assert len(ch.delivered_keys()) == 3


async def test_inbox_in_graphql_with_read_state(db, plugins, decided, app):
    await dispatcher(db, plugins).drain()
    inbox = "{ me { unreadNotifications notifications { nodes { id title body readAt } } } }"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(app.state.perlinsos.settings, plugins)),
                                 base_url="http://t") as http:
        client = GraphQLClient(http)
        mine = (await client.query(inbox, token=f"citizen:{seed.nik(0)}"))["data"]["me"]
        assert mine["unreadNotifications"] == 1
        (item,) = mine["notifications"]["nodes"]
        assert item["title"] == "Anda belum memenuhi syarat PKH" and "2.200 VA" in item["body"]
        english = (await client.query(inbox, token=f"citizen:{seed.nik(0)}", language="en"))["data"]["me"]
        assert english["notifications"]["nodes"][0]["title"] == "You are not eligible for PKH"
        # another citizen cannot mark it read; the owner can
        mark = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { marked } }"
        other = await client.query(mark, {"ids": [item["id"]]}, token=f"citizen:{seed.nik(1)}")
        assert other["data"]["markNotificationsRead"]["marked"] == 0
        own = await client.query(mark, {"ids": [item["id"]]}, token=f"citizen:{seed.nik(0)}")
        assert own["data"]["markNotificationsRead"]["marked"] == 1
        assert (await client.query(inbox, token=f"citizen:{seed.nik(0)}"))["data"]["me"]["unreadNotifications"] == 0


def test_cli_notify_run_once(database_url, monkeypatch):
    from click.testing import CliRunner
    from perlinsos.cli import main

    monkeypatch.setenv("PERLINSOS_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["notify", "run", "--once"])
    assert result.exit_code == 0 and "nothing due" in result.output


def test_subscription_over_a_real_websocket(settings, plugins, db, decided, app):
    """graphql-transport-ws: authenticate in connection_init, then receive inbox items as the
    dispatcher (here: another event loop, like another process) delivers them."""
    from starlette.testclient import TestClient

    web_app = create_app(replace(settings, dispatcher_in_process=False), plugins)
    with TestClient(web_app) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                      headers={"X-Perlinsos-Pilot": "BWI-2025"}) as ws:
            ws.send_text(json.dumps({"type": "connection_init",
                                     "payload": {"Authorization": f"Bearer citizen:{seed.nik(1)}"}}))
            assert json.loads(ws.receive_text())["type"] == "connection_ack"
            ws.send_text(json.dumps({"id": "1", "type": "subscribe",
                                     "payload": {"query": "subscription { notifications { title template } }"}}))
            asyncio.run(_deliver(settings, plugins))
            message = json.loads(ws.receive_text())
            assert message["type"] == "next"
            assert message["payload"]["data"]["notifications"] == {"title": "Anda memenuhi syarat PKH",
                                                                   "template": "DECISION_ELIGIBLE"}
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"],
                                      headers={"X-Perlinsos-Pilot": "BWI-2025"}) as ws:
            ws.send_text(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer bad:forged"}}))
            with pytest.raises(Exception) as closed:
                ws.receive_text()
            assert getattr(closed.value, "code", None) == 4403


async def _deliver(settings, plugins) -> None:
    from perlinsos.db.engine import Database

    db = Database(settings.database_url)
    try:
        await dispatcher(db, plugins).drain()
    finally:
        await db.dispose()


async def test_two_dispatchers_at_once_send_each_row_once(db, plugins, decided):
    """On PostgreSQL the claims skip each other's locked rows; on SQLite the claim transaction
    is BEGIN IMMEDIATE. Either way no row is taken twice."""
    a = Dispatcher(db, plugins, portal_url="https://portal.test", batch=2, policy=FAST)
    b = Dispatcher(db, plugins, portal_url="https://portal.test", batch=2, policy=FAST)
    done = await asyncio.gather(a.drain(), b.drain())
    assert sum(done, Counter()) == {"DELIVERED": 4, "SENT": 3, "UNDELIVERABLE": 1}
    assert len(ch.SENT) == 3 == len(ch.delivered_keys())  # no key sent twice


async def test_a_pilot_overrides_a_text(db, plugins, decided):
    from perlinsos.db.models import Pilot

    override = {"DECISION_NOT_ELIGIBLE": {"id": {"short": "Banyuwangi: {programme} belum bisa ({main_reason}). "
                                                          "Cek {portal_url}"}}}
    async with db.write() as s:
        await s.execute(update(Pilot).values(templates=override))
    await dispatcher(db, plugins).drain()
    refused = next(m for m in ch.SENT if m.template == "DECISION_NOT_ELIGIBLE")
    assert refused.short == "Banyuwangi: PKH belum bisa (data listrik). Cek https://portal.test"  # minimal values
    assert refused.title == "Anda belum memenuhi syarat PKH"  # parts not overridden stay the platform's


def test_a_template_override_with_an_unknown_placeholder_is_refused():
    from perlinsos.pilots.files import PilotFileError

    data = pilot_data(templates={"DECISION_PENDING": {"en": {"short": "Hello {citizen_name}"}},
                                 "DECISION_MAYBE": {}})
    with pytest.raises(PilotFileError) as info:
        parse_pilot(data, PluginManager(extra_plugins=[(static_auth.NAME, static_auth)], national=static_auth.NATIONAL))
    message = str(info.value)
    assert "templates.DECISION_PENDING.en.short: unknown placeholder {citizen_name}" in message
    assert "templates.DECISION_MAYBE: unknown template" in message
