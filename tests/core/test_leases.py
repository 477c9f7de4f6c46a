"""Leases on the database's clock (issue 18, item 6): a selection worker or a dispatcher whose own
clock runs 5 minutes ahead (or behind) takes no live lease; a dispatcher renews its leases while it
sends, and a dead dispatcher's rows are taken over when its short lease runs out, ahead of the
pending backlog. The SMS gateway is the real simulator over HTTP; SQLite and PostgreSQL.

A skewed machine is this process with ``utcnow`` (the code's clock) moved in the modules that
hold leases; the database keeps its own clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fixtures import seed
from fixtures.delivery import PORTAL, due_sms, row, sms_pilot
from fixtures.sms import DELIVERABLE, wait_until
from perlinsos.db.models import Decision, Notification, NotificationStatus
from perlinsos.db.types import utcnow
from perlinsos.notification import outbox
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.selection import begin, chunks, engine, work
from perlinsos.selection import partitions as parts
from sqlalchemy import func, select, update


S = NotificationStatus
FIVE_MINUTES = timedelta(minutes=5)


@pytest.fixture
def clock(monkeypatch):
    """``clock(offset)``: this process's clock runs ``offset`` off the database's from now on."""

    def skew(offset: timedelta) -> None:
        for module in (parts, engine, chunks, outbox):
            monkeypatch.setattr(module, "utcnow", lambda: utcnow() + offset)

    yield skew
    monkeypatch.undo()


# --- selection partitions --------------------------------------------------------------------------


async def one_partition_run(db, hooks) -> str:
    await seed.registrations(db, "BWI-2025", 4, with_decision=False)
    return (await begin(db, hooks.pilot, None, "test"))[0].run_id


async def test_a_worker_five_minutes_ahead_does_not_take_a_live_partition(db, hooks, clock):
    run_id = await one_partition_run(db, hooks)
    healthy = await parts.claim(db, run_id, "healthy", lease=60)  # mid-partition, well inside its lease
    clock(FIVE_MINUTES)
    with pytest.raises(TimeoutError):  # it waits for the lease, as it must: the partition is taken
        await asyncio.wait_for(work(db, hooks, run_id, worker="ahead", poll=0.05), 1.0)
    [held] = await parts.partitions(db, run_id)
    assert (held.claimed_by, held.attempts, held.status.value) == ("healthy", healthy.attempt, "RUNNING")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Decision))).scalar_one() == 0


async def test_a_worker_five_minutes_behind_holds_its_lease_for_its_length(db, hooks, clock):
    run_id = await one_partition_run(db, hooks)
    clock(-FIVE_MINUTES)
    behind = await parts.claim(db, run_id, "behind", lease=60)
    assert behind is not None
    clock(timedelta(0))
    assert await parts.claim(db, run_id, "punctual", lease=60) is None  # its lease runs 60 s, not -240 s
    # and when it lapses (a short lease, on the database's clock), it is taken over at once
    await parts.release(db, behind)
    clock(-FIVE_MINUTES)
    short = await parts.claim(db, run_id, "behind", lease=0.3)
    clock(timedelta(0))
    assert await parts.claim(db, run_id, "punctual", lease=60) is None
    await asyncio.sleep(0.5)
    taken = await parts.claim(db, run_id, "punctual", lease=60)
    assert taken is not None and taken.attempt == short.attempt + 1


# --- the outbox ------------------------------------------------------------------------------------


async def sending_slowly(db, plugin_manager, sms_sim, policy: Policy, keys: list[str], batch: int = 100):
    """A dispatcher whose sends the gateway accepted and answers late (3 s): its task, once every
    key has reached the gateway."""
    sms_sim.set_fault("slow", delay_seconds=3)
    task = asyncio.ensure_future(Dispatcher(db, plugin_manager, portal_url=PORTAL, batch=batch,
                                            policy=policy).run_once())
    await asyncio.to_thread(wait_until, lambda: all(sms_sim.messages(idempotency_key=k) for k in keys), 10)
    return task


async def keys_of(db, ids: list[int]) -> list[str]:
    return [(await row(db, i)).idempotency_key for i in ids]


async def test_a_dispatcher_five_minutes_ahead_does_not_take_live_claims(db, pilot, plugin_manager, sms_sim,
                                                                         clock):
    sms_sim.reset()
    await sms_pilot(db, plugin_manager, sms_sim)
    ids = await due_sms(db, 2)
    alive = await sending_slowly(db, plugin_manager, sms_sim, Policy(lease=60, base_delay=0), await keys_of(db, ids))
    clock(FIVE_MINUTES)
    assert await Dispatcher(db, plugin_manager, portal_url=PORTAL, policy=Policy(lease=60)).run_once() == {}
    clock(timedelta(0))
    sms_sim.set_fault(None)
    assert await alive == {"SENT": 2}
    assert sms_sim.stats()["duplicates"] == 0
    assert [(await row(db, i)).attempts for i in ids] == [1, 1]


async def test_a_working_dispatcher_renews_its_short_lease(db, pilot, plugin_manager, sms_sim):
    """Its sends outlast the lease (3 s against 0.6 s): renewed, nobody else takes the rows."""
    sms_sim.reset()
    await sms_pilot(db, plugin_manager, sms_sim)
    ids = await due_sms(db, 2)
    policy = Policy(lease=0.6, base_delay=0)
    alive = await sending_slowly(db, plugin_manager, sms_sim, policy, await keys_of(db, ids))
    other = Dispatcher(db, plugin_manager, portal_url=PORTAL, policy=policy)
    for _ in range(4):
        await asyncio.sleep(0.5)
        assert await other.run_once() == {}
    sms_sim.set_fault(None)
    assert await alive == {"SENT": 2}
    assert sms_sim.stats()["duplicates"] == 0


async def test_a_dead_dispatchers_rows_are_taken_over_promptly_ahead_of_the_backlog(db, pilot, plugin_manager,
                                                                                    sms_sim):
    sms_sim.reset()
    await sms_pilot(db, plugin_manager, sms_sim)
    victims = await due_sms(db, 2)
    policy = Policy(lease=0.5, base_delay=0)
    dead = await sending_slowly(db, plugin_manager, sms_sim, policy, await keys_of(db, victims))
    dead.cancel()  # kill -9 after the gateway accepted: nothing written, the leases not given back
    with pytest.raises(asyncio.CancelledError):
        await dead
    sms_sim.set_fault(None)
    backlog = await due_sms(db, 3, start=50)  # a backlog due for an hour, older than any lease
    async with db.write() as s:
        await s.execute(update(Notification).where(Notification.id.in_(backlog))
                        .values(next_attempt_at=utcnow() - timedelta(hours=1)))
    await asyncio.sleep(policy.lease + 0.2)

    done = await Dispatcher(db, plugin_manager, portal_url=PORTAL, batch=2, policy=policy).run_once()
    assert sum(done.values()) == 2
    assert [(await row(db, i)).status for i in victims] != [S.SENDING, S.SENDING]
    assert {(await row(db, i)).status for i in victims} <= {S.SENT, S.DELIVERED}
    assert [(await row(db, i)).status for i in backlog] == [S.PENDING] * 3
    assert [(await row(db, i)).attempts for i in victims] == [2, 2]
    # re-sent with the same keys: the gateway sent each SMS once
    assert len([m for m in sms_sim.messages() if m["to"] == DELIVERABLE]) == 2
    assert Policy().lease <= 30  # the default: a dead dispatcher's citizens wait at most this long
