"""Village notices (issue 14, item 6): the list posted at a village hall — the eligible households
of one village and programme, with the registrant's name and masked NIK, how to appeal and by when.

*Published* means: the pilot has a FINISHED selection run for the programme (or for all its
programmes), so every decision on the list has been made and its notifications queued with it
(the outbox is written in the decision's transaction). Before that: RESULTS_NOT_PUBLISHED.

Who: the national office, or a reviewer whose region of the pilot covers the village. A notice is
public, so the NIK is shown in the most restrictive form any staff member is shown
(:data:`perlinsos.policy.identifiers.EXPOSURE`): masked. Every notice generated is audited, once,
with who and which format. A training pilot's notice is headed LATIHAN.

Free of HTTP: :mod:`perlinsos.notices.routes` serves it, :mod:`perlinsos.notices.render` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from perlinsos import audit, policy, regions
from perlinsos.contract import Principal
from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, Outcome, Person, Pilot, Registration, RunStatus, SelectionRun
from perlinsos.idnumbers import mask_nik
from perlinsos.policy.identifiers import EXPOSURE, Field, Form, HIDDEN_NUMBER, Relation
from perlinsos.problems import problem

#: the relations of staff: a public notice shows no more than the least of them is shown
_STAFF = (Relation.REVIEWER, Relation.FACILITATOR, Relation.OTHER_STAFF, Relation.NATIONAL)
FORMATS = ("csv", "pdf")


@dataclass(frozen=True)
class Household:
    name: str
    nik: str  # in the public form (masked)


@dataclass(frozen=True)
class Notice:
    pilot: str
    pilot_name: str
    programme: str
    village_code: str
    village_name: str
    district_name: str
    appeal_deadline: datetime | None
    training: bool
    households: list[Household]
    generated_at: datetime


def public_nik(nik: str) -> str:
    """The NIK as the most restrictive staff form shows it (masked, or hidden if the policy says so)."""
    forms = {EXPOSURE[r][Field.NIK] for r in _STAFF}
    if Form.HIDDEN in forms:
        return HIDDEN_NUMBER
    return mask_nik(nik) if Form.MASKED in forms else nik


async def village_notice(db: Database, principal: Principal | None, pilot_code: str, village_code: str,
                         programme: str, *, fmt: str, now: datetime) -> Notice:
    """The notice, checked and audited; raises :class:`~perlinsos.errors.Problem` and writes nothing
    when refused."""
    if principal is None:
        raise problem("UNAUTHENTICATED")
    allowed = policy.stats_regions(principal, pilot_code)  # the national office, or the pilot's reviewers
    if allowed == []:
        raise problem("FORBIDDEN")
    village = regions.get(village_code)
    if village is None or village.level != "village":
        raise problem("REGION_UNKNOWN", field="village")
    if allowed is not None and not any(regions.is_within(village_code, r) for r in allowed):
        raise problem("FORBIDDEN")
    async with db.write() as session:
        pilot = (await session.execute(select(Pilot).where(Pilot.code == pilot_code))).scalar_one_or_none()
        if pilot is None:
            raise problem("PILOT_UNKNOWN", field="pilot")
        if programme not in pilot.programmes:
            raise problem("PROGRAMME_NOT_IN_PILOT", field="programme")
        if not any(regions.is_within(village_code, r) for r in pilot.region_codes):
            raise problem("REGION_UNKNOWN", field="village")
        published = (await session.execute(
            select(SelectionRun.id).where(SelectionRun.pilot_id == pilot.id, SelectionRun.status == RunStatus.FINISHED,
                                          SelectionRun.programme.is_(None) | (SelectionRun.programme == programme))
            .limit(1))).first()
        if published is None:
            raise problem("RESULTS_NOT_PUBLISHED", field="pilot")
        rows = (await session.execute(
            select(Person.name, Person.nik)
            .join(Registration, Registration.person_id == Person.id)
            .join(Decision, Decision.registration_id == Registration.id)
            .where(Registration.pilot_id == pilot.id, Registration.programme == programme,
                   Registration.region_code == village_code, Decision.is_current.is_(True),
                   Decision.outcome == Outcome.ELIGIBLE)
            .order_by(Person.name, Registration.id))).all()
        households = [Household(name=r.name, nik=public_nik(r.nik)) for r in rows]
        await audit.record_change(session, principal, action="VILLAGE_NOTICE_GENERATED", entity_type="village_notice",
                                  entity_id=f"{pilot.code}/{village_code}/{programme}",
                                  details={"format": fmt, "households": len(households)})
    district = regions.get(".".join(village_code.split(".")[:3]))
    return Notice(pilot=pilot.code, pilot_name=pilot.name, programme=programme, village_code=village_code,
                  village_name=village.name, district_name=district.name if district else "",
                  appeal_deadline=pilot.appeal_closes_at, training=bool(pilot.training), households=households,
                  generated_at=now)
