"""The pipelined dispatcher (issue 17, item 2): the next batch is claimed and sent while the current
one is still being sent, and that never costs a guarantee — with two dispatchers at once every row
is sent once; a batch whose result write fails keeps its rows' state (SENDING, re-sent with the same
idempotency key after the lease); results are audited per group of results, every one counted."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from fixtures import fixture_channel as ch
from fixtures import fixture_criteria as fc
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos.db.models import AuditEvent, Notification, Person
from perlinsos.notification import outbox
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.registration import consent
from perlinsos.selection import run_selection
from sqlalchemy import select, update

FAST = Policy(max_attempts=3, base_delay=0.0, lease=0.3, send_timeout=5.0)
PEOPLE = 12


@pytest.fixture
def plugins():
    fc.reset()
    ch.reset()
    yield PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (fc.NAME, fc), (ch.NAME, ch)],
                        national=static_auth.NATIONAL)
    fc.reset()
    ch.reset()


@pytest.fixture
async def outbox_rows(db, plugins) -> list[str]:
    """PEOPLE registrants selected, each with a phone: one due "pesan" row each (their portal rows
    are set aside as delivered, so every row claimed is a send). Returns the rows' keys."""
    data = pilot_data()
    data["plugins"] = {static_auth.NAME: {}, fc.NAME: {}, ch.NAME: {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
        context = pilot_context(await get_pilot(session, data["code"]), plugins)
    await seed.registrations(db, "BWI-2025", PEOPLE, with_decision=False)
    async with db.write() as s:
        for i in range(PEOPLE):
            await s.execute(update(Person).where(Person.nik == seed.nik(i)).values(phone=f"+62812345678{i:02d}"))
    for i in range(PEOPLE):
        fc.FACTS[seed.nik(i)] = 900
        await seed.consent(db, seed.nik(i), consent.SCOPES)
    await run_selection(db, plugins.for_pilot(context))
    async with db.write() as s:
        await s.execute(update(Notification).where(Notification.channel == "portal").values(status="DELIVERED"))
        keys = list((await s.execute(select(Notification.idempotency_key)
                                     .where(Notification.channel == "pesan"))).scalars())
    assert len(keys) == PEOPLE
    return keys


async def rows(db) -> dict[str, tuple[str, int]]:
    async with db.read() as s:
        found = (await s.execute(select(Notification.idempotency_key, Notification.status, Notification.attempts)
                                 .where(Notification.channel == "pesan"))).all()
    return {k: (st.value, a) for k, st, a in found}


async def test_the_next_batch_is_sent_while_the_current_one_is(db, plugins, outbox_rows, monkeypatch):
    """Batches of 4, 8 sends allowed at once, a gateway that holds every send until 8 are in flight
    (or 3 s pass): only a dispatcher that claims and starts batch 2 while batch 1's sends are still
    waiting ever has 8 in flight."""
    in_flight, most = 0, 0
    crowd = asyncio.Event()
    send = ch.Pesan.send

    async def held(self, message):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight >= 8:
            crowd.set()
        try:
            await asyncio.wait_for(crowd.wait(), 3)
        except TimeoutError:
            pass
        in_flight -= 1
        return await send(self, message)

    monkeypatch.setattr(ch.Pesan, "send", held)
    done = await Dispatcher(db, plugins, portal_url="https://portal.test", batch=4, concurrency=8,
                            policy=Policy(lease=30)).drain()
    assert done == {"SENT": PEOPLE}
    assert most == 8  # two batches' sends at once
    assert sorted(m.idempotency_key for m in ch.SENT) == sorted(outbox_rows)  # each once
    assert set((await rows(db)).values()) == {("SENT", 1)}


async def test_two_pipelined_dispatchers_send_each_row_once(db, plugins, outbox_rows):
    """Each dispatcher keeps a claimed batch ahead of its sends; the claims still exclude each
    other (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""
    a, b = (Dispatcher(db, plugins, portal_url="https://portal.test", batch=3, concurrency=4, policy=Policy(lease=30))
            for _ in range(2))
    done = await asyncio.gather(a.drain(), b.drain())
    assert sum(done, Counter()) == {"SENT": PEOPLE}
    assert Counter(m.idempotency_key for m in ch.SENT) == Counter(outbox_rows)  # every key exactly once
    assert set((await rows(db)).values()) == {("SENT", 1)}  # no row claimed twice


async def test_a_batch_whose_result_write_fails_keeps_its_rows_state(db, plugins, outbox_rows, monkeypatch):
    """The gateway accepted the messages, then writing the results fails (the database away): the
    rows stay SENDING under their (now unrenewed) lease, nothing is marked sent or failed; once the
    lease runs out the next dispatcher re-sends them with the same keys (the gateway drops the
    repeats) and records them."""
    record_many = outbox._record_many

    async def failing(db, results):
        raise ConnectionError("database went away")

    monkeypatch.setattr(outbox, "_record_many", failing)
    done = await Dispatcher(db, plugins, portal_url="https://portal.test", batch=5, policy=FAST).run_once()
    assert done == {"CRASHED": 5}
    state = await rows(db)
    assert Counter(state.values()) == {("SENDING", 1): 5, ("PENDING", 0): PEOPLE - 5}
    first = [m.idempotency_key for m in ch.SENT]
    assert sorted(first) == sorted(k for k, v in state.items() if v == ("SENDING", 1))

    monkeypatch.setattr(outbox, "_record_many", record_many)
    await asyncio.sleep(FAST.lease + 0.1)
    done = await Dispatcher(db, plugins, portal_url="https://portal.test", batch=5, policy=FAST).drain()
    assert done == {"SENT": PEOPLE}
    state = await rows(db)
    assert {k: v for k, v in state.items() if k in first} == {k: ("SENT", 2) for k in first}
    assert set(v for k, v in state.items() if k not in first) == {("SENT", 1)}
    resent = [m.idempotency_key for m in ch.SENT[len(first):] if m.idempotency_key in first]
    assert sorted(resent) == sorted(first)  # the same keys again: the gateway de-duplicates them
    assert ch.delivered_keys() == set(outbox_rows)


async def test_results_are_audited_per_group_every_row_counted(db, plugins, outbox_rows):
    """One audit row per claimed batch and per group of results written together (not one per
    message); the groups' counts add up to every result."""
    done = await Dispatcher(db, plugins, portal_url="https://portal.test", batch=4, concurrency=8,
                            policy=Policy(lease=30)).drain()
    assert done == {"SENT": PEOPLE}
    async with db.read() as s:
        audited = (await s.execute(select(AuditEvent.action, AuditEvent.details)
                                   .where(AuditEvent.entity_type == "notification"))).all()
    claims = [d for a, d in audited if a == "NOTIFICATIONS_CLAIMED"]
    results = [d for a, d in audited if a == "NOTIFICATIONS_ATTEMPTED"]
    assert len(claims) == PEOPLE // 4 and sum(d["count"] for d in claims) == PEOPLE
    assert sum(d["count"] for d in results) == PEOPLE
    assert sum((Counter(d["statuses"]) for d in results), Counter()) == Counter({"SENT": PEOPLE})
    assert len(results) <= len(claims)  # results written in groups, not a row each


async def test_a_dispatcher_cancelled_with_a_batch_claimed_ahead_renews_no_lease(db, plugins, outbox_rows,
                                                                                   monkeypatch):
    """Killed (cancelled) while batch 1 is being sent, batch 2 waits for send slots and batch 3 is
    claimed ahead: nothing keeps renewing any of their leases, so once they run out another
    dispatcher sends every row."""
    in_flight = 0
    send = ch.Pesan.send

    async def hung(self, message):
        nonlocal in_flight
        in_flight += 1
        await asyncio.sleep(3600)

    monkeypatch.setattr(ch.Pesan, "send", hung)
    policy = Policy(lease=0.3, base_delay=0.0)
    task = asyncio.ensure_future(Dispatcher(db, plugins, portal_url="https://portal.test", batch=4, concurrency=4,
                                            policy=policy).drain())
    for _ in range(100):
        await asyncio.sleep(0.05)
        if in_flight == 4 and Counter(v for v in (await rows(db)).values())[("SENDING", 1)] == PEOPLE:
            break
    assert Counter((await rows(db)).values()) == {("SENDING", 1): PEOPLE}  # the third batch claimed ahead
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    monkeypatch.setattr(ch.Pesan, "send", send)
    await asyncio.sleep(policy.lease * 3)  # would be renewed meanwhile by a keeper left behind
    done = await Dispatcher(db, plugins, portal_url="https://portal.test", batch=4, policy=policy).drain()
    assert done == {"SENT": PEOPLE}
    assert ch.delivered_keys() == set(outbox_rows)
