"""Recording that a household was informed of its decision (retry-safe with a client key)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from perlinsos import globalids
from perlinsos.errors import Problem
from perlinsos.facilitation import informing
from perlinsos.facilitation.errors import problem
from perlinsos.graphql.context import ctx
from perlinsos.graphql.facilitation.types import InformedHow, InformedRecord
from perlinsos.graphql.payloads import UserError


@strawberry.input(description="Who was told, when and how. `id`: the task (a notification id from the worklist) or "
                              "the registration.")
class RecordInformedInput:
    id: strawberry.ID
    informed_at: datetime
    how: InformedHow
    note: str | None = None
    client_key: str = strawberry.field(description="The same for every retry of this request (8-100 characters): a "
                                                   "retry gets the same answer, nothing is recorded twice.")


@strawberry.type
class RecordInformedPayload:
    informed: InformedRecord | None
    errors: list[UserError]


def _target(value: str) -> tuple[int | None, int | None]:
    for kind in ("Notification", "Registration"):
        try:
            key = globalids.decode(kind, value)
        except globalids.MalformedId:
            continue
        return (key, None) if kind == "Notification" else (None, key)
    raise problem("NOTIFICATION_OR_REGISTRATION_NOT_FOUND", field="id")


@strawberry.type
class FacilitationMutations:
    @strawberry.mutation(description="A facilitator of the household's village records that they explained its "
                                     "current decision: the notification counts as DELIVERED from then on.")
    async def record_informed(self, info: Info, input: RecordInformedInput) -> RecordInformedPayload:
        c = ctx(info)
        try:
            informing.facilitates_in(c.principal, c.pilot)
            notification_id, registration_id = _target(input.id)
            record = await informing.record_informed(
                c.db, c.principal, c.pilot, notification_id=notification_id, registration_id=registration_id,
                informed_at=input.informed_at, how=informing.How(input.how.value), note=input.note,
                client_key=input.client_key)
            return RecordInformedPayload(informed=InformedRecord.of(record), errors=[])
        except Problem as p:
            return RecordInformedPayload(informed=None, errors=[UserError.of(p, c.language)])
