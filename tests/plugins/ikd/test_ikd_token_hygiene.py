"""Token hygiene through the platform's GraphQL API (issue 15, item 8), with tokens the IKD
simulator really signs: an ID token is no access token; a token for several audiences names us in
`azp`; the lifetime is bounded; `exp`/`iat`/`nbf` are JSON numbers; a `nik` claim is 16 ASCII digits
as written. Each refusal is the same plain 401, its reason logged at DEBUG without the token."""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from perlinsos.app import create_app
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot
from perlinsos.pilots.store import save_pilot
from fixtures.refusals import as_seen as _refusal

VIEWER = "{ viewer { subject kind pilot } }"
PILOT = "BWI-2025"
YEAR_2100 = 4102444800


@pytest.fixture
def platform(ikd_sim, db, settings, entry_point_plugins) -> Callable:
    """``async with platform(**ikd_settings) as post``: the bundled pilot pointed at the simulator
    (extra ``[plugins.ikd]`` settings given), and ``post(token)`` answering GraphQL's ``viewer``."""

    @asynccontextmanager
    async def run(**ikd_settings) -> AsyncIterator[Callable]:
        data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
        data["plugins"]["ikd"] = {"issuer": ikd_sim.issuer, "audience": ikd_sim.audience,
                                  "client_secret": ikd_sim.client_secret, "timeout_seconds": 2} | ikd_settings
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, entry_point_plugins))
        app = create_app(settings, entry_point_plugins)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
            async def post(token: str) -> httpx.Response:
                return await http.post("/graphql", json={"query": VIEWER},
                                       headers={"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": PILOT})
            yield post
        await app.state.perlinsos.db.dispose()

    return run


def _refusals(s, nik: str) -> dict[str, tuple[str, str]]:
    """case → (the reason logged for operators, a token the issuer's key really signed)."""
    now = int(time.time())
    aud = s.audience
    return {
        "the ID token of a sign-in": ("not an access token", s.tokens(nik=nik)["id_token"]),
        "typ JWT": ("not an access token", s.sign(nik=nik, headers={"typ": "JWT"})),
        "no typ": ("not an access token", s.sign(nik=nik, headers={"typ": ""})),
        "typ of another kind (id_token+jwt)": ("not an access token", s.sign(nik=nik, headers={"typ": "id_token+jwt"})),
        "several audiences, no azp": ("several audiences", s.sign(nik=nik, claims={"aud": [aud, "other-client"]})),
        "several audiences, azp another client": (
            "azp is another client", s.sign(nik=nik, claims={"aud": [aud, "other-client"], "azp": "other-client"})),
        "azp another client": ("azp is another client", s.sign(nik=nik, claims={"azp": "other-client"})),
        "exp in 2100": ("lifetime", s.sign(nik=nik, claims={"exp": YEAR_2100})),
        "lifetime of 25 hours": ("lifetime", s.sign(nik=nik, claims={"iat": now - 3600, "exp": now + 24 * 3600})),
        "exp a numeric string": ("exp is not a JSON number", s.sign(nik=nik, claims={"exp": str(now + 600)})),
        "iat a numeric string": ("iat is not a JSON number", s.sign(nik=nik, claims={"iat": str(now)})),
        "nbf a numeric string": ("nbf is not a JSON number", s.sign(nik=nik, claims={"nbf": str(now)})),
        "exp a 400-digit number": ("lifetime", s.sign(nik=nik, claims={"exp": 10**400})),
        "exp a 400-digit number, iat a fraction": ("lifetime", s.sign(nik=nik, claims={"exp": 10**400, "iat": now + 0.5})),
        "nik with spaces around": ("not a valid NIK", s.sign(nik=nik, claims={"nik": f" {nik} "})),
        "nik with spaces inside": ("not a valid NIK", s.sign(nik=nik, claims={"nik": f"{nik[:6]} {nik[6:12]} {nik[12:]}"})),
        "nik with a newline": ("not a valid NIK", s.sign(nik=nik, claims={"nik": nik + "\n"})),
        "nik in Arabic-Indic digits": (
            "not a valid NIK", s.sign(nik=nik, claims={"nik": nik.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))})),
        "nik in full-width digits": (
            "not a valid NIK", s.sign(nik=nik, claims={"nik": nik.translate(str.maketrans("0123456789", "０１２３４５６７８９"))})),
    }


CASES = ["the ID token of a sign-in", "typ JWT", "no typ", "typ of another kind (id_token+jwt)",
         "several audiences, no azp", "several audiences, azp another client", "azp another client",
         "exp in 2100", "lifetime of 25 hours", "exp a numeric string", "iat a numeric string",
         "nbf a numeric string", "exp a 400-digit number", "exp a 400-digit number, iat a fraction",
         "nik with spaces around", "nik with spaces inside", "nik with a newline",
         "nik in Arabic-Indic digits", "nik in full-width digits"]


def test_the_cases_are_all_listed(ikd_sim, citizen):
    assert sorted(_refusals(ikd_sim, citizen["nik"])) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
async def test_each_refusal_is_the_same_plain_401(platform, ikd_sim, citizen, caplog, case):
    reason, token = _refusals(ikd_sim, citizen["nik"])[case]
    caplog.set_level(logging.DEBUG, logger="perlinsos_ikd.tokens")
    async with platform() as post:
        good = await post(ikd_sim.sign_in(citizen["nik"]))
        assert good.status_code == 200 and good.json()["data"]["viewer"]["kind"] == "citizen", good.text
        baseline = await post(ikd_sim.sign(nik=citizen["nik"], claims={"aud": "another-portal"}))
        assert baseline.status_code == 401
        caplog.clear()
        reply = await post(token)
    assert reply.status_code == 401
    assert _refusal(reply) == _refusal(baseline)
    logged = [r for r in caplog.records if r.name == "perlinsos_ikd.tokens"]
    # The check that caught it is logged, at DEBUG, for operators; never the token or the NIK.
    assert any(reason in r.getMessage() and r.levelno == logging.DEBUG for r in logged), caplog.text
    assert all(token not in r.getMessage() and citizen["nik"] not in r.getMessage() for r in caplog.records)


async def test_what_stays_accepted(platform, ikd_sim, citizen):
    """The checks refuse no well-formed access token: one audience in a list, several with our azp,
    an RFC 9068 typ with its media-type prefix or another case, NumericDates with fractions, 24 h."""
    now = int(time.time())
    nik, aud = citizen["nik"], ikd_sim.audience
    accepted = {
        "access token of a sign-in": ikd_sim.sign_in(nik),
        "aud a list of ours": ikd_sim.sign(nik=nik, claims={"aud": [aud]}),
        "several audiences, azp ours": ikd_sim.sign(nik=nik, claims={"aud": [aud, "other-client"], "azp": aud}),
        "typ application/at+jwt": ikd_sim.sign(nik=nik, headers={"typ": "application/at+jwt"}),
        "typ AT+JWT": ikd_sim.sign(nik=nik, headers={"typ": "AT+JWT"}),
        "fractional NumericDates": ikd_sim.sign(nik=nik, claims={"iat": now + 0.5, "nbf": now + 0.25,
                                                                 "exp": now + 600.75}),
        "24 hours exactly": ikd_sim.sign(nik=nik, claims={"iat": now, "exp": now + 24 * 3600}),
        "a sign-in of 24 hours": ikd_sim.tokens(nik=nik, expires_in=24 * 3600)["access_token"],
    }
    async with platform() as post:
        for case, token in accepted.items():
            reply = await post(token)
            assert reply.status_code == 200 and reply.json()["data"]["viewer"]["kind"] == "citizen", (case, reply.text)


async def test_the_lifetime_and_the_access_token_marker_are_settings(platform, ikd_sim, citizen):
    now = int(time.time())
    nik = citizen["nik"]
    two_days = ikd_sim.sign(nik=nik, claims={"iat": now, "exp": now + 48 * 3600})
    hour = ikd_sim.sign_in(nik)
    async with platform(max_token_seconds=48 * 3600) as post:
        assert (await post(two_days)).status_code == 200
    async with platform(max_token_seconds=600) as post:
        assert (await post(hour)).status_code == 401  # a pilot may want shorter tokens
    # A provider that marks access tokens with a claim (Keycloak: typ=Bearer) instead of RFC 9068's header.
    by_claim = ikd_sim.sign(nik=nik, claims={"typ": "Bearer"}, headers={"typ": "JWT"})
    async with platform(access_token_claim="typ=Bearer") as post:
        assert (await post(by_claim)).status_code == 200
        assert (await post(hour)).status_code == 401  # no such claim: not an access token by this provider's rule
        assert (await post(ikd_sim.tokens(nik=nik)["id_token"])).status_code == 401


def test_settings_refuse_a_malformed_marker_or_lifetime(ikd_sim):
    from pydantic import ValidationError

    for bad in ({"access_token_claim": "token_use"}, {"access_token_claim": "a=b=c"},
                {"access_token_typ": "at jwt"}, {"access_token_typ": ""},
                {"max_token_seconds": 0}, {"max_token_seconds": 30 * 86400}):
        with pytest.raises(ValidationError):
            ikd_sim.settings(**bad)
    assert ikd_sim.settings().max_token_seconds == 24 * 3600 and ikd_sim.settings().access_token_typ == "at+jwt"


def test_the_simulator_tells_the_two_tokens_apart(ikd_sim, citizen):
    import jwt

    issued = ikd_sim.tokens(nik=citizen["nik"])
    assert jwt.get_unverified_header(issued["access_token"])["typ"] == "at+jwt"
    assert jwt.get_unverified_header(issued["id_token"])["typ"] == "JWT"
