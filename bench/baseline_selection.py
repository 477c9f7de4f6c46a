"""The hand-written baseline of ``selection.py``: plain Python and ``sqlite3``, no SQLAlchemy, no plugins.

``run(path, pilot_code, chunk)`` selects every registration of the pilot in a SQLite file and
stores the same rows the platform's engine stores, doing the work a careful hand-written job
must do, and no more:

* the same SQLite set-up as the platform (WAL, busy timeout, foreign keys, ``synchronous=NORMAL``,
  ``BEGIN IMMEDIATE`` for each chunk's write transaction);
* registrations streamed by id in chunks of ``chunk``: one joined query (registration, applicant,
  household), then one ``IN`` query each for the household members, the live consents, the
  applicant's registrations in other pilots and the facts corrected by upheld appeals — what the
  platform reads in ``selection.chunks``;
* the facts from ``bench_facts.read_facts`` (the very function the platform's fact-source plugin
  calls: one query per chunk), plus the three facts the platform computes itself (NIK valid,
  registered elsewhere, consent live);
* the SAME criterion objects: the core's consent rule and ``perlinsos_criteria``'s nine criteria
  built with the pilot's settings, their ``evaluate`` called in a plain loop; their ``messages``
  for the notice texts (``perlinsos.messages.reason_message`` for the consent rule);
* the same stored result: the inputs as JSON and their SHA-256 digest (the same document, so a
  re-run can skip unchanged registrations — the current decisions of the chunk are read for that,
  as the platform does), one ``decision`` row, ten ``decision_reason`` rows and one portal
  ``notification`` row per registration, each table in one ``executemany``, and the run's progress
  row updated in the same transaction, committed per chunk.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

import bench_facts
from perlinsos import audit
from perlinsos.registration.consent import DEFAULT_PURPOSE
from perlinsos.contract import ConsentGrant, CriterionResult, Fact, PilotContext, RegistrantRef, Verdict
from perlinsos.idnumbers import is_valid_nik
from perlinsos.messages import reason_message
from perlinsos.selection.chunks import FACT_SCOPES, PLATFORM
from perlinsos.selection.evaluate import ConsentCriterion
from perlinsos_criteria.criteria import criteria_for

CHUNK_SQL = """SELECT r.id, r.programme, r.region_code, r.person_id, r.household_id, p.nik, h.kk_number
FROM registration r JOIN person p ON p.id = r.person_id JOIN household h ON h.id = r.household_id
WHERE r.pilot_id = ? AND r.id > ? ORDER BY r.id LIMIT ?"""
DECISION_SQL = """INSERT INTO decision (id, registration_id, version, outcome, is_current, criteria_versions,
inputs_digest, cause, run_id, decided_at, inputs) VALUES (?, ?, ?, ?, 1, ?, ?, 'SELECTION', ?, ?, ?)"""
REASON_SQL = """INSERT INTO decision_reason (decision_id, code, verdict, observed, "limit", source, as_of,
criterion_version, detail, messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
NOTE_SQL = """INSERT INTO notification (person_id, pilot_id, decision_id, channel, template, language, params, status,
attempts, next_attempt_at, idempotency_key, created_at) VALUES (?, ?, ?, 'portal', ?, 'id', ?, 'PENDING', 0, ?, ?, ?)"""
PASS, FAIL, UNKNOWN = Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN


def _in(values) -> str:
    return f"({','.join('?' * len(values))})"


def _stamp(moment: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _aware(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _default(value: Any) -> Any:  # the few non-JSON values facts and results carry
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "value"):
        return value.value
    return str(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """As JSON gives it back: plain values and flat lists as they are, anything else round-tripped."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if (kind is list or kind is tuple) and all(type(v) in _SCALARS for v in value):
        return list(value)
    return json.loads(json.dumps(value, default=_default))


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=15)
    for pragma in ("journal_mode=WAL", "busy_timeout=15000", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


AUDIT_SQL = """INSERT INTO audit_event (seq, occurred_at, actor, actor_role, action, entity_type, entity_id,
subject_person_id, purpose, details, prev_hash, hash) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, 'selection', ?, ?, ?)"""


def _audit(conn: sqlite3.Connection, run_id: str, persons: list[int], decision_ids: list[int], processed: int) -> None:
    """The platform's audit rows for a chunk, chained the same way (``perlinsos.audit.link_hash``):
    a read of each registrant's facts, and one row for the chunk's decisions."""
    rows = [("READ_PERSONAL_DATA", "person", str(pid), pid, {"run_id": run_id}) for pid in sorted(persons)]
    if decision_ids:
        rows.append(("DECISIONS_MADE", "selection_run", run_id, None,
                     {"cause": "SELECTION", "processed": processed, "decided": len(decision_ids),
                      "decision_ids": [min(decision_ids), max(decision_ids)]}))
    _chain(conn, rows)


def _chain(conn: sqlite3.Connection, rows: list[tuple], actor: str = "system:selection") -> None:
    """``rows`` (action, entity type, entity id, subject, details) chained after the head and inserted
    (in the caller's ``BEGIN IMMEDIATE`` transaction, which serialises appenders on SQLite)."""
    seq, prev = conn.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1").fetchone()
    moment = datetime.now(UTC)
    stamp, stored_at = audit.timestamp(moment), _stamp(moment)
    values = []
    for action, entity_type, entity_id, subject, details in rows:
        seq += 1
        row = {"occurred_at": moment, "actor": actor, "actor_role": None, "action": action,
               "entity_type": entity_type, "entity_id": entity_id, "subject_person_id": subject,
               "purpose": "selection", "details": details}
        digest = audit.link_hash(row, seq, prev, stamp=stamp)
        values.append((seq, stored_at, actor, action, entity_type, entity_id, subject,
                       json.dumps(details), prev, digest))
        prev = digest
    conn.executemany(AUDIT_SQL, values)
    conn.execute("UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))


class Tally:
    """The run's outcome and reason counts, as the platform's summary keeps them."""

    def __init__(self) -> None:
        self.outcomes, self.failed_reasons, self.pending_reasons = Counter(), Counter(), Counter()


def summary(processed: int, decided: int, unchanged: int, tally: Tally) -> dict[str, Any]:
    """The counts the platform stores on its run row and returns. kept/failed_facts: decisions
    kept because a source failed on a re-run (:mod:`perlinsos.selection.stability`); a first run
    keeps none."""
    return {"processed": processed, "decided": decided, "unchanged": unchanged, "kept": 0,
            "outcomes": dict(tally.outcomes), "failed_reasons": dict(tally.failed_reasons),
            "pending_reasons": dict(tally.pending_reasons), "failed_facts": {}}


def registrants(rows, live: dict[int, Any], members: dict[int, list[str]],
                elsewhere: dict[tuple[int, str], set[str]], today, when) -> tuple[list[RegistrantRef], dict]:
    """A chunk's registrants with the platform's own facts (NIK valid, registered elsewhere, consent
    live, scopes missing), from the rows both baselines read; ``when`` turns a stored timestamp into
    an aware datetime (SQLite text; asyncpg gives one already)."""
    refs, facts = [], {}
    for rid, programme, region, person_id, household_id, nik, kk in rows:
        c = live.get(person_id)
        grant = None if c is None else ConsentGrant(
            nik=nik, scopes=tuple(json.loads(c[1])), purpose=c[2], policy_version=c[3], given_at=when(c[4]),
            expires_at=when(c[5]), reference=c[6])
        refs.append(RegistrantRef(rid, nik, kk, region, programme, tuple(members.get(household_id, ())), grant))
        facts[rid] = {
            "platform.nik_valid": Fact(rid, "platform.nik_valid", is_valid_nik(nik), PLATFORM, today),
            "platform.other_registrations": Fact(rid, "platform.other_registrations",
                                                 sorted(elsewhere.get((person_id, programme), ())), PLATFORM, today),
            "platform.consent_live": Fact(rid, "platform.consent_live",
                                          grant is not None and all(s in grant.scopes for s in FACT_SCOPES),
                                          PLATFORM, today),
        }
        missing = [s for s in FACT_SCOPES if grant is not None and s not in grant.scopes]
        if missing:  # the platform names the scopes a consent lacks (issue 12)
            facts[rid]["platform.consent_missing_scopes"] = Fact(rid, "platform.consent_missing_scopes", missing,
                                                                 PLATFORM, today)
    return refs, facts


def evaluate_chunk(refs: list[RegistrantRef], person_ids: list[int], facts: dict[int, dict[str, Fact]],
                   criteria: dict[str, Any], pilot: PilotContext) -> list[tuple]:
    """Every criterion of each registrant's programme in a plain loop: (registration id, person id,
    outcome, results, notice texts, criteria versions, inputs, inputs digest) per registrant."""
    evaluated = []
    for ref, person_id in zip(refs, person_ids, strict=True):
        if ref.programme not in criteria:
            found = [ConsentCriterion(), *criteria_for(ref.programme, pilot)]
            criteria[ref.programme] = (found, {c.code: str(c.version) for c in found})
        found, versions = criteria[ref.programme]
        own = facts[ref.registration_id]
        results, texts = [], []
        failed = unknown = False
        for criterion in found:
            try:
                result = criterion.evaluate(own, ref)
            except Exception:  # noqa: BLE001 - one broken criterion must not stop the run
                result = CriterionResult(criterion.code, UNKNOWN, detail="CRITERION_ERROR")
            results.append(result)
            failed = failed or result.verdict is FAIL
            unknown = unknown or result.verdict is UNKNOWN
            custom = getattr(criterion, "messages", None)
            if custom is not None:
                t = custom(result)
                texts.append({"id": str(t["id"]), "en": str(t.get("en") or t["id"])})
            else:
                observed, limit = _plain(result.observed), _plain(result.limit)
                texts.append({lang: reason_message(result.code, result.verdict.value, observed, limit,
                                                   result.source, result.as_of, lang) for lang in ("id", "en")})
        outcome = "NOT_ELIGIBLE" if failed else "PENDING" if unknown else "ELIGIBLE"
        inputs = {"registrant": {"region_code": ref.region_code, "programme": ref.programme,
                                 "members": len(ref.member_niks)},
                  "facts": {name: {"value": _plain(f.value), "source": f.source,
                                   "as_of": f.as_of.isoformat() if f.as_of else None, "error": f.error}
                            for name, f in sorted(own.items())}}
        doc = {"inputs": inputs, "versions": versions,
               "results": [[r.code, r.verdict.value, r.observed, r.limit] for r in results]}
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=_default).encode()).hexdigest()
        evaluated.append((ref.registration_id, person_id, outcome, results, texts, versions, inputs, digest))
    return evaluated


def decision_rows(new: list[tuple], current: dict[int, Any], ids, run_id: str, pilot_id: int, now_stored: Any,
                  day, tally: Tally) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The decision, reason and portal notification rows of ``new`` (from :func:`evaluate_chunk`),
    decision ids from ``ids``; JSON as text, ``now_stored``/``day(date)`` as the database takes them."""
    decisions, reasons, notes = [], [], []
    for decision_id, (rid, person_id, outcome, results, texts, versions, inputs, digest) in zip(ids, new):
        version = current[rid][2] + 1 if rid in current else 1
        decisions.append((decision_id, rid, version, outcome, json.dumps(versions), digest, run_id,
                          now_stored, json.dumps(inputs)))
        not_passed = []
        for r, t in zip(results, texts, strict=True):
            reasons.append((decision_id, r.code, r.verdict.value,
                            None if r.observed is None else json.dumps({"value": _plain(r.observed)}),
                            None if r.limit is None else json.dumps({"value": _plain(r.limit)}),
                            r.source, day(r.as_of) if r.as_of else None, versions[r.code],
                            r.detail, json.dumps(t)))
            if r.verdict is FAIL:
                tally.failed_reasons[r.code] += 1
            elif r.verdict is UNKNOWN:
                tally.pending_reasons[r.code] += 1
            if r.verdict is not PASS:
                not_passed.append(r.code)
        notes.append((person_id, pilot_id, decision_id, f"DECISION_{outcome}",
                      json.dumps({"outcome": outcome, "version": version, "reasons": not_passed}),
                      now_stored, f"decision-{decision_id}-portal-{secrets.token_hex(6)}", now_stored))
        tally.outcomes[outcome] += 1
    return decisions, reasons, notes


def run(path: str, pilot_code: str, chunk: int) -> dict[str, Any]:
    """Select every registration of ``pilot_code``; the counts, as the platform's summary gives them."""
    conn = connect(path)
    facts_conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # the fact source's own connection
    pilot_id, region_codes, programmes, plugins = conn.execute(
        "SELECT id, region_codes, programmes, plugins FROM pilot WHERE code = ?", (pilot_code,)).fetchone()
    pilot = PilotContext(id=pilot_id, code=pilot_code, name=pilot_code, region_codes=tuple(json.loads(region_codes)),
                         programmes=tuple(json.loads(programmes)), plugins=json.loads(plugins))
    criteria: dict[str, list] = {}
    run_id, now = str(uuid.uuid4()), _stamp(datetime.now(UTC))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO selection_run (id, pilot_id, status, started_by, started_at, heartbeat_at, "
                 "last_registration_id, counts) VALUES (?, ?, 'RUNNING', 'cli', ?, ?, 0, '{}')",
                 (run_id, pilot_id, now, now))
    # the run's start and end are audited as the platform audits them (`perlinsos select` starts as "cli")
    _chain(conn, [("SELECTION_RUN_STARTED", "selection_run", run_id, None, {"pilot_id": pilot_id, "programme": None})],
           actor="cli")
    conn.execute("COMMIT")
    processed = decided = unchanged = 0
    tally = Tally()
    after = 0
    while True:
        rows = conn.execute(CHUNK_SQL, (pilot_id, after, chunk)).fetchall()
        if not rows:
            break
        after = rows[-1][0]
        households = list({r[4] for r in rows})
        persons = list({r[3] for r in rows})
        members: dict[int, list[str]] = defaultdict(list)
        for household_id, nik in conn.execute(
                f"SELECT household_id, nik FROM person WHERE household_id IN {_in(households)} ORDER BY id", households):
            members[household_id].append(nik)
        moment = datetime.now(UTC)
        now_text = _stamp(moment)
        live: dict[int, tuple] = {}
        for c in conn.execute(  # newest last, so it wins
                "SELECT person_id, scopes, purpose, policy_version, given_at, expires_at, provider_reference "
                f"FROM consent WHERE person_id IN {_in(persons)} AND purpose = ? AND withdrawn_at IS NULL "
                "ORDER BY given_at", [*persons, DEFAULT_PURPOSE]):
            if c[5] is None or c[5] > now_text:
                live[c[0]] = c
        elsewhere: dict[tuple[int, str], set[str]] = defaultdict(set)
        for person_id, programme, code in conn.execute(
                "SELECT r.person_id, r.programme, p.code FROM registration r JOIN pilot p ON p.id = r.pilot_id "
                f"WHERE r.person_id IN {_in(persons)} AND r.pilot_id != ?", [*persons, pilot_id]):
            elsewhere[(person_id, programme)].add(code)

        today = moment.date()
        refs, facts = registrants(rows, live, members, elsewhere, today, _aware)
        for fact in bench_facts.read_facts(facts_conn, refs):
            if not fact.name.startswith("platform."):
                facts[fact.registration_id][fact.name] = fact
        ids = [r[0] for r in rows]
        for rid, appeal_id, corrected, resolved_at in conn.execute(  # upheld appeals' corrections outrank any source
                "SELECT d.registration_id, a.id, a.corrected_facts, a.resolved_at FROM appeal a "
                f"JOIN decision d ON d.id = a.decision_id WHERE d.registration_id IN {_in(ids)} "
                "AND a.status = 'UPHELD' AND a.corrected_facts IS NOT NULL ORDER BY a.resolved_at", ids):
            when = _aware(resolved_at).date() if resolved_at else None
            for name, value in json.loads(corrected).items():
                facts[rid][name] = Fact(rid, name, value, f"Sanggah #{appeal_id} (ditinjau)", when)

        evaluated = evaluate_chunk(refs, [r[3] for r in rows], facts, criteria, pilot)

        # write: one transaction per chunk
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = [e[0] for e in evaluated]
            current = {r[1]: r for r in conn.execute(
                "SELECT id, registration_id, version, inputs_digest FROM decision "
                f"WHERE registration_id IN {_in(ids)} AND is_current = 1", ids)}
            new = [e for e in evaluated if e[0] not in current or current[e[0]][3] != e[7]]
            processed += len(evaluated)
            unchanged += len(evaluated) - len(new)
            if new:
                superseded = [current[e[0]][0] for e in new if e[0] in current]
                if superseded:
                    conn.execute(f"UPDATE decision SET is_current = 0, superseded_at = ? WHERE id IN {_in(superseded)}",
                                 [now_text, *superseded])
                next_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM decision").fetchone()[0]
                decisions, reasons, notes = decision_rows(new, current, range(next_id, next_id + len(new)),
                                                          run_id, pilot_id, now_text, date.isoformat, tally)
                conn.executemany(DECISION_SQL, decisions)
                conn.executemany(REASON_SQL, reasons)
                conn.executemany(NOTE_SQL, notes)
                decided += len(new)
            _audit(conn, run_id, persons, [d[0] for d in decisions] if new else [], len(evaluated))
            counts = summary(processed, decided, unchanged, tally)
            conn.execute("UPDATE selection_run SET last_registration_id = ?, heartbeat_at = ?, counts = ? WHERE id = ?",
                         (after, now_text, json.dumps(counts), run_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE selection_run SET status = 'FINISHED', finished_at = ? WHERE id = ?",
                 (_stamp(datetime.now(UTC)), run_id))
    _chain(conn, [("SELECTION_RUN_FINISHED", "selection_run", run_id, None,
                   {"counts": summary(processed, decided, unchanged, tally), "error": None})])
    conn.execute("COMMIT")
    conn.close()
    facts_conn.close()
    return summary(processed, decided, unchanged, tally)
