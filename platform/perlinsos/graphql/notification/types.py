"""GraphQL type for notifications (outbox rows as a citizen or an admin sees them)."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from perlinsos.db import models
from perlinsos.graphql.relay import to_global_id
from perlinsos.notification import templates


NotificationStatus = strawberry.enum(models.NotificationStatus, name="NotificationStatus")
# The core's templates are a closed set (a pilot may reword them, not add one): one source, their table.
NotificationTemplate = strawberry.enum(enum.Enum("NotificationTemplate", {t: t for t in templates.TEMPLATES}, type=str),
                                       name="NotificationTemplate", description="Which message it is.")


@strawberry.type(description="A message to a citizen on one channel (portal inbox, SMS, ...).")
class Notification:
    id: strawberry.ID
    channel: str = strawberry.field(description="portal, sms, or a channel a plugin adds (so a string).")
    template: NotificationTemplate
    language: str
    params: JSON
    status: NotificationStatus
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None
    title: str | None = strawberry.field(default=None, description="In the inbox: the text, in the viewer's language.")
    body: str | None = None
    last_error: str | None = strawberry.field(default=None, description="For the national office: why it failed.")
    next_attempt_at: datetime | None = None

    @classmethod
    def from_row(cls, row, *, title: str | None = None, body: str | None = None, admin: bool = False) -> Notification:
        status = row.status.value if hasattr(row.status, "value") else row.status
        return cls(
            id=to_global_id("Notification", row.id),
            channel=row.channel,
            template=NotificationTemplate(row.template),
            language=row.language,
            params=row.params,
            status=NotificationStatus(status),
            attempts=row.attempts,
            created_at=row.created_at,
            sent_at=row.sent_at,
            read_at=row.read_at,
            title=title,
            body=body,
            last_error=row.last_error if admin else None,
            next_attempt_at=row.next_attempt_at if admin else None,
        )
