"""The OIDC simulator's HTTP API (Starlette): OpenID discovery, the JWKS, and a development token
endpoint that signs tokens for test users. A sign-in provider only: no consent, no person data.
Never deploy it — anyone who reaches ``/token`` can sign in as anyone."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perlinsos.idnumbers import InvalidNik, parse_nik
from perlinsos_oidc.simulator.keys import ALGORITHM, SigningKey

_SUBJECT = re.compile(r"[A-Za-z0-9._@:+-]{1,200}")
MAX_TOKEN_SECONDS = 24 * 3600
#: Claims the caller may not set with "claims" (the simulator's identity): change them by running another simulator.
_FIXED = ("iss",)


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


@dataclass
class SimulatorState:
    issuer: str
    audience: str
    base_url: str
    key: SigningKey
    token_seconds: int = 3600
    nik_claim: str = "nik"

    def claims(self, body: dict[str, Any]) -> dict[str, Any]:
        """The claims of a token for the user ``body`` describes (see :func:`token`)."""
        sub, nik, name, staff = body.get("sub"), body.get("nik"), body.get("name"), body.get("staff")
        if not isinstance(sub, str) or not _SUBJECT.fullmatch(sub):
            raise Refusal(400, "invalid_request", "sub: 1..200 of A-Z a-z 0-9 . _ @ : + -")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 200):
            raise Refusal(400, "invalid_request", "name: 1..200 characters")
        if staff is None:
            staff = nik is None
        if not isinstance(staff, bool):
            raise Refusal(400, "invalid_request", "staff: true or false")
        if staff and nik is not None:
            raise Refusal(400, "invalid_request", "a staff token carries no NIK: give nik, or staff: true")
        if not staff and nik is None:
            raise Refusal(400, "invalid_request", "a citizen token carries a NIK: give nik, or staff: true")
        if nik is not None and not _valid_nik(nik):
            raise Refusal(400, "invalid_request", "nik: a valid 16-digit NIK")
        expires_in = body.get("expires_in", self.token_seconds)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_TOKEN_SECONDS:
            raise Refusal(400, "invalid_request", f"expires_in: 1..{MAX_TOKEN_SECONDS} seconds")
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": sub, "aud": self.audience, "iat": now, "nbf": now,
                                  "exp": now + expires_in, "auth_time": now}
        if nik is not None:
            claims[self.nik_claim] = nik
        if name is not None:
            claims["name"] = name
        changes = {} if body.get("claims") is None else body["claims"]
        omit = [] if body.get("omit") is None else body["omit"]
        if not isinstance(changes, dict) or not isinstance(omit, list) or not all(isinstance(n, str) for n in omit):
            raise Refusal(400, "invalid_request", "claims: an object; omit: a list of claim names")
        if any(n in _FIXED for n in (*changes, *omit)):
            raise Refusal(400, "invalid_request", "iss is the simulator's own: run another one for another issuer")
        claims |= changes
        for n in omit:
            claims.pop(n, None)
        return claims


def _valid_nik(value: Any) -> bool:
    try:
        return isinstance(value, str) and parse_nik(value).value == value
    except InvalidNik:
        return False


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": message}, status_code=status)


def _sim(request: Request) -> SimulatorState:
    return request.app.state.sim


async def discovery(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse({
        "issuer": sim.issuer, "jwks_uri": f"{sim.base_url}/jwks.json", "token_endpoint": f"{sim.base_url}/token",
        "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM], "grant_types_supported": ["urn:perlinsos:dev-token"],
        "claims_supported": ["iss", "sub", "aud", "iat", "nbf", "exp", "auth_time", "jti", "name", sim.nik_claim],
    })


async def jwks(request: Request) -> Response:
    return JSONResponse(_sim(request).key.jwks(), headers={"Cache-Control": "public, max-age=3600"})


async def token(request: Request) -> Response:
    """``POST /token {"sub", "nik"?, "name"?, "staff"?, "expires_in"?, "claims"?, "omit"?}``.

    A citizen has a ``nik`` (carried in the simulator's NIK claim); a staff member has
    ``"staff": true`` and no NIK (``staff`` defaults to "no nik given"). ``claims`` changes claims
    and ``omit`` leaves some out, to build expired or misdirected tokens in tests.
    """
    sim = _sim(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refusal(400, "invalid_request", "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "invalid_request", "the request body must be a JSON object")
    claims = sim.claims(body)
    # The same claims; RFC 9068's typ tells them apart (the platform takes access tokens only).
    id_token = sim.key.sign(claims | {"jti": secrets.token_urlsafe(12)})
    access_token = sim.key.sign(claims | {"jti": secrets.token_urlsafe(12)}, typ="at+jwt")
    lifetime = claims["exp"] - claims["iat"] if isinstance(claims.get("exp"), int) and isinstance(
        claims.get("iat"), int) else None
    return JSONResponse({"access_token": access_token, "id_token": id_token, "token_type": "Bearer",
                         "expires_in": lifetime}, headers={"Cache-Control": "no-store"})


async def _refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return _error(exc.status, exc.code, exc.message)


def create_simulator(issuer: str, audience: str = "perlinsos-portal", *, base_url: str | None = None,
                     key_seed: str | None = None, token_seconds: int = 3600, nik_claim: str = "nik") -> Any:
    """The simulator as an ASGI app (serve it with uvicorn); its state is ``app.state.sim``."""
    sim = SimulatorState(issuer=issuer, audience=audience, base_url=(base_url or issuer).rstrip("/"),
                         key=SigningKey.create(key_seed), token_seconds=token_seconds, nik_claim=nik_claim)
    routes = [
        Route("/.well-known/openid-configuration", discovery),
        Route("/jwks.json", jwks),
        Route("/token", token, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={Refusal: _refusal})
    app.state.sim = sim
    return app
