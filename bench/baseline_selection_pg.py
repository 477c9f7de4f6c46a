"""The hand-written baseline of ``selection.py`` on PostgreSQL: plain Python and asyncpg, no
SQLAlchemy, no plugins.

``await run(url, pilot_code, chunk)`` does what ``baseline_selection.run`` does on SQLite, with
what a careful asyncpg job would use, and no more:

* registrations streamed by id in chunks of ``chunk`` (keyset: ``id > $last ORDER BY id LIMIT``),
  with the same five reads per chunk — the joined registration/applicant/household query, then one
  ``= ANY($1)`` query each for the household members, the live consents, the applicant's
  registrations in other pilots and the facts corrected by upheld appeals; the facts from
  ``bench_facts.read_facts_pg`` (the function the platform's fact-source plugin calls) on a
  connection of its own;
* the same criterion objects, inputs JSON and SHA-256 digest (``baseline_selection.evaluate_chunk``);
* one transaction per chunk (READ COMMITTED, as the platform's): the chunk's current decisions read
  (a re-run skips unchanged registrations), superseded versions updated, decision ids taken from
  ``decision_id_seq`` in one ``nextval`` query, and the decision, reason and portal notification
  rows written with ``copy_records_to_table`` (binary COPY);
* the platform's audit rows, chained the same way: under ``audit_chain_head`` locked ``FOR UPDATE``
  as the last thing before COMMIT (as ``perlinsos.audit.append`` does, so chain order is commit
  order across processes), a read row per registrant and one DECISIONS_MADE row per chunk, each
  hashed with ``perlinsos.audit.link_hash``, COPYed, and the head moved; SELECTION_RUN_STARTED and
  SELECTION_RUN_FINISHED rows at the ends of the run, as the platform writes;
* the run row's progress (last id, heartbeat, counts) updated in each chunk's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import bench_facts
from baseline_selection import Tally, decision_rows, evaluate_chunk, registrants, summary
from perlinsos import audit
from perlinsos.contract import Fact, PilotContext, RegistrantRef
from perlinsos.registration.consent import DEFAULT_PURPOSE

CHUNK_SQL = """SELECT r.id, r.programme, r.region_code, r.person_id, r.household_id, p.nik, h.kk_number
FROM registration r JOIN person p ON p.id = r.person_id JOIN household h ON h.id = r.household_id
WHERE r.pilot_id = $1 AND r.id > $2 ORDER BY r.id LIMIT $3"""
MEMBERS_SQL = "SELECT household_id, nik FROM person WHERE household_id = ANY($1::bigint[]) ORDER BY id"
CONSENTS_SQL = """SELECT person_id, scopes, purpose, policy_version, given_at, expires_at, provider_reference
FROM consent WHERE person_id = ANY($1::bigint[]) AND purpose = $2 AND withdrawn_at IS NULL ORDER BY given_at"""
ELSEWHERE_SQL = """SELECT r.person_id, r.programme, p.code FROM registration r JOIN pilot p ON p.id = r.pilot_id
WHERE r.person_id = ANY($1::bigint[]) AND r.pilot_id != $2"""
APPEALS_SQL = """SELECT d.registration_id, a.id, a.corrected_facts, a.resolved_at FROM appeal a
JOIN decision d ON d.id = a.decision_id WHERE d.registration_id = ANY($1::bigint[])
AND a.status = 'UPHELD' AND a.corrected_facts IS NOT NULL ORDER BY a.resolved_at"""
CURRENT_SQL = """SELECT id, registration_id, version, inputs_digest FROM decision
WHERE registration_id = ANY($1::bigint[]) AND is_current"""
DECISION_COLUMNS = ("id", "registration_id", "version", "outcome", "criteria_versions", "inputs_digest", "run_id",
                    "decided_at", "inputs", "is_current", "cause")
REASON_COLUMNS = ("decision_id", "code", "verdict", "observed", "limit", "source", "as_of", "criterion_version",
                  "detail", "messages")
NOTE_COLUMNS = ("person_id", "pilot_id", "decision_id", "template", "params", "next_attempt_at", "idempotency_key",
                "created_at", "channel", "language", "status", "attempts")
AUDIT_COLUMNS = ("seq", "occurred_at", "actor", "actor_role", "action", "entity_type", "entity_id",
                 "subject_person_id", "purpose", "details", "prev_hash", "hash")
ACTOR = "system:selection"
STARTED_BY = "cli"  # as `perlinsos select` starts a run


async def _audit(conn: asyncpg.Connection, rows: list[tuple[str, str, str, int | None, dict[str, Any]]],
                 moment: datetime, actor: str = ACTOR) -> None:
    """Chain ``rows`` (action, entity type, entity id, subject, details) after the head, under its
    row lock (the last statement before COMMIT, as the platform's ``before_commit`` append)."""
    seq, prev = await conn.fetchrow("SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE")
    stamp = audit.timestamp(moment)
    values = []
    for action, entity_type, entity_id, subject, details in rows:
        seq += 1
        row = {"occurred_at": moment, "actor": actor, "actor_role": None, "action": action,
               "entity_type": entity_type, "entity_id": entity_id, "subject_person_id": subject,
               "purpose": "selection", "details": details}
        digest = audit.link_hash(row, seq, prev, stamp=stamp)
        values.append((seq, moment, actor, None, action, entity_type, entity_id, subject, "selection",
                       json.dumps(details), prev, digest))
        prev = digest
    await conn.copy_records_to_table("audit_event", records=values, columns=AUDIT_COLUMNS)
    await conn.execute("UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1", seq, prev)


def _chunk_audit(run_id: str, persons: list[int], decision_ids: list[int], processed: int) -> list[tuple]:
    """The platform's rows for a chunk (``selection.writes.audit_chunk``): a read of each
    registrant's facts, and one row for the chunk's decisions (counts and id range)."""
    rows = [("READ_PERSONAL_DATA", "person", str(pid), pid, {"run_id": run_id}) for pid in sorted(persons)]
    if decision_ids:
        rows.append(("DECISIONS_MADE", "selection_run", run_id, None,
                     {"cause": "SELECTION", "processed": processed, "decided": len(decision_ids),
                      "decision_ids": [min(decision_ids), max(decision_ids)]}))
    return rows


async def _read_chunk(conn: asyncpg.Connection, facts_conn: asyncpg.Connection, pilot_id: int, rows: list,
                      moment: datetime) -> tuple[list[RegistrantRef], dict[int, dict[str, Fact]]]:
    """The registrants of a chunk with their facts: the platform's own three (four), the source's, corrections."""
    households = list({r[4] for r in rows})
    persons = list({r[3] for r in rows})
    members: dict[int, list[str]] = defaultdict(list)
    for household_id, nik in await conn.fetch(MEMBERS_SQL, households):
        members[household_id].append(nik)
    live: dict[int, Any] = {}
    for c in await conn.fetch(CONSENTS_SQL, persons, DEFAULT_PURPOSE):  # newest last, so it wins
        if c[5] is None or c[5] > moment:
            live[c[0]] = c
    elsewhere: dict[tuple[int, str], set[str]] = defaultdict(set)
    for person_id, programme, code in await conn.fetch(ELSEWHERE_SQL, persons, pilot_id):
        elsewhere[(person_id, programme)].add(code)
    today = moment.date()
    refs, facts = registrants(rows, live, members, elsewhere, today, lambda value: value)
    for fact in await bench_facts.read_facts_pg(facts_conn, refs):
        if not fact.name.startswith("platform."):
            facts[fact.registration_id][fact.name] = fact
    for rid, appeal_id, corrected, resolved_at in await conn.fetch(APPEALS_SQL, [r[0] for r in rows]):
        when = resolved_at.date() if resolved_at else None
        for name, value in json.loads(corrected).items():  # upheld appeals' corrections outrank any source
            facts[rid][name] = Fact(rid, name, value, f"Sanggah #{appeal_id} (ditinjau)", when)
    return refs, facts


async def run(url: str, pilot_code: str, chunk: int) -> dict[str, Any]:
    """Select every registration of ``pilot_code``; the counts, as the platform's summary gives them."""
    conn = await asyncpg.connect(url)
    facts_conn = await asyncpg.connect(url)  # the fact source's own connection
    try:
        return await _run(conn, facts_conn, pilot_code, chunk)
    finally:
        await facts_conn.close()
        await conn.close()


async def _run(conn: asyncpg.Connection, facts_conn: asyncpg.Connection, pilot_code: str, chunk: int) -> dict:
    pilot_id, region_codes, programmes, plugins = await conn.fetchrow(
        "SELECT id, region_codes, programmes, plugins FROM pilot WHERE code = $1", pilot_code)
    pilot = PilotContext(id=pilot_id, code=pilot_code, name=pilot_code, region_codes=tuple(json.loads(region_codes)),
                         programmes=tuple(json.loads(programmes)), plugins=json.loads(plugins))
    criteria: dict[str, list] = {}
    run_id, now = str(uuid.uuid4()), datetime.now(UTC)
    async with conn.transaction():
        await conn.execute("INSERT INTO selection_run (id, pilot_id, status, started_by, started_at, heartbeat_at, "
                           "last_registration_id, counts) VALUES ($1, $2, 'RUNNING', $3, $4, $4, 0, '{}')",
                           run_id, pilot_id, STARTED_BY, now)
        await _audit(conn, [("SELECTION_RUN_STARTED", "selection_run", run_id, None,
                             {"pilot_id": pilot_id, "programme": None})], now, actor=STARTED_BY)
    processed = decided = unchanged = 0
    tally = Tally()
    after = 0
    while True:
        rows = await conn.fetch(CHUNK_SQL, pilot_id, after, chunk)
        if not rows:
            break
        after = rows[-1][0]
        moment = datetime.now(UTC)
        refs, facts = await _read_chunk(conn, facts_conn, pilot_id, rows, moment)
        evaluated = evaluate_chunk(refs, [r[3] for r in rows], facts, criteria, pilot)
        async with conn.transaction():  # write: one transaction per chunk
            ids = [e[0] for e in evaluated]
            current = {r[1]: r for r in await conn.fetch(CURRENT_SQL, ids)}
            new = [e for e in evaluated if e[0] not in current or current[e[0]][3] != e[7]]
            processed += len(evaluated)
            unchanged += len(evaluated) - len(new)
            decision_ids: list[int] = []
            if new:
                superseded = [current[e[0]][0] for e in new if e[0] in current]
                if superseded:
                    await conn.execute("UPDATE decision SET is_current = false, superseded_at = $1 "
                                       "WHERE id = ANY($2::bigint[])", moment, superseded)
                decision_ids = [r[0] for r in await conn.fetch(
                    "SELECT nextval('decision_id_seq') FROM generate_series(1, $1)", len(new))]
                decisions, reasons, notes = decision_rows(new, current, decision_ids, run_id, pilot_id, moment,
                                                          lambda d: d, tally)
                await conn.copy_records_to_table("decision", records=[(*d, True, "SELECTION") for d in decisions],
                                                 columns=DECISION_COLUMNS)
                await conn.copy_records_to_table("decision_reason", records=reasons, columns=REASON_COLUMNS)
                await conn.copy_records_to_table("notification", records=[(*n, "portal", "id", "PENDING", 0)
                                                                          for n in notes], columns=NOTE_COLUMNS)
                decided += len(new)
            counts = summary(processed, decided, unchanged, tally)
            await conn.execute("UPDATE selection_run SET last_registration_id = $1, heartbeat_at = $2, counts = $3 "
                               "WHERE id = $4", after, moment, json.dumps(counts), run_id)
            await _audit(conn, _chunk_audit(run_id, list({r[3] for r in rows}), decision_ids, len(evaluated)), moment)
    counts = summary(processed, decided, unchanged, tally)
    async with conn.transaction():
        end = datetime.now(UTC)
        await conn.execute("UPDATE selection_run SET status = 'FINISHED', finished_at = $1, heartbeat_at = $1 "
                           "WHERE id = $2", end, run_id)
        await _audit(conn, [("SELECTION_RUN_FINISHED", "selection_run", run_id, None,
                             {"counts": counts, "error": None})], end)
    return counts
