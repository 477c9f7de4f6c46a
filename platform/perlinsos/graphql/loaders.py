"""Per-request DataLoaders: every relation is fetched with one ``IN`` query per level.

A list resolver may also *prime* them for its whole page (see ``prime`` and ``peek``): child
fields then resolve synchronously from the cache, which keeps per-item overhead low — the
number of SQL statements stays the same for 1 and for 100 items either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, namedtuple
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, and_, select
from strawberry.dataloader import DataLoader

from perlinsos.db.engine import Database
from perlinsos.db.models import (
    Appeal,
    Decision,
    DecisionReason,
    EvidenceFile,
    Household,
    Notification,
    Person,
    Pilot,
    Registration,
)

_CHUNK = 500  # stays far below SQLite's bound-parameter limit

# The columns the GraphQL types read (Registrant/Decision/DecisionReason.from_row): a JSON or
# datetime column not listed is never decoded for nothing. Add a column here to read it there.
PERSON_COLUMNS = ("id", "nik", "name", "birth_date", "sex", "region_code", "household_id")
DECISION_COLUMNS = ("id", "registration_id", "version", "outcome", "is_current", "cause", "decided_at",
                    "superseded_at", "criteria_versions")
REASON_COLUMNS = ("decision_id", "code", "verdict", "observed", "limit", "source", "as_of", "criterion_version",
                  "messages")
PersonRow = namedtuple("PersonRow", PERSON_COLUMNS)
DecisionRow = namedtuple("DecisionRow", DECISION_COLUMNS)


class SharedLoader(DataLoader):
    """A DataLoader whose futures no single waiter can cancel.

    One cached future serves every field that loads the same key. graphql-core cancels a failing
    field's pending siblings (``gather_with_cancel``); cancelling a sibling that awaits the bare
    future cancelled it for every other field too, whose await then raised CancelledError past
    all error handling (an HTTP 500). Each waiter gets its own shield instead."""

    def load(self, key: Hashable) -> Any:
        future = super().load(key)
        return future if future.done() else asyncio.shield(future)


def _chunks(keys: Sequence[Hashable]) -> Iterable[Sequence[Hashable]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


class Loaders:
    """The loaders of one request (never shared: they cache what the viewer was allowed to see)."""

    def __init__(self, db: Database):
        self.db = db
        self._lent: dict[Any, Any] = {}  # task -> the connection one_connection lent it
        self.person = self._one(Person.__table__, columns=PERSON_COLUMNS)
        self.household = self._one(Household.__table__)
        self.pilot = self._one(Pilot.__table__)
        self.registration = self._one(Registration.__table__)
        self.decision = self._one(Decision.__table__, columns=DECISION_COLUMNS)
        self.current_decision = self._one(
            Decision.__table__, Decision.__table__.c.registration_id, Decision.__table__.c.is_current.is_(True),
            columns=DECISION_COLUMNS,
        )
        self.decision_history = self._many(
            Decision.__table__, Decision.__table__.c.registration_id, Decision.__table__.c.version.desc(),
            columns=DECISION_COLUMNS,
        )
        self.reasons = self._many(DecisionReason.__table__, DecisionReason.__table__.c.decision_id,
                                  columns=REASON_COLUMNS)
        self.appeals = self._many(Appeal.__table__, Appeal.__table__.c.decision_id)
        self.evidence = self._many(EvidenceFile.__table__, EvidenceFile.__table__.c.appeal_id)
        self.notifications = self._many(Notification.__table__, Notification.__table__.c.decision_id)
        self.members = self._many(Person.__table__, Person.__table__.c.household_id, columns=PERSON_COLUMNS)

    async def _rows(self, stmt) -> list[Any]:
        conn = self._lent.get(asyncio.current_task()) if self._lent else None
        if conn is not None:
            return list((await conn.execute(stmt)).all())
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    @contextlib.asynccontextmanager
    async def one_connection(self):
        """Run a list's page query and its prefetch on one connection (yielded; not one per query).

        Lent to the calling task only: root fields run concurrently (two lists in one query), and
        a connection must never serve two statements at once; other tasks check out their own."""
        task = asyncio.current_task()
        async with self.db.engine.connect() as conn:
            self._lent[task] = conn
            try:
                yield conn
            finally:
                del self._lent[task]

    async def prime_page(self, registrations: Sequence, *, person: bool, decision: bool) -> list[Any]:
        """Registrants and current decisions of a page of registration rows in ONE query (a join
        on the registration ids), primed into ``person`` and ``current_decision``; returns the
        decisions (None where there is none), in page order."""
        if not registrations or not (person or decision):
            return []
        reg, p, d = Registration.__table__, Person.__table__, Decision.__table__
        columns = [reg.c.id]
        source = reg
        if person:
            columns += [p.c[name] for name in PERSON_COLUMNS]
            source = source.outerjoin(p, p.c.id == reg.c.person_id)
        if decision:
            columns += [d.c[name] for name in DECISION_COLUMNS]
            source = source.outerjoin(d, and_(d.c.registration_id == reg.c.id, d.c.is_current.is_(True)))
        people: dict[int, Any] = {}
        decisions: dict[int, Any] = {}
        split = 1 + (len(PERSON_COLUMNS) if person else 0)
        keys = list(dict.fromkeys(r.id for r in registrations))
        for chunk in _chunks(keys):
            for row in await self._rows(select(*columns).select_from(source).where(reg.c.id.in_(chunk))):
                if person and row[1] is not None:
                    people[row[1]] = PersonRow._make(row[1:split])
                if decision:
                    decisions[row[0]] = DecisionRow._make(row[split:]) if row[split] is not None else None
        if person:
            self.person.prime_many({r.person_id: people.get(r.person_id) for r in registrations})
        if decision:
            self.current_decision.prime_many({k: decisions.get(k) for k in keys})
            return [decisions.get(r.id) for r in registrations]
        return []

    def _one(self, table: Table, column=None, *where, columns: Sequence[str] | None = None) -> DataLoader:
        column = table.c.id if column is None else column
        selected = [table.c[name] for name in columns] if columns else [table]
        if columns and column.key not in columns:
            selected.append(column)

        async def load(keys: list[Hashable]) -> list[Any]:
            found: dict[Hashable, Any] = {}
            for chunk in _chunks(keys):
                for row in await self._rows(select(*selected).where(column.in_(chunk), *where)):
                    found[getattr(row, column.key)] = row
            return [found.get(k) for k in keys]

        return SharedLoader(load_fn=load)

    def _many(self, table: Table, column, order=None, columns: Sequence[str] | None = None) -> DataLoader:
        order = table.c.id if order is None else order
        selected = [table.c[name] for name in columns] if columns else [table]
        if columns and column.key not in columns:
            selected.append(column)

        async def load(keys: list[Hashable]) -> list[list[Any]]:
            found: dict[Hashable, list[Any]] = defaultdict(list)
            for chunk in _chunks(keys):
                stmt = select(*selected).where(column.in_(chunk)).order_by(column, order)
                for row in await self._rows(stmt):
                    found[getattr(row, column.key)].append(row)
            return [found.get(k, []) for k in keys]

        return SharedLoader(load_fn=load)


def peek(loader: DataLoader, key: Hashable) -> Any:
    """The cached value for ``key`` if already resolved, else an awaitable that loads it."""
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return loader.load(key)


async def prime(loader: DataLoader, keys: Iterable[Hashable]) -> list[Any]:
    """Load ``keys`` in one batch now (a list resolver's prefetch) and return the values."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    values = await loader.load_fn(keys)
    loader.prime_many(dict(zip(keys, values, strict=True)))
    return list(values)
