"""`me`: the signed-in citizen's own records and their timeline, for the portal."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos import citizen
from perlinsos.graphql.appeals import Appeal
from perlinsos.graphql.consents import Consent
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import Unauthenticated
from perlinsos.graphql.registrations import Household, Registrant, Registration
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.inbox import inbox_connection
from perlinsos.graphql.loaders import peek
from perlinsos.graphql.notifications import Notification
from perlinsos.graphql.relay import Connection
from perlinsos.graphql.util import then
from perlinsos.notification import inbox


@strawberry.type(description="One event in a citizen's journey (consent, registration, decision, ...).")
class TimelineEntry:
    at: datetime
    kind: str = strawberry.field(description="CONSENT_GIVEN, CONSENT_WITHDRAWN, REGISTERED, DECIDED, "
                                             "NOTIFIED, APPEAL_FILED or APPEAL_RESOLVED.")
    ref: strawberry.ID = strawberry.field(description="Id of the record the entry is about.")
    detail: JSON


@strawberry.type(description="The signed-in citizen's own records.")
class Me:
    person: Registrant | None = strawberry.field(description="Null until the first consent brings the record.")
    registrations: list[Registration]
    consents: list[Consent]
    appeals: list[Appeal] = strawberry.field(description="Your sanggah, oldest first.")
    timeline: list[TimelineEntry]
    household_id: strawberry.Private[int | None]
    person_db_id: strawberry.Private[int | None] = None

    @strawberry.field(description="Portal inbox, newest first (decisions and appeal steps, with reasons).")
    async def notifications(self, info: Info, first: int | None = None, after: str | None = None,
                            unread_only: bool = False) -> Connection[Notification]:
        return await inbox_connection(ctx(info), self.person_db_id, first, after, unread_only)

    @strawberry.field(description="How many inbox notifications are unread.")
    async def unread_notifications(self, info: Info) -> int:
        if self.person_db_id is None:
            return 0
        async with ctx(info).db.engine.connect() as conn:
            return await inbox.unread_count(conn, self.person_db_id)

    @strawberry.field
    def household(self, info: Info) -> Household | None:
        if self.household_id is None:
            return None
        c = ctx(info)
        return then(peek(c.loaders.household, self.household_id), lambda row: Household.from_row(row, c))


@strawberry.type
class MeQueries:
    @strawberry.field(description="The signed-in citizen's records; null for staff without a NIK.")
    async def me(self, info: Info) -> Me | None:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        if not c.principal.nik:
            return None
        async with c.db.engine.connect() as conn:
            records = await citizen.own_records(conn, c.principal.nik)
        if records is None:
            return Me(person=None, registrations=[], consents=[], appeals=[], timeline=[], household_id=None)
        return Me(
            person=Registrant.from_row(records.person, c),
            registrations=[Registration.from_row(r) for r in records.registrations],
            consents=[Consent.from_row(r) for r in records.consents],
            appeals=[Appeal.from_row(r) for r in records.appeals],
            timeline=[TimelineEntry(at=i.at, kind=i.kind, ref=to_global_id(i.ref_type, i.ref_id), detail=i.detail)
                      for i in records.timeline],
            household_id=records.person.household_id,
            person_db_id=records.person.id,
        )
