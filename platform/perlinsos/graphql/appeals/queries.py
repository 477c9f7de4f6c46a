"""GraphQL for the reviewers' list of appeals; who sees which is perlinsos.policy's. A reviewer's
list leaves out the appeals they may not review (separation of duties: about them, their household,
or assisted by them); the national office, which reviews none, sees them all."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from perlinsos import policy
from perlinsos.policy import duties
from perlinsos.db.models import Appeal as AppealRow
from perlinsos.db.models import AppealStatus as Status
from perlinsos.db.models import Decision, Pilot, Registration
from perlinsos.db.types import utcnow
from perlinsos.graphql.appeals.types import Appeal, AppealStatus
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import Unauthenticated
from perlinsos.graphql.relay import Connection, build_connection, decode_cursor, page_size


@strawberry.type
class AppealQueries:
    @strawberry.field(description="Appeals of the viewer's region (reviewers; the national office sees all).")
    async def appeals(self, info: Info, pilot: str, status: AppealStatus | None = None, overdue: bool = False,
                      first: int | None = None, after: str | None = None) -> Connection[Appeal]:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        size = page_size(first, c.settings.max_page_size)
        after_id = decode_cursor("Appeal", after)
        stmt = (select(AppealRow).join(Decision, Decision.id == AppealRow.decision_id)
                .join(Registration, Registration.id == Decision.registration_id)
                .join(Pilot, Pilot.id == Registration.pilot_id).where(Pilot.code == pilot)
                .where(policy.appeal_filter(c.principal))
                .order_by(AppealRow.id).limit(size + 1))
        if status is not None:
            stmt = stmt.where(AppealRow.status == status)
        if overdue:
            stmt = stmt.where(AppealRow.status.in_([Status.SUBMITTED, Status.UNDER_REVIEW]),
                              AppealRow.review_due_at < utcnow())
        if after_id is not None:
            stmt = stmt.where(AppealRow.id > after_id)
        async with c.db.read() as session:
            if policy.is_staff(c.principal) and not policy.is_admin(c.principal):
                ties = await duties.ties_of(session, c.principal)
                stmt = stmt.where(~duties.conflicted(ties))
            rows = list((await session.execute(stmt)).scalars())
        return build_connection("Appeal", rows, size, after_id, Appeal.from_row)
