"""The core verifier (perlinsos.identity.oidc) as the OIDC plugin uses it: a JWKS that is too large,
not JSON, or holds a shared secret; and the refetch limits under the plugin's own clock."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from fixtures.ikd import free_port
from perlinsos.errors import AuthenticationFailed, SourceUnavailable
from perlinsos.identity import oidc
from perlinsos_oidc import tokens
from perlinsos_oidc.simulator.keys import SigningKey


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(tokens, "clock", fake)
    return fake


@pytest.fixture(scope="module")
def jwks_server():
    """A server whose /jwks.json answers whatever ``server.body`` holds (bytes)."""
    import uvicorn

    from perlinsos.devservers import serve_in_thread

    async def jwks(request):
        return Response(request.app.state.body, media_type="application/json")

    app = Starlette(routes=[Route("/jwks.json", jwks)])
    port = free_port()
    server = serve_in_thread(uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning")),
                             name="jwks-test", summary="jwks test server")
    server.app, server.url = app, f"http://127.0.0.1:{port}/jwks.json"
    yield server
    server.should_exit = True


def _serve(server, body: bytes) -> None:
    server.app.state.body = body


KEY = SigningKey.create("verifier-test")
ISSUER = "https://sso.verifier.example"


def _settings(jwks_server, **overrides):
    from perlinsos_oidc.settings import OidcSettings

    return OidcSettings(**{"issuer": ISSUER, "audience": "portal", "name": "SSO Uji", "jwks_url": jwks_server.url,
                           "timeout_seconds": 2} | overrides)


def _token(kid: str | None = None, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "petugas", "aud": "portal", "iat": now, "exp": now + 600} | claims
    return jwt.encode(body, KEY.private, algorithm="ES256", headers={"kid": kid or KEY.kid, "typ": "at+jwt"})


async def test_valid_token_against_a_configured_jwks(jwks_server):
    _serve(jwks_server, json.dumps(KEY.jwks()).encode())
    principal = await tokens.authenticate(_token(), _settings(jwks_server))
    assert (principal.kind, principal.issuer) == ("staff", ISSUER)


async def test_a_jwks_too_large_is_refused(jwks_server):
    padding = [{"kid": f"pad{i}", "kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "B" * 43} for i in range(3000)]
    _serve(jwks_server, json.dumps({"keys": [*padding, KEY.jwk()]}).encode())
    assert len(jwks_server.app.state.body) > oidc.MAX_DOCUMENT_BYTES
    with pytest.raises(SourceUnavailable, match="too large"):
        await tokens.authenticate(_token(), _settings(jwks_server))


@pytest.mark.parametrize(("body", "words"), [(b"<html>\x00\xff", "not JSON"), (b"[1, 2]", "unexpected shape"),
                                             (b'{"keys": 5}', "without keys")])
async def test_a_jwks_that_is_not_one_is_source_unavailable(jwks_server, body, words):
    _serve(jwks_server, body)
    with pytest.raises(SourceUnavailable, match=words) as caught:
        await tokens.authenticate(_token(), _settings(jwks_server))
    assert caught.value.source == "SSO Uji"


async def test_a_shared_secret_in_the_jwks_is_never_a_key(jwks_server):
    secret = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "alg": "HS256"}
    _serve(jwks_server, json.dumps({"keys": [secret, KEY.jwk()]}).encode())
    provider = _settings(jwks_server).provider()
    assert await tokens.verifier.signing_key(provider, "hmac") is None
    assert await tokens.verifier.signing_key(provider, KEY.kid) is not None


async def test_unknown_kids_refetch_at_most_once_per_interval(jwks_server, clock):
    _serve(jwks_server, json.dumps(KEY.jwks()).encode())
    settings = _settings(jwks_server)
    assert await tokens.authenticate(_token(), settings)  # 1 fetch
    clock.now += 61
    for i in range(10):  # an attacker cycling key ids
        with pytest.raises(AuthenticationFailed):
            await tokens.authenticate(_token(kid=f"k{i}"), settings)
        clock.now += 1
    assert tokens.verifier.fetch_counts == {ISSUER: 2}
    clock.now += 3600  # the cache's age: the set is refreshed once
    for _ in range(3):
        assert await tokens.authenticate(_token(), settings)
    assert tokens.verifier.fetch_counts == {ISSUER: 3}
