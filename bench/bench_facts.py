"""The selection benchmark's fact source: a plugin whose ``collect_facts`` reads a chunk's facts from
the seeded ``bench_facts`` table (one query per chunk) instead of IKD's consented facts API.

Registered by ``selection.py`` as ``bench_facts`` and enabled in the bench pilot beside
``criteria`` (see ``bench_criteria.py``). ``read_facts`` (SQLite) and ``read_facts_pg``
(PostgreSQL, asyncpg) are also what the plain-Python baselines call, so both sides pay exactly the
same for their facts. Never deploy it.

Like the real source (``perlinsos_criteria.sources``) it never makes a value up: no consent gives
``NO_CONSENT`` facts, a scope left out of the consent ``SCOPE_NOT_GRANTED``, a NIK the table does
not hold ``UNKNOWN_PERSON``; a NULL column is a fact the source does not have (FACT_MISSING).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date

from perlinsos import hookimpl
from perlinsos.contract import Fact, RegistrantRef
from perlinsos_criteria import facts as F

NAME = "bench_facts"
#: the fact columns of ``bench_facts``, in table order; the list-valued ones are JSON text.
COLUMNS = ("monthly_income", "bank_flags", "electricity_va", "welfare_decile", "state_employment", "car_ownership")
_JSON = frozenset({"bank_flags", "state_employment"})
_SPECS = [(name, F.IKD_FACTS[name].source, F.IKD_FACTS[name].scope, name in _JSON) for name in COLUMNS]

DDL = f"""CREATE TABLE bench_facts (nik TEXT PRIMARY KEY, {', '.join(f'{c} {"TEXT" if c in _JSON else "INTEGER"}'
                                                                  for c in COLUMNS)}, as_of TEXT NOT NULL)"""
_SELECT = f"SELECT nik, {', '.join(COLUMNS)}, as_of FROM bench_facts WHERE nik IN "
_SELECT_PG = f"SELECT nik, {', '.join(COLUMNS)}, as_of FROM bench_facts WHERE nik = ANY($1::text[])"

_conn: sqlite3.Connection | None = None
_pg = None  # an asyncpg connection, on PostgreSQL


def configure(path: str) -> None:
    """Point the plugin at the benchmark's database file (a read-only connection of its own)."""
    global _conn
    if _conn is not None:
        _conn.close()
    _conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


async def configure_pg(url: str) -> None:
    """On PostgreSQL: a connection of the plugin's own (asyncpg), as a real source has its own client."""
    import asyncpg

    global _pg
    _pg = await asyncpg.connect(url)


def close() -> None:
    global _conn
    if _conn is not None:
        _conn.close()
        _conn = None


async def close_pg() -> None:
    global _pg
    if _pg is not None:
        await _pg.close()
        _pg = None


def read_facts(conn: sqlite3.Connection, registrants: Sequence[RegistrantRef]) -> list[Fact]:
    """The six IKD facts of every registrant, from one ``IN`` query."""
    asked = [r.nik for r in registrants if r.consent is not None]
    rows = {}
    if asked:
        rows = {row[0]: row for row in conn.execute(_SELECT + f"({','.join('?' * len(asked))})", asked)}
    return _facts(rows, registrants)


async def read_facts_pg(conn, registrants: Sequence[RegistrantRef]) -> list[Fact]:
    """The same on PostgreSQL: one ``= ANY($1)`` query on an asyncpg connection."""
    asked = [r.nik for r in registrants if r.consent is not None]
    rows = {row[0]: row for row in await conn.fetch(_SELECT_PG, asked)} if asked else {}
    return _facts(rows, registrants)


def _facts(rows: dict, registrants: Sequence[RegistrantRef]) -> list[Fact]:
    found: list[Fact] = []
    for ref in registrants:
        rid = ref.registration_id
        if ref.consent is None:
            found += [Fact(rid, name, None, source, error=F.NO_CONSENT) for name, source, _, _ in _SPECS]
            continue
        row = rows.get(ref.nik)
        if row is None:
            found += [Fact(rid, name, None, source, error=F.UNKNOWN_PERSON) for name, source, _, _ in _SPECS]
            continue
        as_of = date.fromisoformat(row[7])
        scopes = ref.consent.scopes
        for (name, source, scope, is_json), value in zip(_SPECS, row[1:7], strict=True):
            if scope not in scopes:
                found.append(Fact(rid, name, None, source, error=F.SCOPE_NOT_GRANTED))
            elif value is not None:
                found.append(Fact(rid, name, json.loads(value) if is_json else value, source, as_of))
    return found


@hookimpl
async def collect_facts(registrants, pilot):
    if _pg is not None:
        return await read_facts_pg(_pg, registrants)
    if _conn is None:
        raise RuntimeError("bench_facts.configure(path) was not called")
    return read_facts(_conn, registrants)
