"""The hand-written baseline of ``graphql_list.py``: Starlette + SQLAlchemy Core, no GraphQL.

``uvicorn --factory baseline_list:create_app`` (this directory on ``PYTHONPATH``, the database in
``PERLINSOS_DATABASE_URL``). ``POST /graphql`` takes the benchmark's request body (only
``variables.pilot``, ``variables.first`` and ``operationName`` are read) and answers with exactly
the JSON the platform's ``registrations`` query gives for the benchmark's selection.

It does the work a careful hand-written endpoint must do, and no more:

* the same engine set-up (``perlinsos.db.engine.Database``: pool, SQLite pragmas, BEGIN IMMEDIATE
  for writes);
* authorization: the bearer token names the staff subject (as the bench identity plugin does);
  their live staff assignments are read with one query, and only ADMIN may list (the benchmark's
  principal is ADMIN, so no region filter applies);
* the page in one joined query (registration, pilot, registrant, current decision), the reasons
  in one ``IN`` query, reason texts from ``perlinsos.messages.reason_message``, and each
  registrant's identifiers through the platform's identifier policy
  (``perlinsos.policy.identifiers.show_person``, with the caller's assignments and the
  registration's pilot): an ADMIN is not a reviewer, so a masked NIK and no birth date;
* the same garbage-collector set-up as the platform's lifespan (``BASELINE_GC=default`` turns it off);
* the personal-data access log: one ``audit_event`` row per person shown, in one bulk insert in
  its own write transaction after the reads, as the platform's AccessLog extension does.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import os
from datetime import UTC, datetime

from sqlalchemy import and_, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from perlinsos import audit, regions
from perlinsos.db.engine import Database
from perlinsos.db.models import AuditEvent, Decision, DecisionReason, Person, Pilot, Registration, StaffAssignment
from perlinsos.contract import Principal, Role, StaffScope
from perlinsos.messages import reason_message
from perlinsos.policy import identifiers

R, P, PL, D, DR = (m.__table__ for m in (Registration, Person, Pilot, Decision, DecisionReason))
SA, AE = StaffAssignment.__table__, AuditEvent.__table__
BENCH_ISSUER = "urn:perlinsos:bench"  # bench_auth.ISSUER: the sign-in the platform side trusts
_ORDER = {"FAIL": 0, "UNKNOWN": 1, "PASS": 2}

PAGE = (
    select(
        R.c.id, R.c.programme, R.c.channel, R.c.submitted_at, R.c.region_code, R.c.pilot_id,
        P.c.id.label("person_id"), P.c.nik, P.c.name, P.c.birth_date, P.c.sex,
        P.c.region_code.label("person_region"), P.c.household_id,
        D.c.id.label("decision_id"), D.c.version, D.c.outcome, D.c.decided_at,
    )
    .select_from(
        R.join(PL, PL.c.id == R.c.pilot_id)
        .join(P, P.c.id == R.c.person_id)
        .outerjoin(D, and_(D.c.registration_id == R.c.id, D.c.is_current.is_(True)))
    )
    .order_by(R.c.id)
)
REASONS = select(
    DR.c.decision_id, DR.c.code, DR.c.verdict, DR.c.observed, DR.c.limit, DR.c.source, DR.c.as_of,
    DR.c.criterion_version, DR.c.detail,
).order_by(DR.c.decision_id, DR.c.id)


def gid(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def _value(enum_or_str) -> str:
    return getattr(enum_or_str, "value", enum_or_str)


def _region(code: str) -> dict:
    found = regions.get(code)
    return {"code": code, "name": found.name if found else None}


def _reason(row, lang: str) -> dict:
    verdict = _value(row.verdict)
    observed = (row.observed or {}).get("value")
    limit = (row.limit or {}).get("value")
    return {
        "code": row.code, "verdict": verdict, "passed": None if verdict == "UNKNOWN" else verdict == "PASS",
        "observed": observed, "limit": limit, "source": row.source,
        "asOf": row.as_of.isoformat() if row.as_of else None,
        "message": row.detail or reason_message(row.code, verdict, observed, limit, row.source, row.as_of, lang),
    }


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"errors": [{"message": message}]}), status, media_type="application/json")


def create_app(database_url: str | None = None) -> Starlette:
    db = Database(database_url or os.environ["PERLINSOS_DATABASE_URL"])
    writer = db.engine.execution_options(perlinsos_write=True)

    async def graphql(request: Request) -> Response:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        kind, _, subject = token.strip().partition(":")
        if scheme.lower() != "bearer" or kind != "staff" or not subject:
            return _error(401, "Invalid or expired token.")
        body = await request.json()
        variables = body.get("variables") or {}
        pilot, first = variables["pilot"], int(variables.get("first") or 20)
        lang = "en" if (request.headers.get("accept-language") or "").lower().startswith("en") else "id"
        async with db.engine.connect() as conn:
            # the platform's check: (issuer, subject), this pilot's assignments or national ones
            assignments = (await conn.execute(
                select(SA.c.role, SA.c.region_code, SA.c.pilot_id).where(
                    SA.c.issuer == BENCH_ISSUER, SA.c.subject == subject, SA.c.revoked_at.is_(None),
                    (SA.c.pilot_id.is_(None)) | (SA.c.pilot_id == select(PL.c.id).where(
                        PL.c.code == pilot).scalar_subquery())))).all()
            roles = {_value(a.role) for a in assignments}
            if "ADMIN" not in roles:
                return _error(403, "Only the national office may list in this baseline.")
            rows = (await conn.execute(PAGE.where(PL.c.code == pilot).limit(first + 1))).all()[:first]
            decision_ids = [r.decision_id for r in rows if r.decision_id is not None]
            reasons: dict[int, list] = {}
            if decision_ids:
                for r in await conn.execute(REASONS.where(DR.c.decision_id.in_(decision_ids))):
                    reasons.setdefault(r.decision_id, []).append(_reason(r, lang))
        # the viewer as the identifier policy sees them (the pilot's code is not needed by it)
        viewer = Principal(subject=subject, kind="staff", issuer=BENCH_ISSUER, scopes=tuple(
            StaffScope(Role(_value(a.role)), a.region_code, None, a.pilot_id) for a in assignments))
        edges = []
        for r in rows:
            shown = identifiers.show_person(viewer, nik=r.nik, birth_date=r.birth_date, sex=r.sex,
                                            region_code=r.person_region, household_id=r.household_id,
                                            pilot_id=r.pilot_id)
            decision = None
            if r.decision_id is not None:
                found = sorted(reasons.get(r.decision_id, []), key=lambda x: _ORDER[x["verdict"]])
                decision = {"id": gid("Decision", r.decision_id), "version": r.version,
                            "outcome": _value(r.outcome), "decidedAt": r.decided_at.isoformat(), "reasons": found}
            edges.append({"node": {
                "id": gid("Registration", r.id), "programme": r.programme, "channel": _value(r.channel),
                "submittedAt": r.submitted_at.isoformat(), "region": _region(r.region_code),
                "registrant": {"id": gid("Registrant", r.person_id), "nik": shown.nik, "name": r.name,
                               "birthDate": shown.birth_date.isoformat() if shown.birth_date else None},
                "decision": decision,
            }})
        if rows:  # the access log, as the platform's AccessLog extension writes it
            operation = body.get("operationName")
            now = datetime.now(UTC)
            async with writer.begin() as conn:  # chained like the platform's (perlinsos.audit.append)
                await conn.run_sync(audit.append, [
                    {"occurred_at": now, "actor": subject, "actor_role": ",".join(sorted(roles)),
                     "action": "READ_PERSONAL_DATA", "entity_type": "person", "entity_id": str(pid),
                     "subject_person_id": pid, "purpose": "graphql",
                     "details": {"operation": operation} if operation else {}}
                    for pid in sorted({r.person_id for r in rows})
                ])
        data = {"data": {"registrations": {"edges": edges}}}
        return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")

    async def health(request: Request) -> Response:
        await db.ping()
        return Response('{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if os.environ.get("BASELINE_GC", "tuned") == "tuned":  # the platform's own start-up setting
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        try:
            yield
        finally:
            await db.dispose()

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]), Route("/health", health)],
                     lifespan=lifespan)
