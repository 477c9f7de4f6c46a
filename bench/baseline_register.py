"""The hand-written baseline of ``register.py``: Starlette + PyJWT + httpx + SQLAlchemy Core, no
GraphQL and no plugin layer.

``uvicorn --factory baseline_register:create_app`` (this directory on ``PYTHONPATH``), configured by
the environment: ``PERLINSOS_DATABASE_URL``, ``BENCH_PILOT`` (pilot code), ``BENCH_IKD_ISSUER``,
``BENCH_IKD_AUDIENCE``, ``BENCH_IKD_SECRET``. ``POST /graphql`` takes the benchmark's request body
(only ``variables.programme`` is read) and answers with the JSON the platform's
``registerHousehold`` mutation gives for the benchmark's selection (``register.MUTATION``).

It does what a careful hand-written endpoint must, for a citizen registering their own household:

* the bearer token verified with PyJWT (RS256/ES256, ``iss``, ``aud``, ``exp``, ``nbf``, ``iat``,
  30 s leeway, required claims) against the issuer's JWKS, fetched once through discovery and
  cached; the ``nik`` claim parsed (``perlinsos.idnumbers.parse_nik``);
* the pilot (programmes, registration window, regions) re-read every 5 s, as the platform's cache;
* the live consent read in one query (consent joined to person by NIK); the population record
  fetched from the simulator's person API with the consent's grant (one pooled httpx client,
  5 s bound), its NIK and KK checked, its village checked against the pilot's regions;
* ONE write transaction through the platform's ``Database.write()`` (same SQLite pragmas, in-process
  write queue and ``BEGIN IMMEDIATE``): household by KK (insert or update), the members by NIK in one
  ``IN`` query (insert the missing, update what changed, as the platform's upsert does), the
  existing registration of the household (re-submitting answers ``created: false``), the
  registration and its ``REGISTRATION_CREATED`` audit row; retried once on an IntegrityError;
* the same garbage-collector set-up as the platform's lifespan.

It reads no staff assignments (the benchmark's citizens hold none, so the audit row's role is
``CITIZEN`` on both sides) and serves no facilitator channel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import os
import time
from datetime import date

import httpx
import jwt
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from perlinsos import audit, regions
from perlinsos.db.engine import Database
from perlinsos.db.models import AuditEvent, Channel, Consent, Household, Person, Pilot, Registration
from perlinsos.db.types import utcnow
from perlinsos.errors import Problem
from perlinsos.idnumbers import InvalidKk, InvalidNik, InvalidPhone, normalize_phone, parse_kk, parse_nik
from perlinsos.problems import problem

R, P, H, C, PL, AE = (m.__table__ for m in (Registration, Person, Household, Consent, Pilot, AuditEvent))
PURPOSE, SCOPE = "bansos-selection", "person"
REQUIRED = ["iss", "sub", "aud", "exp", "iat"]
MEMBER_FIELDS = ("household_id", "name", "birth_date", "sex", "relationship", "region_code")

CONSENTS = (
    select(P.c.id.label("person_id"), C.c.id, C.c.scopes, C.c.expires_at, C.c.provider_reference)
    .select_from(C.join(P, P.c.id == C.c.person_id))
    .where(P.c.nik == bindparam("nik"), C.c.purpose == PURPOSE, C.c.withdrawn_at.is_(None))
    .order_by(C.c.given_at.desc())
)
PEOPLE = select(P.c.id, P.c.nik, P.c.phone, *(P.c[f] for f in MEMBER_FIELDS))
EXISTING = select(R).where(R.c.pilot_id == bindparam("pilot_id"), R.c.programme == bindparam("programme"),
                           R.c.household_id == bindparam("household_id"))


def gid(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def _phone(value: str | None) -> str | None:
    try:
        return normalize_phone(value) if value else None
    except InvalidPhone:
        return None


def _json(data: dict, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":"), ensure_ascii=False), status,
                    media_type="application/json")


def _payload(row, created: bool) -> Response:
    found = regions.get(row.region_code)
    return _json({"data": {"registerHousehold": {
        "created": created,
        "registration": {"id": gid("Registration", row.id), "programme": row.programme,
                         "channel": getattr(row.channel, "value", row.channel), "assistedBy": row.assisted_by,
                         "submittedAt": row.submitted_at.isoformat(),
                         "region": {"code": row.region_code, "name": found.name if found else None}},
        "errors": [],
    }}})


def create_app(database_url: str | None = None, *, pilot: str | None = None, issuer: str | None = None,
               audience: str | None = None, secret: str | None = None) -> Starlette:
    env = os.environ
    db = Database(database_url or env["PERLINSOS_DATABASE_URL"])
    pilot_code = pilot or env["BENCH_PILOT"]
    issuer = issuer or env["BENCH_IKD_ISSUER"]
    audience = audience or env["BENCH_IKD_AUDIENCE"]
    secret = secret or env["BENCH_IKD_SECRET"]
    keys: dict[str, jwt.PyJWK] = {}
    cached: dict[str, object] = {}  # "at", "pilot"; "http", "lock" (made in the serving loop)

    async def signing_key(kid: str) -> jwt.PyJWK | None:
        if kid not in keys:
            async with cached["lock"]:
                if kid not in keys:  # discovery, then the JWKS; refetched only for an unknown kid
                    http: httpx.AsyncClient = cached["http"]
                    config = (await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")).json()
                    if config.get("issuer") != issuer:
                        raise jwt.InvalidIssuerError("discovery names another issuer")
                    for jwk in (await http.get(config["jwks_uri"])).json()["keys"]:
                        keys[jwk["kid"]] = jwt.PyJWK(jwk)
        return keys.get(kid)

    async def current_pilot():
        if time.monotonic() - cached.get("at", float("-inf")) >= 5.0:
            async with db.engine.connect() as conn:
                cached["pilot"] = (await conn.execute(select(PL).where(PL.c.code == pilot_code))).one()
            cached["at"] = time.monotonic()
        return cached["pilot"]

    async def citizen(request: Request) -> tuple[str, str] | None:
        """(subject, nik) of a valid citizen token, else None."""
        scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            header = jwt.get_unverified_header(token)
            key = await signing_key(header.get("kid") or "")
            if key is None:
                return None
            claims = jwt.decode(token, key=key, algorithms=["RS256", "ES256"], audience=audience, issuer=issuer,
                                leeway=30, options={"require": REQUIRED})
            parse_nik(claims["nik"])
        except (jwt.PyJWTError, InvalidNik, KeyError, TypeError):
            return None
        return claims["sub"], claims["nik"]

    async def register(request: Request) -> Response:
        who = await citizen(request)
        if who is None:
            return _json({"errors": [{"message": "Token tidak sah atau kedaluwarsa. / Invalid or expired token."}]},
                         401)
        subject, nik = who
        programme = ((await request.json()).get("variables") or {}).get("programme")
        lang = "en" if (request.headers.get("accept-language") or "").lower().startswith("en") else "id"
        try:
            return await _register(subject, nik, programme)
        except Problem as p:
            return _json({"data": {"registerHousehold": {"created": False, "registration": None, "errors": [
                {"code": p.code, "message": p.message(lang), "field": p.field}]}}})

    async def _register(subject: str, nik: str, programme: str) -> Response:
        pilot = await current_pilot()
        if programme not in pilot.programmes:
            raise problem("PROGRAMME_NOT_IN_PILOT", field="programme")
        now = utcnow()
        if not pilot.registration_opens_at <= now < pilot.registration_closes_at:
            raise problem("REGISTRATION_CLOSED")
        async with db.engine.connect() as conn:
            rows = (await conn.execute(CONSENTS, {"nik": nik})).all()
        consent = next((r for r in rows if SCOPE in r.scopes and (r.expires_at is None or r.expires_at > now)), None)
        if consent is None:
            raise problem("CONSENT_REQUIRED")
        if not consent.provider_reference:
            raise problem("PERSON_UNKNOWN")
        http: httpx.AsyncClient = cached["http"]
        try:
            response = await http.get(f"{issuer.rstrip('/')}/persons/{nik}", headers={
                "Authorization": f"Bearer {secret}", "X-Consent-Grant": consent.provider_reference})
        except httpx.HTTPError:
            raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
        if response.status_code in (403, 404):
            raise problem("CONSENT_INVALID" if response.status_code == 403 else "PERSON_UNKNOWN")
        if response.status_code != 200:
            raise problem("IDENTITY_PROVIDER_UNAVAILABLE")
        record = response.json()
        if record.get("nik") != nik:
            raise problem("NIK_INVALID")
        try:
            parse_kk(record["kk_number"])
        except InvalidKk:
            raise problem("KK_INVALID") from None
        if not any(regions.is_within(record["region_code"], code) for code in pilot.region_codes):
            raise problem("OUTSIDE_PILOT_REGION")
        for attempt in range(2):
            try:
                return await _store(pilot, subject, record, consent.id, programme)
            except IntegrityError:  # a concurrent identical submission won the race (PostgreSQL)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _store(pilot, subject: str, record: dict, consent_id: int, programme: str) -> Response:
        kk, region, nik = record["kk_number"], record["region_code"], record["nik"]
        async with db.write() as session:
            conn = await session.connection()
            household = (await conn.execute(select(H.c.id, H.c.region_code).where(H.c.kk_number == kk))).first()
            if household is None:
                household_id = (await conn.execute(
                    insert(H).values(kk_number=kk, region_code=region).returning(H.c.id))).scalar_one()
            else:
                household_id = household.id
                if household.region_code != region:
                    await conn.execute(update(H).where(H.c.id == household_id).values(region_code=region))
            wanted: dict[str, dict] = {}
            for m in record.get("members") or ():
                wanted[m["nik"]] = {"household_id": household_id, "name": m["name"],
                                    "birth_date": date.fromisoformat(m["birth_date"]), "sex": m["sex"],
                                    "relationship": m.get("relationship"), "region_code": region}
            own = wanted.setdefault(nik, {"household_id": household_id, "region_code": region})
            own |= {"name": record["name"], "birth_date": date.fromisoformat(record["birth_date"]), "sex": record["sex"],
                    "phone": _phone(record.get("phone"))}
            stored = {r.nik: r for r in await conn.execute(PEOPLE.where(P.c.nik.in_(list(wanted))))}
            new = [{"nik": n, **v} for n, v in wanted.items() if n not in stored]
            changed = [{"_id": stored[n].id, **v} for n, v in wanted.items()
                       if n in stored and any(getattr(stored[n], k) != x for k, x in v.items())]
            ids = {n: r.id for n, r in stored.items()}
            if new:
                ids |= {r.nik: r.id for r in await conn.execute(insert(P).returning(P.c.id, P.c.nik), new)}
            for row in changed:  # rows differ in which fields are given: one UPDATE each (rare)
                values = {k: v for k, v in row.items() if k != "_id"}
                await conn.execute(update(P).where(P.c.id == row["_id"]).values(**values))
            person_id = ids[nik]
            existing = (await conn.execute(EXISTING, {"pilot_id": pilot.id, "programme": programme,
                                                      "household_id": household_id})).first()
            if existing is not None:
                if existing.person_id != person_id:
                    raise problem("ALREADY_REGISTERED_BY_HOUSEHOLD")
                return _payload(existing, created=False)
            row = (await conn.execute(insert(R).values(
                pilot_id=pilot.id, programme=programme, person_id=person_id, household_id=household_id,
                region_code=region, channel=Channel.SELF, assisted_by=None, consent_id=consent_id,
                submitted_at=utcnow()).returning(R))).one()
            await conn.run_sync(audit.append, [dict(  # chained like the platform's (perlinsos.audit.append)
                occurred_at=utcnow(), actor=subject, actor_role="CITIZEN", action="REGISTRATION_CREATED",
                entity_type="registration", entity_id=str(row.id), subject_person_id=person_id, purpose=None,
                # who acted is (issuer, subject), as the platform records it
                details={"actor_issuer": issuer, "programme": programme, "channel": Channel.SELF.value})])
        return _payload(row, created=True)

    async def health(request: Request) -> Response:
        await db.ping()
        return Response('{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if os.environ.get("BASELINE_GC", "tuned") == "tuned":  # the platform's own start-up setting
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        cached["http"] = httpx.AsyncClient(timeout=5.0, limits=httpx.Limits(max_connections=100))
        cached["lock"] = asyncio.Lock()
        try:
            yield
        finally:
            await cached["http"].aclose()
            await db.dispose()

    app = Starlette(routes=[Route("/graphql", register, methods=["POST"]), Route("/health", health)],
                    lifespan=lifespan)
    app.state.db = db
    return app
