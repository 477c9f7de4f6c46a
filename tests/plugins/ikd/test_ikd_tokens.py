"""authenticate: valid IKD tokens map to principals; every forgery fails the same way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from perlinsos.errors import AuthenticationFailed
from perlinsos_ikd import tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _kid(ikd_sim) -> str:
    return ikd_sim.jwks()["keys"][-1]["kid"]


def _hs256_with_public_key(ikd_sim, citizen) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the issuer's public key (PEM)."""
    public = RSAAlgorithm.from_jwk(json.dumps(ikd_sim.jwks()["keys"][-1]))
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": _kid(ikd_sim)}).encode())
    payload = _b64(json.dumps(_claims(ikd_sim.sign_in(citizen["nik"]))).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _tampered(ikd_sim, citizen) -> str:
    header, payload, signature = ikd_sim.sign_in(citizen["nik"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["nik"] = ikd_sim.people(limit=1, offset=5)[0]["nik"]  # someone else's NIK, same signature
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _foreign_key(ikd_sim, citizen, *, same_kid: bool) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = _kid(ikd_sim) if same_kid else "attacker-key"
    return jwt.encode(_claims(ikd_sim.sign_in(citizen["nik"])), key, algorithm="RS256", headers={"kid": kid})


def _foreign_ec_key(ikd_sim, citizen) -> str:  # ES256 is allowed; the issuer has no such key
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(_claims(ikd_sim.sign_in(citizen["nik"])), key, algorithm="ES256",
                      headers={"kid": _kid(ikd_sim)})


NOW = int(time.time())


def _with(**claims):  # the issuer's key, with claims changed
    return lambda s, c: s.sign(nik=c["nik"], claims=claims)


def _without(*names):  # the issuer's key, with claims left out
    return lambda s, c: s.sign(nik=c["nik"], omit=names)


def _issuer(change):  # the issuer's key, `iss` made to look like the issuer
    return lambda s, c: s.sign(nik=c["nik"], claims={"iss": change(s.issuer)})


def _alg_none(s, c):
    return jwt.encode(_claims(s.sign_in(c["nik"])), None, algorithm="none", headers={"kid": _kid(s)})


# case → (the check that must catch it, as logged for operators; how to forge it)
FORGERIES = {
    "alg none": ("algorithm 'none'", _alg_none),
    "HS256 keyed with the issuer's public key": ("algorithm 'HS256'", _hs256_with_public_key),
    "RS384, outside the allow-list": ("algorithm 'RS384'", lambda s, c: s.sign(nik=c["nik"], algorithm="RS384")),
    "PS256, outside the allow-list": ("algorithm 'PS256'", lambda s, c: s.sign(nik=c["nik"], algorithm="PS256")),
    "look-alike issuer (https)": ("look-alike", _issuer(lambda i: i.replace("http:", "https:"))),
    "look-alike issuer (trailing slash)": ("look-alike", _issuer(lambda i: i + "/")),
    "look-alike issuer (suffix host)": ("look-alike", _issuer(lambda i: i + ".evil.example")),
    "look-alike issuer (case)": ("look-alike", _issuer(str.upper)),
    "look-alike issuer (path)": ("look-alike", _issuer(lambda i: i + "/ikd")),
    "wrong audience": ("InvalidAudience", _with(aud="another-portal")),
    "audience list without ours": ("InvalidAudience", _with(aud=["a", "b"])),
    "expired": ("ExpiredSignature", _with(exp=NOW - 3600, iat=NOW - 7200, nbf=NOW - 7200)),
    "not yet valid (nbf)": ("ImmatureSignature", _with(nbf=NOW + 3600)),
    "issued in the future (iat)": ("ImmatureSignature", _with(iat=NOW + 3600)),
    "missing exp": ("MissingRequiredClaim", _without("exp")),
    "missing iat": ("MissingRequiredClaim", _without("iat")),
    "missing sub": ("MissingRequiredClaim", _without("sub")),
    "missing aud": ("MissingRequiredClaim", _without("aud")),
    "missing nik and kind": ("neither a nik", _without("nik", "kind")),
    "nik that is not a valid NIK": ("not a valid NIK", _with(nik="3510151213800001")),
    "citizen nik with kind staff": ("malformed citizen", _with(kind="staff")),
    "unknown key id": ("unknown key id", lambda s, c: s.sign(nik=c["nik"], headers={"kid": "not-a-known-kid"})),
    "no key id": ("no key id", lambda s, c: s.sign(nik=c["nik"], headers={"kid": None})),
    "tampered payload": ("InvalidSignature", _tampered),
    "foreign key under the issuer's kid": ("InvalidSignature", lambda s, c: _foreign_key(s, c, same_kid=True)),
    "foreign key under its own kid": ("unknown key id", lambda s, c: _foreign_key(s, c, same_kid=False)),
    "ES256 by a foreign key, the issuer's kid": ("InvalidAlgorithm", _foreign_ec_key),
    "truncated signature": ("InvalidSignature", lambda s, c: s.sign_in(c["nik"])[:-10]),
}


async def test_every_forgery_is_rejected_identically(ikd_sim, hooks, citizen, caplog):
    caplog.set_level(logging.DEBUG, logger="perlinsos_ikd.tokens")
    failures = {}
    for case, (check, forge) in FORGERIES.items():
        token = forge(ikd_sim, citizen)
        caplog.clear()
        with pytest.raises(AuthenticationFailed) as caught:
            await hooks.first("authenticate", token=token)
        exc = caught.value
        shown_context = None if exc.__suppress_context__ else exc.__context__
        failures[case] = (type(exc), exc.args, exc.__cause__, shown_context)
        # Each forgery is caught by the check it targets (the reason is only logged, for operators).
        assert any(check in r.getMessage() for r in caplog.records), (case, caplog.text)
    # No hint of which check failed: the same type and message, no chained cause, every time.
    assert set(failures.values()) == {(AuthenticationFailed, (tokens.INVALID,), None, None)}, failures


async def test_valid_citizen_token(ikd_sim, hooks, citizen):
    for token in (ikd_sim.tokens(nik=citizen["nik"])["access_token"], ikd_sim.sign(nik=citizen["nik"])):
        principal = await hooks.first("authenticate", token=token)
        assert principal.kind == "citizen" and principal.is_citizen
        assert principal.nik == citizen["nik"] and principal.name == citizen["name"]
        assert principal.issuer == ikd_sim.issuer
        assert principal.subject.startswith("ikd-") and citizen["nik"] not in principal.subject
        assert principal.auth_time is not None and principal.auth_time.tzinfo is not None
        assert principal.claims["aud"] == ikd_sim.audience and principal.scopes == ()
    # The subject is stable across sign-ins (roles and records hang on it).
    again = await hooks.first("authenticate", token=ikd_sim.sign_in(citizen["nik"]))
    assert again.subject == principal.subject


async def test_valid_staff_token(ikd_sim, hooks):
    principal = await hooks.first("authenticate", token=ikd_sim.sign_in_staff("petugas.kemiren", "Pak Slamet"))
    assert (principal.kind, principal.subject, principal.name, principal.nik) == (
        "staff", "petugas.kemiren", "Pak Slamet", None)
    assert principal.roles() == set()  # roles come from the platform's staff assignments, never the token


async def test_tokens_of_others_are_not_ours(ikd_sim, hooks, citizen):
    """Not a JWT, or another issuer's JWT: None, so another identity plugin may answer — and no
    network call is made for them."""
    other = ikd_sim.sign(nik=citizen["nik"], claims={"iss": "https://sso.banyuwangikab.go.id"})
    for token in ("citizen:3510151203800001", "", "a.b.c", "not a token at all", other):
        assert await hooks.first("authenticate", token=token) is None
    assert "GET /jwks.json" not in ikd_sim.stats()


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8601", "https://ikd.dukcapil.go.id"])
def test_look_alike_rule(issuer):
    typo = issuer[:-1] + chr(ord(issuer[-1]) + 1)
    for fake in (issuer + "/", issuer.upper(), issuer + ".evil.example", typo, issuer.replace("//", "//www."),
                 issuer + "/x", issuer.replace("http", "https", 1)):
        assert tokens.looks_like(fake, issuer), fake
    for other in ("https://sso.banyuwangikab.go.id", "https://accounts.google.com", "https://sso.dukcapil.go.id"):
        assert not tokens.looks_like(other, issuer), other


async def test_leeway(ikd_sim, hooks_for, citizen):
    now = int(time.time())
    just_expired = ikd_sim.sign(nik=citizen["nik"], claims={"exp": now - 10})
    almost_valid = ikd_sim.sign(nik=citizen["nik"], claims={"nbf": now + 10, "iat": now + 10})
    lenient = hooks_for(ikd_sim.settings(leeway_seconds=30))
    strict = hooks_for(ikd_sim.settings(leeway_seconds=0))
    for token in (just_expired, almost_valid):
        assert (await lenient.first("authenticate", token=token)).nik == citizen["nik"]
        with pytest.raises(AuthenticationFailed):
            await strict.first("authenticate", token=token)
    far_expired = ikd_sim.sign(nik=citizen["nik"], claims={"exp": now - 31})
    with pytest.raises(AuthenticationFailed):
        await lenient.first("authenticate", token=far_expired)


async def test_allow_list_is_the_settings(ikd_sim, hooks_for, citizen):
    token = ikd_sim.sign(nik=citizen["nik"])  # RS256
    with pytest.raises(AuthenticationFailed):
        await hooks_for(ikd_sim.settings(algorithms=["ES256"])).first("authenticate", token=token)
    assert "GET /jwks.json" not in ikd_sim.stats()  # refused before fetching any key
    assert await hooks_for(ikd_sim.settings(algorithms=["RS256"])).first("authenticate", token=token)


def test_settings_refuse_symmetric_and_none_algorithms(ikd_sim):
    from pydantic import ValidationError

    for algorithms in (["HS256"], ["RS256", "none"], []):
        with pytest.raises(ValidationError):
            ikd_sim.settings(algorithms=algorithms)
