"""A deterministic synthetic population of one or more regencies, for the IKD simulator.

``Population(size, seed, regions=("35.10", "35.09"))`` holds ``size`` people in households of 1–6
living in real villages of the given regencies (the platform's region data; by default Kabupaten
Banyuwangi alone), shared in proportion to each regency's population — or ``regions={"35.10": 300,
"35.09": 450}`` for counts per regency. It scales from a handful to millions of people by keeping
only a compact skeleton in memory — per person a role byte and the NIK as an integer, per
household its village, KK number and first member — and building the rest of a household (names,
phones, facts, data errors) from its own seeded generator when it is asked for, with a small LRU
cache. Every NIK is unique and valid for :func:`perlinsos.idnumbers.parse_nik`; its first six
digits are the household's district, as are a KK number's. All people are synthetic (see
:mod:`perlinsos_ikd.households`).

Each regency's people come from random streams of their own, keyed by the seed and the regency
(Banyuwangi, the first pilot, keeps the streams it had before populations spanned regencies: the
seed alone). So a regency's part of a population depends only on the seed and its own count, not
on which regencies stand beside it, and its first ten households are the showcase
(:data:`perlinsos_ikd.households.SHOWCASE`).
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import accumulate

from perlinsos import regions as _regions
from perlinsos_ikd.households import (
    CHILD,
    HEAD,
    PARENT,
    ROLES,
    SHOWCASE,
    SPOUSE,
    Household,
    Member,
    address,
    make_facts,
    make_members,
)

#: The snapshot date of the population: ages and the facts' as-of dates are relative to it.
REFERENCE_DATE = date(2025, 8, 1)
SIZES, SIZE_WEIGHTS = (1, 2, 3, 4, 5, 6), (8, 17, 25, 27, 15, 8)  # mean ≈ 3.5, close to Jawa Timur
_SIZE_CUM_WEIGHTS = tuple(accumulate(SIZE_WEIGHTS))  # what choices(weights=) computes on every call
_ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
_KK_FIRST_ISSUE = date(2005, 1, 1).toordinal()
#: The regencies populated unless told otherwise: the first pilot's, Kabupaten Banyuwangi.
DEFAULT_REGIONS: tuple[str, ...] = ("35.10",)
#: The regency whose random streams are keyed by the seed alone (as they were when the population
#: was Banyuwangi's only), so the same seed keeps giving its people the same NIKs, names and facts.
_LEGACY_REGION = "35.10"


@dataclass(frozen=True, slots=True)
class RegionPart:
    """One regency's share of a population: its people are a contiguous run of households."""

    code: str  # e.g. "35.09"
    name: str  # e.g. "Kabupaten Jember"
    people: int
    households: range  # household indexes (population order)
    villages: range  # indexes into ``Population.villages``

    @property
    def short_name(self) -> str:
        """As addresses write it: "Kab. Jember", "Kota Surabaya"."""
        return self.name.replace("Kabupaten ", "Kab. ", 1) if self.name.startswith("Kabupaten ") else self.name


class Population:
    """``size`` synthetic people of the given regencies; the same ``seed`` always gives the same people.

    ``regions`` is a sequence of regency codes (people shared in proportion to each regency's
    population, see :func:`allocate`) or a mapping regency code → number of people (then ``size``
    may be ``None``; if given it must be their total).
    """

    def __init__(self, size: int | None, seed: int = 2025, *,
                 regions: Sequence[str] | Mapping[str, int] = DEFAULT_REGIONS, as_of: date = REFERENCE_DATE):
        counts = allocate(size, regions)
        self.size, self.seed, self.as_of = sum(counts.values()), seed, as_of
        villages: list[_regions.Region] = []
        self._districts: dict[str, _regions.Region] = {}
        plan: list[tuple[str, int, range]] = []
        for code, people in counts.items():
            found = _regions.villages(code)
            if not found:
                raise ValueError(f"no villages known in region {code!r}")
            plan.append((code, people, range(len(villages), len(villages) + len(found))))
            villages.extend(found)
            self._districts |= {r.code: r for r in _regions.districts(code)}
        self.villages = tuple(villages)
        self._build(plan)
        self.household = lru_cache(maxsize=4096)(self._make_household)

    # --- the skeleton --------------------------------------------------------------------------

    def _build(self, plan: list[tuple[str, int, range]]) -> None:
        ref = self.as_of.toordinal()
        district_digits = [int(v.code[:8].replace(".", "")) for v in self.villages]
        starts, roles, base = array("I", [0]), array("B"), array("Q")
        village_of = array("H" if len(self.villages) <= 1 << 16 else "I")
        kk_base, n, parts = array("Q"), 0, []
        # The hot loop (millions of people): methods bound once; the draws are the same as ever.
        add_base, add_role, add_kk, add_village, add_start = (base.append, roles.append, kk_base.append,
                                                              village_of.append, starts.append)
        fromordinal, role_code = date.fromordinal, _ROLE_CODE
        for code, people, village_range in plan:
            rng = random.Random(self.seed if code == _LEGACY_REGION else f"perlinsos-ikd/{self.seed}/{code}")
            choices, randrange = rng.choices, rng.randrange
            first_household, first_village, village_count = len(village_of), village_range.start, len(village_range)
            stop = n + people
            while n < stop:
                k = min(choices(SIZES, cum_weights=_SIZE_CUM_WEIGHTS)[0], stop - n)
                v = first_village + randrange(village_count)
                dist = district_digits[v] * 1_000_000
                head_age = 0
                for role, sex, age in _composition(rng, k):
                    head_age = head_age or age
                    born = fromordinal(ref - age * 365 - age // 4 - randrange(365))
                    add_base(dist + ((born.day + 40 if sex == "F" else born.day) * 10_000
                                     + born.month * 100 + born.year % 100))
                    add_role(role_code[role])
                first_issue = max(_KK_FIRST_ISSUE, ref - (head_age - 17) * 365)
                add_kk(dist + _ddmmyy(fromordinal(randrange(first_issue, ref)), False))
                add_village(v)
                n += k
                add_start(n)
            region = _regions.get(code)
            parts.append(RegionPart(code, region.name if region else code, people,
                                    range(first_household, len(village_of)), village_range))
        self.parts: tuple[RegionPart, ...] = tuple(parts)
        self._part_starts = [p.households.start for p in parts]
        self._starts, self._village_of, self._roles = starts, village_of, roles
        # Serials number the people sharing a district, birth date and sex, in population order:
        # sorting by the NIK without serial (stable) gives both the serials and the lookup index.
        order = array("I", sorted(range(n), key=base.__getitem__))
        self._nik_sorted, self._nik_of = _serialise(base, order)
        self._order = order
        kk_order = array("I", sorted(range(len(kk_base)), key=kk_base.__getitem__))
        _, self._kk_of = _serialise(kk_base, kk_order)

    @property
    def household_count(self) -> int:
        return len(self._village_of)

    @property
    def regions(self) -> tuple[str, ...]:
        """The regency codes populated, in population order."""
        return tuple(p.code for p in self.parts)

    @property
    def counts(self) -> dict[str, int]:
        """People per regency code."""
        return {p.code: p.people for p in self.parts}

    def part_of(self, household: int) -> RegionPart:
        """The regency share holding the ``household``-th household."""
        return self.parts[bisect_right(self._part_starts, household) - 1]

    def __len__(self) -> int:
        return self.size

    def nik(self, person: int) -> str:
        """The NIK of the ``person``-th person (population order)."""
        return str(self._nik_of[person])

    def person_index(self, nik: str) -> int | None:
        if not (isinstance(nik, str) and len(nik) == 16 and nik.isascii() and nik.isdigit()):
            return None
        key = int(nik)
        i = bisect_left(self._nik_sorted, key)
        if i < len(self._nik_sorted) and self._nik_sorted[i] == key:
            return self._order[i]
        return None

    def household_index(self, person: int) -> int:
        return bisect_right(self._starts, person) - 1

    # --- households and people -----------------------------------------------------------------

    def find(self, nik: str) -> tuple[Household, Member] | None:
        """The household and member with this NIK, or ``None`` for an unknown NIK."""
        person = self.person_index(nik)
        if person is None:
            return None
        household = self.household(self.household_index(person))
        return household, household.members[person - self._starts[household.index]]

    def _make_household(self, index: int) -> Household:
        if not 0 <= index < self.household_count:
            raise IndexError(f"household {index} out of range")
        part = self.part_of(index)
        local = index - part.households.start  # the household's place in its regency: the showcase comes first
        key = local if part.code == _LEGACY_REGION else f"{part.code}/{local}"
        rng = random.Random(f"perlinsos-ikd/{self.seed}/{key}")  # str seeds hash the same in every process
        start, stop = self._starts[index], self._starts[index + 1]
        people = [(*self._decode(self._nik_of[p]), ROLES[self._roles[p]]) for p in range(start, stop)]
        show = SHOWCASE[local] if local < len(SHOWCASE) else {}
        members = make_members(rng, people, self.as_of, invalid_phone=show.get("invalid_phone", False))
        facts, errors, truth = make_facts(rng, local, members, self.as_of)
        village = self.villages[self._village_of[index]]
        district = self._districts[village.code[:8]]
        return Household(
            index=index, kk_number=str(self._kk_of[index]), region_code=village.code, village=village.name,
            district=district.name,
            address=address(rng, village.name, district.name, village.kind, regency=part.short_name),
            members=members, facts=facts, data_errors=errors, ground_truth=truth,
        )

    def _decode(self, nik: int) -> tuple[str, date, str]:
        day, month, yy = nik // 10**8 % 100, nik // 10**6 % 100, nik // 10**4 % 100
        sex = "F" if day > 40 else "M"
        day -= 40 if day > 40 else 0
        snapshot = (self.as_of.year, self.as_of.month, self.as_of.day)
        year = 2000 + yy if (2000 + yy, month, day) <= snapshot else 1900 + yy
        return str(nik), date(year, month, day), sex

    def _village_mask(self, *codes: str | None) -> bytearray | None:
        """Per village, 1 when it lies within every given region code (a village, district, regency
        or province); ``None`` when no code is given."""
        wanted = [c for c in codes if c is not None]
        if not wanted:
            return None
        return bytearray(all(_within(v.code, c) for c in wanted) for v in self.villages)

    def households(self, start: int = 0, stop: int | None = None, *, village: str | None = None,
                   region: str | None = None) -> Iterator[Household]:
        """Households in order, optionally those of one village or within a region code (skipped
        without building them)."""
        stop = self.household_count if stop is None else min(stop, self.household_count)
        wanted = self._village_mask(village, region)
        for index in range(start, stop):
            if wanted is None or wanted[self._village_of[index]]:
                yield self.household(index)

    def people(self, *, offset: int = 0, limit: int = 50, village: str | None = None, role: str | None = None,
               reason: str | None = None, error: str | None = None,
               region: str | None = None) -> list[tuple[Household, Member]]:
        """People in population order, filtered; ``village`` a village code, ``region`` any region
        code they live within (e.g. a regency, ``"35.09"``), ``reason`` a PKH reason code their
        household fails on, ``error`` a data-error kind (or ``"any"``) attached to their household.

        Region, village and role filters and the offset are applied on the skeleton (no household
        is built to be skipped); ``reason`` and ``error`` need each household built, so they scan.
        """
        found: list[tuple[Household, Member]] = []
        role_code = _ROLE_CODE.get(role, -1) if role is not None else None
        wanted = self._village_mask(village, region)
        first = 0
        if wanted is None and role is None and reason is None and error is None and offset > 0:
            first = self.household_index(min(offset, self.size - 1))
        skipped = self._starts[first]
        for index in range(first, self.household_count):
            if wanted is not None and not wanted[self._village_of[index]]:
                continue
            lo, hi = self._starts[index], self._starts[index + 1]
            if reason is None and error is None:
                matching = hi - lo if role_code is None else sum(1 for p in range(lo, hi) if self._roles[p] == role_code)
                if skipped + matching <= offset:
                    skipped += matching
                    continue
            household = self.household(index)
            if reason is not None and reason not in household.pkh_reasons():
                continue
            if error is not None and not any(error in ("any", e.kind) for e in household.data_errors):
                continue
            for member in household.members:
                if role is not None and member.relationship != role:
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                found.append((household, member))
                if len(found) >= limit:
                    return found
        return found


def allocate(size: int | None, regions: Sequence[str] | Mapping[str, int] = DEFAULT_REGIONS) -> dict[str, int]:
    """People per regency code: ``size`` shared over the regencies in proportion to their population
    (``perlinsos.regions.population``; by their number of villages when a total is unknown), largest
    remainders first and at least one person each; or the counts of a mapping as given."""
    if isinstance(regions, str):
        regions = (regions,)
    if isinstance(regions, Mapping):
        counts = {_regency(code): count for code, count in regions.items()}
        if len(counts) != len(regions):
            raise ValueError("a regency is given twice")
        if not counts or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in counts.values()):
            raise ValueError("every regency needs at least one person")
        if size is not None and size != sum(counts.values()):
            raise ValueError(f"size {size} is not the regencies' total {sum(counts.values())}")
        return counts
    codes = list(dict.fromkeys(_regency(code) for code in regions))
    if not codes:
        raise ValueError("a population needs a regency")
    if size is None or size < len(codes):
        raise ValueError("a population needs at least one person (per regency)")
    if len(codes) == 1:
        return {codes[0]: size}
    weights = [_regions.population(code) for code in codes]
    if any(not w or w < 1 for w in weights):
        weights = [len(_regions.villages(code)) for code in codes]
    total = sum(weights)
    shares = [size * w // total for w in weights]
    by_remainder = sorted(range(len(codes)), key=lambda i: -(size * weights[i] % total))
    for i in by_remainder[: size - sum(shares)]:
        shares[i] += 1
    for i, share in enumerate(shares):  # a tiny population: every regency still gets somebody
        if share == 0:
            shares[max(range(len(shares)), key=shares.__getitem__)] -= 1
            shares[i] = 1
    return dict(zip(codes, shares, strict=True))


def _regency(code: object) -> str:
    region = _regions.get(code) if isinstance(code, str) else None
    if region is None or region.level != "regency":
        raise ValueError(f"not a known regency code: {code!r} (e.g. \"35.10\")")
    return region.code


def _within(code: str, scope: str) -> bool:
    return code == scope or code.startswith(scope + ".")


def _ddmmyy(day: date, female: bool) -> int:
    return (day.day + (40 if female else 0)) * 10_000 + day.month * 100 + day.year % 100


def _serialise(base: array, order: array) -> tuple[array, array]:
    """Append serials 0001… per equal base (in ``order``): (sorted numbers, number per item)."""
    sorted_numbers, number_of = array("Q"), array("Q", bytes(8 * len(base)))
    previous, serial = -1, 0
    for item in order:
        b = base[item]
        serial = serial + 1 if b == previous else 1
        if serial > 9999:
            raise ValueError("more than 9,999 people share a district, birth date and sex")
        previous = b
        number = b * 10_000 + serial
        number_of[item] = number
        sorted_numbers.append(number)
    return sorted_numbers, number_of


def _composition(rng: random.Random, k: int) -> list[tuple[str, str, int]]:
    """(relationship, sex, age) of a household of ``k``: head first, then spouse, children, parent."""
    if k == 1:  # mostly an elderly widow(er), otherwise a young adult living alone
        return [(HEAD, rng.choice("MF"), rng.randint(60, 90) if rng.random() < 0.6 else rng.randint(20, 40))]
    single = rng.random() < (0.3 if k == 2 else 0.08)
    head_sex = ("F" if rng.random() < 0.75 else "M") if single else ("M" if rng.random() < 0.93 else "F")
    parent = k >= 4 and rng.random() < 0.2
    children = k - 1 - (not single) - parent
    head_age = rng.randint(22, 80) if children == 0 else rng.randint(24, 62)
    people = [(HEAD, head_sex, head_age)]
    youngest_parent = head_age
    if not single:
        gap = rng.randint(-8, 2) if head_sex == "M" else rng.randint(-2, 8)
        spouse_age = min(95, max(18, head_age + gap))
        people.append((SPOUSE, "F" if head_sex == "M" else "M", spouse_age))
        youngest_parent = min(head_age, spouse_age)
    for _ in range(children):
        people.append((CHILD, rng.choice("MF"), rng.randint(0, min(30, max(0, youngest_parent - 17)))))
    if parent:
        eldest = max(age for _, _, age in people[:2])
        people.append((PARENT, "F" if rng.random() < 0.7 else "M", min(95, eldest + rng.randint(20, 30))))
    return people
