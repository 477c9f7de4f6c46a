"""Selection streams in chunks: the fact hook is called once per chunk — ceil(N / chunk) times —
and every registration is in exactly one call, in registration order (SQLite and PostgreSQL)."""

from __future__ import annotations

import math

import pytest
from fixtures import fixture_criteria as fc
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos.registration import consent
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.selection import run_selection

ALL_SCOPES = consent.SCOPES  # every scope: person and all facts
SIZES = (1, 7, 25, 50)
CHUNKS = (1, 7, 10, 50)


async def registrations(db, n: int) -> list[int]:
    ids = await seed.registrations(db, "BWI-2025", n, with_decision=False)
    for i in range(n):
        fc.FACTS[seed.nik(i)] = 900 if i % 3 else 2200
        if i % 5:  # every fifth without consent: still in exactly one call (its facts come back as errors)
            await seed.consent(db, seed.nik(i), ALL_SCOPES)
    return ids


def expected_batches(ids: list[int], chunk: int) -> list[list[int]]:
    return [ids[i:i + chunk] for i in range(0, len(ids), chunk)]


@pytest.mark.parametrize("n", SIZES)
async def test_the_fact_hook_is_called_once_per_chunk(db, hooks, n):
    ids = await registrations(db, n)
    for chunk in CHUNKS:
        fc.CALLS.clear()
        summary = await run_selection(db, hooks, chunk_size=chunk)
        assert len(fc.CALLS) == math.ceil(n / chunk), (n, chunk)
        assert fc.CALLS == expected_batches(sorted(ids), chunk), (n, chunk)
        called = [rid for call in fc.CALLS for rid in call]
        assert len(called) == len(set(called)) == n and set(called) == set(ids)
        assert summary.processed == n
    # the first run decided everyone; the later ones (other chunk sizes) found nothing changed
    assert summary.unchanged == n and summary.decided == 0


async def test_a_chunk_exactly_as_large_as_the_pilot_is_one_call_and_no_empty_one(db, hooks):
    ids = await registrations(db, 10)
    summary = await run_selection(db, hooks, chunk_size=10)
    assert fc.CALLS == [sorted(ids)] and summary.processed == summary.decided == 10


async def test_registrations_of_another_pilot_are_in_no_call(db, hooks, plugins):
    other = pilot_data(code="BWI-2026")
    other["plugins"] = {static_auth.NAME: {}, fc.NAME: {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(other, plugins))
    ours = await registrations(db, 12)
    theirs = await seed.registrations(db, "BWI-2026", 5, start=100, with_decision=False)
    await run_selection(db, hooks, chunk_size=5)
    called = [rid for call in fc.CALLS for rid in call]
    assert len(fc.CALLS) == math.ceil(12 / 5) and sorted(called) == sorted(ours)
    assert not set(called) & set(theirs)
