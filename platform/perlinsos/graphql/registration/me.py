"""`me`: the signed-in citizen's own records and their timeline, for the portal."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import namedtuple
from datetime import datetime

import strawberry
from sqlalchemy import and_, bindparam, select
from strawberry.scalars import JSON
from strawberry.types import Info

from perlinsos.registration import citizen
from perlinsos import export as data_export
from perlinsos.graphql.appeals.types import Appeal
from perlinsos.graphql.registration.consent import Consent
from perlinsos.graphql.context import ctx
from perlinsos.graphql.errors import Unauthenticated
from perlinsos.graphql.registration.types import Household, Registrant, Registration
from perlinsos.graphql.relay import to_global_id
from perlinsos.graphql.notification.inbox import inbox_connection
from perlinsos.db.models import Decision, Person
from perlinsos.db.models import Registration as RegistrationTable
from perlinsos.graphql.loaders import DECISION_COLUMNS, PERSON_COLUMNS, DecisionRow, PersonRow, peek, prime
from perlinsos.graphql.notification.types import Notification
from perlinsos.graphql.relay import Connection, build_connection, decode_cursor, page_size
from perlinsos.graphql.util import selected_names, then
from perlinsos.notification import inbox


TimelineEntryKind = strawberry.enum(citizen.TimelineKind, name="TimelineEntryKind",
                                    description="What happened in a citizen's journey.")


@strawberry.type(description="One event in a citizen's journey (consent, registration, decision, ...).")
class TimelineEntry:
    at: datetime
    kind: TimelineEntryKind
    ref: strawberry.ID = strawberry.field(description="Id of the record the entry is about.")
    detail: JSON


@strawberry.type(description="An access to your data by someone else, as the audit log records it.")
class DataAccess:
    id: strawberry.ID
    at: datetime
    action: str = strawberry.field(description="READ_PERSONAL_DATA for a read; otherwise the change made "
                                               "(e.g. APPEAL_UPHELD, CONSENT_GIVEN by a facilitator).")
    actor_role: str | None = strawberry.field(description="FACILITATOR, REVIEWER, ADMIN, or CITIZEN (a member "
                                                          "of your household); null for the system.")
    actor: str | None = strawberry.field(description="The staff member's or system's id (e.g. system:selection); "
                                                     "null when a citizen: their identity is theirs.")
    actor_issuer: str | None = strawberry.field(description="The identity provider of `actor` (an identity is "
                                                            "issuer and subject together).")
    purpose: str | None = strawberry.field(description="e.g. graphql, selection, appeal-evidence, data_export.")
    operation: str | None = strawberry.field(description="The API operation that read it, when known.")

    @classmethod
    def from_access(cls, a: data_export.Access) -> DataAccess:
        return cls(id=to_global_id("DataAccess", a.seq), at=a.at, action=a.action, actor_role=a.actor_role,
                   actor=a.actor, actor_issuer=a.actor_issuer, purpose=a.purpose, operation=a.operation)


async def _consents(root: Me, info: Info) -> list[Consent]:
    records = await root.own_records(info)
    return [Consent.from_row(r) for r in records.consents] if records else []


async def _appeals(root: Me, info: Info) -> list[Appeal]:
    records = await root.own_records(info)
    return [Appeal.from_row(r) for r in records.appeals] if records else []


async def _timeline(root: Me, info: Info) -> list[TimelineEntry]:
    records = await root.own_records(info)
    return [TimelineEntry(at=i.at, kind=i.kind, ref=to_global_id(i.ref_type, i.ref_id), detail=i.detail)
            for i in records.timeline] if records else []


@strawberry.type(description="The signed-in citizen's own records.")
class Me:
    person: Registrant | None = strawberry.field(description="Null until the first consent brings the record.")
    registrations: list[Registration]
    # Read only when asked (the portal's announcement-day screen asks for registrations and decisions only).
    consents: list[Consent] = strawberry.field(resolver=_consents)
    appeals: list[Appeal] = strawberry.field(description="Your sanggah, oldest first.", resolver=_appeals)
    timeline: list[TimelineEntry] = strawberry.field(resolver=_timeline)
    household_id: strawberry.Private[int | None]
    person_db_id: strawberry.Private[int | None] = None
    nik: strawberry.Private[str | None] = None
    #: the one read of everything (consents, appeals, timeline), shared by the fields that need it
    _records: strawberry.Private[dict] = dataclasses.field(default_factory=dict)

    def own_records(self, info: Info) -> asyncio.Future:
        if "task" not in self._records:
            async def read():
                async with ctx(info).db.engine.connect() as conn:
                    return await citizen.own_records(conn, self.nik)

            self._records["task"] = asyncio.ensure_future(read())
        return asyncio.shield(self._records["task"])  # one field's cancellation never cancels another's read

    # Nullable (as dataAccessLog): a bad `first` or `after` is an error at this field alone, not a null `me`.
    @strawberry.field(description="Portal inbox, newest first (decisions and appeal steps, with reasons). "
                                  "Null only with an error at this field (a bad `first` or `after`).")
    async def notifications(self, info: Info, first: int | None = None, after: str | None = None,
                            unread_only: bool = False) -> Connection[Notification] | None:
        return await inbox_connection(ctx(info), self.person_db_id, first, after, unread_only)

    @strawberry.field(description="How many inbox notifications are unread.")
    async def unread_notifications(self, info: Info) -> int:
        if self.person_db_id is None:
            return 0
        async with ctx(info).db.engine.connect() as conn:
            return await inbox.unread_count(conn, self.person_db_id)

    @strawberry.field(description="Who else accessed your data (staff, the selection, your household), "
                                  "newest first; your own reads are not listed. Null only with an error at "
                                  "this field (a bad `first` or `after`).")
    async def data_access_log(self, info: Info, first: int | None = None,
                              after: str | None = None) -> Connection[DataAccess] | None:
        c = ctx(info)
        size = page_size(first, c.settings.max_page_size)
        before = decode_cursor("DataAccess", after)
        rows: list[data_export.Access] = []
        if self.person_db_id is not None:
            async with c.db.engine.connect() as conn:
                rows = await data_export.access_log(conn, self.person_db_id, c.principal.identity,
                                                    before_seq=before, limit=size + 1)
        return build_connection("DataAccess", rows, size, before, DataAccess.from_access, key=lambda a: a.seq)

    @strawberry.field(description="Everything the platform holds about you, as one JSON document (your right "
                                  "to a copy under UU 27/2022). Recorded as an access (purpose data_export).")
    async def export(self, info: Info) -> JSON:
        c = ctx(info)
        async with c.db.engine.connect() as conn:
            doc, shown = await data_export.build(conn, c.principal)
        # Recorded (purpose data_export) by the access log, and only if this document reaches the
        # citizen: an export discarded by a sibling's error, or finished after the answer, is not.
        c.mark_access(info.path.as_list(), shown, purpose=data_export.EXPORT_PURPOSE)
        return doc

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
        # The person, their registrations and current decisions in one query, primed into the loader
        # Registration.decision reads; their reasons, when selected, in a second one on the same
        # connection: two statements for the portal's screen, whatever the size of the pilot.
        async with c.loaders.one_connection() as conn:
            rows = (await conn.execute(_OWN, {"nik": c.principal.nik})).all()
            if not rows:
                return Me(person=None, registrations=[], household_id=None, nik=c.principal.nik)
            person = PersonRow._make(rows[0][:_SPLIT[0]])
            registrations, decisions = [], {}
            for row in rows:
                if row[_SPLIT[0]] is None:
                    continue  # the person has no registration (the outer join's one row)
                registration = _RegistrationRow._make(row[_SPLIT[0]:_SPLIT[1]])
                registrations.append(Registration.from_row(registration))
                decisions[registration.id] = DecisionRow._make(row[_SPLIT[1]:]) if row[_SPLIT[1]] is not None else None
            c.loaders.current_decision.prime_many(decisions)
            current = [d.id for d in decisions.values() if d is not None]
            if current and {"decision", "reasons"} <= selected_names(info):
                await prime(c.loaders.reasons, current)
        return Me(
            person=Registrant.from_row(person, c),
            registrations=registrations,
            household_id=person.household_id,
            person_db_id=person.id,
            nik=c.principal.nik,
        )


_P, _R, _D = Person.__table__, RegistrationTable.__table__, Decision.__table__
_RegistrationRow = namedtuple("_RegistrationRow", [c.key for c in _R.columns])
_SPLIT = (len(PERSON_COLUMNS), len(PERSON_COLUMNS) + len(_R.columns))
_OWN = (select(*[_P.c[n] for n in PERSON_COLUMNS], *[c.label(f"r_{c.key}") for c in _R.columns],
               *[_D.c[n].label(f"d_{n}") for n in DECISION_COLUMNS])
        .select_from(_P.outerjoin(_R, _R.c.person_id == _P.c.id)
                     .outerjoin(_D, and_(_D.c.registration_id == _R.c.id, _D.c.is_current.is_(True))))
        .where(_P.c.nik == bindparam("nik")).order_by(_R.c.id))
