"""The JWKS cache, key rotation, and an identity provider that is down, slow or talks garbage."""

from __future__ import annotations

import time

import pytest

from fixtures.ikd import free_port
from perlinsos.errors import AuthenticationFailed, SourceUnavailable
from perlinsos_ikd import tokens

JWKS, DISCOVERY = "GET /jwks.json", "GET /.well-known/openid-configuration"


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


async def test_keys_are_cached(ikd_sim, hooks, citizen, clock):
    token = ikd_sim.sign_in(citizen["nik"])
    for _ in range(20):
        assert (await hooks.first("authenticate", token=token)).nik == citizen["nik"]
    stats = ikd_sim.stats()
    assert stats[JWKS] == 1 and stats[DISCOVERY] == 1  # discovered once, fetched once
    clock.now += 3600  # jwks_cache_seconds: the set is refreshed once
    for _ in range(5):
        await hooks.first("authenticate", token=token)
    assert ikd_sim.stats()[JWKS] == 2


async def test_configured_jwks_url_skips_discovery(ikd_sim, hooks_for, citizen, clock):
    hooks = hooks_for(ikd_sim.settings(jwks_url=f"{ikd_sim.url}/jwks.json"))
    assert await hooks.first("authenticate", token=ikd_sim.sign_in(citizen["nik"]))
    assert DISCOVERY not in ikd_sim.stats() and ikd_sim.stats()[JWKS] == 1


async def test_unknown_kid_refetches_at_most_once_per_interval(ikd_sim, hooks, citizen, clock):
    assert await hooks.first("authenticate", token=ikd_sim.sign_in(citizen["nik"]))  # warm: 1 fetch
    clock.now += 61  # past jwks_refetch_seconds (60)
    for i in range(10):  # an attacker cycling key ids
        with pytest.raises(AuthenticationFailed):
            await hooks.first("authenticate", token=ikd_sim.sign(nik=citizen["nik"], headers={"kid": f"k{i}"}))
        clock.now += 1
    assert ikd_sim.stats()[JWKS] == 2  # the first unknown kid refetched; the next nine did not
    clock.now += 60
    with pytest.raises(AuthenticationFailed):
        await hooks.first("authenticate", token=ikd_sim.sign(nik=citizen["nik"], headers={"kid": "again"}))
    assert ikd_sim.stats()[JWKS] == 3


async def test_key_rotation_is_picked_up(ikd_sim, hooks, citizen, clock):
    old = ikd_sim.sign_in(citizen["nik"])
    assert await hooks.first("authenticate", token=old)
    clock.now += 61
    ikd_sim.rotate_key()
    new = ikd_sim.sign_in(citizen["nik"])
    assert (await hooks.first("authenticate", token=new)).nik == citizen["nik"]  # unknown kid → refetch
    assert await hooks.first("authenticate", token=old)  # the previous key is still published
    assert ikd_sim.stats()[JWKS] == 2

    # A second rotation within the interval is not seen until the interval has passed.
    ikd_sim.rotate_key(retire_previous=True)
    newest = ikd_sim.sign_in(citizen["nik"])
    with pytest.raises(AuthenticationFailed):
        await hooks.first("authenticate", token=newest)
    clock.now += 61
    assert await hooks.first("authenticate", token=newest)
    with pytest.raises(AuthenticationFailed):  # retired keys disappear with the refetch
        await hooks.first("authenticate", token=old)
    assert ikd_sim.stats()[JWKS] == 3


async def test_unreachable_provider_is_source_unavailable(ikd_sim, hooks_for, citizen):
    closed = f"http://127.0.0.1:{free_port()}"
    token = ikd_sim.sign(nik=citizen["nik"], claims={"iss": closed})
    hooks = hooks_for(ikd_sim.settings(issuer=closed, timeout_seconds=2))
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable) as caught:
        await hooks.first("authenticate", token=token)
    assert time.perf_counter() - started < 2
    assert caught.value.source == "IKD"


@pytest.mark.parametrize("path", ["/jwks.json", "/.well-known/openid-configuration"])
async def test_slow_provider_times_out(ikd_sim, hooks_for, citizen, path):
    ikd_sim.set_fault("slow", delay_seconds=2, paths=(path,))
    hooks = hooks_for(ikd_sim.settings(timeout_seconds=0.5))
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable, match="no answer within 0.5 s"):
        await hooks.first("authenticate", token=ikd_sim.sign_in(citizen["nik"]))
    assert time.perf_counter() - started < 1.5  # bounded by the timeout, not by the provider


@pytest.mark.parametrize("mode", ["down", "garbage"])
async def test_broken_provider_is_source_unavailable(ikd_sim, hooks, citizen, clock, mode):
    token = ikd_sim.sign_in(citizen["nik"])
    ikd_sim.set_fault(mode, paths=("/jwks.json",))
    with pytest.raises(SourceUnavailable):
        await hooks.first("authenticate", token=token)
    before = ikd_sim.stats()[JWKS]
    with pytest.raises(SourceUnavailable):  # failing fast: no new fetch within the retry delay
        await hooks.first("authenticate", token=token)
    assert ikd_sim.stats()[JWKS] == before
    ikd_sim.set_fault(None)
    clock.now += tokens.RETRY_AFTER_FAILURE
    assert await hooks.first("authenticate", token=token)  # recovers


async def test_cached_keys_outlive_an_outage(ikd_sim, hooks, citizen, clock):
    token = ikd_sim.sign_in(citizen["nik"])
    assert await hooks.first("authenticate", token=token)
    ikd_sim.set_fault("down")
    clock.now += 3601  # the cache is stale and the refresh fails: the known key still verifies
    assert (await hooks.first("authenticate", token=token)).nik == citizen["nik"]


async def test_discovery_must_name_the_issuer(ikd_sim, hooks_for, citizen):
    # Settings that reach this simulator under another issuer name: its discovery document
    # names a different issuer, so its keys are not trusted for this one (OIDC mix-up defence).
    other = ikd_sim.url.replace("127.0.0.1", "localhost")
    token = ikd_sim.sign(nik=citizen["nik"], claims={"iss": other})
    with pytest.raises(SourceUnavailable, match="another issuer"):
        await hooks_for(ikd_sim.settings(issuer=other)).first("authenticate", token=token)
