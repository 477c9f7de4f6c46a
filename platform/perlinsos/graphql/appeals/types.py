"""GraphQL types for appeals (sanggah) and their evidence files."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos.db import models
from perlinsos.db.types import utcnow
from perlinsos.graphql.context import ctx
from perlinsos.graphql.loaders import peek
from perlinsos.graphql.registration.types import RegistrationChannel
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.util import then

if TYPE_CHECKING:
    from perlinsos.graphql.selection.types import Decision

DecisionRef = Annotated["Decision", strawberry.lazy("perlinsos.graphql.selection.types")]


AppealStatus = strawberry.enum(models.AppealStatus, name="AppealStatus")


@strawberry.type(description="A file attached to an appeal as evidence (metadata only).")
class EvidenceFile:
    id: strawberry.ID
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime

    @classmethod
    def from_row(cls, row) -> EvidenceFile:
        return cls(
            id=to_global_id("EvidenceFile", row.id),
            kind=row.kind,
            filename=row.filename,
            content_type=row.content_type,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            uploaded_at=row.uploaded_at,
        )


@strawberry.type(description="Who filed an appeal for its owner: the assisting facilitator (channel ASSISTED) or the "
                              "village operator who recorded it at the office (channel VILLAGE_OFFICE).")
class AppealFiler:
    subject: str = strawberry.field(description="The staff member's id at their identity provider.")
    issuer: str | None = strawberry.field(description="Their identity provider (an identity is both together).")


@strawberry.type(description="What a village operator saw when the owner filed in person (their word, no image): "
                              "OWNER_PRESENT, KTP_SEEN, KK_SEEN, DOCUMENT_SEEN:<evidence kind>.")
class AppealAttestation:
    kind: str
    attested_by: AppealFiler
    attested_at: datetime


@strawberry.type(description="A dispute of a decision, filed by the owner of the NIK.")
class Appeal:
    id: strawberry.ID
    status: AppealStatus
    ground: str
    disputed_reasons: list[str]
    statement: str
    comparison_data: JSON
    channel: RegistrationChannel
    submitted_at: datetime
    review_due_at: datetime
    resolved_at: datetime | None
    resolution_note: str | None
    db_id: strawberry.Private[int]
    decision_id: strawberry.Private[int]
    resulting_decision_id: strawberry.Private[int | None] = None
    filer: strawberry.Private[tuple[str, str | None] | None] = None

    @strawberry.field(description="The facilitator or village operator who filed it for the owner (see `channel`); "
                                  "null when the owner filed it themselves.")
    def filed_by(self) -> AppealFiler | None:
        return AppealFiler(subject=self.filer[0], issuer=self.filer[1]) if self.filer else None

    @strawberry.field(description="At the village office (channel VILLAGE_OFFICE): what the operator saw. Empty "
                                  "otherwise.")
    async def attestations(self, info: Info) -> list[AppealAttestation]:
        if self.channel != models.Channel.VILLAGE_OFFICE:
            return []
        from sqlalchemy import select

        async with ctx(info).db.read() as session:
            rows = (await session.execute(select(models.AppealAttestation).where(
                models.AppealAttestation.appeal_id == self.db_id).order_by(models.AppealAttestation.id))).scalars()
            return [AppealAttestation(kind=r.kind, attested_by=AppealFiler(subject=r.attested_by,
                                                                           issuer=r.attested_by_issuer),
                                      attested_at=r.attested_at) for r in rows]

    @strawberry.field(description="Past its review deadline and not yet resolved.")
    def overdue(self) -> bool:
        open_ = self.status in (AppealStatus.SUBMITTED, AppealStatus.UNDER_REVIEW)
        return open_ and utcnow() > self.review_due_at

    @strawberry.field
    def decision(self, info: Info) -> DecisionRef:
        from perlinsos.graphql.selection.types import Decision

        return then(peek(ctx(info).loaders.decision, self.decision_id), Decision.from_row)

    @strawberry.field(description="The decision made again after the appeal was upheld (null otherwise); "
                                  "`decision` stays the one appealed.")
    def resulting_decision(self, info: Info) -> DecisionRef | None:
        from perlinsos.graphql.selection.types import Decision

        if self.resulting_decision_id is None:
            return None
        return then(peek(ctx(info).loaders.decision, self.resulting_decision_id), Decision.from_row)

    @strawberry.field
    def evidence(self, info: Info) -> list[EvidenceFile]:
        return then(peek(ctx(info).loaders.evidence, self.db_id), lambda rows: [EvidenceFile.from_row(r) for r in rows])

    @classmethod
    def from_row(cls, row) -> Appeal:
        status = row.status.value if hasattr(row.status, "value") else row.status
        channel = row.channel.value if hasattr(row.channel, "value") else row.channel
        return cls(
            id=to_global_id("Appeal", row.id),
            status=AppealStatus(status),
            ground=row.ground,
            disputed_reasons=list(row.disputed_reasons),
            statement=row.statement,
            comparison_data=row.comparison_data,
            channel=models.Channel(channel),
            submitted_at=row.submitted_at,
            review_due_at=row.review_due_at,
            resolved_at=row.resolved_at,
            resolution_note=row.resolution_note,
            db_id=row.id,
            decision_id=row.decision_id,
            resulting_decision_id=row.resulting_decision_id,
            filer=(row.assisted_by, row.assisted_by_issuer) if getattr(row, "assisted_by", None) else None,
        )
