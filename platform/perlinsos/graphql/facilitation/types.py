"""The worklist's types: small on purpose (a facilitator's phone on a weak signal), one text per
failed reason in the request's language."""

from __future__ import annotations

from datetime import datetime

import strawberry

from perlinsos.facilitation import informing, worklist
from perlinsos.graphql.appeals.types import AppealStatus
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.selection.types import Outcome

WorklistState = strawberry.enum(worklist.State, name="WorklistState",
                                description="Where a household stands: CONSENT_MISSING, REGISTERED, NOT_INFORMED "
                                            "(decided, not reached yet), INFORMED, APPEAL_OPEN, APPEAL_DECIDED.")
InformedHow = strawberry.enum(informing.How, name="InformedHow",
                              description="How a facilitator explained a decision to the household.")


@strawberry.type(description="A failed reason in plain words, in the request's language.")
class WorklistReason:
    code: str
    text: str


@strawberry.type(description="One household of the facilitator's villages and where it stands.")
class WorklistItem:
    id: strawberry.ID = strawberry.field(description="The registration's id.")
    name: str
    nik: str = strawberry.field(description="As the identifier policy shows it to this viewer (masked).")
    village: str = strawberry.field(description="Kode wilayah of the village.")
    programme: str
    state: WorklistState
    outcome: Outcome | None
    failed_reasons: list[WorklistReason]
    informed: bool = strawberry.field(description="A channel reached the household with the current decision.")
    informed_via: str | None = strawberry.field(description="The channel that did: sms, facilitator, ...")
    task: strawberry.ID | None = strawberry.field(
        description="The open facilitator task (a notification id for `recordInformed`): the pilot's "
                    "channels could not reach the household.")
    appeal_status: AppealStatus | None
    appeal_deadline: datetime | None = strawberry.field(
        description="An open appeal: its review is due; not eligible and not appealed: the last day to appeal.")

    @classmethod
    def of(cls, item: worklist.Item) -> WorklistItem:
        return cls(id=to_global_id("Registration", item.registration_id), name=item.name, nik=item.nik,
                   village=item.village, programme=item.programme, state=item.state,
                   outcome=Outcome(item.outcome) if item.outcome else None,
                   failed_reasons=[WorklistReason(code=c, text=t) for c, t in item.failed],
                   informed=item.informed_via is not None, informed_via=item.informed_via,
                   task=to_global_id("Notification", item.task_id) if item.task_id else None,
                   appeal_status=AppealStatus(item.appeal_status) if item.appeal_status else None,
                   appeal_deadline=item.appeal_deadline)


@strawberry.type(description="Households of one village in one state.")
class WorklistCount:
    village: str
    state: WorklistState
    count: int


@strawberry.type(description="A facilitator's record that a household was told of a decision.")
class InformedRecord:
    notification: strawberry.ID
    registration: strawberry.ID
    decision: strawberry.ID
    informed_at: datetime
    how: InformedHow
    note: str | None

    @classmethod
    def of(cls, record: informing.Informed) -> InformedRecord:
        return cls(notification=to_global_id("Notification", record.notification_id),
                   registration=to_global_id("Registration", record.registration_id),
                   decision=to_global_id("Decision", record.decision_id), informed_at=record.informed_at,
                   how=record.how, note=record.note)
