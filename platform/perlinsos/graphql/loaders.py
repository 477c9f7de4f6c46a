"""Per-request DataLoaders: every relation is fetched with one ``IN`` query per level.

A list resolver may also *prime* them for its whole page (see ``prime`` and ``peek``): child
fields then resolve synchronously from the cache, which keeps per-item overhead low — the
number of SQL statements stays the same for 1 and for 100 items either way.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, select
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


def _chunks(keys: Sequence[Hashable]) -> Iterable[Sequence[Hashable]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


class Loaders:
    """The loaders of one request (never shared: they cache what the viewer was allowed to see)."""

    def __init__(self, db: Database):
        self.db = db
        self.person = self._one(Person.__table__)
        self.household = self._one(Household.__table__)
        self.pilot = self._one(Pilot.__table__)
        self.registration = self._one(Registration.__table__)
        self.decision = self._one(Decision.__table__)
        self.current_decision = self._one(
            Decision.__table__, Decision.__table__.c.registration_id, Decision.__table__.c.is_current.is_(True)
        )
        self.decision_history = self._many(
            Decision.__table__, Decision.__table__.c.registration_id, Decision.__table__.c.version.desc()
        )
        self.reasons = self._many(DecisionReason.__table__, DecisionReason.__table__.c.decision_id)
        self.appeals = self._many(Appeal.__table__, Appeal.__table__.c.decision_id)
        self.evidence = self._many(EvidenceFile.__table__, EvidenceFile.__table__.c.appeal_id)
        self.notifications = self._many(Notification.__table__, Notification.__table__.c.decision_id)
        self.members = self._many(Person.__table__, Person.__table__.c.household_id)

    #: a connection lent for a prefetch, so a page's loader queries share one checkout.
    _conn: Any = None

    async def _rows(self, stmt) -> list[Any]:
        if self._conn is not None:
            return list((await self._conn.execute(stmt)).all())
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    @contextlib.asynccontextmanager
    async def one_connection(self):
        """Run a prefetch's sequential loader queries on one connection (not one per query)."""
        async with self.db.engine.connect() as conn:
            self._conn = conn
            try:
                yield
            finally:
                self._conn = None

    def _one(self, table: Table, column=None, *where) -> DataLoader:
        column = table.c.id if column is None else column

        async def load(keys: list[Hashable]) -> list[Any]:
            found: dict[Hashable, Any] = {}
            for chunk in _chunks(keys):
                for row in await self._rows(select(table).where(column.in_(chunk), *where)):
                    found[getattr(row, column.key)] = row
            return [found.get(k) for k in keys]

        return DataLoader(load_fn=load)

    def _many(self, table: Table, column, order=None) -> DataLoader:
        order = table.c.id if order is None else order

        async def load(keys: list[Hashable]) -> list[list[Any]]:
            found: dict[Hashable, list[Any]] = defaultdict(list)
            for chunk in _chunks(keys):
                stmt = select(table).where(column.in_(chunk)).order_by(column, order)
                for row in await self._rows(stmt):
                    found[getattr(row, column.key)].append(row)
            return [found.get(k, []) for k in keys]

        return DataLoader(load_fn=load)


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
