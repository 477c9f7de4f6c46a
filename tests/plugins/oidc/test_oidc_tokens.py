"""authenticate: the region's tokens map to principals carrying the issuer; another issuer's tokens
are left to other plugins; every invalid token of ours fails the same way."""

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
from jwt.algorithms import ECAlgorithm

from fixtures.ikd import free_port
from perlinsos.contract import SIGN_IN, IdentityProvider
from perlinsos.errors import AuthenticationFailed, SourceUnavailable
from perlinsos_oidc import tokens

NOW = int(time.time())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _kid(sso) -> str:
    return sso.jwks()["keys"][0]["kid"]


def _foreign_ec(sso, nik, *, same_kid: bool = True) -> str:
    """Signed by an attacker's P-256 key, under the provider's key id (or one of its own)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(_claims(sso.token("warga", nik=nik)), key, algorithm="ES256",
                      headers={"kid": _kid(sso) if same_kid else "attacker"})


def _rs256(sso, nik) -> str:  # allowed algorithm, but the provider has no RSA key under its kid
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(sso.token("warga", nik=nik)), key, algorithm="RS256", headers={"kid": _kid(sso)})


def _hs256_with_public_key(sso, nik) -> str:
    public = ECAlgorithm.from_jwk(json.dumps(sso.jwks()["keys"][0]))
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": _kid(sso)}).encode())
    payload = _b64(json.dumps(_claims(sso.token("warga", nik=nik))).encode())
    return f"{header}.{payload}.{_b64(hmac.new(pem, f'{header}.{payload}'.encode(), hashlib.sha256).digest())}"


def _alg_none(sso, nik) -> str:
    return jwt.encode(_claims(sso.token("warga", nik=nik)), None, algorithm="none", headers={"kid": _kid(sso)})


def _tampered(sso, nik) -> str:
    header, payload, signature = sso.token("warga", nik=nik).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["nik"] = "3510154507900002"  # someone else's NIK, the same signature
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _with(**claims):
    return lambda sso, nik: sso.token("warga", nik=nik, claims=claims)


# case → (the check that catches it, as logged for operators; how to forge it)
FORGERIES = {
    "forged signature (foreign key, the provider's kid)": ("InvalidSignature", _foreign_ec),
    "foreign key under its own kid": ("unknown key id", lambda s, n: _foreign_ec(s, n, same_kid=False)),
    "RS256 under the provider's EC kid": ("InvalidAlgorithm", _rs256),
    "tampered payload": ("InvalidSignature", _tampered),
    "signature of an impossible length": ("malformed token", lambda s, n: s.token("warga", nik=n)[:-1]),
    "signature cut short": ("InvalidSignature", lambda s, n: s.token("warga", nik=n)[:-10]),
    "alg none": ("algorithm 'none'", _alg_none),
    "HS256 keyed with the provider's public key": ("algorithm 'HS256'", _hs256_with_public_key),
    "expired": ("ExpiredSignature", _with(exp=NOW - 3600, iat=NOW - 7200, nbf=NOW - 7200, auth_time=NOW - 7200)),
    "wrong audience": ("InvalidAudience", _with(aud="another-portal")),
    "audience list without ours": ("InvalidAudience", _with(aud=["a", "b"])),
    "not yet valid (nbf)": ("ImmatureSignature", _with(nbf=NOW + 3600)),
    "issued in the future (iat)": ("ImmatureSignature", _with(iat=NOW + 3600)),
    "missing exp": ("MissingRequiredClaim", lambda s, n: s.token("warga", nik=n, omit=["exp"])),
    "missing aud": ("MissingRequiredClaim", lambda s, n: s.token("warga", nik=n, omit=["aud"])),
    "empty subject": ("empty subject", _with(sub="")),
    "nik that is not a valid NIK": ("not a valid NIK", _with(nik="3510151213800001")),
    "nik with spaces": ("not a valid NIK", _with(nik="3510 1512 0380 0001")),
    "nik as a number": ("not a string", _with(nik=3510151203800001)),
    "malformed auth_time": ("malformed auth_time", _with(auth_time="yesterday")),
}


async def test_every_invalid_token_is_rejected_identically(oidc_provider, hooks, nik, caplog):
    caplog.set_level(logging.DEBUG, logger="perlinsos_oidc.tokens")
    failures = {}
    for case, (check, forge) in FORGERIES.items():
        token = forge(oidc_provider, nik)
        caplog.clear()
        with pytest.raises(AuthenticationFailed) as caught:
            await hooks.first("authenticate", token=token)
        exc = caught.value
        failures[case] = (type(exc), exc.args, exc.__cause__, None if exc.__suppress_context__ else exc.__context__)
        assert any(check in r.getMessage() for r in caplog.records), (case, caplog.text)
        assert all(token not in r.getMessage() and nik not in r.getMessage() for r in caplog.records)
    # No hint of which check failed: one type, one message, no chained cause.
    assert set(failures.values()) == {(AuthenticationFailed, (tokens.INVALID,), None, None)}, failures


async def test_a_citizen_token_is_a_citizen_of_this_issuer(oidc_provider, hooks, nik):
    for kind in ("access_token",):  # the ID token is refused (test_token_checks.py)
        token = oidc_provider.tokens(sub="jember-warga-17", nik=nik, name="Siti Aminah")[kind]
        principal = await hooks.first("authenticate", token=token)
        assert (principal.kind, principal.subject, principal.nik, principal.name) == (
            "citizen", "jember-warga-17", nik, "Siti Aminah")
        assert principal.issuer == oidc_provider.issuer and principal.identity == (oidc_provider.issuer,
                                                                                   "jember-warga-17")
        assert principal.auth_time is not None and principal.auth_time.tzinfo is not None
        assert principal.claims["aud"] == oidc_provider.audience and principal.scopes == ()


async def test_a_token_without_nik_is_staff(oidc_provider, hooks):
    principal = await hooks.first("authenticate", token=oidc_provider.token("petugas.jember", name="Bu Sari"))
    assert (principal.kind, principal.subject, principal.nik, principal.name, principal.issuer) == (
        "staff", "petugas.jember", None, "Bu Sari", oidc_provider.issuer)
    assert principal.roles() == set()  # roles come from the platform's staff assignments, never the token


async def test_the_nik_claim_is_the_pilots_setting(oidc_provider, hooks_for, nik):
    token = oidc_provider.token("warga", staff=True, claims={"nik_ktp": nik})
    custom = await hooks_for(oidc_provider.settings(nik_claim="nik_ktp")).first("authenticate", token=token)
    assert (custom.kind, custom.nik) == ("citizen", nik)
    default = await hooks_for(oidc_provider.settings()).first("authenticate", token=token)
    assert (default.kind, default.nik) == ("staff", None)


async def test_another_issuers_tokens_are_not_ours(oidc_provider, hooks, nik):
    """Not a JWT, or another issuer's JWT (even a look-alike): None, so another identity plugin
    may answer — and no key is fetched for them."""
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = _claims(oidc_provider.token("warga", nik=nik))
    others = [jwt.encode(claims | {"iss": iss}, stranger, algorithm="ES256", headers={"kid": "k"})
              for iss in ("https://ikd.dukcapil.go.id", oidc_provider.issuer + "/", oidc_provider.url)]
    for token in ("citizen:3510151203800001", "", "a.b.c", "not a token", *others):
        assert await hooks.first("authenticate", token=token) is None
    assert tokens.verifier.fetch_counts == {}


async def test_not_enabled_means_not_asked(oidc_provider, hooks_for, nik):
    assert await hooks_for(criteria={}).first("authenticate", token=oidc_provider.token("w", nik=nik)) is None


async def test_keys_are_fetched_once(oidc_provider, hooks, nik):
    for i in range(10):
        assert (await hooks.first("authenticate", token=oidc_provider.token(f"w{i}", nik=nik))).nik == nik
    assert tokens.verifier.fetch_counts == {oidc_provider.issuer: 1}


async def test_configured_jwks_url(oidc_provider, hooks_for, nik):
    hooks = hooks_for(oidc_provider.settings(jwks_url=f"{oidc_provider.url}/jwks.json"))
    assert (await hooks.first("authenticate", token=oidc_provider.token("w", nik=nik))).nik == nik


async def test_allow_list_is_the_settings(oidc_provider, hooks_for, nik):
    token = oidc_provider.token("w", nik=nik)  # ES256
    with pytest.raises(AuthenticationFailed):
        await hooks_for(oidc_provider.settings(algorithms=["RS256"])).first("authenticate", token=token)
    assert tokens.verifier.fetch_counts == {}  # refused before fetching any key


async def test_leeway(oidc_provider, hooks_for, nik):
    now = int(time.time())
    just_expired = oidc_provider.token("w", nik=nik, claims={"exp": now - 10})
    lenient, strict = (hooks_for(oidc_provider.settings(leeway_seconds=s)) for s in (30, 0))
    assert (await lenient.first("authenticate", token=just_expired)).nik == nik
    with pytest.raises(AuthenticationFailed):
        await strict.first("authenticate", token=just_expired)


# --- the provider is down -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["JWKS at a closed port", "JWKS not found", "discovery at a closed port"])
async def test_unreachable_keys_are_source_unavailable(oidc_provider, hooks_for, nik, where):
    closed = f"http://127.0.0.1:{free_port()}"
    if where == "discovery at a closed port":
        # A token of an issuer nobody answers for (signed by some key: it is never checked).
        key = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode(_claims(oidc_provider.token("w", nik=nik)) | {"iss": closed}, key, algorithm="ES256",
                           headers={"kid": "k1"})
        settings = oidc_provider.settings(issuer=closed)
    else:
        token = oidc_provider.token("w", nik=nik)
        jwks_url = f"{closed}/jwks.json" if where == "JWKS at a closed port" else f"{oidc_provider.url}/nope.json"
        settings = oidc_provider.settings(jwks_url=jwks_url)
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable) as caught:
        await hooks_for(settings).first("authenticate", token=token)
    assert time.perf_counter() - started < 2
    assert caught.value.source == oidc_provider.provider_name  # the provider's display name
    with pytest.raises(SourceUnavailable, match="retrying shortly"):  # fails fast until the retry delay
        await hooks_for(settings).first("authenticate", token=token)


async def test_discovery_must_name_the_issuer(oidc_provider, hooks_for, nik):
    """Reached under another name, the provider's discovery names its own issuer: no keys are
    trusted for the other name (OIDC mix-up defence)."""
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(oidc_provider.token("w", nik=nik)) | {"iss": oidc_provider.url}, key,
                       algorithm="ES256", headers={"kid": _kid(oidc_provider)})
    with pytest.raises(SourceUnavailable, match="another issuer"):
        await hooks_for(oidc_provider.settings(issuer=oidc_provider.url)).first("authenticate", token=token)


# --- identity_providers -------------------------------------------------------------------------


async def test_identity_providers_declares_sign_in_only(oidc_provider, hooks_for):
    declared = await hooks_for(oidc_provider.settings()).merged("identity_providers")
    assert declared == [IdentityProvider(issuer=oidc_provider.issuer, name="SSO Kabupaten Jember",
                                         capabilities=frozenset({SIGN_IN}))]
    assert declared[0].can(SIGN_IN) and not declared[0].can("consent")


async def test_identity_providers_from_a_raw_table(oidc_provider, hooks_for):
    """A PilotContext built by hand may carry the table itself."""
    declared = await hooks_for(oidc_provider.plugin_table(name="SSO Pemkab Jember")).merged("identity_providers")
    assert [(p.issuer, p.name) for p in declared] == [(oidc_provider.issuer, "SSO Pemkab Jember")]


async def test_identity_providers_when_not_enabled(hooks_for):
    from perlinsos_oidc import identity_providers

    assert identity_providers(pilot=None) == []
    assert await hooks_for(criteria={}).merged("identity_providers") == []


# --- beside IKD ------------------------------------------------------------------------------------


async def test_beside_ikd_each_provider_signs_its_own_people_in(oidc_provider, ikd_sim, hooks_for, nik):
    """The two-provider test bed: one pilot trusting IKD and the region's SSO. Each token reaches
    the plugin of its issuer, and the principal says which provider vouched for it."""
    from perlinsos_ikd import tokens as ikd_tokens

    ikd_tokens.reset()
    hooks = hooks_for(oidc=oidc_provider.settings(), ikd=ikd_sim.settings())
    citizen = ikd_sim.people(limit=1, role="HEAD")[0]
    from_ikd = await hooks.first_with_plugin("authenticate", token=ikd_sim.sign_in(citizen["nik"]))
    from_sso = await hooks.first_with_plugin("authenticate", token=oidc_provider.token("petugas.jember"))
    assert (from_ikd[0], from_ikd[1].issuer, from_ikd[1].nik) == ("ikd", ikd_sim.issuer, citizen["nik"])
    assert (from_sso[0], from_sso[1].issuer, from_sso[1].kind) == ("oidc", oidc_provider.issuer, "staff")
    providers = await hooks.merged("identity_providers")
    assert (oidc_provider.issuer, frozenset({SIGN_IN})) in {(p.issuer, p.capabilities) for p in providers}
    ikd_tokens.reset()
