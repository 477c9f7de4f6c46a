"""``perlinsos select`` killed with SIGKILL part-way through a pilot of a few thousand
registrations, then started again: the same run resumes after its last committed chunk and every
registration ends with exactly one decision, its reasons and its outbox rows — none twice, none
orphaned, nothing of the chunk that was in flight when the process died."""

from __future__ import annotations

import asyncio

import scale_criteria
import scale_support
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.db.models import Decision, DecisionReason, Notification, Registration, RunStatus, SelectionRun
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.cli import select_cmd
from perlinsos.plugins import PluginManager
from scale_support import Processes
from sqlalchemy import func, select

database_url = scale_support.database_url  # a database of this test's own (the fixture)
REGISTRATIONS = 2000
CHUNK = 40
PLUGINS = ("scale_criteria",)
REASONS = 2  # each decision: electricity, and the platform's consent check (seeded people gave none)


async def runs(db) -> list[SelectionRun]:
    async with db.read() as s:
        return list((await s.execute(select(SelectionRun))).scalars())


async def scalar(db, stmt):
    async with db.read() as s:
        return (await s.execute(stmt)).scalar_one()


async def test_a_selection_killed_mid_run_resumes_and_decides_everyone_once(database_url, db, tmp_path):
    data = pilot_data()
    data["plugins"] = {scale_criteria.NAME: {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, PluginManager(extra_plugins=[(scale_criteria.NAME,
                                                                                     scale_criteria)])))
    ids = await seed.registrations(db, "BWI-2025", REGISTRATIONS, with_decision=False)
    procs = Processes(database_url, tmp_path)
    args = ["select", "--pilot", "BWI-2025", "--chunk-size", str(CHUNK)]
    if any(p.name == "lease" for p in select_cmd.params):
        # a partitioned run: the dead process's partition is taken over once its lease runs out
        args += ["--lease", "2"]
    try:
        first = procs.run("select-1", args, extra_plugins=PLUGINS, PERLINSOS_SCALE_FACT_DELAY="0.05")
        deadline = asyncio.get_running_loop().time() + 60
        while True:  # kill once between a quarter and three quarters are decided (committed)
            assert first.process.poll() is None, first.log()
            if REGISTRATIONS // 4 <= await scalar(db, select(func.count(Decision.id))) <= 3 * REGISTRATIONS // 4:
                break
            assert asyncio.get_running_loop().time() < deadline, "no progress"
            await asyncio.sleep(0.02)
        first.kill9()
        assert "seleksi BWI-2025" in first.log() and "%|" in first.log()  # its progress bar was showing

        [killed] = await runs(db)
        assert killed.status == RunStatus.RUNNING  # nobody closed it: the process died
        # whole chunks only: a decision, its reason and its outbox row for each committed registration
        done = await scalar(db, select(func.count(Decision.id)))
        assert 0 < done < REGISTRATIONS and done % CHUNK == 0
        assert await scalar(db, select(func.max(Decision.registration_id))) == ids[done - 1]
        assert await scalar(db, select(func.count(DecisionReason.id))) == REASONS * done
        assert await scalar(db, select(func.count(Notification.id))) == done

        second = procs.run("select-2", args, extra_plugins=PLUGINS)
        assert second.wait(90) == 0, second.log()
        assert f"selection run {killed.id} (resumed)" in second.log()
        assert f"registrations processed  {REGISTRATIONS:>9,}" in second.log()
    finally:
        procs.stop_all()

    [finished] = await runs(db)
    assert (finished.id, finished.status) == (killed.id, RunStatus.FINISHED)
    assert finished.counts["processed"] == finished.counts["decided"] == REGISTRATIONS
    async with db.read() as s:
        per_registration = dict((await s.execute(
            select(Registration.id, func.count(Decision.id)).outerjoin(Decision, Decision.registration_id == Registration.id)
            .group_by(Registration.id))).all())
        versions = set((await s.execute(select(Decision.version, Decision.is_current, Decision.run_id)
                                         .distinct())).all())
        reasons = dict((await s.execute(select(Decision.id, func.count(DecisionReason.id)).outerjoin(
            DecisionReason, DecisionReason.decision_id == Decision.id).group_by(Decision.id))).all())
        notes = dict((await s.execute(select(Decision.id, func.count(Notification.id)).outerjoin(
            Notification, Notification.decision_id == Decision.id).group_by(Decision.id))).all())
        orphan_reasons = (await s.execute(select(func.count(DecisionReason.id)).where(
            DecisionReason.decision_id.not_in(select(Decision.id))))).scalar_one()
        orphan_notes = (await s.execute(select(func.count(Notification.id)).where(
            Notification.decision_id.is_(None) | Notification.decision_id.not_in(select(Decision.id))))).scalar_one()
        outcomes = dict((await s.execute(select(Decision.outcome, func.count()).group_by(Decision.outcome))).all())
    assert set(per_registration.values()) == {1} and len(per_registration) == REGISTRATIONS
    assert versions == {(1, True, killed.id)}  # one current first version each, all of this one run
    assert set(reasons.values()) == {REASONS} and set(notes.values()) == {1}
    assert orphan_reasons == 0 and orphan_notes == 0
    assert sum(outcomes.values()) == REGISTRATIONS and finished.counts["outcomes"] == {
        k.value: v for k, v in outcomes.items()}
