"""The synthetic population and the simulator for any regency: a Jember (35.09) population beside
Banyuwangi's (35.10), with NIKs and KK numbers of their own districts, real villages, sizes that
follow the regencies' populations, and every simulator endpoint working for either."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from perlinsos import regions
from perlinsos.contract import PersonRecord
from perlinsos.idnumbers import parse_kk, parse_nik
from perlinsos_ikd.households import REASONS
from perlinsos_ikd.population import Population, allocate

from fixtures.ikd import IkdSimulator

BANYUWANGI, JEMBER = "35.10", "35.09"
TODAY = date(2026, 1, 1)


def _regency(code: str) -> str:
    return code[:5]


@pytest.fixture(scope="module")
def jember() -> Population:
    return Population(6000, seed=2025, regions=(JEMBER,))


@pytest.fixture(scope="module")
def both() -> Population:
    return Population(20_000, seed=2025, regions=(BANYUWANGI, JEMBER))


# --- the population ---------------------------------------------------------------------------------


def test_jember_people_live_in_real_jember_villages_with_jember_numbers(jember):
    villages = {v.code: v for v in regions.villages(JEMBER)}
    households = list(jember.households())
    assert jember.regions == (JEMBER,) and jember.counts == {JEMBER: 6000}
    assert sum(len(h.members) for h in households) == 6000
    niks, kks, used = set(), set(), set()
    for household in households:
        village = villages[household.region_code]  # a real village of Kabupaten Jember
        used.add(village.code)
        assert household.village == village.name
        assert household.district == regions.get(household.region_code[:8]).name
        assert household.address.endswith(f", Kec. {household.district}, Kab. Jember")
        kk = parse_kk(household.kk_number)
        assert kk.district == household.region_code[:8] and household.kk_number.startswith("3509")
        kks.add(household.kk_number)
        for member in household.members:
            nik = parse_nik(member.nik, today=TODAY)
            assert nik.district == household.region_code[:8]  # the first six digits: 35 09 KK
            assert member.nik[:6] == household.region_code[:8].replace(".", "")
            assert (nik.birth_date, nik.sex) == (member.birth_date, member.sex)
            niks.add(member.nik)
            assert jember.find(member.nik) == (household, member)
    assert len(niks) == 6000 and len(kks) == len(households)
    assert len({v[:8] for v in used}) == len(regions.districts(JEMBER))  # spread over every kecamatan
    assert len(used) > len(villages) * 0.9


def test_every_regency_starts_with_the_showcase(both, jember):
    for population, code in ((both, JEMBER), (both, BANYUWANGI), (jember, JEMBER)):
        first = list(population.households(region=code))[:10]
        assert first[0].pkh_reasons() == ()
        assert [h.pkh_reasons() for h in first[1:7]] == [(reason,) for reason in REASONS]
        assert {e.kind for h in first[7:] for e in h.data_errors} == {"NIK_MISUSE", "ELECTRICITY_MISRECORDED"}


def test_people_are_shared_in_proportion_to_the_regencies_population(both):
    bwi, jbr = regions.population(BANYUWANGI), regions.population(JEMBER)
    assert both.counts[BANYUWANGI] + both.counts[JEMBER] == len(both) == 20_000
    assert abs(both.counts[JEMBER] - 20_000 * jbr / (bwi + jbr)) < 1
    assert abs(both.counts[BANYUWANGI] - 20_000 * bwi / (bwi + jbr)) < 1
    for part in both.parts:
        members = sum(len(both.household(i).members) for i in part.households)
        assert members == part.people
    assert [p.name for p in both.parts] == ["Kabupaten Banyuwangi", "Kabupaten Jember"]
    # given counts are kept as they are
    given = Population(None, seed=1, regions={BANYUWANGI: 300, JEMBER: 450})
    assert given.counts == {BANYUWANGI: 300, JEMBER: 450} and len(given) == 750
    assert Population(750, seed=1, regions={BANYUWANGI: 300, JEMBER: 450}).counts == given.counts
    # a tiny population still has somebody in every regency
    assert allocate(3, (BANYUWANGI, JEMBER, "35.78")) == {BANYUWANGI: 1, JEMBER: 1, "35.78": 1}
    assert allocate(7, (BANYUWANGI, JEMBER)) == {BANYUWANGI: 3, JEMBER: 4}


@pytest.mark.parametrize("size, given", [
    (1, (BANYUWANGI, JEMBER)),  # fewer people than regencies
    (0, (BANYUWANGI,)),
    (100, ("99.99",)),  # unknown
    (100, ("35.10.15",)),  # a district, not a regency
    (100, ()),
    (100, {BANYUWANGI: 60, JEMBER: 50}),  # not the total
    (None, {BANYUWANGI: 0}),
])
def test_bad_regions_are_refused(size, given):
    with pytest.raises(ValueError):
        Population(size, regions=given)


def test_two_regencies_keep_niks_and_kk_numbers_unique(both):
    niks, kks = set(), set()
    for household in both.households():
        assert household.region_code.startswith(both.part_of(household.index).code + ".")
        kks.add(household.kk_number)
        for member in household.members:
            assert parse_nik(member.nik, today=TODAY).district == household.region_code[:8]
            niks.add(member.nik)
    assert len(niks) == len(both) and len(kks) == both.household_count
    assert {nik[:4] for nik in niks} == {"3510", "3509"}


def test_a_regency_is_the_same_whoever_stands_beside_it(both):
    """Each regency draws from its own streams: its people do not depend on the others, or their order."""
    alone = {code: Population(count, seed=2025, regions=(code,)) for code, count in both.counts.items()}

    def people(population, code):
        return [(h.kk_number, h.region_code, h.address, h.members, h.facts, h.data_errors)
                for h in population.households(region=code)]

    for code, population in alone.items():
        assert people(both, code) == people(population, code)
    swapped = Population(20_000, seed=2025, regions=(JEMBER, BANYUWANGI))
    assert swapped.counts == both.counts and people(swapped, JEMBER) == people(both, JEMBER)
    assert list(alone[BANYUWANGI].households()) == list(Population(both.counts[BANYUWANGI]).households())


def test_region_filters_match_a_plain_scan(both):
    everyone = [(h, m) for h in both.households() for m in h.members]
    district = both.household(both.household_count - 1).region_code[:8]
    for region in (JEMBER, BANYUWANGI, district, "35", "35.78"):
        expected = [m.nik for h, m in everyone if h.region_code.startswith(region + ".")]
        for offset in (0, 5, len(expected) - 3):
            listed = both.people(region=region, offset=offset, limit=10)
            assert [m.nik for _, m in listed] == expected[offset:offset + 10], (region, offset)
        assert sum(len(h.members) for h in both.households(region=region)) == len(expected)
    heads = both.people(region=JEMBER, role="HEAD", limit=1000)
    assert heads and all(h.region_code.startswith("35.09.") and m.relationship == "HEAD" for h, m in heads)


# --- the simulator over HTTP ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    with IkdSimulator(people=600, seed=2025, regions=(BANYUWANGI, JEMBER)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def jember_citizen(sim) -> dict:
    return sim.people(limit=1, offset=1, role="HEAD", region=JEMBER)[0]


def test_the_simulator_populates_the_regencies_it_is_given(sim):
    stats = sim.http.get("/sim/stats").json()
    assert stats["people"] == 600 and stats["regions"] == allocate(600, (BANYUWANGI, JEMBER))
    listed = {code: sim.people(limit=1000, region=code) for code in (BANYUWANGI, JEMBER)}
    assert len(listed[BANYUWANGI]) + len(listed[JEMBER]) == 600
    for code, people in listed.items():
        assert len(people) == stats["regions"][code]
        assert all(p["region_code"].startswith(code + ".") and p["nik"][:4] == code.replace(".", "")
                   for p in people)
    # Banyuwangi's people are those of a Banyuwangi-only population of their number
    local = Population(stats["regions"][BANYUWANGI], seed=2025)
    assert [p["nik"] for p in listed[BANYUWANGI][:50]] == [m.nik for _, m in local.people(limit=50)]


def test_a_jember_citizen_signs_in_and_their_record_comes_back(sim, jember_citizen):
    nik = jember_citizen["nik"]
    token = sim.sign_in(nik)
    # the token is the citizen's
    claims = httpx.post(f"{sim.url}/consents", headers={"Authorization": f"Bearer {token}"},
                        json={"scopes": ["person", "facts:electricity"], "purpose": "bansos-selection"})
    assert claims.status_code == 201, claims.text
    grant = claims.json()
    assert grant["nik"] == nik
    person = sim.http.get(f"/persons/{nik}", headers={**sim.secret_headers(), "X-Consent-Grant": grant["grant_id"]})
    assert person.status_code == 200, person.text
    record = person.json()
    village = regions.get(record["region_code"])
    assert village is not None and village.level == "village" and _regency(village.code) == JEMBER
    assert record["village"] == village.name and record["address"].endswith("Kab. Jember")
    assert record["nik"] == nik and parse_nik(nik).district == record["region_code"][:8]
    assert parse_kk(record["kk_number"]).district == record["region_code"][:8]
    assert all(parse_nik(m["nik"]).district == record["region_code"][:8] for m in record["members"])
    facts = sim.http.post("/facts", headers=sim.secret_headers(),
                          json={"requests": [{"nik": nik, "grant_id": grant["grant_id"]}]}).json()["results"]
    assert [f["name"] for f in facts[0]["facts"]] == ["electricity_va"] and facts[0]["kk_number"] == record["kk_number"]
    # and the citizen can withdraw it
    withdrawn = httpx.delete(f"{sim.url}/consents/{grant['grant_id']}", headers={"Authorization": f"Bearer {token}"})
    assert withdrawn.status_code == 204


async def test_the_plugin_fetches_a_jember_person(sim, jember_citizen, hooks_for):
    hooks, nik = hooks_for(sim.settings()), jember_citizen["nik"]
    principal = await hooks.first("authenticate", token=sim.sign_in(nik))
    assert principal is not None and principal.nik == nik
    consent = await hooks.first("grant_consent", token=sim.sign_in(nik), nik=nik, scopes=("person",),
                                purpose="bansos-selection", policy_version="2025-08")
    person = await hooks.first("fetch_person", nik=nik, consent=consent)
    assert isinstance(person, PersonRecord)
    assert (person.nik, person.region_code, person.kk_number) == (
        nik, jember_citizen["region_code"], jember_citizen["kk_number"])
    assert _regency(person.region_code) == JEMBER and regions.get(person.region_code).level == "village"
