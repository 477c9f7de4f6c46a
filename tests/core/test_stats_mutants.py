"""Small-cell suppression and who may see which figures, pinned where mutation testing (issue 19,
``tools/mutation/run.py stats``) found the other tests blind: which cell complementary suppression
hides, the exact threshold, and a reviewer's scope. Through ``perlinsos stats --json`` and the
``pilotStats`` query only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select, update

from fixtures import seed
from perlinsos.db.models import (
    Decision,
    DecisionReason,
    Notification,
    NotificationStatus,
    Outcome,
    Pilot,
    Registration,
    Verdict,
)

from test_stats import _cli

KEMIREN, OLEHSARI = "35.10.15.2004", "35.10.15.2005"  # kecamatan Glagah
LATENG = "35.10.16.1014"  # kecamatan Banyuwangi
QUERY = (Path(__file__).resolve().parents[2] / "schema" / "operations" / "PilotStats.graphql").read_text()


async def _outcomes(db, registration_ids, outcome: Outcome) -> None:
    async with db.write() as s:
        await s.execute(update(Decision).where(Decision.registration_id.in_(registration_ids)).values(outcome=outcome))


async def _village(db, pilot, region, start, eligible, not_eligible, pending, *, income_fails=0,
                   sms=()) -> None:
    """A village whose current decisions are split as given (every registration SELF; every
    NOT_ELIGIBLE fails the electricity criterion, the first ``income_fails`` the income one too),
    and one SMS per person with the given statuses."""
    ids = await seed.registrations(db, pilot, eligible + not_eligible + pending, region=region, start=start)
    await _outcomes(db, ids[:eligible], Outcome.ELIGIBLE)
    await _outcomes(db, ids[eligible + not_eligible:], Outcome.PENDING)
    pid = await seed.pilot_id(db, pilot)
    async with db.write() as s:
        failing = select(Decision.id).where(Decision.registration_id.in_(ids[eligible:eligible + income_fails]))
        await s.execute(update(DecisionReason).where(DecisionReason.decision_id.in_(failing),
                                                     DecisionReason.code == "INCOME_ABOVE_LIMIT")
                        .values(verdict=Verdict.FAIL))
        people = (await s.execute(select(Registration.person_id).where(Registration.id.in_(ids))
                                  .order_by(Registration.id))).scalars().all()
        for person, status in zip(people, sms, strict=False):
            s.add(Notification(person_id=person, pilot_id=pid, channel="sms", template="DECISION", status=status,
                               idempotency_key=f"sms-{person}"))


async def _figures(url: str, pilot: str, *args: str) -> dict:
    code, out = await asyncio.to_thread(_cli, "stats", "--pilot", pilot, "--json", *args, url=url)
    assert code == 0, out
    return json.loads(out)


def _shown(group: dict) -> dict[str, int | str]:
    """A group's cells as {key: count}, a suppressed one as "s" (its count must then be null)."""
    cells = [*group["cells"], {**group["total"], "key": "TOTAL"}]
    assert all(c["count"] is None for c in cells if c["suppressed"])
    return {c["key"]: "s" if c["suppressed"] else c["count"] for c in cells}


def _row(figures: dict, region: str) -> dict:
    return next(r for r in (*figures["districts"], *figures["villages"]) if r["regionCode"] == region)


def _sms(figures: dict, region: str) -> tuple[dict, dict]:
    channel = next(c for c in _row(figures, region)["notifications"] if c["channel"] == "sms")
    rates = {r["key"]: "s" if r["suppressed"] else r["rate"] for r in channel["rates"]}
    return _shown({"total": channel["total"], "cells": channel["statuses"]}), rates


async def test_the_complement_is_the_smallest_count_then_the_first_by_name(db, pilot, database_url):
    """Kemiren's 2 PENDING are hidden; its row total then gives them back unless another outcome goes
    too: the smaller one (6 NOT_ELIGIBLE), not ELIGIBLE (first by name, 9). Between equal counts the
    first by name goes (DELIVERED before SENT), whatever order the statuses are listed in. Olehsari is
    the same, so each kecamatan column has two hidden cells and nothing more needs hiding."""
    statuses = NotificationStatus
    await _village(db, pilot, KEMIREN, 0, eligible=9, not_eligible=6, pending=2, income_fails=2,
                   sms=[statuses.SENT] * 6 + [statuses.DELIVERED] * 6 + [statuses.FAILED] * 2)
    await _village(db, pilot, OLEHSARI, 100, eligible=12, not_eligible=7, pending=3, income_fails=3,
                   sms=[statuses.SENT] * 7 + [statuses.DELIVERED] * 7 + [statuses.FAILED] * 3)
    figures = await _figures(database_url, pilot)
    async with db.read() as s:
        name = (await s.execute(select(Pilot.name).where(Pilot.code == pilot))).scalar_one()
    assert (figures["overall"]["regionCode"], figures["overall"]["name"], figures["overall"]["level"]) == \
        (None, name, "pilot")
    assert _shown(_row(figures, KEMIREN)["decisions"]) == {"ELIGIBLE": 9, "NOT_ELIGIBLE": "s", "PENDING": "s",
                                                           "TOTAL": 17}
    assert _shown(_row(figures, OLEHSARI)["decisions"]) == {"ELIGIBLE": 12, "NOT_ELIGIBLE": "s", "PENDING": "s",
                                                            "TOTAL": 22}
    # the kecamatan's 5 PENDING is not below the threshold of 5: shown
    assert _shown(_row(figures, "35.10.15")["decisions"]) == {"ELIGIBLE": 21, "NOT_ELIGIBLE": 13, "PENDING": 5,
                                                              "TOTAL": 39}
    # a hidden NOT_ELIGIBLE count hides the village's rejection reasons (they count the same decisions),
    # the 6 electricity failures too, though the 2 income failures were hidden before (below 5)
    for village in (KEMIREN, OLEHSARI):
        assert [(c["key"], c["suppressed"]) for c in _row(figures, village)["rejectionReasons"]] == \
            [("ELECTRICITY_ABOVE_LIMIT", True), ("INCOME_ABOVE_LIMIT", True)], village
    assert [c["count"] for c in _row(figures, "35.10.15")["rejectionReasons"]] == [13, 5]
    sms, rates = _sms(figures, KEMIREN)
    assert {k: v for k, v in sms.items() if v} == {"SENT": 6, "DELIVERED": "s", "FAILED": "s", "TOTAL": 14}
    assert (rates["SENT"], rates["DELIVERED"], rates["FAILED"]) == (round(6 / 14, 4), "s", "s")
    assert {k: v for k, v in _sms(figures, OLEHSARI)[0].items() if v} == {"SENT": 7, "DELIVERED": "s",
                                                                         "FAILED": "s", "TOTAL": 17}
    assert {k: v for k, v in _sms(figures, "35.10.15")[0].items() if v} == {"SENT": 13, "DELIVERED": 13,
                                                                           "FAILED": 5, "TOTAL": 31}


async def test_the_threshold_is_exact(db, pilot, database_url):
    """Counts from 1 to K-1 are hidden, K itself is shown: Olehsari's single PENDING goes at K=2, the
    kecamatan's 3 PENDING stays at K=3 (its villages' 2 and 1 are both hidden, so no sum gives them)."""
    await _village(db, pilot, KEMIREN, 0, eligible=9, not_eligible=6, pending=2)
    await _village(db, pilot, OLEHSARI, 100, eligible=12, not_eligible=7, pending=1)
    for k in ("2", "3"):
        figures = await _figures(database_url, pilot, "--min-cell", k)
        assert figures["minCell"] == int(k)
        assert _shown(_row(figures, KEMIREN)["decisions"]) == {"ELIGIBLE": 9, "NOT_ELIGIBLE": "s", "PENDING": "s",
                                                               "TOTAL": 17}, k
        assert _shown(_row(figures, OLEHSARI)["decisions"]) == {"ELIGIBLE": 12, "NOT_ELIGIBLE": "s", "PENDING": "s",
                                                                "TOTAL": 20}, k
        assert _shown(_row(figures, "35.10.15")["decisions"]) == {"ELIGIBLE": 21, "NOT_ELIGIBLE": 13, "PENDING": 3,
                                                                  "TOTAL": 37}, k
    everything = await _figures(database_url, pilot, "--min-cell", "1")
    assert _shown(_row(everything, OLEHSARI)["decisions"]) == {"ELIGIBLE": 12, "NOT_ELIGIBLE": 7, "PENDING": 1,
                                                               "TOTAL": 20}


async def test_a_training_pilot_has_no_figures(client, db, pilot, database_url):
    await seed.staff(db, "admin", "ADMIN", "35")
    async with db.write() as s:
        await s.execute(update(Pilot).where(Pilot.code == pilot).values(training=True))
    data = await client.query(QUERY, {"pilot": pilot}, token="staff:admin", language="en")
    assert data["data"]["pilotStats"] == {"stats": None, "errors": [{
        "code": "TRAINING_PILOT_NO_STATS", "message": "A training pilot has no statistics: training is not counted.",
        "field": "pilot"}]}
    code, out = await asyncio.to_thread(_cli, "stats", "--pilot", pilot, url=database_url)
    assert code != 0 and "A training pilot has no statistics" in out


async def test_a_reviewer_of_this_pilot_and_of_two_regions(client, db, pilot):
    await seed.registrations(db, pilot, 6, region=KEMIREN)
    await seed.staff(db, "rev-pilot", "REVIEWER", "35.10.15", pilot_code=pilot)  # this pilot only
    await seed.staff(db, "rev-two", "REVIEWER", KEMIREN)
    await seed.staff(db, "rev-two", "REVIEWER", LATENG)
    await seed.staff(db, "admin", "ADMIN", "35")

    async def ask(token, **variables):
        data = await client.query(QUERY, {"pilot": pilot, **variables}, token=token, language="en")
        payload = data["data"]["pilotStats"]
        return payload["errors"][0] if payload["errors"] else payload["stats"]

    assert (await ask("staff:rev-pilot"))["regionCode"] == "35.10.15"
    # two regions and none asked: which one is not guessed
    assert await ask("staff:rev-two") == {"code": "INPUT_INVALID", "message": "The input is not valid.",
                                          "field": "regionCode"}
    assert (await ask("staff:rev-two", regionCode=LATENG))["regionCode"] == LATENG
    assert (await ask("staff:rev-two", regionCode=KEMIREN))["regionCode"] == KEMIREN
    assert (await ask("staff:rev-two", regionCode="35.10.15"))["code"] == "FORBIDDEN"
    assert await ask("staff:admin", pilot="NOPE") == {"code": "PILOT_UNKNOWN", "message": "Pilot not found.",
                                                      "field": "pilot"}
