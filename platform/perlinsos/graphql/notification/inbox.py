"""GraphQL for notifications: the citizen's inbox (with a live subscription) and the outbox as
the national office sees it (dead rows, re-queue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from perlinsos import policy
from perlinsos.errors import Problem
from perlinsos.graphql.context import Context, ctx
from perlinsos.graphql.errors import Forbidden, Unauthenticated
from perlinsos.graphql.notification.types import Notification, NotificationStatus
from perlinsos.graphql.payloads import UserError
from perlinsos.graphql.relay import Connection, build_connection, decode_cursor, from_global_id, page_size
from perlinsos.notification import inbox, outbox
from perlinsos.notification.broker import BROKER
from perlinsos.notification.rendering import Renderer
from perlinsos.pilots import store
from perlinsos.problems import problem

#: how often a live subscription also checks the database (deliveries by another process)
POLL_SECONDS = 2.0


async def rendered(c: Context, rows: list) -> list[Notification]:
    """Inbox items with their texts in the viewer's language."""
    renderer = Renderer(c.db, c.plugins, c.settings.portal_url)
    await renderer.prepare(rows)
    person = _Viewer(c.principal.nik) if c.principal else None
    items = []
    for row in rows:
        text = await renderer.render(_in_language(row, c.language), person)
        items.append(Notification.from_row(row, title=text.title, body=text.body))
    return items


class _Viewer:
    def __init__(self, nik: str | None):
        self.nik = nik or ""


class _in_language:  # the row as stored, but rendered in the viewer's language
    def __init__(self, row, language: str):
        self._row, self.language = row, language

    def __getattr__(self, name):
        return getattr(self._row, name)


async def my_person_id(c: Context) -> int | None:
    if c.principal is None:
        raise Unauthenticated()
    if not c.principal.nik:
        return None
    async with c.db.engine.connect() as conn:
        return await inbox.person_id_of(conn, c.principal.nik)


async def inbox_connection(c: Context, person_id: int | None, first: int | None, after: str | None,
                           unread_only: bool) -> Connection[Notification]:
    size = page_size(first, c.settings.max_page_size)
    before = decode_cursor("Notification", after)
    rows = []
    if person_id is not None:
        async with c.db.engine.connect() as conn:
            rows = await inbox.inbox_rows(conn, person_id, before_id=before, limit=size + 1, unread_only=unread_only)
    nodes = {r.id: n for r, n in zip(rows[:size], await rendered(c, rows[:size]), strict=True)}
    return build_connection("Notification", rows, size, before, lambda r: nodes[r.id])


@strawberry.type
class MarkReadPayload:
    marked: int
    errors: list[UserError]


@strawberry.type
class RequeuePayload:
    notification: Notification | None
    errors: list[UserError]


@strawberry.type
class InboxMutations:
    @strawberry.mutation(description="Mark your own portal notifications read.")
    async def mark_notifications_read(self, info: Info, ids: list[strawberry.ID]) -> MarkReadPayload:
        c = ctx(info)
        person_id = await my_person_id(c)
        try:
            numbers = [from_global_id("Notification", i) for i in ids]
        except Exception:  # noqa: BLE001 - a malformed id marks nothing
            return MarkReadPayload(marked=0, errors=[UserError.of(problem("INPUT_INVALID", field="ids"), c.language)])
        marked = await inbox.mark_read(c.db, person_id, numbers) if person_id else 0
        return MarkReadPayload(marked=marked, errors=[])

    @strawberry.mutation(description="Put a DEAD or FAILED notification back in the queue (national office).")
    async def requeue_notification(self, info: Info, id: strawberry.ID) -> RequeuePayload:
        c = ctx(info)
        try:
            if c.principal is None:
                raise problem("UNAUTHENTICATED")
            if not policy.can_administer(c.principal):
                raise problem("FORBIDDEN")
            try:
                number = from_global_id("Notification", id)
            except Exception:  # noqa: BLE001
                raise problem("NOTIFICATION_NOT_REQUEUEABLE") from None
            if not await outbox.requeue(c.db, number, c.principal):
                raise problem("NOTIFICATION_NOT_REQUEUEABLE")
            async with c.db.engine.connect() as conn:
                (row,) = await inbox.outbox_rows(conn, status=None, pilot_id=None, after_id=number - 1, limit=1)
        except Problem as p:
            return RequeuePayload(notification=None, errors=[UserError.of(p, c.language)])
        return RequeuePayload(notification=Notification.from_row(row, admin=True), errors=[])


@strawberry.type
class OutboxQueries:
    @strawberry.field(description="The outbox (national office): e.g. status: DEAD to see what needs attention.")
    async def outbox(self, info: Info, status: NotificationStatus | None = None, pilot: str | None = None,
                     first: int | None = None, after: str | None = None) -> Connection[Notification]:
        c = ctx(info)
        if c.principal is None:
            raise Unauthenticated()
        if not policy.can_administer(c.principal):
            raise Forbidden()
        size = page_size(first, c.settings.max_page_size)
        after_id = decode_cursor("Notification", after)
        async with c.db.engine.connect() as conn:
            pilot_id = None
            if pilot is not None:
                row = await store.pilot_row(conn, pilot)
                pilot_id = row.id if row else -1
            rows = await inbox.outbox_rows(conn, status=status.value if status else None, pilot_id=pilot_id,
                                           after_id=after_id, limit=size + 1)
        return build_connection("Notification", rows, size, after_id, lambda r: Notification.from_row(r, admin=True))


@strawberry.type
class InboxSubscriptions:
    @strawberry.subscription(description="Your portal notifications as they are delivered (graphql-transport-ws; "
                                         "authenticate in connection_init: {\"Authorization\": \"Bearer …\"}).")
    async def notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        c = ctx(info)
        person_id = await my_person_id(c)
        if person_id is None:
            return
        async with c.db.engine.connect() as conn:
            last = await inbox.latest_id(conn, person_id)
        queue = BROKER.listen(person_id)
        try:
            while True:
                try:
                    await asyncio.wait_for(queue.get(), POLL_SECONDS)
                except TimeoutError:
                    pass
                async with c.db.engine.connect() as conn:
                    rows = await inbox.newer_than(conn, person_id, last)
                for item in await rendered(c, rows):
                    yield item
                if rows:
                    last = rows[-1].id
        finally:
            BROKER.forget(person_id, queue)


__all__ = ["InboxMutations", "InboxSubscriptions", "OutboxQueries", "inbox_connection"]
