"""Sending through the real simulator (``perlinsos sms-sim`` in a subprocess): accepted with a provider
reference, one SMS per idempotency key, temporary failures when the gateway is down, slow or drops the
answer, permanent ones when it refuses the number."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time

import pytest
from fixtures.sms import DELIVERABLE, REFUSED
from perlinsos.contract import DeliveryResult
from perlinsos_notify_sms import SmsChannel, client

from .conftest import outgoing

PORTAL = "https://perlinsos.banyuwangikab.go.id"
SHORT = ("PKH: TIDAK LAYAK. Alasan utama: daya listrik tercatat 2.200 VA, di atas batas 1.300 VA. "
         "NIK 3510151203800001.")


@pytest.fixture
def sms(sms_sim) -> SmsChannel:
    return SmsChannel(sms_sim.settings(portal_url=PORTAL, timeout_seconds=2))


async def test_send_is_accepted_with_the_gateway_reference(sms, sms_sim):
    result = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-7-v1"))
    assert result.ok and not result.permanent and result.error is None
    [received] = sms_sim.messages()
    assert result.provider_reference == received["message_id"]
    assert received["to"] == DELIVERABLE and received["sender_id"] == "PERLINSOS"
    assert received["idempotency_key"] == "decision-7-v1" and received["callback_url"] is None
    assert received["text"] == ("PKH: TIDAK LAYAK. Alasan utama: daya listrik tercatat 2.200 VA, di atas batas "
                                f"1.300 VA. NIK 3510********0001.\nRincian: {PORTAL}")
    assert (received["encoding"], received["segments"]) == ("GSM-7", 1)


async def test_same_idempotency_key_twice_is_one_sms(sms, sms_sim):
    # A dispatcher killed after the gateway accepted, before it stored the reference, sends again.
    first = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-8-v1"))
    again = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-8-v1", attempt=2))
    assert first.ok and again.ok and again.provider_reference == first.provider_reference
    assert len(sms_sim.messages()) == 1 and sms_sim.messages()[0]["requests"] == 2
    stats = sms_sim.stats()
    assert (stats["accepted"], stats["duplicates"]) == (1, 1)
    other = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-8-v2"))
    assert other.ok and other.provider_reference != first.provider_reference and len(sms_sim.messages()) == 2


async def test_concurrent_sends_with_one_key_are_one_sms(sms, sms_sim):
    # Two dispatchers racing on the same outbox row (a lease that expired too early).
    results = await asyncio.gather(*(sms.send(outgoing(DELIVERABLE, SHORT, key="decision-11-v1")) for _ in range(8)))
    assert all(r.ok for r in results) and len({r.provider_reference for r in results}) == 1
    assert len(sms_sim.messages()) == 1 and sms_sim.stats()["duplicates"] == 7


async def test_gateway_down_is_a_temporary_failure(sms, sms_sim):
    sms_sim.set_fault("down")
    result = await sms.send(outgoing(DELIVERABLE, SHORT))
    assert result == DeliveryResult(ok=False, error="SMS gateway error: HTTP 503 unavailable", permanent=False)
    assert sms_sim.messages() == [] and sms_sim.stats()["unavailable"] == 1
    sms_sim.set_fault(None)  # back up: the retry goes through
    assert (await sms.send(outgoing(DELIVERABLE, SHORT, attempt=2))).ok


async def test_gateway_unreachable_is_a_temporary_failure(sms_sim):
    from fixtures.sms import free_port

    sms = SmsChannel(sms_sim.settings(gateway_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2))
    result = await sms.send(outgoing(DELIVERABLE, SHORT))
    assert not result.ok and not result.permanent and result.error == "SMS gateway unreachable: ConnectError"


async def test_slow_gateway_times_out_within_the_bound(sms_sim):
    timeout = 0.5
    sms = SmsChannel(sms_sim.settings(timeout_seconds=timeout))
    await sms.send(outgoing(DELIVERABLE, "warm-up", key="warm-up"))  # a pooled connection, as in steady state
    sms_sim.set_fault("slow", delay_seconds=5)
    started = time.perf_counter()
    result = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-9-v1"))
    elapsed = time.perf_counter() - started
    print(f"\nslow gateway (5 s) with timeout_seconds={timeout}: gave up after {elapsed * 1000:.0f} ms")
    assert result == DeliveryResult(ok=False, error="SMS gateway: no answer within 0.5 s", permanent=False)
    assert timeout <= elapsed < timeout + 0.25
    # The slow gateway had accepted it anyway: the retry with the same key is the same SMS.
    sms_sim.set_fault(None)
    retried = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-9-v1", attempt=2))
    assert retried.ok
    assert [m["message_id"] for m in sms_sim.messages(idempotency_key="decision-9-v1")] == [retried.provider_reference]
    assert sms_sim.stats()["duplicates"] == 1


async def test_dropped_answer_is_temporary_and_the_retry_sends_nothing_new(sms, sms_sim):
    sms_sim.set_fault("drop", drop_ratio=1.0)
    dropped = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-10-v1"))
    assert not dropped.ok and not dropped.permanent
    assert dropped.error == "SMS gateway unreachable: RemoteProtocolError"  # the connection was cut
    [accepted] = sms_sim.messages()  # ... after the gateway had accepted the message
    sms_sim.set_fault(None)
    retried = await sms.send(outgoing(DELIVERABLE, SHORT, key="decision-10-v1", attempt=2))
    assert retried.ok and retried.provider_reference == accepted["message_id"]
    assert len(sms_sim.messages()) == 1 and sms_sim.stats()["dropped"] == 1


async def test_refused_number_is_a_permanent_failure(sms, sms_sim):
    result = await sms.send(outgoing(REFUSED, SHORT))
    assert result == DeliveryResult(ok=False, error="SMS gateway refused the message: HTTP 422 number_blocked",
                                    permanent=True)
    assert sms_sim.messages() == [] and sms_sim.stats()["refused"] == 1


async def test_foreign_or_invalid_recipient_is_permanent_without_calling_the_gateway(sms, sms_sim):
    for recipient in ("+14155552671", "0333424242", ""):
        result = await sms.send(outgoing(recipient, SHORT))
        assert not result.ok and result.permanent and result.error.startswith(("invalid mobile", "no mobile"))
    assert sum(v for k, v in sms_sim.stats().items() if isinstance(v, int)) == 0


async def test_gateway_refusing_the_api_key_is_temporary(sms_sim):
    # A wrong key is a configuration error: fixable, so not a reason to give the citizen up.
    sms = SmsChannel(sms_sim.settings(api_key="wrong-key"))
    result = await sms.send(outgoing(DELIVERABLE, SHORT))
    assert result == DeliveryResult(ok=False, error="SMS gateway refused the API key: HTTP 401 unauthorized")
    assert sms_sim.stats()["unauthorized"] == 1


async def test_callback_url_is_passed_on(sms_sim):
    url = "http://127.0.0.1:8600/plugins/notify_sms/delivery-reports"
    sms = SmsChannel(sms_sim.settings(delivery_report_url=url, portal_url=PORTAL))
    assert (await sms.send(outgoing(DELIVERABLE, SHORT))).ok
    assert sms_sim.messages()[0]["callback_url"] == url


async def test_long_text_reaches_the_gateway_capped(sms_sim):
    sms = SmsChannel(sms_sim.settings(portal_url=PORTAL, max_segments=2))
    long_text = SHORT + " Alasan lain: " + "penghasilan di atas UMK; memiliki mobil; desil 6. " * 10
    assert (await sms.send(outgoing(DELIVERABLE, long_text))).ok
    [received] = sms_sim.messages()
    assert received["segments"] == 2 and received["text"].endswith(f"...\nRincian: {PORTAL}")


async def test_logs_never_hold_the_full_number_or_nik(sms, sms_sim, caplog):
    with caplog.at_level(logging.INFO, logger="perlinsos_notify_sms"):
        assert (await sms.send(outgoing(DELIVERABLE, SHORT))).ok
        await sms.send(outgoing(REFUSED, SHORT, key="k2"))
    assert "+62812*****890" in caplog.text
    assert DELIVERABLE not in caplog.text and REFUSED not in caplog.text and "3510151203800001" not in caplog.text
    await asyncio.sleep(0.2)  # the simulator logs the delivery too
    assert DELIVERABLE not in sms_sim.log() and "3510151203800001" not in sms_sim.log()


async def test_send_latency_to_the_simulator(sms, sms_sim):
    await sms.send(outgoing(DELIVERABLE, SHORT, key="warm-up"))
    timings = []
    for n in range(100):
        started = time.perf_counter()
        result = await sms.send(outgoing(DELIVERABLE, SHORT, key=f"latency-{n}", notification_id=n))
        timings.append((time.perf_counter() - started) * 1000)
        assert result.ok
    timings.sort()
    median, p95 = statistics.median(timings), timings[94]
    print(f"\nsend latency to sms-sim over 100 sends: median {median:.1f} ms, p95 {p95:.1f} ms, "
          f"max {timings[-1]:.1f} ms")
    assert median < 50 and len(sms_sim.messages()) == 101


async def test_one_pooled_client_per_event_loop(sms):
    first = await client.client()
    assert await client.client() is first
    await client.aclose()
    assert first.is_closed and await client.client() is not first
