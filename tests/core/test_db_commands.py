"""`perlinsos db upgrade/downgrade/current/backup/restore` and `serve` as an operator runs them:
clear one-line refusals that change nothing, and a restore drill taken while the API serves writes."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import uuid

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from perlinsos.cli import main
from perlinsos.db import migrate
from perlinsos.db.engine import Database, normalise_url
from perlinsos.db.models import AuditEvent, Registration
from perlinsos.testing.database import admin_execute
from test_registration import consent, register  # the same GraphQL calls as the registration tests

PG = os.environ.get("PERLINSOS_TEST_DATABASE_URL")
HEAD = migrate.head_revision()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def one_clear_line(result, *words: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and "alembic" not in result.output.lower(), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for word in words:
        assert word in result.output, result.output


@pytest.fixture
def blank_url(tmp_path):
    """An empty database of its own (a new SQLite file, or a new PostgreSQL database)."""
    if not PG:
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    name = f"perlinsos_dbcmd_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin_execute(PG, f'CREATE DATABASE "{name}"'))
    yield make_url(normalise_url(PG)).set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin_execute(PG, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def revision(url: str) -> str | None:
    async def run():
        database = Database(url)
        try:
            return await migrate.current_revision(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def execute(url: str, *statements: str) -> None:
    async def run():
        database = Database(url)
        try:
            async with database.write() as session:
                for statement in statements:
                    await session.execute(text(statement))
        finally:
            await database.dispose()

    asyncio.run(run())


def test_upgrade_to_an_older_revision_is_refused_and_changes_nothing(blank_url):
    assert cli("db", "upgrade", "--revision", "0005", "--database-url", blank_url).exit_code == 0
    one_clear_line(cli("db", "upgrade", "--revision", "0004", "--database-url", blank_url),
                   "the database is at 0005, newer than 0004", "db downgrade --revision 0004")
    assert revision(blank_url) == "0005"
    again = cli("db", "upgrade", "--revision", "0005", "--database-url", blank_url)
    assert again.exit_code == 0 and "already at 0005" in again.output
    done = cli("db", "upgrade", "--database-url", blank_url)
    assert done.exit_code == 0 and f"upgraded from 0005 to {HEAD}" in done.output
    assert revision(blank_url) == HEAD


def test_unknown_revisions_are_named(blank_url):
    one_clear_line(cli("db", "upgrade", "--revision", "9x", "--database-url", blank_url), "unknown revision '9x'", HEAD)
    one_clear_line(cli("db", "downgrade", "--revision", "9x", "--database-url", blank_url), "unknown revision '9x'")
    assert revision(blank_url) is None


def test_downgrade_and_its_refusals(blank_url):
    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0
    down = cli("db", "downgrade", "--revision", "0006", "--database-url", blank_url)
    assert down.exit_code == 0 and f"downgraded from {HEAD} to 0006" in down.output
    assert revision(blank_url) == "0006"
    one_clear_line(cli("db", "downgrade", "--revision", "0007", "--database-url", blank_url),
                   "older than 0007", "db upgrade --revision 0007")
    assert revision(blank_url) == "0006"
    assert cli("db", "downgrade", "--database-url", blank_url).exit_code == 2  # --revision is required
    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0
    assert revision(blank_url) == HEAD


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "downgrade", "--revision", "0006"), ("serve",)])
def test_a_database_newer_than_the_release_without_a_compatibility_record(blank_url, command):
    """What an older release finds after a newer one's contract step (or a schema from elsewhere)."""
    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0
    execute(blank_url, "UPDATE alembic_version SET version_num = '0999'", "DELETE FROM schema_compat")
    one_clear_line(cli(*command, "--database-url", blank_url), "the database is at revision 0999",
                   f"newest is {HEAD}")
    assert revision(blank_url) == "0999"
    current = cli("db", "current", "--database-url", blank_url)
    assert current.exit_code == 0 and "NEWER than this release" in current.output


def test_serve_refuses_a_newer_schema_that_needs_newer_code(blank_url):
    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0
    execute(blank_url, "UPDATE alembic_version SET version_num = '0999'",
            "UPDATE schema_compat SET min_code_revision = '0999'")
    one_clear_line(cli("serve", "--database-url", blank_url), "needs code at least 0999", "install the newer release")


def test_upgrade_records_which_code_may_still_serve(blank_url):
    """0008 only adds a table: code at 0007 may still serve on it; the row says so."""
    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0

    async def row():
        database = Database(blank_url)
        try:
            async with database.read() as s:
                return (await s.execute(text("SELECT min_code_revision FROM schema_compat"))).scalars().all()
        finally:
            await database.dispose()

    assert asyncio.run(row()) == [migrate.min_code_revision(HEAD)]
    assert migrate.min_code_revision("0008") == "0007"  # expand-only, marked so
    assert migrate.min_code_revision("0007") == "0007"  # unmarked: treated as a contract step


def test_serve_keeps_serving_on_a_newer_compatible_schema(blank_url, tmp_path):
    from test_serve import free_port, wait_healthy
    import sys

    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0
    execute(blank_url, "UPDATE alembic_version SET version_num = '0999'",
            f"UPDATE schema_compat SET min_code_revision = '{HEAD}'")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "perlinsos.cli", "serve", "--port", str(port)], cwd=tmp_path,
                            env={**os.environ, "PERLINSOS_DATABASE_URL": blank_url},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = wait_healthy(f"http://127.0.0.1:{port}/health/ready", proc)
        assert ready.status_code == 200 and ready.json()["schema"] == "compatible"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert "newer than this release" in output and "compatible with it" in output
    assert revision(blank_url) == "0999"  # serve did not try to migrate it


# --- backups ---------------------------------------------------------------------------------


async def _count(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        async with database.read() as s:
            return {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one()
                    for m in (Registration, AuditEvent)}
    finally:
        await database.dispose()


async def test_restore_drill_backup_while_serving_writes(ikd_client, ikd, database_url, tmp_path):
    """Registrations keep arriving over GraphQL while `db backup` runs; the restored copy holds
    every registration acknowledged before the backup began, and its audit chain verifies."""
    heads = ikd.people(limit=40, role="HEAD")
    acked: list[str] = []
    stop = asyncio.Event()

    async def registering():
        for person in heads:
            if stop.is_set():
                return
            token = ikd.sign_in(person["nik"])
            assert (await consent(ikd_client, token))["errors"] == []
            result = await register(ikd_client, token)
            assert result["errors"] == [] and result["created"]
            acked.append(person["nik"])

    writer = asyncio.create_task(registering())
    while len(acked) < 5:
        await asyncio.sleep(0.05)
    before = len(acked)
    path = tmp_path / "backup.pgdump" if PG else tmp_path / "backup.db"
    result = await asyncio.to_thread(cli, "db", "backup", str(path), "--database-url", database_url)
    after = len(acked)
    await asyncio.sleep(0.3)  # still writing after the backup: those must not be in it
    stop.set()
    await writer
    assert result.exit_code == 0, result.output
    assert "copy the evidence directory" in result.output
    assert len(acked) > after or after > before, "the drill needs writes during or after the backup"

    if PG:
        name = f"perlinsos_restored_{uuid.uuid4().hex[:10]}"
        await admin_execute(PG, f'CREATE DATABASE "{name}"')
        restored = make_url(normalise_url(PG)).set(database=name).render_as_string(hide_password=False)
        libpq = make_url(restored).set(drivername="postgresql").render_as_string(hide_password=False)
        done = await asyncio.to_thread(subprocess.run, ["pg_restore", "--no-owner", f"--dbname={libpq}", str(path)],
                                       capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    else:
        restored = f"sqlite:///{tmp_path / 'restored.db'}"
        done = await asyncio.to_thread(cli, "db", "restore", str(path), "--database-url", restored)
        assert done.exit_code == 0, done.output
    try:
        verify = await asyncio.to_thread(cli, "audit", "verify", "--database-url", restored)
        assert verify.exit_code == 0 and "audit chain OK" in verify.output, verify.output
        counts = await _count(restored)
        # Everything acknowledged before the backup began is in it; nothing acknowledged after it
        # ended (one registration may have been committed but not yet acknowledged).
        assert before <= counts["registration"] <= after + 1, (before, counts, after, len(acked))
        assert counts["registration"] < len(acked)
        if not PG:  # the head `db backup` printed is the one the restored chain ends in
            assert verify.output.split("hash ")[-1].strip() in result.output
    finally:
        if PG:
            await admin_execute(PG, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(bool(PG), reason="SQLite backup files")
def test_backup_and_restore_refusals(database_url, tmp_path):
    backup = tmp_path / "b.db"
    assert cli("db", "backup", str(backup), "--database-url", database_url).exit_code == 0
    one_clear_line(cli("db", "backup", str(backup), "--database-url", database_url), "already exists", "--force")
    assert cli("db", "backup", str(backup), "--force", "--database-url", database_url).exit_code == 0
    assert not list(tmp_path.glob("*.partial"))
    assert not (tmp_path / "b.db-wal").exists()  # the copy stands alone

    # The live database holds tables: restoring over it needs --force, and changes nothing without.
    execute(database_url, "UPDATE alembic_version SET version_num = version_num")
    before = sqlite3.connect(database_url.split("///", 1)[1]).execute("SELECT count(*) FROM sqlite_master").fetchone()
    one_clear_line(cli("db", "restore", str(backup), "--database-url", database_url), "is not empty", "--force")
    forced = cli("db", "restore", str(backup), "--force", "--database-url", database_url)
    assert forced.exit_code == 0 and f"revision {HEAD}" in forced.output
    after = sqlite3.connect(database_url.split("///", 1)[1]).execute("SELECT count(*) FROM sqlite_master").fetchone()
    assert after == before

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    one_clear_line(cli("db", "restore", str(junk), "--database-url", fresh), "not a SQLite database")
    one_clear_line(cli("db", "restore", str(tmp_path / "missing.db"), "--database-url", fresh), "no backup file")
    one_clear_line(cli("db", "backup", str(tmp_path / "x.db"), "--database-url", fresh), "no database at")
    assert not (tmp_path / "fresh.db").exists()


@pytest.mark.skipif(not PG, reason="PostgreSQL")
def test_restore_on_postgresql_points_to_pg_restore(database_url, tmp_path):
    one_clear_line(cli("db", "restore", str(tmp_path / "x.pgdump"), "--database-url", database_url), "pg_restore")


@pytest.mark.skipif(not PG or shutil.which("pg_dump") is None, reason="PostgreSQL with pg_dump")
def test_pg_dump_failure_is_one_line_without_the_password(tmp_path):
    url = "postgresql://u:secretpw@127.0.0.1:1/x"
    one_clear_line(cli("db", "backup", str(tmp_path / "x.pgdump"), "--database-url", url), "pg_dump of")
    assert "secretpw" not in cli("db", "backup", str(tmp_path / "x.pgdump"), "--database-url", url).output
    assert not (tmp_path / "x.pgdump").exists()


def test_the_code_before_the_newest_migration_on_the_upgraded_schema(blank_url, tmp_path):
    """A rolling upgrade end to end: this release's `db upgrade` runs, then processes of the code
    before its newest migration (this tree without that file) start on the result. An expand-only
    migration keeps them serving — ready, answering, writing; a contract step gets them refused."""
    from importlib import resources

    from perlinsos.pilots.files import bundled_pilot_file
    from test_serve import free_port, wait_healthy
    import sys

    newest = next(p for p in (resources.files("perlinsos") / "db" / "migrations" / "versions").iterdir()
                  if p.name.startswith(f"{HEAD}_"))
    previous = tmp_path / "previous"
    shutil.copytree(resources.files("perlinsos"), previous / "perlinsos",
                    ignore=shutil.ignore_patterns("__pycache__", newest.name))
    env = {**os.environ, "PYTHONPATH": str(previous), "PERLINSOS_DATABASE_URL": blank_url}
    assert cli("db", "upgrade", "--database-url", blank_url).exit_code == 0

    def previous_cli(*args: str, **kwargs):
        return subprocess.Popen([sys.executable, "-m", "perlinsos.cli", *args], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)

    current = previous_cli("db", "current")
    assert f"current: {HEAD}" in current.communicate(timeout=60)[0]
    if not getattr(migrate._script().get_revision(HEAD).module, "compatible_with_previous_code", False):
        refused = previous_cli("serve")
        assert refused.wait(timeout=60) != 0 and "install the newer release" in refused.stdout.read()
        return
    loaded = previous_cli("pilot", "load", str(bundled_pilot_file()))
    assert loaded.wait(timeout=60) == 0, loaded.stdout.read()
    port = free_port()
    server = previous_cli("serve", "--port", str(port))
    try:
        ready = wait_healthy(f"http://127.0.0.1:{port}/health/ready", server)
        assert ready.status_code == 200 and ready.json()["schema"] == "compatible", ready.text
        assert ready.json()["head"] != HEAD  # it is the previous code answering
        pilots = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ pilots { nodes { code } } }"})
        assert pilots.json().get("data", {}).get("pilots") == {"nodes": [{"code": "BWI-2025"}]}, pilots.text
    finally:
        server.terminate()
        server.communicate(timeout=10)
