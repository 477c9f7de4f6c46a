"""The hand-written baseline of ``load.py``: Starlette + SQLAlchemy Core on the platform's own
``Database`` (same pool and SQLite pragmas, same garbage-collector set-up), no GraphQL, no plugins.

``uvicorn --factory baseline_load:create_app`` (this directory on ``PYTHONPATH``; the database in
``PERLINSOS_DATABASE_URL``, the IKD issuer and audience in ``BASELINE_IKD_ISSUER`` and
``BASELINE_IKD_AUDIENCE``):

* ``POST /graphql`` with the IKD access token of a citizen (``Authorization: Bearer``) and the
  pilot (``X-Perlinsos-Pilot``), answering ``load.ME`` with the same JSON as the platform. It does
  what a careful hand-written endpoint must, and no less:

  - the token is verified as the platform's IKD plugin verifies it: PyJWT, RS256/ES256 only, the
    key by ``kid`` from a JWKS cache (read from the issuer's discovery document; an unknown
    ``kid`` refetches at most once a minute, the set is refreshed after an hour); ``iss``,
    ``aud``, ``exp``, ``nbf``, ``iat`` (30 s leeway) and ``sub`` required; ``exp``/``iat``/``nbf``
    JSON numbers; the lifetime at most 24 h (``exp - iat`` and ``exp`` from now); ``azp``; the
    ``typ: at+jwt`` header (an access token, not an ID token); the ``nik`` claim 16 ASCII digits
    that parse as a NIK; any refusal is one 401 body;
  - the pilot must exist (its code read once per 5 s, as the platform's pilot cache does);
  - the rows the answer needs: the person by NIK, their registrations with the current decision
    (one joined query) and the decisions' reasons (one ``IN`` query), the reason texts as the
    platform gives them (the stored text in the viewer's language, else ``reason_message``), the
    platform's consent precondition hidden when it passed, failed reasons first;
  - the access log: a citizen reading their own records writes no ``audit_event`` row on the
    platform (``perlinsos.policy.records_access``: only reads by someone other than the owner are
    logged), so none here; ``load.py --only me`` counts the rows each side wrote to check it.

* ``GET /ping``: one ``SELECT 1``: the floor of an HTTP request that touches the database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import math
import os
import time

import httpx
import jwt
from sqlalchemy import and_, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from perlinsos.db.engine import Database
from perlinsos.db.models import Decision, DecisionReason, Person, Pilot, Registration
from perlinsos.identity.oidc_checks import is_nik_claim
from perlinsos.languages import pick_language
from perlinsos.messages import reason_message

R, P, D, DR, PL = (m.__table__ for m in (Registration, Person, Decision, DecisionReason, Pilot))
ALGORITHMS = ["RS256", "ES256"]  # the IKD plugin's default allow-list
LEEWAY, MAX_LIFETIME = 30, 24 * 3600
REFETCH_SECONDS, CACHE_SECONDS, PILOT_SECONDS = 60.0, 3600.0, 5.0
_ORDER = {"FAIL": 0, "UNKNOWN": 1, "PASS": 2}
ME_ROWS = (select(R.c.id, R.c.programme, D.c.id.label("decision_id"), D.c.outcome, D.c.version)
           .select_from(P.join(R, R.c.person_id == P.c.id)
                        .outerjoin(D, and_(D.c.registration_id == R.c.id, D.c.is_current.is_(True))))
           .order_by(R.c.id))
REASONS = (select(DR.c.decision_id, DR.c.code, DR.c.verdict, DR.c.observed, DR.c.limit, DR.c.source, DR.c.as_of,
                  DR.c.messages).order_by(DR.c.decision_id, DR.c.id))
UNAUTHENTICATED = json.dumps({"errors": [{"message": "Invalid or expired token.",
                                          "extensions": {"code": "UNAUTHENTICATED"}}]})


class Refused(Exception):
    pass


class Jwks:
    """The issuer's signing keys by kid: discovery once, then the JWKS, refreshed as the platform's is."""

    def __init__(self, issuer: str):
        self.issuer, self.keys, self.fetched, self.attempted = issuer, {}, float("-inf"), float("-inf")
        self.lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        if kid in self.keys and now - self.fetched < CACHE_SECONDS:
            return self.keys[kid]
        async with self.lock:
            now = time.monotonic()
            if (kid not in self.keys or now - self.fetched >= CACHE_SECONDS) and now - self.attempted >= REFETCH_SECONDS:
                self.attempted = now
                async with httpx.AsyncClient(timeout=5) as http:
                    doc = (await http.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")).json()
                    if doc.get("issuer") != self.issuer:
                        raise Refused("discovery names another issuer")
                    body = (await http.get(doc["jwks_uri"])).json()
                self.keys = {k["kid"]: jwt.PyJWK(k) for k in body["keys"]
                             if k.get("use", "sig") == "sig" and k.get("kty") != "oct"}
                self.fetched = time.monotonic()
        if kid not in self.keys:
            raise Refused("unknown kid")
        return self.keys[kid]


def _numeric(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


async def verify(token: str, jwks: Jwks, issuer: str, audience: str) -> str:
    """The citizen's NIK from a valid IKD access token; raises Refused otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Refused("header") from None
    if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
        raise Refused("alg/kid")
    key = await jwks.key(header["kid"])
    try:
        claims = jwt.decode(token, key=key, algorithms=ALGORITHMS, audience=audience, issuer=issuer, leeway=LEEWAY,
                            options={"require": ["iss", "sub", "aud", "exp", "iat"]})
    except jwt.PyJWTError:
        raise Refused("PyJWT") from None
    if not all(_numeric(claims[n]) for n in ("exp", "iat", "nbf") if n in claims):
        raise Refused("dates")
    if claims["exp"] > claims["iat"] + MAX_LIFETIME or claims["exp"] > time.time() + MAX_LIFETIME + LEEWAY:
        raise Refused("lifetime")
    aud, azp = claims.get("aud"), claims.get("azp")
    if (isinstance(aud, list) and len(set(aud)) > 1 and azp is None) or (azp is not None and azp != audience):
        raise Refused("azp")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != "at+jwt":
        raise Refused("not an access token")
    sub, nik = claims.get("sub"), claims.get("nik")
    if not isinstance(sub, str) or not sub.strip() or claims.get("kind") not in (None, "citizen"):
        raise Refused("subject")
    if not is_nik_claim(nik):
        raise Refused("nik")
    if not _numeric(claims.get("auth_time", claims["iat"])):
        raise Refused("auth_time")
    return nik


def gid(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def _value(x):
    return getattr(x, "value", x)


def _reason(row, lang: str) -> dict:
    verdict = _value(row.verdict)
    observed = row.observed["value"] if row.observed else None
    limit = row.limit["value"] if row.limit else None
    message = (row.messages or {}).get(lang) or reason_message(row.code, verdict, observed, limit, row.source,
                                                                 row.as_of, lang)
    return {"code": row.code, "verdict": verdict, "message": message}


def create_app(database_url: str | None = None) -> Starlette:
    db = Database(database_url or os.environ["PERLINSOS_DATABASE_URL"])
    issuer, audience = os.environ.get("BASELINE_IKD_ISSUER", ""), os.environ.get("BASELINE_IKD_AUDIENCE", "")
    jwks = Jwks(issuer)
    pilots: dict[str, tuple[float, bool]] = {}

    async def known_pilot(conn, code: str) -> bool:
        hit = pilots.get(code)
        if hit is None or time.monotonic() - hit[0] >= PILOT_SECONDS:
            found = (await conn.execute(select(PL.c.id).where(PL.c.code == code))).first() is not None
            hit = pilots[code] = (time.monotonic(), found)
        return hit[1]

    async def graphql(request: Request) -> Response:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise Refused("scheme")
            nik = await verify(token.strip(), jwks, issuer, audience)
        except Refused:
            return Response(UNAUTHENTICATED, 401, media_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        await request.body()  # the platform reads the operation; the answer here is always load.ME's
        lang = pick_language(request.headers.get("accept-language"))
        async with db.engine.connect() as conn:
            if not await known_pilot(conn, request.headers.get("x-perlinsos-pilot", "")):
                return Response('{"errors":[{"message":"Unknown pilot","extensions":{"code":"PILOT_UNKNOWN"}}]}',
                                400, media_type="application/json")
            rows = (await conn.execute(ME_ROWS.where(P.c.nik == nik))).all()
            decision_ids = [r.decision_id for r in rows if r.decision_id is not None]
            reasons: dict[int, list] = {}
            if decision_ids:
                for x in await conn.execute(REASONS.where(DR.c.decision_id.in_(decision_ids))):
                    if x.code == "CONSENT_MISSING" and _value(x.verdict) == "PASS":
                        continue  # the platform's precondition, shown only when it held the decision
                    reasons.setdefault(x.decision_id, []).append(_reason(x, lang))
        registrations = []
        for r in rows:
            decision = None
            if r.decision_id is not None:
                decision = {"outcome": _value(r.outcome), "version": r.version,
                            "reasons": sorted(reasons.get(r.decision_id, []), key=lambda x: _ORDER[x["verdict"]])}
            registrations.append({"id": gid("Registration", r.id), "programme": r.programme, "decision": decision})
        # a citizen without records still gets `me` (the platform answers an empty list too)
        return Response(json.dumps({"data": {"me": {"registrations": registrations}}}, separators=(",", ":"), ensure_ascii=False),
                        media_type="application/json")

    async def ping(request: Request) -> Response:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return Response('{"status":"ok"}', media_type="application/json")

    async def health(request: Request) -> Response:
        return Response('{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        gc.collect()
        gc.freeze()  # as the platform's lifespan does
        gc.set_threshold(50_000, 50, 100)
        yield
        await db.dispose()

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]), Route("/ping", ping),
                             Route("/health", health)], lifespan=lifespan)
