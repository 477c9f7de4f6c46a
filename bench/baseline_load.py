"""The hand-written baseline of ``load.py``: Starlette + SQLAlchemy Core on the platform's own
``Database`` (same pool and SQLite pragmas, same garbage-collector set-up), no GraphQL, no plugins.

``uvicorn --factory baseline_load:create_app`` (this directory on ``PYTHONPATH``, the database in
``PERLINSOS_DATABASE_URL``):

* ``GET /me?nik=<NIK>``: the database reads of ``load.ME`` — the person by NIK, their registrations,
  the current decisions and their reasons with the stored texts — answered as JSON of the same
  shape. It trusts the NIK in the query string: no token is verified (the platform verifies an RS256
  IKD token with a cached key), so the ratio to it is, if anything, unfair to the platform.
* ``GET /ping``: one ``SELECT 1``: the floor of an HTTP request that touches the database.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import os

from sqlalchemy import select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, DecisionReason, Person, Registration

R, P, D, DR = (m.__table__ for m in (Registration, Person, Decision, DecisionReason))
REGISTRATIONS = (select(R.c.id, R.c.programme, D.c.id.label("decision_id"), D.c.outcome, D.c.version)
                 .select_from(R.join(P, P.c.id == R.c.person_id)
                              .outerjoin(D, (D.c.registration_id == R.c.id) & D.c.is_current.is_(True)))
                 .order_by(R.c.id))


def gid(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def create_app(database_url: str | None = None) -> Starlette:
    db = Database(database_url or os.environ["PERLINSOS_DATABASE_URL"])

    async def me(request: Request) -> JSONResponse:
        nik = request.query_params.get("nik", "")
        async with db.engine.connect() as conn:
            rows = (await conn.execute(REGISTRATIONS.where(P.c.nik == nik))).all()
            decision_ids = [r.decision_id for r in rows if r.decision_id is not None]
            reasons: dict[int, list] = {}
            if decision_ids:
                for d in await conn.execute(select(DR.c.decision_id, DR.c.code, DR.c.verdict, DR.c.messages)
                                            .where(DR.c.decision_id.in_(decision_ids)).order_by(DR.c.id)):
                    reasons.setdefault(d.decision_id, []).append(
                        {"code": d.code, "verdict": getattr(d.verdict, "value", d.verdict),
                         "message": (d.messages or {}).get("id")})
        registrations = [{"id": gid("Registration", r.id), "programme": r.programme, "decision": None
                          if r.decision_id is None else {"outcome": getattr(r.outcome, "value", r.outcome),
                                                         "version": r.version, "reasons": reasons.get(r.decision_id, [])}}
                         for r in rows]
        return JSONResponse({"data": {"me": {"registrations": registrations}}})

    async def ping(request: Request) -> JSONResponse:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        gc.collect()
        gc.freeze()  # as the platform's lifespan does
        gc.set_threshold(50_000, 50, 100)
        yield
        await db.dispose()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/me", me), Route("/ping", ping), Route("/health", health)], lifespan=lifespan)
