"""The outbox with real ``perlinsos notify run`` processes and the SMS gateway simulator over HTTP.

* Two worker processes (each its own engine and connection pool) drain one outbox at once: every
  row is claimed by one of them only, and the gateway receives every message exactly once.
  (tests/core/test_notification.py runs two Dispatcher tasks in one process with a fixture
  channel; this is the same guarantee across processes, against the real plugin and gateway.)
* A worker killed with SIGKILL mid-batch, while the gateway is slow to answer, then restarted:
  delivery is at-least-once with a stable idempotency key per row, so the rows it had claimed are
  sent again after their lease — and the gateway drops the repeats. Nothing is lost, and the
  gateway holds each message once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import scale_criteria
import scale_support
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.db.models import Notification, Person
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.selection import run_selection
from scale_support import Processes, wait_for
from sqlalchemy import bindparam, select, update

database_url = scale_support.database_url  # a database of this test's own (the fixture)
PLUGINS = ("scale_criteria",)


@pytest.fixture
def gateway(sms_sim):
    sms_sim.reset()
    yield sms_sim
    sms_sim.reset()


async def outbox(db, gateway, count: int) -> None:
    """``count`` registrations with mobile numbers, selected: a portal and an SMS row each."""
    plugins = PluginManager(extra_plugins=[(scale_criteria.NAME, scale_criteria)])
    data = pilot_data()
    data["plugins"] = {scale_criteria.NAME: {}, "notify_sms": {
        "gateway_url": gateway.url, "api_key": gateway.api_key, "sender_id": "PERLINSOS",
        "portal_url": "https://portal.test"}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
    await seed.registrations(db, "BWI-2025", count, with_decision=False)
    async with db.write() as session:
        person_ids = list((await session.execute(select(Person.id).order_by(Person.id))).scalars())
        # synthetic mobile numbers, none ending in 0000 (the simulator fails those on purpose)
        people = Person.__table__
        await session.execute(update(people).where(people.c.id == bindparam("pid")).values(phone=bindparam("phone")),
                              [{"pid": pid, "phone": f"+628123{i + 1:07d}"} for i, pid in enumerate(person_ids)])
        context = pilot_context(await get_pilot(session, "BWI-2025"), plugins)
    await run_selection(db, plugins.for_pilot(context))


async def rows(db) -> list[Notification]:
    async with db.read() as s:
        return list((await s.execute(select(Notification).order_by(Notification.id))).scalars())


async def statuses(db) -> Counter:
    return Counter((r.channel, r.status.value) for r in await rows(db))


async def assert_each_sent_once(db, gateway, count: int) -> list[dict]:
    """Every row done, and the gateway holding one message per SMS row, by its idempotency key."""
    found = await rows(db)
    # an SMS is SENT, or DELIVERED when a re-send's gateway answer said it was delivered meanwhile
    seen = Counter((r.channel, "SENT" if r.status.value == "DELIVERED" and r.channel == "sms" else r.status.value)
                   for r in found)
    assert seen == {("portal", "DELIVERED"): count, ("sms", "SENT"): count}
    received = gateway.messages()
    by_key = Counter(m["idempotency_key"] for m in received)
    assert len(received) == count and set(by_key.values()) == {1}
    sms = {r.idempotency_key: r for r in found if r.channel == "sms"}
    assert set(by_key) == set(sms)
    for message in received:  # the row's reference is the gateway's message, and its recipient
        row = sms[message["idempotency_key"]]
        assert (row.provider_reference, row.recipient) == (message["message_id"], message["to"])
    return received


async def test_two_worker_processes_send_every_message_exactly_once(database_url, db, gateway, tmp_path):
    count = 240
    await outbox(db, gateway, count)
    gateway.set_fault("slow", delay_seconds=0.05)  # a gateway that takes its time: both workers get work
    procs = Processes(database_url, tmp_path)
    try:
        args = ["notify", "run", "--once", "--batch", "20", "--concurrency", "8"]
        workers = [procs.run(f"notify-{n}", args, extra_plugins=PLUGINS) for n in "ab"]
        for worker in workers:
            assert worker.wait(120) == 0, worker.log()
            worker.assert_clean_log()
    finally:
        procs.stop_all()
    await assert_each_sent_once(db, gateway, count)
    stats = gateway.stats()
    assert (stats["accepted"], stats["duplicates"]) == (count, 0)  # no row was ever claimed twice
    shares = []
    for worker in workers:
        summary = worker.log().strip().splitlines()[-1]  # "delivered: DELIVERED n, SENT m"
        assert summary.startswith("delivered: "), summary
        shares.append(dict((k, int(v)) for k, v in (part.split() for part in summary[11:].split(", "))))
    assert sum((Counter(s) for s in shares), Counter()) == {"DELIVERED": count, "SENT": count}
    assert all(s.get("SENT", 0) > 0 for s in shares), shares  # both really worked the one outbox


async def test_a_worker_killed_mid_batch_loses_nothing_and_the_gateway_sends_each_once(database_url, db, gateway,
                                                                                     tmp_path):
    count = 80
    await outbox(db, gateway, count)
    gateway.set_fault("slow", delay_seconds=1.0)  # accepted at once, answered late: the kill lands mid-send
    procs = Processes(database_url, tmp_path)
    lease = 3.0
    args = ["notify", "run", "--batch", "40", "--concurrency", "16", "--lease", str(lease)]
    try:
        first = procs.run("notify-1", args, extra_plugins=PLUGINS)
        wait_for(lambda: gateway.stats()["accepted"] >= 8, 30, "the gateway accepting messages")
        first.kill9()
        accepted_before = gateway.stats()["accepted"]
        state = await statuses(db)
        # mid-batch: the gateway has messages whose rows were never recorded as sent
        assert state[("sms", "SENT")] < accepted_before and state[("sms", "SENDING")] > 0, (state, accepted_before)
        killed_at = time.monotonic()

        second = procs.run("notify-2", args, extra_plugins=PLUGINS)
        deadline = time.monotonic() + 90
        while sum(n for (channel, status), n in (await statuses(db)).items()
                  if channel == "sms" and status in ("SENT", "DELIVERED")) < count:
            assert second.process.poll() is None, second.log()
            assert time.monotonic() < deadline, (await statuses(db), second.log()[-3000:])
            await asyncio.sleep(0.2)
        second.stop()  # SIGTERM: it finishes the batch in hand and stops
        assert second.process.returncode == 0, second.log()
        second.assert_clean_log()
    finally:
        procs.stop_all()
    received = await assert_each_sent_once(db, gateway, count)
    stats = gateway.stats()
    # the rows the dead worker had claimed were sent again only after their lease, with the same
    # key: the gateway answered with the message it already had and sent nothing new
    assert stats["accepted"] == count and stats["duplicates"] >= accepted_before - state[("sms", "SENT")] > 0
    resent = [r for r in await rows(db) if r.channel == "sms" and r.attempts > 1]
    assert resent and time.monotonic() - killed_at >= lease
    assert all(m["requests"] == 1 for m in received if m["idempotency_key"] not in {r.idempotency_key
                                                                                  for r in resent})
