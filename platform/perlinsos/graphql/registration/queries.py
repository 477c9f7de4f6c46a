"""GraphQL queries for registrations: the staff list (within what the viewer may see) and one by id."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from perlinsos import policy
from perlinsos.registration import service as registration
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.errors import Unauthenticated
from perlinsos.graphql.loaders import prime
from perlinsos.graphql.relay import (
    Connection,
    build_connection,
    decode_cursor,
    from_global_id,
    page_size,
)
from perlinsos.graphql.registration.types import Registration
from perlinsos.graphql.util import selected_names


async def _prefetch(c: Context, rows: list, names: set[str]) -> None:
    """Load the page's relations so child fields resolve from cache: registrants and current
    decisions in one query (joined on the page's ids), then the decisions' reasons."""
    decisions = await c.loaders.prime_page(rows, person="registrant" in names, decision="decision" in names)
    if "reasons" in names:
        await prime(c.loaders.reasons, (d.id for d in decisions if d is not None))


@strawberry.type
class RegistrationQueries:
    @strawberry.field(description="Registrations of a pilot the viewer may see (staff only).")
    async def registrations(
        self,
        info: Info,
        pilot: str,
        programme: str | None = None,
        region_code: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Registration]:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        size = page_size(first, c.settings.max_page_size)
        after_id = decode_cursor("Registration", after)
        if not policy.can_list_registrations(c.principal):
            rows = []  # a citizen's list is empty, exactly as if nothing existed
        else:
            async with c.loaders.one_connection() as conn:  # the page and its prefetch: one checkout
                rows = await registration.registration_rows(
                    conn, c.principal, pilot_code=pilot, programme=programme,
                    region_code=region_code, after_id=after_id, limit=size + 1,
                )
                await _prefetch(c, rows[:size], selected_names(info))
        return build_connection("Registration", rows, size, after_id, Registration.from_row)

    @strawberry.field(description="One registration; null when it does not exist or is not yours to see.")
    async def registration(self, info: Info, id: strawberry.ID) -> Registration | None:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        async with c.db.engine.connect() as conn:
            row = await registration.registration_row(conn, c.principal, from_global_id("Registration", id))
        return Registration.from_row(row) if row else None
