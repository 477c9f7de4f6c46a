"""grant_consent, fetch_person and revoke_consent through the plugin manager, against the simulator."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from perlinsos import regions
from perlinsos.contract import ConsentGrant, PersonRecord
from perlinsos.errors import AuthenticationFailed, ConsentInvalid, SourceUnavailable
from perlinsos.idnumbers import parse_kk, parse_nik

PERSONS = "GET /persons/{nik}"


async def _consent(hooks, ikd_sim, nik: str, scopes=("person", "facts:income")) -> ConsentGrant:
    return await hooks.first("grant_consent", token=ikd_sim.sign_in(nik), nik=nik, scopes=scopes,
                             purpose="bansos-selection", policy_version="2025-08")


async def test_grant_then_fetch_person(ikd_sim, hooks, citizen):
    consent = await _consent(hooks, ikd_sim, citizen["nik"])
    assert consent.reference.startswith("grant_") and consent.nik == citizen["nik"]
    assert consent.scopes == ("person", "facts:income") and consent.policy_version == "2025-08"
    assert consent.given_at.tzinfo is not None and consent.expires_at > consent.given_at

    person = await hooks.first("fetch_person", nik=citizen["nik"], consent=consent)
    assert isinstance(person, PersonRecord)
    assert (person.nik, person.name, person.kk_number, person.region_code) == (
        citizen["nik"], citizen["name"], citizen["kk_number"], citizen["region_code"])
    assert person.birth_date == parse_nik(person.nik).birth_date and person.sex == parse_nik(person.nik).sex
    assert regions.get(person.region_code).level == "village"
    assert parse_kk(person.kk_number).district == person.region_code[:8]
    assert citizen["nik"] in {m.nik for m in person.members} and len(person.members) == citizen["household_size"]
    assert {m.relationship for m in person.members} >= {"HEAD"}


async def test_no_request_without_a_live_consent(ikd_sim, hooks, citizen):
    nik = citizen["nik"]
    consent = await _consent(hooks, ikd_sim, nik)
    refused = {
        "no consent": None,
        "no person scope": replace(consent, scopes=("facts:income",)),
        "expired": replace(consent, expires_at=datetime.now(UTC) - timedelta(seconds=1)),
        "another person's consent": replace(consent, nik=ikd_sim.people(limit=1, offset=3)[0]["nik"]),
    }
    for case, bad in refused.items():
        with pytest.raises(ConsentInvalid):
            await hooks.first("fetch_person", nik=nik, consent=bad)
    # A consent without an IKD grant (another provider's, or recorded by the platform alone) is not ours.
    assert await hooks.first("fetch_person", nik=nik, consent=replace(consent, reference=None)) is None
    assert PERSONS not in ikd_sim.stats(), "IKD was asked without a live consent"


async def test_identity_provider_refuses_a_grant_it_does_not_honour(ikd_sim, hooks, citizen):
    consent = await _consent(hooks, ikd_sim, citizen["nik"])
    with pytest.raises(ConsentInvalid):  # a grant id IKD never issued
        await hooks.first("fetch_person", nik=citizen["nik"], consent=replace(consent, reference="grant_forged"))
    other = ikd_sim.people(limit=1, offset=3)[0]["nik"]  # a real grant, for someone else
    with pytest.raises(ConsentInvalid):
        await hooks.first("fetch_person", nik=other, consent=replace(consent, nik=other))
    assert ikd_sim.stats()[PERSONS] == 2


async def test_revoked_consent(ikd_sim, hooks, citizen):
    consent = await _consent(hooks, ikd_sim, citizen["nik"])
    assert await hooks.first("fetch_person", nik=citizen["nik"], consent=consent)
    await hooks.all("revoke_consent", consent=consent)
    assert ikd_sim.http.get(f"/consents/{consent.reference}", headers=ikd_sim.secret_headers()).json()["revoked_at"]
    with pytest.raises(ConsentInvalid):  # IKD refuses; the platform's copy of the grant is not enough
        await hooks.first("fetch_person", nik=citizen["nik"], consent=consent)
    await hooks.all("revoke_consent", consent=consent)  # revoking twice is harmless


async def test_unknown_person_is_none(ikd_sim, hooks, citizen):
    consent = await _consent(hooks, ikd_sim, citizen["nik"])
    stranger = "3510151203800001"  # valid, synthetic, not in this population
    assert await hooks.first("fetch_person", nik=stranger, consent=replace(consent, nik=stranger)) is None


@pytest.mark.parametrize("mode", ["down", "slow", "garbage"])
async def test_person_api_failures_are_source_unavailable(ikd_sim, hooks_for, citizen, mode):
    hooks = hooks_for(ikd_sim.settings(timeout_seconds=0.5))
    consent = await _consent(hooks, ikd_sim, citizen["nik"])
    ikd_sim.set_fault(mode, delay_seconds=2, paths=("/persons/",))
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable):
        await hooks.first("fetch_person", nik=citizen["nik"], consent=consent)
    assert time.perf_counter() - started < 1.5


async def test_wrong_client_secret(ikd_sim, hooks_for, citizen):
    consent = await _consent(hooks_for(ikd_sim.settings()), ikd_sim, citizen["nik"])
    hooks = hooks_for(ikd_sim.settings(client_secret="not-the-secret"))
    with pytest.raises(SourceUnavailable, match="HTTP 401"):
        await hooks.first("fetch_person", nik=citizen["nik"], consent=consent)


async def test_grant_consent_edges(ikd_sim, hooks, citizen):
    nik = citizen["nik"]
    # Another identity provider's token: not this plugin's business.
    other = ikd_sim.sign(nik=nik, claims={"iss": "https://sso.banyuwangikab.go.id"})
    assert await hooks.first("grant_consent", token=other, nik=nik, scopes=("person",), purpose="x",
                             policy_version="1") is None
    # An expired token of this issuer: IKD refuses it.
    expired = ikd_sim.sign(nik=nik, claims={"exp": int(time.time()) - 3600})
    with pytest.raises(AuthenticationFailed):
        await hooks.first("grant_consent", token=expired, nik=nik, scopes=("person",), purpose="x",
                          policy_version="1")
    ikd_sim.set_fault("down", paths=("/consents",))
    with pytest.raises(SourceUnavailable):
        await _consent(hooks, ikd_sim, nik)


async def test_one_http_client_per_event_loop(ikd_sim, hooks, citizen):
    """Calls in one loop share a pooled client (no new TLS context or connection per call)."""
    from perlinsos_ikd import client

    consent = await _consent(hooks, ikd_sim, citizen["nik"])
    first = (await client._state()).client
    for _ in range(3):
        await hooks.first("fetch_person", nik=citizen["nik"], consent=consent)
    assert (await client._state()).client is first and not first.is_closed


def test_client_is_closed_when_its_loop_ends(ikd_sim):
    import asyncio

    from perlinsos_ikd import client

    async def use():
        await client.request("GET", f"{ikd_sim.url}/jwks.json", ikd_sim.settings())
        return (await client._state()).client

    used = asyncio.run(use())
    assert used.is_closed and not client._states


def test_client_secret_from_the_environment(monkeypatch):
    from perlinsos_ikd.settings import IkdSettings

    base = {"issuer": "https://ikd.example", "audience": "portal"}
    monkeypatch.setenv("PERLINSOS_IKD_CLIENT_SECRET", "from-env")
    assert IkdSettings(**base).secret == "from-env"
    assert IkdSettings(**base, client_secret="from-file").secret == "from-file"
    assert "from-file" not in repr(IkdSettings(**base, client_secret="from-file"))
    monkeypatch.delenv("PERLINSOS_IKD_CLIENT_SECRET")
    assert IkdSettings(**base).secret == "dev-only-ikd-secret"
