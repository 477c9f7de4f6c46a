"""A deterministic synthetic population of Kabupaten Banyuwangi, for the IKD simulator.

``Population(size, seed)`` holds ``size`` people in households of 1–6 living in real villages of
the regency (the platform's region data). It scales from a handful to millions of people by
keeping only a compact skeleton in memory — per person a role byte and the NIK as an integer,
per household its village, KK number and first member — and building the rest of a household
(names, phones, facts, data errors) from its own seeded generator when it is asked for, with a
small LRU cache. Every NIK is unique and valid for :func:`perlinsos.idnumbers.parse_nik`; its
district is the household's. All people are synthetic (see :mod:`perlinsos_ikd.households`).
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import date
from functools import lru_cache

from perlinsos import regions
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
_ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
_KK_FIRST_ISSUE = date(2005, 1, 1).toordinal()


class Population:
    """``size`` synthetic people; the same ``seed`` always gives the same people."""

    def __init__(self, size: int, seed: int = 2025, *, regency: str = "35.10", as_of: date = REFERENCE_DATE):
        if size < 1:
            raise ValueError("a population needs at least one person")
        self.size, self.seed, self.as_of = size, seed, as_of
        self.villages = regions.villages(regency)
        if not self.villages:
            raise ValueError(f"no villages known in region {regency!r}")
        self._districts = {r.code: r for r in regions.districts(regency)}
        self._build()
        self.household = lru_cache(maxsize=4096)(self._make_household)

    # --- the skeleton --------------------------------------------------------------------------

    def _build(self) -> None:
        rng = random.Random(self.seed)
        ref = self.as_of.toordinal()
        district_digits = [int(v.code[:8].replace(".", "")) for v in self.villages]
        starts, village_of, roles, base = array("I", [0]), array("H"), array("B"), array("Q")
        kk_base, n = array("Q"), 0
        while n < self.size:
            k = min(rng.choices(SIZES, SIZE_WEIGHTS)[0], self.size - n)
            v = rng.randrange(len(self.villages))
            dist = district_digits[v] * 1_000_000
            head_age = 0
            for role, sex, age in _composition(rng, k):
                head_age = head_age or age
                born = date.fromordinal(ref - age * 365 - age // 4 - rng.randrange(365))
                base.append(dist + _ddmmyy(born, sex == "F"))
                roles.append(_ROLE_CODE[role])
            first_issue = max(_KK_FIRST_ISSUE, ref - (head_age - 17) * 365)
            kk_base.append(dist + _ddmmyy(date.fromordinal(rng.randrange(first_issue, ref)), False))
            village_of.append(v)
            n += k
            starts.append(n)
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
        rng = random.Random(f"perlinsos-ikd/{self.seed}/{index}")  # str seeds hash the same in every process
        start, stop = self._starts[index], self._starts[index + 1]
        people = [(*self._decode(self._nik_of[p]), ROLES[self._roles[p]]) for p in range(start, stop)]
        show = SHOWCASE[index] if index < len(SHOWCASE) else {}
        members = make_members(rng, people, self.as_of, invalid_phone=show.get("invalid_phone", False))
        facts, errors, truth = make_facts(rng, index, members, self.as_of)
        village = self.villages[self._village_of[index]]
        district = self._districts[village.code[:8]]
        return Household(
            index=index, kk_number=str(self._kk_of[index]), region_code=village.code, village=village.name,
            district=district.name, address=address(rng, village.name, district.name, village.kind),
            members=members, facts=facts, data_errors=errors, ground_truth=truth,
        )

    def _decode(self, nik: int) -> tuple[str, date, str]:
        day, month, yy = nik // 10**8 % 100, nik // 10**6 % 100, nik // 10**4 % 100
        sex = "F" if day > 40 else "M"
        day -= 40 if day > 40 else 0
        snapshot = (self.as_of.year, self.as_of.month, self.as_of.day)
        year = 2000 + yy if (2000 + yy, month, day) <= snapshot else 1900 + yy
        return str(nik), date(year, month, day), sex

    def households(self, start: int = 0, stop: int | None = None, *, village: str | None = None) -> Iterator[Household]:
        """Households in order, optionally those of one village (skipped without building them)."""
        stop = self.household_count if stop is None else min(stop, self.household_count)
        wanted = None
        if village is not None:
            wanted = next((i for i, v in enumerate(self.villages) if v.code == village), -1)
        for index in range(start, stop):
            if wanted is None or self._village_of[index] == wanted:
                yield self.household(index)

    def people(self, *, offset: int = 0, limit: int = 50, village: str | None = None, role: str | None = None,
               reason: str | None = None, error: str | None = None) -> list[tuple[Household, Member]]:
        """People in population order, filtered; ``reason`` is a PKH reason code their household
        fails on, ``error`` a data-error kind (or ``"any"``) attached to their household.

        Village and role filters and the offset are applied on the skeleton (no household is
        built to be skipped); ``reason`` and ``error`` need each household built, so they scan.
        """
        found: list[tuple[Household, Member]] = []
        role_code = _ROLE_CODE.get(role, -1) if role is not None else None
        wanted = None if village is None else next((i for i, v in enumerate(self.villages) if v.code == village), -1)
        first = 0
        if wanted is None and role is None and reason is None and error is None and offset > 0:
            first = self.household_index(min(offset, self.size - 1))
        skipped = self._starts[first]
        for index in range(first, self.household_count):
            if wanted is not None and self._village_of[index] != wanted:
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
