"""Transparency figures (``perlinsos stats`` / ``pilotStats``): exact against an independent count,
small cells suppressed so no household can be singled out, scoped by region and by role."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from fixtures import seed
from perlinsos.cli import main
from perlinsos.db.models import (
    Appeal,
    AppealStatus,
    Channel,
    Decision,
    DecisionReason,
    Notification,
    NotificationStatus,
    Outcome,
    Person,
    Registration,
    Verdict,
)
from perlinsos.db.types import utcnow
from perlinsos.stats import pilot_stats
from perlinsos.stats.suppression import Equation, suppress

KEMIREN, OLEHSARI = "35.10.15.2004", "35.10.15.2005"  # kecamatan Glagah
LATENG, PAKIS = "35.10.16.1014", "35.10.16.1001"  # kecamatan Banyuwangi
QUERY = (Path(__file__).resolve().parents[2] / "schema" / "operations" / "PilotStats.graphql").read_text()
SMS = [NotificationStatus.DELIVERED, NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.DEAD,
       NotificationStatus.DELIVERED, NotificationStatus.PENDING, NotificationStatus.UNDELIVERABLE]


async def _redecide(db, registration_ids, outcome: Outcome, fails=(), unknown=()) -> list[int]:
    """A new current version of each registration's decision (the older one superseded)."""
    ids = []
    async with db.write() as s:
        for rid in registration_ids:
            last = (await s.execute(select(Decision).where(Decision.registration_id == rid, Decision.is_current)))\
                .scalar_one_or_none()
            if last is not None:
                await s.execute(update(Decision).where(Decision.id == last.id).values(is_current=False,
                                                                                     superseded_at=utcnow()))
            d = Decision(registration_id=rid, version=(last.version + 1) if last else 1, outcome=outcome,
                         criteria_versions={}, inputs_digest="1" * 64)
            s.add(d)
            await s.flush()
            for code in ("ELECTRICITY_ABOVE_LIMIT", "INCOME_ABOVE_LIMIT", "OWNS_CAR"):
                verdict = Verdict.FAIL if code in fails else Verdict.UNKNOWN if code in unknown else Verdict.PASS
                s.add(DecisionReason(decision_id=d.id, code=code, verdict=verdict, criterion_version="1"))
            ids.append(d.id)
    return ids


async def _current(db, rid) -> Decision:
    async with db.read() as s:
        return (await s.execute(select(Decision).where(Decision.registration_id == rid, Decision.is_current)))\
            .scalar_one()


async def _appeal(db, rid, status: AppealStatus, *, overdue=False, upheld_to: Outcome | None = None) -> None:
    decision = await _current(db, rid)
    resulting = (await _redecide(db, [rid], upheld_to))[0] if upheld_to else None
    now = utcnow()
    async with db.write() as s:
        person = (await s.execute(select(Registration.person_id).where(Registration.id == rid))).scalar_one()
        s.add(Appeal(decision_id=decision.id, appellant_person_id=person, channel=Channel.SELF,
                     ground="DATA_INCORRECT", disputed_reasons=["ELECTRICITY_ABOVE_LIMIT"],
                     statement="Data listrik saya keliru.", status=status, resulting_decision_id=resulting,
                     submitted_at=now - timedelta(days=20),
                     review_due_at=now - timedelta(days=6) if overdue else now + timedelta(days=8),
                     resolved_at=now if status.value in ("UPHELD", "DISMISSED", "WITHDRAWN") else None))


async def _notifications(db, pilot_code) -> None:
    pid = await seed.pilot_id(db, pilot_code)
    async with db.write() as s:
        people = (await s.execute(select(Registration.person_id).order_by(Registration.id))).scalars().all()
        for i, person in enumerate(people):
            s.add(Notification(person_id=person, pilot_id=pid, channel="portal", template="DECISION",
                               status=NotificationStatus.DELIVERED, idempotency_key=f"p-{person}"))
            s.add(Notification(person_id=person, pilot_id=pid, channel="sms", template="DECISION",
                               status=SMS[i % len(SMS)], idempotency_key=f"s-{person}"))


@pytest.fixture
async def mix(db, pilot):
    """Four villages in two kecamatan; Lateng has only 2 registrations (to be suppressed)."""
    kemiren = await seed.registrations(db, pilot, 10, region=KEMIREN)
    kemiren += await seed.registrations(db, pilot, 6, region=KEMIREN, start=100, assisted_by="fac-1")
    olehsari = await seed.registrations(db, pilot, 8, region=OLEHSARI, start=200)
    olehsari += await seed.registrations(db, pilot, 5, region=OLEHSARI, start=300, assisted_by="fac-2")
    lateng = await seed.registrations(db, pilot, 2, region=LATENG, start=400)
    pakis = await seed.registrations(db, pilot, 9, region=PAKIS, start=500)
    await seed.registrations(db, pilot, 7, region=PAKIS, start=600, assisted_by="fac-3", with_decision=False)
    await _redecide(db, kemiren[:6], Outcome.ELIGIBLE)
    await _redecide(db, olehsari[:3], Outcome.PENDING, unknown=("INCOME_ABOVE_LIMIT",))
    await _redecide(db, pakis[:5], Outcome.NOT_ELIGIBLE, fails=("ELECTRICITY_ABOVE_LIMIT", "INCOME_ABOVE_LIMIT"))
    await _appeal(db, kemiren[6], AppealStatus.SUBMITTED, overdue=True)
    await _appeal(db, kemiren[7], AppealStatus.SUBMITTED)
    await _appeal(db, kemiren[8], AppealStatus.UNDER_REVIEW, overdue=True)
    await _appeal(db, kemiren[9], AppealStatus.UPHELD, upheld_to=Outcome.ELIGIBLE)
    await _appeal(db, kemiren[10], AppealStatus.DISMISSED)
    await _appeal(db, olehsari[5], AppealStatus.WITHDRAWN)
    await _appeal(db, lateng[0], AppealStatus.SUBMITTED, overdue=True)
    await _notifications(db, pilot)
    return pilot


async def independent_count(db) -> dict[str, dict[str, Counter]]:
    """Every figure per village, from the rows themselves: the latest decision by version number."""
    out: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    now = utcnow()
    async with db.read() as s:
        regs = {r.id: r for r in (await s.execute(select(Registration))).scalars()}
        latest: dict[int, Decision] = {}
        for d in (await s.execute(select(Decision))).scalars():
            if d.registration_id not in latest or d.version > latest[d.registration_id].version:
                latest[d.registration_id] = d
        decisions = {d.id: d for d in (await s.execute(select(Decision))).scalars()}
        reasons = (await s.execute(select(DecisionReason))).scalars().all()
        appeals = (await s.execute(select(Appeal))).scalars().all()
        notes = (await s.execute(select(Notification, Person.region_code).join(Person))).all()
    for r in regs.values():
        out[r.region_code]["registrations"][r.channel.value] += 1
    current_ids = {d.id for d in latest.values()}
    for rid, d in latest.items():
        out[regs[rid].region_code]["decisions"][d.outcome.value] += 1
    for reason in reasons:
        d = decisions[reason.decision_id]
        if reason.decision_id in current_ids and d.outcome == Outcome.NOT_ELIGIBLE and reason.verdict == Verdict.FAIL:
            out[regs[d.registration_id].region_code]["reasons"][reason.code] += 1
    for a in appeals:
        village = regs[decisions[a.decision_id].registration_id].region_code
        out[village]["appeal_status"][a.status.value] += 1
        if a.status.value in ("UPHELD", "DISMISSED", "WITHDRAWN"):
            out[village]["appeal_outcome"][decisions[a.resulting_decision_id or a.decision_id].outcome.value] += 1
        if a.status.value in ("SUBMITTED", "UNDER_REVIEW") and a.review_due_at < now:
            out[village]["overdue"]["OVERDUE"] += 1
    for n, village in notes:
        out[village][f"notify|{n.channel}"][n.status.value] += 1
    return out


def published(region) -> dict[str, Counter]:
    """The figures of one RegionStats as {metric: Counter}, zeros dropped (None kept)."""
    def counts(cells):
        return Counter({c.key: c.count for c in cells if c.count != 0})
    got = {"registrations": counts(region.registrations.cells), "decisions": counts(region.decisions.cells),
           "reasons": counts(region.rejection_reasons), "appeal_status": counts(region.appeals_by_status.cells),
           "appeal_outcome": counts(region.appeals_by_outcome.cells), "overdue": counts([region.overdue_appeals])}
    got.update({f"notify|{ch.channel}": counts(ch.statuses) for ch in region.notifications})
    return {k: v for k, v in got.items() if v}


def summed(expected, villages) -> dict[str, Counter]:
    total: dict[str, Counter] = defaultdict(Counter)
    for v in villages:
        for metric, counter in expected.get(v, {}).items():
            total[metric] += counter
    return {k: v for k, v in total.items() if v}


async def test_figures_equal_an_independent_count(db, mix):
    expected = await independent_count(db)
    stats = await pilot_stats(db, mix, min_cell=1)  # nothing suppressed
    assert [v.region_code for v in stats.villages] == [KEMIREN, OLEHSARI, PAKIS, LATENG]
    assert [d.region_code for d in stats.districts] == ["35.10.15", "35.10.16"]
    for v in stats.villages:
        assert published(v) == summed(expected, [v.region_code]), v.region_code
    assert published(stats.districts[0]) == summed(expected, [KEMIREN, OLEHSARI])
    assert published(stats.districts[1]) == summed(expected, [LATENG, PAKIS])
    assert published(stats.overall) == summed(expected, expected)
    # the seeded plan, spelled out for the overall row
    o = stats.overall
    assert (o.registrations.total.count, {c.key: c.count for c in o.registrations.cells}) == \
        (47, {"SELF": 29, "ASSISTED": 18, "VILLAGE_OFFICE": 0})
    assert {c.key: c.count for c in o.decisions.cells} == {"ELIGIBLE": 7, "NOT_ELIGIBLE": 30, "PENDING": 3}
    assert {c.key: c.count for c in o.rejection_reasons} == {"ELECTRICITY_ABOVE_LIMIT": 30, "INCOME_ABOVE_LIMIT": 5}
    assert o.overdue_appeals.count == 3
    assert {c.key: c.count for c in o.appeals_by_outcome.cells} == {"ELIGIBLE": 1, "NOT_ELIGIBLE": 2, "PENDING": 0}
    sms = next(ch for ch in o.notifications if ch.channel == "sms")
    assert sms.total.count == 47 and {r.key: r.rate for r in sms.rates}["DEAD"] == round(
        next(c.count for c in sms.statuses if c.key == "DEAD") / 47, 4)


def _equations_hold_no_single_unknown(stats) -> None:
    """What a reader can do with the published tables: no equation with exactly one hidden member."""
    regions = [stats.overall, *stats.districts, *stats.villages]
    children = {d.region_code: [v for v in stats.villages if v.region_code.startswith(d.region_code + ".")]
                for d in stats.districts}

    def groups(r):
        found = {"registrations": r.registrations, "decisions": r.decisions, "appeal_status": r.appeals_by_status,
                 "appeal_outcome": r.appeals_by_outcome}
        found.update({f"notify|{c.channel}": c for c in r.notifications})
        return found

    def cells(group):
        return [group.total, *(group.cells if hasattr(group, "cells") else group.statuses)]

    for r in regions:
        for name, g in groups(r).items():
            members = cells(g)
            assert sum(c.suppressed for c in members) != 1, (r.region_code, name)
    lines = [(stats.overall, stats.districts)] + [(d, children[d.region_code]) for d in stats.districts]
    for parent, kids in lines:
        for name, g in groups(parent).items():
            for i, cell in enumerate(cells(g)):
                members = [cell] + [cells(groups(k)[name])[i] for k in kids]
                assert sum(c.suppressed for c in members) != 1, (parent.region_code, name, cell.key)


def _no_small_count(stats, k) -> None:
    for r in [stats.overall, *stats.districts, *stats.villages]:
        shown = [c.count for c in (*r.registrations.cells, r.registrations.total, *r.decisions.cells,
                                   *r.rejection_reasons, *r.appeals_by_status.cells, r.overdue_appeals)]
        assert not [n for n in shown if n is not None and 0 < n < k], r.region_code


async def test_a_village_of_two_cannot_be_singled_out(db, mix):
    stats = await pilot_stats(db, mix)
    lateng = next(v for v in stats.villages if v.region_code == LATENG)
    assert lateng.registrations.total.count is None and lateng.registrations.total.suppressed
    # its row is hidden whole, zeros included: "both registered by themselves" would be a disclosure
    assert all(c.suppressed and c.count is None for c in lateng.registrations.cells)
    assert all(c.suppressed for c in lateng.decisions.cells)
    # and the kecamatan minus its other village does not give it back
    pakis = next(v for v in stats.villages if v.region_code == PAKIS)
    banyuwangi = stats.districts[1]
    assert pakis.registrations.total.suppressed or banyuwangi.registrations.total.suppressed
    _no_small_count(stats, 5)
    _equations_hold_no_single_unknown(stats)
    # a rate from a hidden count is hidden
    lateng_sms = next(ch for ch in lateng.notifications if ch.channel == "sms")
    assert all(r.rate is None and r.suppressed for r in lateng_sms.rates)


@pytest.mark.parametrize("k", [2, 5, 10])
async def test_suppression_holds_for_any_threshold(db, mix, k):
    stats = await pilot_stats(db, mix, min_cell=k)
    assert stats.min_cell == k
    _no_small_count(stats, k)
    _equations_hold_no_single_unknown(stats)


def test_complementary_suppression_picks_the_smallest_other_cell():
    values = {"T": 20, "a": 2, "b": 9, "c": 9, "z": 0}
    assert suppress(values, [Equation("T", ("a", "b", "c", "z"))], 5) == {"a", "b"}
    assert suppress({"T": 0, "a": 0}, [Equation("T", ("a",))], 5) == set()
    # a hidden total hides its row
    assert suppress({"T": 3, "a": 3, "b": 0}, [Equation("T", ("a", "b"))], 5, {"T": ["a", "b"]}) == {"T", "a", "b"}


async def test_region_scope(db, mix):
    glagah = await pilot_stats(db, mix, "35.10.15", min_cell=1)
    assert glagah.overall.region_code == "35.10.15" and glagah.overall.name == "Glagah"
    assert [v.region_code for v in glagah.villages] == [KEMIREN, OLEHSARI]
    assert glagah.overall.registrations.total.count == 29
    village = await pilot_stats(db, mix, PAKIS, min_cell=1)
    assert [v.region_code for v in village.villages] == [PAKIS] and village.overall.registrations.total.count == 16
    assert village.districts == ()  # its kecamatan lies outside the scope
    assert {c.key: c.count for c in village.overall.decisions.cells} == {"ELIGIBLE": 0, "NOT_ELIGIBLE": 9,
                                                                         "PENDING": 0}


def _cli(*args: str, url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"PERLINSOS_DATABASE_URL": url})
    return result.exit_code, result.output


async def test_cli_prints_the_tables(db, mix, database_url):
    code, out = await asyncio.to_thread(_cli, "stats", "--pilot", mix, url=database_url)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"statistik {mix}")
    first = lines.index("pendaftaran per kanal / registrations by channel")
    assert lines[first + 1].split()[-4:] == ["SELF", "ASSISTED", "VILLAGE_OFFICE", "TOTAL"]
    assert lines[first + 2].split()[-4:] == ["29", "18", "0", "47"]  # the overall row
    lateng = next(line for line in lines[first:] if line.strip().startswith(LATENG))
    assert lateng.split()[-3:] == ["s", "s", "s"]
    code, out = await asyncio.to_thread(_cli, "stats", "--pilot", mix, "--region", "35.99", url=database_url)
    assert code != 0 and "Kode wilayah tidak dikenal" in out and "Unknown region code" in out
    code, out = await asyncio.to_thread(_cli, "stats", "--pilot", "NOPE", url=database_url)
    assert code != 0 and "Pilot not found" in out


async def test_graphql_answers_what_the_cli_prints(client, db, mix, database_url):
    await seed.staff(db, "admin", "ADMIN", "35")
    for region in (None, "35.10.16", KEMIREN):
        data = await client.query(QUERY, {"pilot": mix, "regionCode": region}, token="staff:admin")
        assert data["data"]["pilotStats"]["errors"] == [], data
        answer = data["data"]["pilotStats"]["stats"]
        args = ["stats", "--pilot", mix, "--json"] + (["--region", region] if region else [])
        code, out = await asyncio.to_thread(_cli, *args, url=database_url)
        assert code == 0, out
        printed = json.loads(out)
        printed.pop("generatedAt")
        assert answer == printed


async def test_who_may_ask(client, db, mix):
    await seed.staff(db, "rev-glagah", "REVIEWER", "35.10.15")
    await seed.staff(db, "fac", "FACILITATOR", KEMIREN)

    async def ask(token, language=None, **variables):
        data = await client.query(QUERY, {"pilot": mix, **variables}, token=token, language=language)
        payload = data["data"]["pilotStats"]
        return payload["errors"][0] if payload["errors"] else payload["stats"]

    own = await ask("staff:rev-glagah")  # a reviewer's default scope is their region
    assert own["regionCode"] == "35.10.15" and [v["regionCode"] for v in own["villages"]] == [KEMIREN, OLEHSARI]
    assert (await ask("staff:rev-glagah", regionCode=KEMIREN))["regionCode"] == KEMIREN
    assert (await ask("staff:rev-glagah", regionCode="35.10.16"))["code"] == "FORBIDDEN"
    assert (await ask("staff:rev-glagah", regionCode="35.10"))["code"] == "FORBIDDEN"  # wider than theirs
    assert (await ask("staff:fac"))["code"] == "FORBIDDEN"
    assert (await ask(f"citizen:{seed.nik(0)}"))["code"] == "FORBIDDEN"
    assert (await ask(None))["code"] == "UNAUTHENTICATED"
    bad = await ask("staff:rev-glagah", "en", regionCode="35.10.15.99")
    assert bad == {"code": "REGION_UNKNOWN", "message": "Unknown region code.", "field": "regionCode"}
    await seed.staff(db, "admin", "ADMIN", "35")
    assert (await ask("staff:admin", pilot="NOPE"))["code"] == "PILOT_UNKNOWN"


async def test_a_region_asked_alone_hides_what_the_whole_pilot_hides(db, mix):
    """Suppression is decided on the whole pilot: Pakis asked alone must not show what the pilot's
    table hid to protect Lateng (Banyuwangi's 18 minus Pakis's 16 would give Lateng's 2)."""
    full = await pilot_stats(db, mix)
    rows = {r.region_code: r for r in (*full.districts, *full.villages)}
    assert rows[PAKIS].registrations.total.suppressed
    for code in rows:
        scoped = await pilot_stats(db, mix, code)
        assert scoped.overall == rows[code], code
        assert all(v == rows[v.region_code] for v in (*scoped.districts, *scoped.villages)), code
    regency = await pilot_stats(db, mix, "35.10")  # the pilot's whole regency: the pilot's own figures
    assert regency.overall.registrations == full.overall.registrations and regency.villages == full.villages


@pytest.mark.parametrize("seed_", range(40))
def test_suppression_leaves_no_equation_with_one_unknown(seed_):
    """Random two-level tables (villages x categories, kecamatan sums, grand totals), many small cells."""
    import random

    rng = random.Random(seed_)
    cats, villages = ["a", "b", "c"], [f"v{i}" for i in range(rng.randint(1, 6))]
    values = {(v, c): rng.choice([0, 1, 2, 3, 4, 5, 7, 12, 40]) for v in villages for c in cats}
    for v in villages:
        values[(v, "*")] = sum(values[(v, c)] for c in cats)
    for c in [*cats, "*"]:
        values[("all", c)] = sum(values[(v, c)] for v in villages)
    rows = [Equation((r, "*"), tuple((r, c) for c in cats)) for r in [*villages, "all"]]
    cols = [Equation(("all", c), tuple((v, c) for v in villages)) for c in [*cats, "*"]]
    hidden = suppress(values, rows + cols, 5, {(r, "*"): [(r, c) for c in cats] for r in [*villages, "all"]})
    assert all(k in hidden for k, n in values.items() if 0 < n < 5)
    for eq in rows + cols:
        assert sum(m in hidden for m in (eq.total, *eq.parts)) != 1, (eq, hidden)
