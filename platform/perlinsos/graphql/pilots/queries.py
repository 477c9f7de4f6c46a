"""GraphQL queries for pilots: every pilot, and one by code."""

from __future__ import annotations


import strawberry
from strawberry.types import Info

from perlinsos.graphql.context import ctx
from perlinsos.pilots import store
from perlinsos.graphql.relay import Connection, build_connection, decode_cursor, page_size
from perlinsos.graphql.pilots.types import Pilot


@strawberry.type
class PilotQueries:
    @strawberry.field(description="Every pilot, oldest first.")
    async def pilots(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Pilot]:
        c = ctx(info)
        size = page_size(first, c.settings.max_page_size)
        after_id = decode_cursor("Pilot", after)
        async with c.db.engine.connect() as conn:
            rows = await store.pilot_rows(conn, after_id=after_id, limit=size + 1)
        return build_connection("Pilot", rows, size, after_id, Pilot.from_row)

    @strawberry.field(description="One pilot by its code, e.g. BWI-2025.")
    async def pilot(self, info: Info, code: str) -> Pilot | None:
        c = ctx(info)
        async with c.db.engine.connect() as conn:
            row = await store.pilot_row(conn, code)
        return Pilot.from_row(row) if row else None
