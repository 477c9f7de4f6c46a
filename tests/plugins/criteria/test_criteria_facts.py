"""``collect_facts`` against the real IKD simulator (a subprocess): batching, mapping, consent, and a
source that is down, slow or answers garbage — always facts with an error, never an exception."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest

from fixtures.ikd import free_port
from perlinsos_ikd.population import Population

from .helpers import ALL_SCOPES, FACT_NAMES, by_registrant, consent_of, granted, ref_of, utc

SOURCES = {"monthly_income": "BPJS Ketenagakerjaan", "bank_flags": "PPATK", "electricity_va": "PLN",
           "welfare_decile": "DTSEN", "state_employment": "BKN", "car_ownership": "Korlantas Polri"}


@pytest.fixture(scope="module")
def population() -> Population:
    """The simulator's population, built in-process from the same size and seed (deterministic)."""
    return Population(200, seed=2025)


@pytest.fixture
def heads(ikd):
    return ikd.people(limit=8, role="HEAD")


async def collect(hooks_for, refs, *, ikd=None, **settings):
    return by_registrant(await hooks_for(ikd=ikd, **settings).merged("collect_facts", registrants=refs))


def errors(facts: dict) -> dict[str, str | None]:
    assert all(f.value is None and f.as_of is None for f in facts.values() if f.error)
    return {name: f.error for name, f in facts.items()}


def only(code: str) -> dict[str, str]:
    return dict.fromkeys(FACT_NAMES, code)


async def test_facts_are_mapped_with_value_source_and_date_in_one_call(ikd, hooks_for, heads, population):
    refs = [granted(ikd, person, rid) for rid, person in enumerate(heads[:5], start=1)]
    found = await collect(hooks_for, refs, ikd=ikd.settings())

    assert ikd.stats()["POST /facts"] == 1  # the whole batch in one request
    assert set(found) == {1, 2, 3, 4, 5}
    for ref in refs:
        household, _ = population.find(ref.nik)
        facts = found[ref.registration_id]
        assert set(facts) == set(FACT_NAMES) and errors(facts) == dict.fromkeys(FACT_NAMES)
        for record in household.facts:
            got = facts[record.name]
            assert (got.value, got.source, got.as_of) == (record.value, SOURCES[record.name], record.as_of)
    # The showcase's third household: 2,200 VA on record, from PLN as of 1 August 2025.
    electricity = found[3]["electricity_va"]
    assert (electricity.value, electricity.source, electricity.as_of.isoformat()) == (2200, "PLN", "2025-08-01")


async def test_batches_of_batch_size_and_one_item_per_grant(ikd, hooks_for, heads):
    refs = [granted(ikd, person, rid) for rid, person in enumerate(heads[:5], start=1)]
    twice = replace(refs[0], registration_id=6, programme="SEMBAKO")  # same person and grant, another programme
    found = await collect(hooks_for, [*refs, twice], ikd=ikd.settings(), batch_size=2)

    stats = ikd.stats()
    assert stats["POST /facts"] == 3 and stats["facts items"] == 5  # 5 grants in batches of 2
    assert set(found) == {1, 2, 3, 4, 5, 6}
    assert {n: f.value for n, f in found[6].items()} == {n: f.value for n, f in found[1].items()}
    assert all(f.error is None for facts in found.values() for f in facts.values())


async def test_no_consent_asks_nothing_and_makes_nothing_up(ikd, hooks_for, heads):
    grant = ikd.grant(heads[0]["nik"], scopes=ALL_SCOPES)
    without_reference = replace(consent_of(grant), reference=None)
    refs = [ref_of(heads[0], 1, None), ref_of(heads[0], 2, without_reference)]
    found = await collect(hooks_for, refs, ikd=ikd.settings())

    assert "POST /facts" not in ikd.stats()
    assert errors(found[1]) == errors(found[2]) == only("NO_CONSENT")
    assert {f.source for f in found[1].values()} == set(SOURCES.values())  # each names where it would come from

    # Beside a consented registrant, only that one's facts are asked for.
    found = await collect(hooks_for, [*refs, granted(ikd, heads[1], 3)], ikd=ikd.settings())
    assert ikd.stats()["facts items"] == 1 and errors(found[3]) == dict.fromkeys(FACT_NAMES)


async def test_withdrawn_or_expired_consent(ikd, hooks_for, heads):
    withdrawn = granted(ikd, heads[0], 1)
    ikd.revoke(withdrawn.consent.reference)
    found = await collect(hooks_for, [withdrawn], ikd=ikd.settings())
    assert errors(found[1]) == only("CONSENT_INVALID")  # IKD refuses the withdrawn grant

    live = granted(ikd, heads[1], 2)
    expired = replace(live, consent=replace(live.consent, expires_at=utc(2025, 1, 1)))
    naive = replace(live, registration_id=3, consent=replace(
        live.consent, expires_at=(live.consent.expires_at - timedelta(days=400)).replace(tzinfo=None)))
    elsewhere = replace(live, registration_id=4, nik=heads[2]["nik"], member_niks=(heads[2]["nik"],))
    ikd.reset()
    found = await collect(hooks_for, [expired, naive, elsewhere], ikd=ikd.settings())
    assert "POST /facts" not in ikd.stats()  # known to be unusable: not sent
    assert errors(found[2]) == errors(found[3]) == errors(found[4]) == only("CONSENT_INVALID")


async def test_scopes_not_granted(ikd, hooks_for, heads):
    income_only = granted(ikd, heads[0], 1, scopes=("person", "facts:income"))
    at_ikd_person_only = ref_of(heads[1], 2, consent_of(ikd.grant(heads[1]["nik"], scopes=("person",)),
                                                        scopes=ALL_SCOPES))
    recorded_income_only = ref_of(heads[2], 3, consent_of(ikd.grant(heads[2]["nik"], scopes=ALL_SCOPES),
                                                          scopes=("person", "facts:income")))
    person_only = granted(ikd, heads[3], 4, scopes=("person",))
    found = await collect(hooks_for, [income_only, at_ikd_person_only, recorded_income_only, person_only],
                          ikd=ikd.settings())

    assert ikd.stats()["facts items"] == 3  # the platform's record of registrant 4 covers no facts: not asked
    expected = only("SCOPE_NOT_GRANTED") | {"monthly_income": None}
    assert errors(found[1]) == expected
    assert errors(found[2]) == only("SCOPE_NOT_GRANTED")  # IKD's grant lacks facts:*
    assert errors(found[3]) == expected  # IKD would give more; the platform's consent does not cover it
    assert errors(found[4]) == only("SCOPE_NOT_GRANTED")
    assert isinstance(found[1]["monthly_income"].value, int)


async def test_unknown_person(ikd, hooks_for, heads):
    grant = consent_of(ikd.grant(heads[0]["nik"], scopes=ALL_SCOPES))
    stranger = {"nik": "3509011203800001", "kk_number": "3509010101200001", "region_code": "35.09.01.2001"}
    found = await collect(hooks_for, [ref_of(stranger, 1, replace(grant, nik=stranger["nik"]))], ikd=ikd.settings())
    assert errors(found[1]) == only("UNKNOWN_PERSON")


async def test_another_household_on_record(ikd, hooks_for, heads):
    moved = granted(ikd, heads[0], 1, kk_number="3510150101209999")  # the registration's KK is not IKD's
    found = await collect(hooks_for, [moved], ikd=ikd.settings())
    assert errors(found[1]) == only("HOUSEHOLD_MISMATCH")


@pytest.mark.parametrize(("mode", "code"), [("down", "SOURCE_UNAVAILABLE"), ("garbage", "INVALID_RESPONSE")])
async def test_a_source_down_or_answering_garbage(ikd, hooks_for, heads, mode, code):
    refs = [granted(ikd, person, rid) for rid, person in enumerate(heads[:3], start=1)]
    ikd.set_fault(mode, paths=("/facts",))
    found = await collect(hooks_for, refs, ikd=ikd.settings())
    assert ikd.stats()["POST /facts"] == 1
    assert all(errors(found[rid]) == only(code) for rid in (1, 2, 3))

    ikd.set_fault(None)  # it comes back: the next run gets the facts
    found = await collect(hooks_for, refs, ikd=ikd.settings())
    assert all(f.error is None for facts in found.values() for f in facts.values())


async def test_a_slow_source_is_cut_off_at_the_timeout(ikd, hooks_for, heads):
    refs = [granted(ikd, person, rid) for rid, person in enumerate(heads[:3], start=1)]
    ikd.set_fault("slow", delay_seconds=10, paths=("/facts",))
    started = time.perf_counter()
    found = await collect(hooks_for, refs, ikd=ikd.settings(), timeout_seconds=1, batch_size=2)
    elapsed = time.perf_counter() - started

    assert elapsed < 3, elapsed  # two batches, concurrently, each bounded by 1 s
    assert all(errors(found[rid]) == only("SOURCE_TIMEOUT") for rid in (1, 2, 3))
    ikd.set_fault(None)
    found = await collect(hooks_for, refs, ikd=ikd.settings(), timeout_seconds=1)
    assert all(f.error is None for facts in found.values() for f in facts.values())


async def test_a_refused_credential_or_no_server(ikd, hooks_for, heads):
    refs = [granted(ikd, heads[0], 1)]
    found = await collect(hooks_for, refs, ikd=ikd.settings(client_secret="salah"))
    assert errors(found[1]) == only("SOURCE_REFUSED")
    # The plugin's own secret wins over the IKD plugin's.
    found = await collect(hooks_for, refs, ikd=ikd.settings(client_secret="salah"), client_secret=ikd.client_secret)
    assert errors(found[1]) == dict.fromkeys(FACT_NAMES)

    started = time.perf_counter()
    found = await collect(hooks_for, refs, ikd=ikd.settings(), facts_api_url=f"http://127.0.0.1:{free_port()}",
                          timeout_seconds=2)
    assert errors(found[1]) == only("SOURCE_UNAVAILABLE") and time.perf_counter() - started < 2


async def test_the_source_from_the_plugins_own_settings_or_none(ikd, hooks_for, heads):
    refs = [granted(ikd, heads[0], 1)]
    own = await collect(hooks_for, refs, facts_api_url=ikd.url, client_secret=ikd.client_secret)  # no ikd plugin
    assert errors(own[1]) == dict.fromkeys(FACT_NAMES)
    assert ikd.stats()["POST /facts"] == 1

    nowhere = await collect(hooks_for, refs)  # neither its own settings nor the IKD plugin's
    assert errors(nowhere[1]) == only("SOURCE_NOT_CONFIGURED")
    assert ikd.stats()["POST /facts"] == 1


async def test_an_empty_batch(ikd, hooks_for):
    assert await hooks_for(ikd=ikd.settings()).merged("collect_facts", registrants=[]) == []
    assert "POST /facts" not in ikd.stats()
