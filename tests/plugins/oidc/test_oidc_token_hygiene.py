"""Token hygiene for a region's own OpenID provider, through the platform's GraphQL API (issue 15,
item 8), with tokens the OIDC simulator really signs (ES256): its ID token is refused where an
access token is expected; several audiences need our `azp`; the lifetime is bounded; NumericDates
are JSON numbers; the NIK claim is 16 ASCII digits as written. Every refusal is the same 401."""

from __future__ import annotations

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
PILOT = "JBR-2026"
NIK = "3509151203800001"  # a valid NIK shape (Jember, born 12 March 1980)


@pytest.fixture
def platform(oidc_provider, db, settings, entry_point_plugins) -> Callable:
    """``async with platform(**oidc_settings) as post``: a Jember pilot signing in with the OIDC
    simulator, and ``post(token)`` answering GraphQL's ``viewer``."""

    @asynccontextmanager
    async def run(**oidc_settings) -> AsyncIterator[Callable]:
        base = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
        data = base | {"code": PILOT, "name": "Uji coba Kabupaten Jember", "regions": ["35.09"],
                       "plugins": {"oidc": oidc_provider.plugin_table(**oidc_settings)}}
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, entry_point_plugins))
        app = create_app(settings, entry_point_plugins)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
            async def post(token: str) -> httpx.Response:
                return await http.post("/graphql", json={"query": VIEWER},
                                       headers={"Authorization": f"Bearer {token}", "X-Perlinsos-Pilot": PILOT})
            yield post
        await app.state.perlinsos.db.dispose()

    return run


def _token(sso, kind: str = "access_token", **body) -> str:
    return sso.tokens(sub="warga-jbr-1", nik=NIK, **body)[kind]


CASES = {
    "the ID token": lambda s: _token(s, "id_token"),
    "several audiences, no azp": lambda s: _token(s, claims={"aud": [s.audience, "jember-ehealth"]}),
    "azp another client": lambda s: _token(s, claims={"aud": [s.audience, "jember-ehealth"], "azp": "jember-ehealth"}),
    "exp in 2100": lambda s: _token(s, claims={"exp": 4102444800}),
    "exp a numeric string": lambda s: _token(s, claims={"exp": str(int(time.time()) + 600)}),
    "iat a numeric string": lambda s: _token(s, claims={"iat": str(int(time.time()))}),
    "nik with spaces": lambda s: _token(s, claims={"nik": f"{NIK[:4]} {NIK[4:]}"}),
}


@pytest.mark.parametrize("case", CASES)
async def test_each_refusal_is_the_same_plain_401(platform, oidc_provider, case):
    async with platform() as post:
        good = await post(_token(oidc_provider))
        assert good.status_code == 200 and good.json()["data"]["viewer"]["kind"] == "citizen", good.text
        baseline = await post(_token(oidc_provider, claims={"aud": "another-portal"}))
        reply = await post(CASES[case](oidc_provider))
    assert baseline.status_code == 401
    assert reply.status_code == 401
    assert _refusal(reply) == _refusal(baseline)


async def test_several_audiences_with_our_azp_and_a_full_day_are_accepted(platform, oidc_provider):
    now = int(time.time())
    async with platform() as post:
        for token in (_token(oidc_provider, claims={"aud": [oidc_provider.audience, "x"], "azp": oidc_provider.audience}),
                      _token(oidc_provider, claims={"iat": now, "exp": now + 24 * 3600})):
            assert (await post(token)).status_code == 200


async def test_a_provider_marking_access_tokens_by_a_claim(platform, oidc_provider):
    """Not every provider sets RFC 9068's typ: a pilot names the claim instead (e.g. token_use=access)."""
    marked = {"claims": {"token_use": "access"}}
    async with platform(access_token_claim="token_use=access") as post:
        assert (await post(_token(oidc_provider, **marked))).status_code == 200
        assert (await post(_token(oidc_provider))).status_code == 401  # the claim is missing
        assert (await post(_token(oidc_provider, "id_token", claims={"token_use": "id"}))).status_code == 401
    async with platform(max_token_seconds=600) as post:
        assert (await post(_token(oidc_provider))).status_code == 401  # the simulator's hour is too long here
