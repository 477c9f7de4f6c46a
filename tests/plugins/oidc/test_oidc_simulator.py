"""``perlinsos oidc-sim``: a real OpenID provider over HTTP — discovery, an EC JWKS, a dev token endpoint."""

from __future__ import annotations

import jwt
import pytest
from click.testing import CliRunner

from perlinsos_oidc.simulator.keys import SigningKey


def test_discovery_names_the_issuer_and_the_keys(oidc_provider):
    document = oidc_provider.http.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == oidc_provider.issuer
    assert document["jwks_uri"] == f"{oidc_provider.url}/jwks.json"
    assert document["token_endpoint"] == f"{oidc_provider.url}/token"
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]


def test_jwks_publishes_one_public_ec_key(oidc_provider):
    [key] = oidc_provider.jwks()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key  # never the private part


def test_tokens_verify_with_the_published_key(oidc_provider):
    reply = oidc_provider.tokens(sub="warga-1", nik="3510151203800001", name="Siti")
    assert reply["token_type"] == "Bearer" and reply["expires_in"] == 3600
    assert reply["access_token"] != reply["id_token"]  # each has its own jti
    key = jwt.PyJWK(oidc_provider.jwks()["keys"][0])
    claims = jwt.decode(reply["id_token"], key, algorithms=["ES256"], audience=oidc_provider.audience,
                        issuer=oidc_provider.issuer)
    assert (claims["sub"], claims["nik"], claims["name"]) == ("warga-1", "3510151203800001", "Siti")
    assert claims["exp"] - claims["iat"] == 3600 and claims["auth_time"] == claims["iat"]
    assert jwt.get_unverified_header(reply["id_token"])["kid"] == key.key_id


def test_staff_tokens_carry_no_nik(oidc_provider):
    claims = jwt.decode(oidc_provider.token("petugas.jember"), options={"verify_signature": False})
    assert claims["sub"] == "petugas.jember" and "nik" not in claims


@pytest.mark.parametrize("body", [
    {"sub": "a", "nik": "3510151203800001", "staff": True},  # a staff token carries no NIK
    {"sub": "a", "staff": False},  # a citizen token carries one
    {"sub": "a", "nik": "1234"},
    {"sub": "a", "nik": 3510151203800001},
    {"sub": "", "staff": True},
    {"sub": "a b", "staff": True},
    {"staff": True},
    {"sub": "a", "staff": "yes"},
    {"sub": "a", "staff": True, "expires_in": 0},
    {"sub": "a", "staff": True, "claims": {"iss": "https://elsewhere.example"}},
    {"sub": "a", "staff": True, "omit": ["iss"]},
    {"sub": "a", "staff": True, "claims": []},
])
def test_token_endpoint_refuses_bad_requests(oidc_provider, body):
    response = oidc_provider.http.post("/token", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request" and response.json()["error_description"]


def test_token_endpoint_needs_json(oidc_provider):
    assert oidc_provider.http.post("/token", content=b"sub=a").status_code == 400
    assert oidc_provider.http.post("/token", json=["a"]).status_code == 400


def test_only_a_sign_in_provider(oidc_provider):
    for method, path in (("POST", "/consents"), ("GET", "/persons/3510151203800001"), ("POST", "/facts"),
                         ("GET", "/sim/people")):
        assert oidc_provider.http.request(method, path).status_code == 404, path


def test_seeded_keys_are_stable_and_distinct():
    first, again, other = SigningKey.create("jember"), SigningKey.create("jember"), SigningKey.create("bondowoso")
    assert first.kid == again.kid and first.jwk() == again.jwk()
    assert other.kid != first.kid
    assert SigningKey.create().kid != SigningKey.create().kid  # unseeded: a new key each start
    token = first.sign({"iss": "x", "sub": "y"})
    assert jwt.decode(token, jwt.PyJWK(again.jwk()), algorithms=["ES256"])["sub"] == "y"


def test_command_is_registered_and_checks_the_issuer():
    from perlinsos.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["oidc-sim", "--help"])
    assert result.exit_code == 0 and "--issuer" in result.output and "never expose it" in result.output
    bad = runner.invoke(main, ["oidc-sim", "--issuer", "sso.jember", "--port", "1"])
    assert bad.exit_code == 2 and "issuer" in bad.output


def test_start_in_thread_serves_real_http():
    import httpx

    from fixtures.ikd import free_port
    from perlinsos_oidc.commands import start_in_thread

    port = free_port()
    server = start_in_thread(port=port, issuer="https://sso.jemberkab.go.id", key_seed="demo")
    try:
        document = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=5).json()
        assert document["issuer"] == "https://sso.jemberkab.go.id"
        assert document["jwks_uri"] == f"http://127.0.0.1:{port}/jwks.json"
        [key] = httpx.get(document["jwks_uri"], timeout=5).json()["keys"]
        assert key["kid"] == SigningKey.create("demo").kid
    finally:
        server.should_exit = True
