"""Identifier exposure: which of a person's NIK, KK number, birth date, sex and region a viewer is
shown, and in what form. The one table (:data:`EXPOSURE`) and the one entry point for people
(:func:`show_person`) and households (:func:`show_household`); every API surface goes through them.

Why these forms (the README's privacy section has the table for readers):

A NIK is region (6 digits: province, regency, district) + birth date DDMMYY (women: day + 40) +
serial (4). The mask keeps province+regency and the serial (``3510********0001``) and hides the
district and the birth date. We assume the worst: that whoever sees a record knows the district
(the village of the record is shown, and people mostly live where they were first registered) and
the serial (shown; in practice it is small, 0001 for most people). What then protects a NIK is the
birth date alone, so a viewer without the full-NIK right never gets the day and month:

* the birth **year** only, and only for people born at least two calendar years ago: a year covers
  365 or 366 dates, all in the past; a person born since 1 January of last year shows no year, which
  still leaves at least 365 past dates. Both are fixed for a calendar year, so watching a record
  day after day learns nothing more (an age in years would change on the birthday and tell it);
* the sex is shown: it only picks between day and day + 40, which the year cannot narrow.

So every masked NIK keeps at least :data:`MIN_CANDIDATES` (365) possible values however the shown
fields are combined. A KK number is region (6) + issue date (6) + serial (4); its issue date is
shown nowhere, so its mask (``3510********0001``) keeps some 36,500 possible values.

A viewer may stand in several relations to a person (a reviewer who is also in the family): each
field is shown in the most complete form any of them allows.

A staff relation is of one pilot: a reviewer or facilitator of pilot B is one for people shown
through a registration of pilot B (``pilot_id``), not for those of pilot A over the same regency.
Where no registration tells the pilot (a citizen's own household, their data export) only national
assignments count.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime

from perlinsos import regions
from perlinsos.contract import Principal, Role
from perlinsos.idnumbers import mask_kk, mask_nik

__all__ = [
    "EXPOSURE", "MIN_CANDIDATES", "Field", "Form", "Relation", "ShownHousehold", "ShownPerson",
    "exposure", "relations", "show_household", "show_person",
]

#: The fewest full NIKs (or KK numbers) that must stay consistent with what a viewer without the
#: full right is shown: the dates of one birth year.
MIN_CANDIDATES = 365
#: A birth year is shown only this many calendar years back (see the module docstring).
YEAR_SHOWN_AFTER = 2
HIDDEN_NUMBER = "*" * 16  # a number not shown at all (the schema's field stays a non-null string)


class Relation(enum.StrEnum):
    OWNER = "owner"  # the person themselves (a citizen signed in with that NIK)
    HOUSEHOLD = "household"  # a citizen on the same KK
    REVIEWER = "reviewer"  # a reviewer whose region covers the person's (verifies identity in appeals)
    FACILITATOR = "facilitator"  # a facilitator whose villages cover the person's
    OTHER_STAFF = "other_staff"  # staff whose scope does not cover the person's village
    NATIONAL = "national"  # the national office (ADMIN)
    ANONYMOUS = "anonymous"  # none of the above


class Field(enum.StrEnum):
    NIK = "nik"
    KK = "kk"
    BIRTH_DATE = "birth_date"
    SEX = "sex"
    REGION = "region"


class Form(enum.StrEnum):
    FULL = "full"  # NIK/KK in full, the whole birth date, sex, the village
    MASKED = "masked"  # NIK/KK: province+regency and serial (3510********0001)
    YEAR = "year"  # birth date: the year, for people born two or more calendar years ago
    DISTRICT = "district"  # region: the kecamatan of the village
    PROVINCE = "province"  # region: the province
    HIDDEN = "hidden"


_RANK = {Form.HIDDEN: 0, Form.PROVINCE: 1, Form.DISTRICT: 2, Form.YEAR: 2, Form.MASKED: 2, Form.FULL: 3}

F, M, Y, D, P, H = Form.FULL, Form.MASKED, Form.YEAR, Form.DISTRICT, Form.PROVINCE, Form.HIDDEN
#: The table. Columns: NIK, KK, birth date, sex, region.
EXPOSURE: dict[Relation, dict[Field, Form]] = {
    relation: dict(zip(Field, forms, strict=True)) for relation, forms in {
        Relation.OWNER: (F, F, F, F, F),
        Relation.HOUSEHOLD: (M, F, Y, F, F),  # their own KK card; the others' NIKs stay theirs
        Relation.REVIEWER: (F, F, F, F, F),
        Relation.FACILITATOR: (M, M, Y, F, F),
        Relation.OTHER_STAFF: (M, M, Y, F, D),
        Relation.NATIONAL: (M, M, Y, F, F),
        Relation.ANONYMOUS: (H, H, H, H, P),
    }.items()
}
del F, M, Y, D, P, H


def _scopes(principal: Principal, role: Role, pilot_id: int | None) -> list[str]:
    # a pilot's assignment speaks for that pilot's registrations only; a national one for all
    return [s.region_code for s in principal.scopes if s.role == role and s.pilot_id in (None, pilot_id)]


def _covers(region_code: str, scopes: list[str]) -> bool:
    return any(regions.is_within(region_code, s) for s in scopes)


def relations(principal: Principal | None, *, region_code: str, nik: str | None = None,
              household_id: int | None = None, viewer_household_id: int | None = None,
              pilot_id: int | None = None) -> frozenset[Relation]:
    """How ``principal`` stands to a person (``nik`` given) or a household (``nik`` None), shown
    through a registration of pilot ``pilot_id`` (None: outside any pilot's registration)."""
    if principal is None:
        return frozenset({Relation.ANONYMOUS})
    found: set[Relation] = set()
    if principal.is_citizen and principal.nik and nik is not None and principal.nik == nik:
        found.add(Relation.OWNER)
    if principal.is_citizen and viewer_household_id is not None and household_id == viewer_household_id:
        found.add(Relation.HOUSEHOLD)
    if _covers(region_code, _scopes(principal, Role.REVIEWER, pilot_id)):
        found.add(Relation.REVIEWER)
    if _covers(region_code, _scopes(principal, Role.FACILITATOR, pilot_id)):
        found.add(Relation.FACILITATOR)
    if _scopes(principal, Role.ADMIN, pilot_id):
        found.add(Relation.NATIONAL)
    if principal.scopes and not found & {Relation.REVIEWER, Relation.FACILITATOR, Relation.NATIONAL}:
        found.add(Relation.OTHER_STAFF)
    return frozenset(found or {Relation.ANONYMOUS})


def exposure(found: frozenset[Relation]) -> dict[Field, Form]:
    """Each field in the most complete form any of the relations allows."""
    return {f: max((EXPOSURE[r][f] for r in found), key=_RANK.__getitem__) for f in Field}


def _today() -> date:
    return datetime.now(UTC).date()


def _number(value: str, form: Form, mask) -> str:
    if form is Form.FULL:
        return value
    return mask(value) if form is Form.MASKED else HIDDEN_NUMBER


def _region(code: str, form: Form) -> str:
    parts = code.split(".")
    if form is Form.DISTRICT:
        return ".".join(parts[:3])
    if form in (Form.PROVINCE, Form.HIDDEN):
        return parts[0]
    return code


@dataclass(frozen=True)
class ShownPerson:
    nik: str
    birth_date: date | None
    birth_year: int | None
    sex: str | None
    region_code: str


@dataclass(frozen=True)
class ShownHousehold:
    kk_number: str
    region_code: str


def show_person(principal: Principal | None, *, nik: str, birth_date: date | None, sex: str | None,
                region_code: str, household_id: int | None = None, viewer_household_id: int | None = None,
                pilot_id: int | None = None, today: date | None = None) -> ShownPerson:
    """A person's identifying fields as ``principal`` may see them (``pilot_id``: of the
    registration they are shown through)."""
    forms = exposure(relations(principal, nik=nik, region_code=region_code, household_id=household_id,
                               viewer_household_id=viewer_household_id, pilot_id=pilot_id))
    born, year = None, None
    if birth_date is not None and forms[Field.BIRTH_DATE] is Form.FULL:
        born, year = birth_date, birth_date.year
    elif birth_date is not None and forms[Field.BIRTH_DATE] is Form.YEAR:
        if birth_date.year <= (today or _today()).year - YEAR_SHOWN_AFTER:
            year = birth_date.year
    return ShownPerson(
        nik=_number(nik, forms[Field.NIK], mask_nik),
        birth_date=born,
        birth_year=year,
        sex=sex if forms[Field.SEX] is Form.FULL else None,
        region_code=_region(region_code, forms[Field.REGION]),
    )


def show_household(principal: Principal | None, *, kk_number: str, region_code: str, household_id: int | None,
                   viewer_household_id: int | None = None, pilot_id: int | None = None) -> ShownHousehold:
    """A household's KK number and region as ``principal`` may see them."""
    forms = exposure(relations(principal, region_code=region_code, household_id=household_id,
                               viewer_household_id=viewer_household_id, pilot_id=pilot_id))
    return ShownHousehold(kk_number=_number(kk_number, forms[Field.KK], mask_kk),
                          region_code=_region(region_code, forms[Field.REGION]))


def form(principal: Principal | None, field: Field, **subject) -> Form:
    """The form one field takes for ``principal`` (``subject``: as :func:`relations` takes it)."""
    return exposure(relations(principal, **subject))[field]
