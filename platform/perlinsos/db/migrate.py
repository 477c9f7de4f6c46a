"""Alembic migrations, driven from code (``perlinsos db upgrade``) rather than an alembic.ini.

Rolling upgrades (docs/operations/upgrades.md): each migration module may declare
``compatible_with_previous_code = True`` when it only expands the schema (new tables, new nullable
columns), so the release before it still runs on the result. After every upgrade or downgrade the
``schema_compat`` row records the oldest code revision that may serve on the schema: the newest
migration at or below the current revision that is *not* marked compatible (a contract step).
A process whose code is older than the schema reads that row; it can do so without knowing the
newer migrations, and serves only when its own head is at or after the recorded revision.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from perlinsos.db.engine import Database, normalise_url
from perlinsos.errors import DatabaseError

#: what the readiness check and ``serve`` call the schema, compared with this code
CURRENT, COMPATIBLE, OUTDATED, MISSING, INCOMPATIBLE = "current", "compatible", "outdated", "missing", "incompatible"


class SchemaError(DatabaseError):
    """A migration request that does not fit the database's revision (nothing was changed)."""


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("perlinsos") / "db" / "migrations"))
    # ConfigParser interpolates '%': escape it so passwords with '%' survive.
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    cfg.attributes["after_migrations"] = record_compatibility
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


@functools.cache
def head_revision() -> str | None:
    # The migration scripts ship inside the package and do not change while a process runs;
    # re-reading the folder cost /health more than a GraphQL query.
    return _script().get_current_head()


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """This release's revisions, oldest first (the history is linear)."""
    return tuple(reversed([s.revision for s in _script().walk_revisions()]))


def min_code_revision(revision: str) -> str:
    """The oldest code revision that may run on a schema at ``revision`` (see the module doc)."""
    script = _script()
    current = script.get_revision(revision)
    while current is not None:
        if not getattr(current.module, "compatible_with_previous_code", False) or current.down_revision is None:
            return current.revision
        current = script.get_revision(current.down_revision)
    raise SchemaError(f"revision {revision!r} has no history in this release")  # pragma: no cover


def record_compatibility(connection) -> None:
    """Write the ``schema_compat`` row for the revision the connection's database is now at
    (called by env.py inside the migration transaction)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None or "schema_compat" not in _tables(connection):
        return  # below 0008 (downgraded): old code neither writes nor reads the row
    value = min_code_revision(revision)
    updated = connection.execute(text("UPDATE schema_compat SET min_code_revision = :v WHERE id = 1"), {"v": value})
    if updated.rowcount == 0:
        connection.execute(text("INSERT INTO schema_compat (id, min_code_revision) VALUES (1, :v)"), {"v": value})


def _tables(connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(connection).get_table_names())


def _position(revision: str) -> int:
    return known_revisions().index(revision)


def _resolve(revision: str, *, allow_base: bool = False) -> str | None:
    if revision == "head":
        return head_revision()
    if allow_base and revision == "base":
        return None
    if revision not in known_revisions():
        known = ", ".join(known_revisions())
        raise SchemaError(f"unknown revision {revision!r}: this release knows {known} (and 'head'"
                          + (", 'base')" if allow_base else ")"))
    return revision


def _newer_than_code(current: str) -> SchemaError:
    return SchemaError(f"the database is at revision {current}, newer than this release knows "
                       f"(its newest is {head_revision()}): migrate it with the release that has {current}")


@dataclass
class Outcome:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _run(database_url: str, target: str | None, direction: str) -> Outcome:
    cfg = alembic_config(database_url)
    seen: dict[str, str | None] = {}

    def check(connection) -> None:
        # Before alembic resolves anything: an unknown (newer) current revision or a target on the
        # wrong side gets one clear line, and no migration runs.
        current = MigrationContext.configure(connection).get_current_revision()
        seen["before"] = current
        if current is not None and current not in known_revisions():
            raise _newer_than_code(current)
        here = -1 if current is None else _position(current)
        there = -1 if target is None else _position(target)
        if direction == "upgrade" and here > there:
            raise SchemaError(f"the database is at {current}, newer than {target}: "
                              f"use `perlinsos db downgrade --revision {target}`")
        if direction == "downgrade" and here < there:
            raise SchemaError(f"the database is at {current or '(no schema)'}, older than {target}: "
                              f"use `perlinsos db upgrade --revision {target}`")

    cfg.attributes["before_migrations"] = check
    if direction == "upgrade":
        command.upgrade(cfg, target or "base")
    else:
        command.downgrade(cfg, target or "base")
    return Outcome(seen.get("before"), target)


def upgrade(database_url: str, revision: str = "head") -> Outcome:
    """Apply migrations up to ``revision`` (blocking; runs its own event loop in env.py).

    Raises :class:`SchemaError`, changing nothing, for an unknown revision, a database newer than
    this release, or a target older than the database (that is a downgrade)."""
    return _run(database_url, _resolve(revision), "upgrade")


def downgrade(database_url: str, revision: str) -> Outcome:
    """Undo migrations down to ``revision`` (``base``: all of them)."""
    return _run(database_url, _resolve(revision, allow_base=True), "downgrade")


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def is_current(db: Database) -> bool:
    return await current_revision(db) == head_revision()


@dataclass(frozen=True)
class SchemaState:
    """The database's revision compared with this code's migrations."""

    revision: str | None
    state: str  # CURRENT, COMPATIBLE, OUTDATED, MISSING or INCOMPATIBLE
    min_code_revision: str | None = None

    @property
    def servable(self) -> bool:
        return self.state in (CURRENT, COMPATIBLE)


async def schema_state(db: Database) -> SchemaState:
    """Where the schema stands for this code. A revision this release does not know is newer:
    it is COMPATIBLE when the ``schema_compat`` row names a revision this release has (its head is
    then at or after it), else INCOMPATIBLE."""
    revision = await current_revision(db)
    if revision is None:
        return SchemaState(None, MISSING)
    if revision == head_revision():
        return SchemaState(revision, CURRENT)
    if revision in known_revisions():
        return SchemaState(revision, OUTDATED)
    minimum = await _read_min_code_revision(db)
    return SchemaState(revision, COMPATIBLE if minimum in known_revisions() else INCOMPATIBLE, minimum)


async def _read_min_code_revision(db: Database) -> str | None:
    try:
        async with db.engine.connect() as conn:
            return (await conn.execute(text("SELECT min_code_revision FROM schema_compat WHERE id = 1"))).scalar()
    except DBAPIError:  # no such table: a schema written without it cannot vouch for this code
        return None


def refuse_unservable(state: SchemaState) -> None:
    """Raise a one-line :class:`SchemaError` when this code must not serve on the schema."""
    if state.state == INCOMPATIBLE:
        needs = f"at least {state.min_code_revision}" if state.min_code_revision else "a newer release"
        raise SchemaError(f"the database is at revision {state.revision}, newer than this release "
                          f"(its newest is {head_revision()}), and needs code {needs}: install the newer release")
    if state.state == OUTDATED:
        raise SchemaError(f"the database is at revision {state.revision}, older than this release "
                          f"({head_revision()}): run `perlinsos db upgrade` first")
    if state.state == MISSING:
        raise SchemaError("the database has no schema: run `perlinsos db upgrade` first")


async def upgrade_async(database_url: str) -> None:
    """Run :func:`upgrade` from async code (alembic's env.py starts its own loop)."""
    await asyncio.to_thread(upgrade, database_url)
