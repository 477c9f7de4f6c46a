"""The worklist queries: a Relay connection of the facilitator's households and the counts per
village and state. Reading the list is logged in each household's access log."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from perlinsos import policy
from perlinsos.db.types import utcnow
from perlinsos.errors import Problem
from perlinsos.facilitation import informing, worklist
from perlinsos.facilitation.errors import problem
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.errors import PublicError
from perlinsos.graphql.facilitation.types import WorklistCount, WorklistItem
from perlinsos.graphql.relay import Connection, build_connection, decode_cursor, page_size
from perlinsos.graphql.selection.types import Outcome


def _refused(c: Context, p: Problem) -> PublicError:
    return PublicError(p.message(c.language), p.code)


def _check(c: Context, village: str | None) -> None:
    """Facilitators of the request's pilot only; a village filter within their own villages."""
    try:
        informing.facilitates_in(c.principal, c.pilot)
        if village is not None and not policy.facilitator_covers(c.principal, village, c.pilot.code):
            raise problem("FACILITATOR_OUT_OF_AREA", field="village")
    except Problem as p:
        raise _refused(c, p) from None


@strawberry.type
class FacilitationQueries:
    @strawberry.field(description="The households of the signed-in facilitator's villages in this pilot and where "
                                  "each stands; filters combine. Facilitators only.")
    async def worklist(
        self, info: Info, village: str | None = None, outcome: Outcome | None = None, not_informed: bool = False,
        appeal_deadline_within_days: int | None = None, search: str | None = None, first: int | None = None,
        after: str | None = None,
    ) -> Connection[WorklistItem]:
        c = ctx(info)
        _check(c, village)
        if appeal_deadline_within_days is not None and not 0 <= appeal_deadline_within_days <= 366:
            raise _refused(c, problem("DAYS_INVALID", field="appealDeadlineWithinDays"))
        if search is not None and len(search) > 100:
            raise _refused(c, problem("SEARCH_TOO_LONG", field="search"))
        size = page_size(first, c.settings.max_page_size)
        after_id = decode_cursor("Registration", after)
        filters = worklist.Filters(village=village, outcome=outcome.value if outcome else None,
                                   not_informed=not_informed, appeal_within_days=appeal_deadline_within_days,
                                   search=(search or "").strip() or None)
        async with c.db.engine.connect() as conn:
            items = await worklist.page(conn, c.principal, pilot_id=c.pilot.id,
                                        appeal_closes=c.pilot.phases.get("appeal_closes"), filters=filters,
                                        after_id=after_id, limit=size + 1, language=c.language, now=utcnow())
        # names, masked NIKs and reasons of these households reach a facilitator: their access logs say so
        c.mark_access(info.path.as_list(), [i.person_id for i in items[:size]], purpose="worklist")
        return build_connection("Registration", items, size, after_id, WorklistItem.of,
                                key=lambda i: i.registration_id)

    @strawberry.field(description="How many households of the facilitator's villages are in each state, per village.")
    async def worklist_counts(self, info: Info, village: str | None = None) -> list[WorklistCount]:
        c = ctx(info)
        _check(c, village)
        async with c.db.engine.connect() as conn:
            found = await worklist.counts(conn, c.principal, pilot_id=c.pilot.id, village=village, now=utcnow())
        return [WorklistCount(village=v, state=s, count=k) for v, s, k in found]
