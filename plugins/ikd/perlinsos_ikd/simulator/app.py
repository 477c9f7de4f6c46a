"""The IKD simulator's HTTP API (Starlette): OIDC discovery, JWKS, sign-in, consent, person data,
facts, and ``/sim/*`` controls for tests and demos. Only synthetic people; never deploy it."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perlinsos.idnumbers import mask_nik
from perlinsos_ikd.households import ROLES, SCOPES
from perlinsos_ikd.population import Population
from perlinsos_ikd.simulator.state import (
    DEFAULT_CONSENT_SECONDS,
    FAULT_MODES,
    Faults,
    SimulatorState,
    facts_json,
    person_json,
    sim_person_json,
)

log = logging.getLogger("perlinsos_ikd.simulator")
MAX_FACT_REQUESTS = 1000
_NIK = re.compile(r"\d{16}")
_GRANT = re.compile(r"(/consents/)[^/]+")
_STAFF_ID = re.compile(r"[A-Za-z0-9._@-]{1,100}")
_KEY = re.compile(r"[\x21-\x7e]{1,100}")


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _sim(request: Request) -> SimulatorState:
    return request.app.state.sim


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refusal(400, "bad_request", "Badan permintaan bukan JSON / The request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "bad_request", "Harus objek JSON / Must be a JSON object")
    return body


def _seconds(value: Any, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise Refusal(400, "bad_request", f"expires_in: 1..{maximum} detik / seconds")
    return value


def _require_secret(request: Request) -> None:
    if not _sim(request).secret_ok(request.headers.get("authorization")):
        raise Refusal(401, "invalid_client", "Kredensial klien tidak valid / Invalid client credentials")


def _citizen_claims(request: Request) -> dict[str, Any] | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return _sim(request).verify(token.strip())
    except jwt.PyJWTError:
        return None


# --- OpenID Connect -----------------------------------------------------------------------------


async def discovery(request: Request) -> Response:
    sim = _sim(request)
    base = sim.base_url
    return JSONResponse({
        "issuer": sim.issuer, "jwks_uri": f"{base}/jwks.json", "token_endpoint": f"{base}/sim/sign-in",
        "response_types_supported": ["id_token"], "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", *SCOPES],
        "claims_supported": ["iss", "aud", "sub", "iat", "nbf", "exp", "auth_time", "jti", "nik", "name", "kind"],
        "consent_endpoint": f"{base}/consents", "person_endpoint": f"{base}/persons/{{nik}}",
        "facts_endpoint": f"{base}/facts",
    })


async def jwks(request: Request) -> Response:
    return JSONResponse(_sim(request).keys.jwks(), headers={"Cache-Control": "public, max-age=3600"})


def _subject_claims(sim: SimulatorState, body: dict[str, Any]) -> dict[str, Any]:
    expires_in = _seconds(body.get("expires_in"), sim.token_seconds, 24 * 3600)
    if "nik" in body:
        found = sim.population.find(body["nik"]) if isinstance(body["nik"], str) else None
        if found is None:
            raise Refusal(404, "unknown_person", "NIK tidak terdaftar di IKD / This NIK is not known to IKD")
        return sim.claims(member=found[1], expires_in=expires_in)
    staff_id, name = body.get("staff_id"), body.get("name")
    if not isinstance(staff_id, str) or not _STAFF_ID.fullmatch(staff_id) or not isinstance(name, str | None):
        raise Refusal(400, "bad_request", "Isi nik, atau staff_id (dan name) / Give nik, or staff_id (and name)")
    return sim.claims(staff_id=staff_id, name=name, expires_in=expires_in)


async def sign_in(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse(sim.tokens(_subject_claims(sim, await _body(request))))


async def sign(request: Request) -> Response:
    """Test-only: sign arbitrary claims with the issuer's current key (to build invalid tokens)."""
    sim = _sim(request)
    body = await _body(request)
    changes, omit, headers = body.get("claims") or {}, body.get("omit") or [], body.get("headers") or {}
    if not (isinstance(changes, dict) and isinstance(omit, list) and isinstance(headers, dict)):
        raise Refusal(400, "bad_request", "claims: object, omit: list, headers: object")
    claims = _subject_claims(sim, body) | changes
    for name in omit:
        claims.pop(name, None)
    try:
        # an access token unless the test says otherwise ({"typ": "JWT"} makes it look like an ID token)
        token = sim.keys.sign(claims, algorithm=body.get("algorithm", "RS256"), headers={"typ": "at+jwt", **headers})
    except (jwt.PyJWTError, NotImplementedError, TypeError, ValueError) as exc:
        raise Refusal(400, "bad_request", f"cannot sign: {exc}") from None
    return JSONResponse({"token": token})


async def rotate_key(request: Request) -> Response:
    body = await _body(request) if await request.body() else {}
    return JSONResponse({"kid": _sim(request).keys.rotate(retire_previous=bool(body.get("retire_previous")))})


# --- consent and the consented data ------------------------------------------------------------


async def create_consent(request: Request) -> Response:
    sim = _sim(request)
    claims = _citizen_claims(request)
    if claims is None:
        raise Refusal(401, "invalid_token", "Token tidak valid / Invalid token")
    if not isinstance(claims.get("nik"), str):
        raise Refusal(403, "citizen_token_required", "Hanya warga pemilik NIK / Only the citizen themselves")
    body = await _body(request)
    scopes, purpose = body.get("scopes"), body.get("purpose")
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise Refusal(400, "invalid_scope", f"scopes: daftar dari / a list of {', '.join(SCOPES)}")
    if not isinstance(purpose, str) or not 0 < len(purpose) <= 200:
        raise Refusal(400, "bad_request", "purpose: 1..200 karakter / characters")
    policy = body.get("policy_version")
    seconds = _seconds(body.get("expires_in"), DEFAULT_CONSENT_SECONDS, DEFAULT_CONSENT_SECONDS)
    key = request.headers.get("idempotency-key")
    if key is not None:
        if not _KEY.fullmatch(key):
            raise Refusal(400, "bad_request", "Idempotency-Key: 1..100 karakter ASCII / printable ASCII characters")
        if key in sim.revoked_keys:
            raise Refusal(409, "idempotency_key_revoked", "Kunci ini sudah dicabut / This key was revoked")
        earlier = sim.granted_for(key)
        if earlier is not None:  # a retry of a request that created a grant: that grant, no second one
            if earlier.nik != claims["nik"]:
                raise Refusal(409, "idempotency_key_reused", "Kunci milik orang lain / The key is another's")
            return JSONResponse(earlier.as_json(), status_code=200)
    grant = sim.grant(claims["nik"], scopes, purpose, policy if isinstance(policy, str) else None, seconds, key)
    return JSONResponse(grant.as_json(), status_code=201)


async def revoke_by_key(request: Request) -> Response:
    """``DELETE /consents?idempotency_key=...`` (the platform's secret): revoke the grant a request
    with this key created — the platform lost the answer and never learned the grant's id."""
    sim = _sim(request)
    _require_secret(request)
    key = request.query_params.get("idempotency_key")
    if key is None or not _KEY.fullmatch(key):
        raise Refusal(400, "bad_request", "idempotency_key: 1..100 karakter ASCII / printable ASCII characters")
    sim.revoke_key(key)
    return Response(status_code=204)


def _grant_for(request: Request):
    grant = _sim(request).grants.get(request.path_params["grant_id"])
    if grant is None:
        raise Refusal(404, "unknown_grant", "Persetujuan tidak ditemukan / Consent grant not found")
    return grant


async def get_consent(request: Request) -> Response:
    _require_secret(request)
    return JSONResponse(_grant_for(request).as_json())


async def delete_consent(request: Request) -> Response:
    platform = _sim(request).secret_ok(request.headers.get("authorization"))
    claims = None if platform else _citizen_claims(request)
    if not platform and claims is None:
        raise Refusal(401, "invalid_token", "Token tidak valid / Invalid token")
    grant = _grant_for(request)
    if claims is not None and claims.get("nik") != grant.nik:
        raise Refusal(403, "not_your_grant", "Bukan persetujuan Anda / Not your consent grant")
    if grant.revoked_at is None:
        grant.revoked_at = datetime.now(UTC).replace(microsecond=0)
    return Response(status_code=204)


async def person(request: Request) -> Response:
    sim = _sim(request)
    _require_secret(request)
    nik = request.path_params["nik"]
    found = sim.population.find(nik)
    if found is None:
        raise Refusal(404, "unknown_person", "NIK tidak terdaftar di IKD / This NIK is not known to IKD")
    if sim.live_grant(request.headers.get("x-consent-grant"), nik, "person") is None:
        raise Refusal(403, "consent_required", "Tidak ada persetujuan yang berlaku / No live consent grant")
    return JSONResponse(person_json(*found))


async def facts(request: Request) -> Response:
    sim = _sim(request)
    _require_secret(request)
    items = (await _body(request)).get("requests")
    if not isinstance(items, list) or len(items) > MAX_FACT_REQUESTS:
        raise Refusal(400, "bad_request", f"requests: a list of at most {MAX_FACT_REQUESTS}")
    results = []
    for item in items:
        nik, grant_id = (item.get("nik"), item.get("grant_id")) if isinstance(item, dict) else (None, None)
        result: dict[str, Any] = {"nik": nik, "grant_id": grant_id}
        found = sim.population.find(nik) if isinstance(nik, str) else None
        grant = sim.live_grant(grant_id, nik) if found else None
        scopes = tuple(s for s in grant.scopes if s.startswith("facts:")) if grant else ()
        if found is None:
            result["error"] = {"code": "UNKNOWN_PERSON", "message": "NIK tidak dikenal / Unknown NIK"}
        elif grant is None:
            result["error"] = {"code": "CONSENT_INVALID",
                               "message": "Tidak ada persetujuan yang berlaku / No live consent"}
        elif not scopes:
            result["error"] = {"code": "SCOPE_NOT_GRANTED", "message": "Persetujuan tanpa facts:* / No facts:* scope"}
        else:
            result |= {"kk_number": found[0].kk_number, "facts": facts_json(found[0], scopes)}
        results.append(result)
    sim.stats["facts items"] += len(items)
    return JSONResponse({"results": results})


# --- simulator controls ------------------------------------------------------------------------


async def set_faults(request: Request) -> Response:
    body = await _body(request)
    mode, delay, paths = body.get("mode"), body.get("delay_seconds", 0), body.get("paths") or []
    if mode not in FAULT_MODES or not isinstance(delay, int | float) or delay < 0 \
            or not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise Refusal(400, "bad_request",
                      "mode: null|down|slow|garbage|cut, delay_seconds >= 0, paths: [prefix or 'METHOD prefix']")
    _sim(request).faults = Faults(mode, float(delay), tuple(paths))
    return JSONResponse({"mode": mode, "delay_seconds": float(delay), "paths": paths})


async def stats(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse({"requests": dict(sim.stats), "grants": len(sim.grants),
                         "kids": [k.kid for k in sim.keys.keys], "people": len(sim.population),
                         "regions": sim.population.counts})


async def list_grants(request: Request) -> Response:
    """Grants (synthetic data), those of ``?nik=`` only when given: what the platform left live."""
    nik = request.query_params.get("nik")
    grants = [g for g in _sim(request).grants.values() if nik in (None, g.nik)]
    return JSONResponse({"grants": [g.as_json() | {"idempotency_key": g.idempotency_key} for g in grants]})


async def reset(request: Request) -> Response:
    sim = _sim(request)
    sim.stats.clear()
    sim.faults = Faults()
    return JSONResponse({"ok": True})


async def people(request: Request) -> Response:
    sim, q = _sim(request), request.query_params
    try:
        limit, offset = int(q.get("limit", 50)), int(q.get("offset", 0))
    except ValueError:
        raise Refusal(400, "bad_request", "limit/offset: whole numbers") from None
    role = q.get("role")
    if not 1 <= limit <= 1000 or offset < 0 or (role is not None and role not in ROLES):
        raise Refusal(400, "bad_request", f"limit 1..1000, offset >= 0, role one of {', '.join(ROLES)}")
    found = sim.population.people(offset=offset, limit=limit, village=q.get("village"), region=q.get("region"),
                                  role=role, reason=q.get("reason"), error=q.get("error"))
    return JSONResponse({"offset": offset, "limit": limit,
                         "people": [sim_person_json(sim.population, h, m) for h, m in found]})


# --- the application ---------------------------------------------------------------------------


def _route_key(path: str) -> str:
    return _GRANT.sub(r"\1{grant_id}", _NIK.sub("{nik}", path))


class Instrument:
    """Counts and logs requests (NIKs masked, grant ids elided) and applies /sim/faults."""

    def __init__(self, app: Any, sim: SimulatorState):
        self.app, self.sim = app, sim

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]
        path = scope["path"]
        self.sim.stats[f"{scope['method']} {_route_key(path)}"] += 1

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        faults = self.sim.faults
        mode = faults.mode if faults.applies(path, scope["method"]) else None
        try:
            if mode == "down":
                down = _error(503, "unavailable", "IKD sedang tidak tersedia / IKD is unavailable")
                await down(scope, receive, tracking_send)
            elif mode == "cut":  # done, but the answer is cut after its headers (as a dropped link cuts it)
                started = []

                async def swallow(message) -> None:
                    if message["type"] == "http.response.start":
                        started.append({**message, "headers": [*message.get("headers", [])]})

                await self.app(scope, receive, swallow)
                if started:  # the status line and headers, then the server closes the connection
                    await tracking_send(started[0])
            elif mode == "garbage":
                garbage = Response(b"<html>\x00\xff502 Bad Gateway", 200, media_type="application/json")
                await garbage(scope, receive, tracking_send)
            else:
                if mode == "slow":
                    await asyncio.sleep(faults.delay_seconds)
                await self.app(scope, receive, tracking_send)
        finally:  # grant ids are credentials and NIKs personal data: neither reaches the log
            shown = _GRANT.sub(r"\1{grant_id}", _NIK.sub(lambda m: mask_nik(m.group()), path))
            log.info("%s %s %s %.1f ms", scope["method"], shown, status[0], (time.perf_counter() - started) * 1000)


async def _refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return _error(exc.status, exc.code, exc.message)


def create_simulator(population: Population, issuer: str, audience: str = "perlinsos-portal",
                     client_secret: str = "dev-only-ikd-secret", *, base_url: str | None = None,
                     token_seconds: int = 3600) -> Any:
    """The simulator as an ASGI app (serve it with uvicorn); its state is ``app.state.sim``."""
    sim = SimulatorState(population=population, issuer=issuer, audience=audience, client_secret=client_secret,
                         base_url=base_url or issuer, token_seconds=token_seconds)
    routes = [
        Route("/.well-known/openid-configuration", discovery),
        Route("/jwks.json", jwks),
        Route("/consents", create_consent, methods=["POST"]),
        Route("/consents", revoke_by_key, methods=["DELETE"]),
        Route("/sim/grants", list_grants),
        Route("/consents/{grant_id}", get_consent, methods=["GET"]),
        Route("/consents/{grant_id}", delete_consent, methods=["DELETE"]),
        Route("/persons/{nik}", person),
        Route("/facts", facts, methods=["POST"]),
        Route("/sim/sign-in", sign_in, methods=["POST"]),
        Route("/sim/sign", sign, methods=["POST"]),
        Route("/sim/rotate-key", rotate_key, methods=["POST"]),
        Route("/sim/faults", set_faults, methods=["POST"]),
        Route("/sim/stats", stats),
        Route("/sim/reset", reset, methods=["POST"]),
        Route("/sim/people", people),
    ]
    app = Starlette(routes=routes, exception_handlers={Refusal: _refusal})
    app.add_middleware(Instrument, sim=sim)
    app.state.sim = sim
    return app
