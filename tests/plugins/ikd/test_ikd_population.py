"""The synthetic population: deterministic, valid identity numbers, coherent households, and a
facts mix that exercises every eligibility reason and the data errors appeals exist for."""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import time
from collections import Counter
from datetime import date

import pytest

from perlinsos import regions
from perlinsos.idnumbers import is_valid_phone, normalize_phone, parse_kk, parse_nik
from perlinsos_ikd.households import CHILD, HEAD, PARENT, PKH_LIMITS, REASONS, SPOUSE
from perlinsos_ikd.population import Population

TODAY = date(2026, 1, 1)  # any date after the snapshot: NIK centuries must decode the same


@pytest.fixture(scope="module")
def population() -> Population:
    return Population(20_000, seed=2025)


@pytest.fixture(scope="module")
def households(population):
    return list(population.households())


def test_size_and_speed(population):
    started = time.perf_counter()
    Population(20_000, seed=99)
    assert time.perf_counter() - started < 10  # ~0.7 s on the development machine
    assert len(population) == 20_000
    assert sum(len(h.members) for h in population.households()) == 20_000
    rng = random.Random(1)
    niks = [population.nik(rng.randrange(20_000)) for _ in range(2000)]
    started = time.perf_counter()
    for nik in niks:
        assert population.find(nik)[1].nik == nik
    assert (time.perf_counter() - started) / len(niks) < 0.001  # well under a millisecond each


def test_lookup_misses(population):
    for nik in ("3510151203800001", "", "abc", "3510" * 4 + "0", None, "35101512038000011"):
        assert population.find(nik) is None


def test_deterministic():
    a, b, c = Population(500, seed=7), Population(500, seed=7), Population(500, seed=8)
    assert list(a.households()) == list(b.households())
    assert [h.kk_number for h in a.households()] != [h.kk_number for h in c.households()]


def test_tiny_population():
    tiny = Population(5)
    assert len(tiny) == 5 and sum(len(h.members) for h in tiny.households()) == 5
    assert tiny.household(0).pkh_reasons() == ()  # the first household is an eligible one


def test_identity_numbers(households):
    niks, kks = set(), set()
    villages = {v.code for v in regions.villages("35.10")}
    for household in households:
        assert household.region_code in villages
        assert regions.get(household.region_code).name == household.village
        kk = parse_kk(household.kk_number)
        assert kk.district == household.region_code[:8]
        kks.add(household.kk_number)
        for member in household.members:
            nik = parse_nik(member.nik, today=TODAY)
            assert nik.district == household.region_code[:8]
            assert (nik.birth_date, nik.sex) == (member.birth_date, member.sex)
            assert (int(member.nik[6:8]) > 40) == (member.sex == "F")  # women's day + 40
            niks.add(member.nik)
    assert len(niks) == sum(len(h.members) for h in households), "NIKs are not unique"
    assert len(kks) == len(households), "KK numbers are not unique"


def test_households_are_coherent(population, households):
    on = population.as_of
    sizes = Counter(len(h.members) for h in households)
    assert set(sizes) == {1, 2, 3, 4, 5, 6}
    assert 3.0 < sum(k * n for k, n in sizes.items()) / len(households) < 4.2
    for household in households:
        roles = [m.relationship for m in household.members]
        assert roles[0] == HEAD and roles.count(HEAD) == 1 and roles.count(SPOUSE) <= 1
        assert roles == sorted(roles, key=[HEAD, SPOUSE, CHILD, PARENT].index)
        head = household.head
        assert head.age(on) >= 18
        parents = [m for m in household.members if m.relationship in (HEAD, SPOUSE)]
        for member in household.members:
            assert 0 <= member.age(on) <= 95 and member.birth_date <= on
            if member.relationship == SPOUSE:
                assert member.age(on) >= 18 and member.sex != head.sex
            if member.relationship == CHILD:
                assert all(p.age(on) - member.age(on) >= 15 for p in parents)
            if member.relationship == PARENT:
                assert member.age(on) > head.age(on) + 15


def test_phones(population, households):
    on = population.as_of
    adults = [m for h in households for m in h.members if m.age(on) >= 17]
    assert all(m.phone is None for h in households for m in h.members if m.age(on) < 17)
    with_phone = [m for m in adults if m.phone]
    assert 0.6 < len(with_phone) / len(adults) < 0.95  # some adults have none
    invalid = [m for m in with_phone if m.phone_invalid]
    assert 0 < len(invalid) < 0.05 * len(with_phone)
    for member in with_phone:
        if member.phone_invalid:
            assert not is_valid_phone(member.phone), member.phone
        else:
            assert normalize_phone(member.phone) == member.phone  # valid, already E.164


def test_facts_mix(households):
    reasons = Counter(r for h in households for r in h.pkh_reasons())
    assert set(reasons) == set(REASONS), reasons  # every rejection reason is represented
    eligible = sum(1 for h in households if not h.pkh_reasons())
    assert 0.25 < eligible / len(households) < 0.5  # many eligible households
    for household in households:
        facts = {f.name: f for f in household.facts}
        assert facts["electricity_va"].value in (450, 900, 1300, 2200, 3500, 5500, 6600)
        assert 1 <= facts["welfare_decile"].value <= 10
        assert all(f.as_of <= date(2025, 8, 1) and f.source for f in facts.values())
        niks = {m.nik for m in household.members}
        for name in ("monthly_income", "bank_flags", "state_employment", "car_ownership"):
            assert set(facts[name].members) <= niks
        assert set(facts["state_employment"].value) <= {"ASN", "TNI", "POLRI", "BUMN"}
    incomes = [v for h in households for v in h.fact("monthly_income").members.values()]
    assert min(incomes) >= 1_000_000 and any(v <= PKH_LIMITS["income"] for v in incomes)


def test_data_errors_are_flagged(households):
    errors = [(h, e) for h in households for e in h.data_errors]
    kinds = Counter((e.kind, e.fact) for _, e in errors)
    assert set(kinds) == {("NIK_MISUSE", "monthly_income"), ("NIK_MISUSE", "bank_flags"),
                          ("ELECTRICITY_MISRECORDED", "electricity_va")}
    for household, error in errors:
        assert error.recorded != error.actual and error.note
        recorded = household.fact(error.fact)
        if error.kind == "ELECTRICITY_MISRECORDED":  # the pilot's case: 2,200 VA on record, 900 VA supplied
            assert (recorded.value, household.ground_truth["electricity_va"]) == (2200, 900)
        else:  # someone else's income or transactions attached to a member's NIK
            assert household.member(error.nik) is not None
            assert recorded.members[error.nik] == error.recorded
        assert error.fact in household.ground_truth
    # Fixing the data turns some rejections into eligibility: what an upheld appeal does.
    assert any(h.pkh_reasons() and not h.pkh_reasons(corrected=True) for h, _ in errors)


@pytest.mark.skipif(not os.environ.get("PERLINSOS_IKD_BIG"), reason="set PERLINSOS_IKD_BIG=1 (about 5 s, 130 MB)")
def test_a_million_people():
    started = time.perf_counter()
    big = Population(1_000_000)
    built = time.perf_counter() - started
    rng = random.Random(3)
    started = time.perf_counter()
    for _ in range(10_000):
        nik = big.nik(rng.randrange(1_000_000))
        assert big.find(nik)[1].nik == nik
    lookup = (time.perf_counter() - started) / 10_000
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n1M people: built in {built:.1f} s, {big.household_count} households, "
          f"find {lookup * 1e6:.0f} µs, peak RSS {peak_mb:.0f} MB")
    assert built < 60 and lookup < 0.001


def test_people_listing_matches_a_plain_scan():
    small = Population(3000, seed=11)
    village = small.household(3).region_code
    everyone = [(h, m) for h in small.households() for m in h.members]
    cases = {
        (): everyone,
        (("role", "CHILD"),): [(h, m) for h, m in everyone if m.relationship == "CHILD"],
        (("village", village),): [(h, m) for h, m in everyone if h.region_code == village],
        (("village", village), ("role", "HEAD")): [(h, m) for h, m in everyone
                                                  if h.region_code == village and m.relationship == "HEAD"],
        (("reason", "OWNS_CAR"),): [(h, m) for h, m in everyone if "OWNS_CAR" in h.pkh_reasons()],
        (("error", "any"),): [(h, m) for h, m in everyone if h.data_errors],
    }
    for filters, expected in cases.items():
        for offset in (0, 1, 7, len(expected) - 2, len(expected) + 5):
            listed = small.people(offset=offset, limit=10, **dict(filters))
            assert [m.nik for _, m in listed] == [m.nik for _, m in expected[offset:offset + 10]], (filters, offset)


# --- the default population never changes: tests across the suite name its people ----------------------


def _canonical(household) -> list:
    return [household.index, household.kk_number, household.region_code, household.village, household.district,
            household.address,
            [[m.nik, m.name, m.birth_date.isoformat(), m.sex, m.relationship, m.phone, m.phone_invalid]
             for m in household.members],
            [[f.name, f.scope, f.source, f.as_of.isoformat(), f.value, dict(f.members)] for f in household.facts],
            [[e.kind, e.fact, e.nik, e.recorded, e.actual, e.note] for e in household.data_errors],
            dict(household.ground_truth)]


def _digest(population) -> str:
    text = json.dumps([_canonical(h) for h in population.households()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# Recorded from the Banyuwangi-only population before populations spanned regencies (issue 12).
DEFAULT_DIGESTS = {
    (200, 2025): "1d6f9a8c3d0b467e60ad25161fc1bedc17fa108fd27812c69bae39b54f2f03ad",
    (2000, 2025): "c211f8883addc5da453224c92b2d3b19010dbddaf1b9f3d656724884e475c31d",
}


def test_the_default_banyuwangi_population_is_unchanged():
    small = Population(200, seed=2025)
    first, showcase = small.household(0), small.household(8)
    assert (first.kk_number, first.region_code) == ("3510190406130001", "35.10.19.2003")
    assert first.address == "Dusun Kedungrejo RT 001 RW 003, Desa Sragi, Kec. Songgon, Kab. Banyuwangi"
    assert [(m.nik, m.name, m.phone) for m in first.members] == [
        ("3510195306780001", "Purwanti Rohmah", "+6288756040290"),
        ("3510191107740001", "Nugroho Prasetyo", "+6287866268977"),
        ("3510190306230001", "Budi Agus", None), ("3510195504130001", "Aminah Siti", None)]
    assert (showcase.kk_number, showcase.region_code, showcase.head.nik, showcase.head.name) == (
        "3510140911240001", "35.10.14.2002", "3510140810910001", "Sugeng Purnomo")
    assert showcase.pkh_reasons() == ("ELECTRICITY_ABOVE_LIMIT",) and not showcase.pkh_reasons(corrected=True)
    for (size, seed), digest in DEFAULT_DIGESTS.items():
        assert _digest(Population(size, seed)) == digest, (size, seed)
        assert _digest(Population(size, seed, regions=("35.10",))) == digest, (size, seed)
