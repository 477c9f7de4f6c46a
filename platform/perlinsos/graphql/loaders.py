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

from sqlalchemy import Table, and_, bindparam, select
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


def _one_statement(table: Table, column=None, *where, columns: Sequence[str] | None = None):
    """(statement, key column name): the rows whose ``column`` is in ``:keys``, built once per process."""
    column = table.c.id if column is None else column
    selected = [table.c[name] for name in columns] if columns else [table]
    if columns and column.key not in columns:
        selected.append(column)
    return select(*selected).where(column.in_(bindparam("keys", expanding=True)), *where), column.key


def _many_statement(table: Table, column, order=None, columns: Sequence[str] | None = None):
    order = table.c.id if order is None else order
    stmt, key = _one_statement(table, column, columns=columns)
    return stmt.order_by(column, order), key


_D, _DR = Decision.__table__, DecisionReason.__table__
#: name -> (one row or many per key, statement, key column). Statements are built here once: built
#: per request, they cost more CPU than a citizen's whole answer (ARCHITECTURE: the request path).
_SPECS: dict[str, tuple[bool, Any, str]] = {
    "person": (False, *_one_statement(Person.__table__, columns=PERSON_COLUMNS)),
    "household": (False, *_one_statement(Household.__table__)),
    "pilot": (False, *_one_statement(Pilot.__table__)),
    "registration": (False, *_one_statement(Registration.__table__)),
    "decision": (False, *_one_statement(_D, columns=DECISION_COLUMNS)),
    "current_decision": (False, *_one_statement(_D, _D.c.registration_id, _D.c.is_current.is_(True),
                                                columns=DECISION_COLUMNS)),
    "decision_history": (True, *_many_statement(_D, _D.c.registration_id, _D.c.version.desc(),
                                                columns=DECISION_COLUMNS)),
    "reasons": (True, *_many_statement(_DR, _DR.c.decision_id, columns=REASON_COLUMNS)),
    "appeals": (True, *_many_statement(Appeal.__table__, Appeal.__table__.c.decision_id)),
    "evidence": (True, *_many_statement(EvidenceFile.__table__, EvidenceFile.__table__.c.appeal_id)),
    "notifications": (True, *_many_statement(Notification.__table__, Notification.__table__.c.decision_id)),
    "members": (True, *_many_statement(Person.__table__, Person.__table__.c.household_id, columns=PERSON_COLUMNS)),
}


class Loaders:
    """The loaders of one request (never shared: they cache what the viewer was allowed to see).

    Each loader (``person``, ``household``, ``pilot``, ``registration``, ``decision``,
    ``current_decision``, ``decision_history``, ``reasons``, ``appeals``, ``evidence``,
    ``notifications``, ``members``) is made on first use: most requests use one or two."""

    def __init__(self, db: Database):
        self.db = db
        self._lent: dict[Any, Any] = {}  # task -> the connection one_connection lent it

    def __getattr__(self, name: str) -> DataLoader:
        spec = _SPECS.get(name)
        if spec is None:
            raise AttributeError(name)
        many, stmt, key = spec
        loader = self._many(stmt, key) if many else self._one(stmt, key)
        setattr(self, name, loader)  # found by normal lookup from now on
        return loader

    async def _rows(self, stmt, params: dict | None = None) -> list[Any]:
        conn = self._lent.get(asyncio.current_task()) if self._lent else None
        if conn is not None:
            return list((await conn.execute(stmt, params)).all())
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(stmt, params)).all())

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

    def _one(self, stmt, key: str) -> DataLoader:
        async def load(keys: list[Hashable]) -> list[Any]:
            found: dict[Hashable, Any] = {}
            for chunk in _chunks(keys):
                for row in await self._rows(stmt, {"keys": list(chunk)}):
                    found[getattr(row, key)] = row
            return [found.get(k) for k in keys]

        return SharedLoader(load_fn=load)

    def _many(self, stmt, key: str) -> DataLoader:
        async def load(keys: list[Hashable]) -> list[list[Any]]:
            found: dict[Hashable, list[Any]] = defaultdict(list)
            for chunk in _chunks(keys):
                for row in await self._rows(stmt, {"keys": list(chunk)}):
                    found[getattr(row, key)].append(row)
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
