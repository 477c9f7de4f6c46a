"""Backups and restores of the database (``perlinsos db backup`` / ``db restore``).

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies one consistent snapshot
in a single read transaction, so it is safe while the platform serves writes; a plain file copy
is not (committed pages still in ``perlinsos.db-wal`` are lost). PostgreSQL: ``pg_dump``.
The evidence directory is files, not rows: it is copied beside the database, by the operator.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from perlinsos.db.engine import normalise_url, redact
from perlinsos.errors import DatabaseError


class BackupError(DatabaseError):
    """A backup or restore that cannot go ahead; nothing was written."""


@dataclass(frozen=True)
class Snapshot:
    """What a backup file holds: its schema revision and its audit chain's head."""

    revision: str | None
    audit_seq: int | None
    audit_hash: str | None

    def describe(self) -> str:
        head = (f"audit head seq {self.audit_seq} hash {self.audit_hash}" if self.audit_hash
                else "no audit chain")
        return f"revision {self.revision or '(none)'}, {head}"


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite file a URL names, or ``None`` for PostgreSQL."""
    url = make_url(normalise_url(database_url))
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _read_snapshot(conn: sqlite3.Connection) -> Snapshot:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    revision = head = None
    if "alembic_version" in tables:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if "audit_chain_head" in tables:
        head = conn.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1").fetchone()
    return Snapshot(revision[0] if revision else None, head[0] if head else None, head[1] if head else None)


def _check(conn: sqlite3.Connection, what: str) -> None:
    problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise BackupError(f"{what} fails SQLite's quick_check: {problems[0]}")


def backup_sqlite(database_url: str, destination: Path, *, force: bool = False) -> Snapshot:
    """Copy the live database into ``destination`` (one self-contained file, no -wal)."""
    source = sqlite_file(database_url)
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    if destination.exists() and not force:
        raise BackupError(f"{destination} already exists: choose another path or pass --force")
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction, one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy stands alone, without a -wal file
            _check(dst, "the copy")
            snapshot = _read_snapshot(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} failed: {exc}") from None
    finally:
        src.close()
    os.replace(partial, destination)  # a half-written file never carries the backup's name
    return snapshot


def restore_sqlite(database_url: str, backup: Path, *, force: bool = False) -> Snapshot:
    """Copy ``backup`` into the database the URL names; refuses one that holds tables unless ``force``."""
    target = sqlite_file(database_url)
    if not backup.is_file():
        raise BackupError(f"there is no backup file at {backup}")
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        try:
            _check(src, f"the backup {backup}")
            snapshot = _read_snapshot(src)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup} is not a SQLite database: {exc}") from None
        if snapshot.revision is None:
            raise BackupError(f"{backup} is not a Perlinsos backup (no schema revision)")
        if target.exists() and not force:
            with sqlite3.connect(target) as existing:
                tables = existing.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:
                raise BackupError(f"the database {target} is not empty ({tables} tables): stop the platform "
                                  "and pass --force to replace it, or restore into a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")  # as the platform runs it
        finally:
            dst.close()
    finally:
        src.close()
    return snapshot


def pg_dump_command(database_url: str, destination: Path) -> tuple[list[str], dict[str, str]]:
    """The ``pg_dump`` call for the URL, and the environment carrying its password (never argv)."""
    url = make_url(normalise_url(database_url))
    env = {"PGPASSWORD": url.password} if url.password else {}
    libpq = url.set(drivername="postgresql", password=None, query={}).render_as_string(hide_password=False)
    return ["pg_dump", "--format=custom", f"--file={destination}", f"--dbname={libpq}"], env


def backup_postgresql(database_url: str, destination: Path, *, force: bool = False) -> list[str]:
    """Run ``pg_dump`` (custom format, for ``pg_restore``). Returns the command it ran."""
    if destination.exists() and not force:
        raise BackupError(f"{destination} already exists: choose another path or pass --force")
    argv, env = pg_dump_command(database_url, destination)
    if shutil.which("pg_dump") is None:
        raise BackupError("pg_dump is not on PATH: install the PostgreSQL client tools and run "
                          f"`{' '.join(argv)}` (password in PGPASSWORD), or use your base backups")
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        destination.unlink(missing_ok=True)
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"pg_dump of {redact(database_url)} failed: {detail}")
    return argv
