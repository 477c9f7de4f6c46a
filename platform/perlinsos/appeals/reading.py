"""Which appeals of a registration a viewer reads (their statement, comparison data, evidence).

Whoever sees a registration sees its decisions; its appeals follow the same rule, with one
exception: a reviewer who reads them only as a reviewer of the region and is tied to an appeal
(separation of duties, :mod:`perlinsos.policy.duties`: about them, their household, or assisted by
them) does not see that appeal at all, as for a record that does not exist. The appellant citizen,
a facilitator who assisted it and the national office keep their own grounds.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from perlinsos import policy
from perlinsos.contract import Principal, Role
from perlinsos.db.engine import Database
from perlinsos.db.models import Person, Registration
from perlinsos.policy import duties

#: one reading of the viewer's ties per request (keyed by the request's loaders)
_TIES: weakref.WeakKeyDictionary[Any, duties.Ties] = weakref.WeakKeyDictionary()


def may_be_tied(principal: Principal | None) -> bool:
    """Only a reviewer who is not the national office can lose an appeal to a tie."""
    return principal is not None and not policy.is_admin(principal) and \
        any(s.role == Role.REVIEWER for s in principal.scopes)


async def readable(db: Database, principal: Principal | None, registration_id: int, rows: Sequence[Any],
                   *, request_key: Any = None) -> list[Any]:
    """``rows`` (appeals of one registration's decision) less those ``principal`` may not read."""
    if not rows or not may_be_tied(principal):
        return list(rows)
    async with db.read() as session:
        registration = await session.get(Registration, registration_id)
        if registration is None:
            return []
        ties = _TIES.get(request_key) if request_key is not None else None
        if ties is None:
            ties = await duties.ties_of(session, principal)
            if request_key is not None:
                _TIES[request_key] = ties
        ids = {r.appellant_person_id for r in rows}
        appellants = {p.id: p for p in (await session.execute(select(Person).where(Person.id.in_(ids)))).scalars()}
    kept = []
    for row in rows:
        appellant = appellants.get(row.appellant_person_id)
        if appellant is None:
            continue
        reviewer_only = policy.reads_appeal_as_reviewer_only(
            principal, appellant_nik=appellant.nik, region_code=registration.region_code,
            pilot_id=registration.pilot_id,
            assisted=[(registration.assisted_by, registration.assisted_by_issuer),
                      (row.assisted_by, row.assisted_by_issuer)])
        if reviewer_only and duties.conflict(ties, appellant=appellant, registration=registration,
                                             appeal=row) is not None:
            continue
        kept.append(row)
    return kept
