"""No combination of the fields a viewer is shown rebuilds a NIK or KK number it may not see (issue 15).

The attacker (``fixtures/identifier_attack.py``) counts the full numbers consistent with everything
one response shows about a person: the masked number's visible digits, the birth date or year, the
sex and the region. It assumes the worst for us: that the NIK's district is the district of the
village shown (people mostly live where they were first registered), that a hidden birth year beside
a shown record means "born since 1 January of last year" (the policy's rule), and that a KK's issue
date is any date of the last 100 years. Whoever may not see a number must be left with at least
``MIN_CANDIDATES`` (365) of them.

Through GraphQL and the data export: generated households (hypothesis, a fixed seed) are stored once
and read as each role; each relation's forms are checked against the policy's table. Through the
policy's one entry point: many generated viewers, people and dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fixtures import seed as data
from fixtures import static_auth
from fixtures.identifier_attack import TODAY, kk_candidates, nik_candidates, nik_consistent
from perlinsos import regions
from perlinsos.contract import Principal, Role, StaffScope
from perlinsos.db.models import Channel, Household, Person, Registration
from perlinsos.graphql.relay import from_global_id
from perlinsos.idnumbers import mask_kk, mask_nik
from perlinsos.policy import identifiers
from perlinsos.policy.identifiers import MIN_CANDIDATES

VILLAGES = [data.KEMIREN, data.LATENG]
DISTRICTS = ["351015", "351016", "351014"]


def test_the_attacker_rebuilds_what_is_shown_in_full():
    """The check can fail: today's main showed birth date, sex and village beside the mask."""
    nik = "3510151203800001"
    assert nik_candidates("3510********0001", birth_date="1980-03-12", sex="M", region=data.KEMIREN) == 1
    assert nik_consistent(nik, "3510********0001", birth_date="1980-03-12", sex="M", region=data.KEMIREN)
    assert nik_candidates("3510********0001", birth_year=1980, sex="M", region=data.KEMIREN) == 366
    assert nik_candidates("3510********0001", birth_year=TODAY.year, sex="M", region=data.KEMIREN) \
        == (TODAY - date(TODAY.year, 1, 1)).days + 1  # why a year this recent is never shown
    assert kk_candidates("3510150101000000") == 1 and kk_candidates("3510********0001", region=data.KEMIREN) > 30_000


# --- the data set, generated ----------------------------------------------------------------


@dataclass
class Member:
    district: str  # the NIK's (first registration)
    born: date
    sex: str
    serial: int
    lives: str  # village now
    nik: str = ""


@st.composite
def members(draw, village: str) -> Member:
    born = draw(st.one_of(st.dates(date(1935, 1, 1), TODAY),
                          st.dates(date(TODAY.year - 1, 1, 1), TODAY)))  # recent births: the year edge
    own = village[:8].replace(".", "")
    return Member(district=draw(st.sampled_from([own, own, *DISTRICTS])), born=born,
                  sex=draw(st.sampled_from("MF")), serial=draw(st.sampled_from([1, 1, 2, 3, 9999])),
                  lives=draw(st.sampled_from([village, village, village, *VILLAGES])))


@st.composite
def households(draw) -> tuple[str, str, list[Member]]:
    village = draw(st.sampled_from(VILLAGES))
    issued = draw(st.dates(date(2000, 1, 1), TODAY))
    kk_serial = draw(st.integers(1, 9999))
    kk = f"{village[:8].replace('.', '')}{issued:%d%m%y}{kk_serial:04d}"
    return village, kk, draw(st.lists(members(village), min_size=1, max_size=4))


def generated(count: int = 14) -> list[tuple[str, str, list[Member]]]:
    found: list = []

    @seed(1515)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(households())
    def collect(household) -> None:
        found.append(household)

    collect()
    niks, kks, unique = set(), set(), []
    for village, kk, people in found:  # NIKs and KK numbers are unique in the database
        for m in people:
            day = m.born.day + (40 if m.sex == "F" else 0)
            m.nik = f"{m.district}{day:02d}{m.born:%m%y}{m.serial:04d}"
        people = [m for m in people if m.nik not in niks]
        if kk in kks or not people:
            continue
        kks.add(kk)
        niks.update(m.nik for m in people)
        unique.append((village, kk, people))
    return unique


FACILITATOR, REVIEWER = "fac-kemiren", "rev-lateng"


async def store(db, pilot: str, dataset) -> None:
    pid = await data.pilot_id(db, pilot)
    async with db.write() as s:
        for n, (village, kk, people) in enumerate(dataset):
            hh = Household(kk_number=kk, region_code=village)
            s.add(hh)
            await s.flush()
            rows = [Person(nik=m.nik, household_id=hh.id, name=f"Warga {n}-{i}", birth_date=m.born, sex=m.sex,
                           region_code=m.lives) for i, m in enumerate(people)]
            s.add_all(rows)
            await s.flush()
            assisted = FACILITATOR if village == data.KEMIREN else None
            s.add(Registration(pilot_id=pid, programme="PKH", person_id=rows[0].id, household_id=hh.id,
                               region_code=village, channel=Channel.ASSISTED if assisted else Channel.SELF,
                               assisted_by=assisted, assisted_by_issuer=static_auth.ISSUER if assisted else None))
    await data.staff(db, "admin", "ADMIN", "35")
    await data.staff(db, FACILITATOR, "FACILITATOR", data.KEMIREN)
    await data.staff(db, REVIEWER, "REVIEWER", "35.10.16")


# --- read as each role ----------------------------------------------------------------------

PERSON = "id nik name birthDate birthYear sex region { code }"
HOUSEHOLD = f"id kkNumber region {{ code }} members {{ {PERSON} }}"
LIST = f"""{{ registrations(pilot: "BWI-2025", first: 100) {{ nodes {{ region {{ code }}
  registrant {{ {PERSON} household {{ {HOUSEHOLD} }} }} household {{ {HOUSEHOLD} }} }} }} }}"""
ME = f"{{ me {{ person {{ {PERSON} }} household {{ {HOUSEHOLD} }} }} }}"


def walk(value, kind: str):
    """Every object in a response that carries a NIK (``nik``) or a KK number (``kkNumber``)."""
    if isinstance(value, dict):
        if kind in value:
            yield value
        for v in value.values():
            yield from walk(v, kind)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, kind)


@dataclass
class Viewer:
    token: str | None
    nik: str | None = None  # a citizen's own
    household: str | None = None  # ... and their KK
    reviews: str | None = None  # a reviewer's region

    def may_see_nik(self, person: Person) -> bool:
        return person.nik == self.nik or bool(self.reviews and regions.is_within(person.region_code, self.reviews))

    def may_see_kk(self, household: Household) -> bool:
        return household.kk_number == self.household or bool(
            self.reviews and regions.is_within(household.region_code, self.reviews))


async def test_no_role_can_rebuild_a_number_it_may_not_see(client, db, pilot):
    dataset = generated()
    await store(db, pilot, dataset)
    async with db.read() as s:
        people = {p.id: p for p in (await s.execute(select(Person))).scalars()}
        homes = {h.id: h for h in (await s.execute(select(Household))).scalars()}
    heads = [p for p in people.values() if p_is_head(p, people)]
    viewers = [Viewer("staff:admin"), Viewer(f"staff:{FACILITATOR}"), Viewer(f"staff:{REVIEWER}", reviews="35.10.16")]
    viewers += [Viewer(f"citizen:{h.nik}", nik=h.nik, household=homes[h.household_id].kk_number) for h in heads]

    checked = {"nik": 0, "kk": 0}
    for viewer in viewers:
        body = await client.query(ME if viewer.nik else LIST, token=viewer.token)
        assert "errors" not in body, body
        for shown in walk(body["data"], "nik"):
            person = people[from_global_id("Registrant", shown["id"])]
            if viewer.may_see_nik(person):
                continue
            facts = dict(birth_date=shown["birthDate"], birth_year=shown["birthYear"], sex=shown["sex"],
                         region=shown["region"]["code"])
            assert nik_consistent(person.nik, shown["nik"], **facts), (viewer.token, shown)
            assert nik_candidates(shown["nik"], **facts) >= MIN_CANDIDATES, (viewer.token, shown)
            checked["nik"] += 1
        for shown in walk(body["data"], "kkNumber"):
            home = homes[from_global_id("Household", shown["id"])]
            if not viewer.may_see_kk(home):
                assert kk_candidates(shown["kkNumber"], region=shown["region"]["code"]) >= MIN_CANDIDATES
                checked["kk"] += 1
        if viewer.nik:  # the export shows the family too, by the same rules
            doc = (await client.query("{ me { export } }", token=viewer.token))["data"]["me"]["export"]
            by_name = {p.name: p for p in people.values()}
            for shown in doc["household"]["members"]:
                facts = dict(birth_date=shown["birth_date"], birth_year=shown["birth_year"], sex=shown["sex"],
                             region=shown["region_code"])
                assert nik_consistent(by_name[shown["name"]].nik, shown["nik"], **facts)
                assert nik_candidates(shown["nik"], **facts) >= MIN_CANDIDATES, shown
                checked["nik"] += 1
    # not vacuous: plenty of masked numbers were looked at, by every kind of viewer
    assert checked["nik"] > 3 * len(dataset) and checked["kk"] > len(dataset), checked


def p_is_head(person: Person, people: dict[int, Person]) -> bool:
    return min(p.id for p in people.values() if p.household_id == person.household_id) == person.id


async def test_the_rebuild_attack_fails_as_the_national_office_and_as_a_facilitator(client, db, pilot):
    """Issue 15: masked NIK + birth date + sex + village gave back 96 of 96 full NIKs."""
    await data.registrations(db, pilot, 12, assisted_by="fac-1")
    await data.staff(db, "admin", "ADMIN", "35")
    await data.staff(db, "fac-1", "FACILITATOR", data.KEMIREN)
    query = '{ registrations(pilot: "BWI-2025", first: 100) { nodes { registrant { nik birthDate sex region { code } } } } }'
    for token in ("staff:admin", "staff:fac-1"):
        nodes = (await client.query(query, token=token))["data"]["registrations"]["nodes"]
        assert len(nodes) == 12
        rebuilt = [n for n in nodes if nik_candidates(
            n["registrant"]["nik"], birth_date=n["registrant"]["birthDate"], sex=n["registrant"]["sex"],
            region=n["registrant"]["region"]["code"]) < MIN_CANDIDATES]
        assert rebuilt == [], f"{len(rebuilt)} of {len(nodes)} NIKs rebuilt by {token}"


# --- the policy's one entry point, many viewers -----------------------------------------------


@st.composite
def viewers(draw, nik: str, person_region: str) -> tuple[Principal, bool, bool, int | None]:
    """A principal, whether it may see the NIK / the KK, and its household id (1 is the person's)."""
    scopes = [StaffScope(role, draw(st.sampled_from(["35", "35.10", "35.10.16", person_region, *VILLAGES])))
              for role in draw(st.sets(st.sampled_from([Role.ADMIN, Role.REVIEWER, Role.FACILITATOR])))]
    owner = draw(st.booleans())
    household = draw(st.sampled_from([None, 1, 2]))
    citizen = owner or household is not None or not scopes
    principal = Principal(subject="x", kind="citizen" if citizen else "staff", nik=nik if owner else None,
                          scopes=tuple(scopes))
    reviews = any(s.role is Role.REVIEWER and regions.is_within(person_region, s.region_code) for s in scopes)
    household = household if citizen else None
    return principal, owner or reviews, household == 1 or reviews, household


@settings(max_examples=250, deadline=None)
@given(st.data())
def test_the_policy_leaves_every_masked_number_ambiguous(draw):
    today = draw.draw(st.dates(date(2001, 1, 1), date(2099, 12, 31)), "today")
    born = draw.draw(st.dates(date(today.year - 110, 1, 1), today), "born")
    sex, village = draw.draw(st.sampled_from("MF")), draw.draw(st.sampled_from(VILLAGES))
    district = village[:8].replace(".", "")
    nik = f"{district}{born.day + (40 if sex == 'F' else 0):02d}{born:%m%y}{draw.draw(st.integers(1, 9999)):04d}"
    principal, full_nik, full_kk, viewer_household = draw.draw(viewers(nik, village), "viewer")
    shown = identifiers.show_person(principal, nik=nik, birth_date=born, sex=sex, region_code=village, household_id=1,
                                    viewer_household_id=viewer_household, today=today)
    facts = dict(birth_date=shown.birth_date, birth_year=shown.birth_year, sex=shown.sex, region=shown.region_code,
                 today=today)
    if full_nik:
        assert shown.nik == nik
    else:
        assert nik_consistent(nik, shown.nik, **facts)
        assert nik_candidates(shown.nik, **facts) >= MIN_CANDIDATES
    kk = f"{district}{draw.draw(st.dates(date(1990, 1, 1), today)):%d%m%y}0001"
    household = identifiers.show_household(principal, kk_number=kk, region_code=village, household_id=1,
                                           viewer_household_id=viewer_household)
    if full_kk:
        assert household.kk_number == kk
    else:
        assert kk_candidates(household.kk_number, region=household.region_code) >= MIN_CANDIDATES


@pytest.mark.parametrize("relation", list(identifiers.Relation))
def test_the_table_gives_every_relation_every_field(relation):
    assert set(identifiers.EXPOSURE[relation]) == set(identifiers.Field)


# --- the table is what GraphQL shows, role by role ---------------------------------------------

CHILD = "3510164505100007"  # born 2010-05-05, lives in Lateng: outside the Kemiren facilitator's villages
R = identifiers.Relation
ONE = f'{{ registrations(pilot: "BWI-2025") {{ nodes {{ registrant {{ {PERSON} }} household {{ {HOUSEHOLD} }} }} }} }}'
SEEN = {  # relation: (token, query, how to find the person and their household in the answer)
    R.OWNER: (f"citizen:{data.nik(0)}", ME, lambda d: (d["me"]["person"], d["me"]["household"])),
    R.HOUSEHOLD: (f"citizen:{CHILD}", ME, lambda d: (d["me"]["household"]["members"][0], d["me"]["household"])),
    R.REVIEWER: ("staff:rev-in", ONE, lambda d: (d["registrations"]["nodes"][0]["registrant"],
                                                d["registrations"]["nodes"][0]["household"])),
    R.FACILITATOR: ("staff:fac-in", ONE, lambda d: (d["registrations"]["nodes"][0]["registrant"],
                                                   d["registrations"]["nodes"][0]["household"])),
    R.OTHER_STAFF: ("staff:fac-in", ONE, lambda d: (d["registrations"]["nodes"][0]["household"]["members"][1], None)),
    R.NATIONAL: ("staff:admin", ONE, lambda d: (d["registrations"]["nodes"][0]["registrant"],
                                               d["registrations"]["nodes"][0]["household"])),
}


def _form(shown: str, full: str, masked: str) -> identifiers.Form:
    return {full: identifiers.Form.FULL, masked: identifiers.Form.MASKED}.get(shown, identifiers.Form.HIDDEN)


@pytest.mark.parametrize("relation", list(R))
async def test_graphql_shows_each_relation_what_the_table_says(client, db, pilot, relation):
    await data.registrations(db, pilot, 1, assisted_by="fac-in")
    async with db.write() as s:
        head = (await s.execute(select(Person))).scalar_one()
        s.add(Person(nik=CHILD, household_id=head.household_id, name="Anak", birth_date=date(2010, 5, 5), sex="F",
                     region_code=data.LATENG))
    for subject, role, region in (("admin", "ADMIN", "35"), ("rev-in", "REVIEWER", "35.10.15"),
                                  ("fac-in", "FACILITATOR", data.KEMIREN)):
        await data.staff(db, subject, role, region)
    if relation is R.ANONYMOUS:  # no relation, no record: every query asks for a sign-in
        assert (await client.query(ONE))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        return
    token, query, find = SEEN[relation]
    body = await client.query(query, token=token)
    assert "errors" not in body, body
    person, household = find(body["data"])
    nik, region = (CHILD, data.LATENG) if person["name"] == "Anak" else (data.nik(0), data.KEMIREN)
    F = identifiers.Field
    seen = {F.NIK: _form(person["nik"], nik, mask_nik(nik)),
            F.BIRTH_DATE: identifiers.Form.FULL if person["birthDate"] else
            identifiers.Form.YEAR if person["birthYear"] else identifiers.Form.HIDDEN,
            F.SEX: identifiers.Form.FULL if person["sex"] else identifiers.Form.HIDDEN,
            F.REGION: {region: identifiers.Form.FULL, region[:8]: identifiers.Form.DISTRICT,
                       region[:2]: identifiers.Form.PROVINCE}[person["region"]["code"]]}
    if household is not None:
        kk = "3510150101000000"  # fixtures.seed's KK of person 0
        seen[F.KK] = _form(household["kkNumber"], kk, mask_kk(kk))
    expected = identifiers.EXPOSURE[relation]
    assert seen == {f: expected[f] for f in seen}
