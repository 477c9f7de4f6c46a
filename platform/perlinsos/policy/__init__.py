"""Authorization: who may see and do what. The one place these rules live.

Rules (ARCHITECTURE §5):

* a citizen sees only their own records (a registration they applied for);
* a facilitator sees the registrations they assisted, within their assigned villages;
* a reviewer sees every registration of their region;
* the national office (ADMIN) sees everything — and every access to personal data is recorded.

Staff scopes come from assignments of the request's pilot (or national ones): a scope with a
pilot covers that pilot's registrations only. People are matched on (issuer, subject).

A record the viewer may not see is answered exactly as a record that does not exist.
NIKs are shown in full only to their owner and to reviewers of the region (who verify identity
in appeals); everyone else sees them masked. What is shown beside them (KK, birth date, sex,
region) per viewer is one table in :mod:`perlinsos.policy.identifiers`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, or_, select, true

from perlinsos import regions
from perlinsos.contract import Principal, Role, StaffScope
from perlinsos.db.models import Person, Registration
from perlinsos.policy import identifiers


def _scopes(principal: Principal | None, role: Role, pilot_id: int | None = None) -> list[StaffScope]:
    if principal is None:
        return []
    return [s for s in principal.scopes if s.role == role]


def is_admin(principal: Principal | None) -> bool:
    return bool(_scopes(principal, Role.ADMIN))


def is_staff(principal: Principal | None) -> bool:
    return principal is not None and bool(principal.scopes)


def region_in_scopes(region_code: str, scopes: Iterable[StaffScope]) -> bool:
    return any(regions.is_within(region_code, s.region_code) for s in scopes)


def _region_clause(column, scopes: Iterable[StaffScope], pilot_column=None) -> ColumnElement[bool]:
    # Region codes are dotted; "35.10" covers "35.10" and "35.10.*" but not "35.100". A scope of
    # one pilot covers only that pilot's rows.
    clauses = []
    for s in scopes:
        clause = or_(column == s.region_code, column.like(s.region_code + ".%"))
        if s.pilot_id is not None and pilot_column is not None:
            clause = clause & (pilot_column == s.pilot_id)
        clauses.append(clause)
    return or_(*clauses) if clauses else false()


def _in_scopes(region_code: str, pilot_id: int | None, scopes: Iterable[StaffScope]) -> bool:
    return any(regions.is_within(region_code, s.region_code) and (s.pilot_id is None or s.pilot_id == pilot_id)
               for s in scopes)


def registration_filter(principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE clause limiting ``registration`` rows to those ``principal`` may see."""
    if principal is None:
        return false()
    if is_admin(principal):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if principal.is_citizen and principal.nik:
        own = select(Person.id).where(Person.nik == principal.nik).scalar_subquery()
        clauses.append(Registration.person_id == own)
    reviewer = _scopes(principal, Role.REVIEWER)
    if reviewer:
        clauses.append(_region_clause(Registration.region_code, reviewer, Registration.pilot_id))
    facilitator = _scopes(principal, Role.FACILITATOR)
    if facilitator:
        clauses.append(
            (Registration.assisted_by == principal.subject)
            & (Registration.assisted_by_issuer == principal.issuer)
            & _region_clause(Registration.region_code, facilitator, Registration.pilot_id)
        )
    return or_(*clauses) if clauses else false()


def appeal_filter(principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE clause (over ``registration``, joined to the appeal's decision) limiting appeals to
    those ``principal`` may list: the national office all, a reviewer their region of their pilot."""
    if principal is None:
        return false()
    if is_admin(principal):
        return true()
    return _region_clause(Registration.region_code, _scopes(principal, Role.REVIEWER), Registration.pilot_id)


def can_view_registration(
    principal: Principal | None, *, applicant_nik: str, region_code: str, assisted_by: str | None,
    assisted_by_issuer: str | None, pilot_id: int | None,
) -> bool:
    """The single-record twin of :func:`registration_filter`."""
    if principal is None:
        return False
    if is_admin(principal):
        return True
    if principal.is_citizen and principal.nik == applicant_nik:
        return True
    if _in_scopes(region_code, pilot_id, _scopes(principal, Role.REVIEWER)):
        return True
    return (assisted_by, assisted_by_issuer) == (principal.subject, principal.issuer) and _in_scopes(
        region_code, pilot_id, _scopes(principal, Role.FACILITATOR)
    )


def reads_appeal_as_reviewer_only(
    principal: Principal | None, *, appellant_nik: str, region_code: str, pilot_id: int | None,
    assisted: Iterable[tuple[str | None, str | None]] = (),
) -> bool:
    """Whether ``principal``'s only ground to read an appeal (its details, its evidence) is being a
    reviewer of its region: the ground separation of duties takes from a reviewer tied to it
    (:mod:`perlinsos.policy.duties`). The national office, the appellant citizen and a facilitator
    who assisted it (``assisted``: (subject, issuer) pairs of the registration and the appeal)
    keep their own grounds."""
    if principal is None or is_admin(principal):
        return False
    if principal.is_citizen and principal.nik == appellant_nik:
        return False
    mine = (principal.subject, principal.issuer)
    if mine in set(assisted) and _in_scopes(region_code, pilot_id, _scopes(principal, Role.FACILITATOR)):
        return False
    return _in_scopes(region_code, pilot_id, _scopes(principal, Role.REVIEWER))


def facilitator_covers(principal: Principal, region_code: str, pilot_code: str | None) -> bool:
    """Whether ``principal`` is a facilitator for the village ``region_code`` (in this pilot)."""
    scopes = [s for s in _scopes(principal, Role.FACILITATOR) if s.pilot_code in (None, pilot_code)]
    return region_in_scopes(region_code, scopes)


def facilitator_villages_filter(principal: Principal | None, pilot_id: int) -> ColumnElement[bool]:
    """A WHERE clause over ``registration``: every household of the villages ``principal``
    facilitates in pilot ``pilot_id``, assisted or not (their worklist: they inform and accompany
    the whole village). ``false()`` for anyone who facilitates nowhere in the pilot."""
    scopes = [s for s in _scopes(principal, Role.FACILITATOR) if s.pilot_id in (None, pilot_id)]
    if not scopes:
        return false()
    return (Registration.pilot_id == pilot_id) & _region_clause(Registration.region_code, scopes)


def village_operator_covers(principal: Principal, region_code: str, pilot_code: str | None) -> bool:
    """Whether ``principal`` is a village office operator for the village ``region_code`` (in this
    pilot): they record in-person appeals there, and nowhere else (perlinsos.appeals.in_person)."""
    scopes = [s for s in _scopes(principal, Role.VILLAGE_OPERATOR) if s.pilot_code in (None, pilot_code)]
    return region_in_scopes(region_code, scopes)


def can_list_registrations(principal: Principal | None) -> bool:
    """Lists are for staff; a citizen reads their own records through ``me``."""
    return is_staff(principal)


def may_see_full_nik(principal: Principal | None, *, nik: str, region_code: str, pilot_id: int | None = None) -> bool:
    # Identifier exposure (NIK, KK, birth date, sex, region) is one table: policy/identifiers.py.
    # ``pilot_id``: the pilot of the registration the person is shown through (a reviewer of
    # another pilot over the same region is not a reviewer for them).
    return identifiers.form(principal, identifiers.Field.NIK, nik=nik, region_code=region_code,
                            pilot_id=pilot_id) is identifiers.Form.FULL


def may_see_full_kk(principal: Principal | None, *, region_code: str, own_household: bool,
                    pilot_id: int | None = None) -> bool:
    household = 0 if own_household and principal is not None and principal.is_citizen else None
    return identifiers.form(principal, identifiers.Field.KK, region_code=region_code, household_id=0,
                            viewer_household_id=household, pilot_id=pilot_id) is identifiers.Form.FULL


def shown_nik(principal: Principal | None, *, nik: str, region_code: str, pilot_id: int | None = None) -> str:
    return identifiers.show_person(principal, nik=nik, birth_date=None, sex=None, region_code=region_code,
                                   pilot_id=pilot_id).nik


def can_administer(principal: Principal | None) -> bool:
    """Pilot rollout, staff management, plugin settings: the national office."""
    return is_admin(principal)


def can_roll_out_pilots(principal: Principal | None) -> bool:
    """Creating and changing pilots, and reading their plugin settings (which may hold
    gateway credentials): the national office only."""
    return is_admin(principal)


def stats_regions(principal: Principal | None, pilot_code: str) -> list[str] | None:
    """Where ``principal`` may read a pilot's transparency figures (``perlinsos.stats``): ``None``
    means everywhere (the national office), ``[]`` nowhere. A reviewer reads their own region's, as
    they already see its registrations one by one; facilitators and citizens get the published
    figures through other channels. The figures are suppressed aggregates, never personal data."""
    if is_admin(principal):
        return None
    return [s.region_code for s in _scopes(principal, Role.REVIEWER) if s.pilot_code in (None, pilot_code)]


def records_access(principal: Principal | None, *, owner_nik: str) -> bool:
    """Whether reading this person's data must be written to the access log (not their own)."""
    return principal is not None and principal.nik != owner_nik
