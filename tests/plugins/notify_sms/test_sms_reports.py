"""The delivery-report route: signed reports mark an SMS DELIVERED or FAILED; forged, unknown and
malformed ones are refused. ``record_delivery_report`` (the platform's) is replaced by a stand-in
(``recorder``) that knows which pilot each message id belongs to."""

from __future__ import annotations

import importlib.util
import json

import httpx
import pytest
from fixtures.sms import DELIVERABLE, FAILING, CallbackServer, wait_until
from perlinsos_notify_sms import SmsChannel, reports
from perlinsos_notify_sms.reports import PATH, sign
from starlette.applications import Starlette

from .conftest import outgoing, pilot_for, settings

KEY_A, KEY_B = "key-of-banyuwangi", "key-of-jember"
PLATFORM_STATE = object()  # stands in for request.app.state.perlinsos


def report_app() -> Starlette:
    app = Starlette(routes=reports.routes())
    app.state.perlinsos = PLATFORM_STATE
    return app


async def post(body: bytes | dict, *, key: str | None = KEY_A, signature: str | None = None,
               headers: dict | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = dict(headers or {})
    if signature is not None:
        sent["X-Signature"] = signature
    elif key is not None:
        sent["X-Signature"] = sign(raw, key)
    transport = httpx.ASGITransport(app=report_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        return await http.post(PATH, content=raw, headers={"Content-Type": "application/json", **sent})


@pytest.fixture
def known(recorder):
    """Two pilots with their own gateway keys; one SMS of each."""
    recorder.pilots["sim-aaa"] = pilot_for(settings(api_key=KEY_A), code="BWI-2025")
    recorder.pilots["sim-bbb"] = pilot_for(settings(api_key=KEY_B), code="JMR-2025")
    return recorder


async def test_delivered(known):
    reply = await post({"message_id": "sim-aaa", "status": "DELIVERED", "error": None})
    assert reply.status_code == 200 and reply.json() == {"ok": True}
    assert known.calls == [{"state": PLATFORM_STATE, "channel": "sms", "provider_reference": "sim-aaa",
                            "delivered": True, "error": None, "pilot": "BWI-2025"}]


async def test_failed_with_the_gateway_error(known):
    reply = await post({"message_id": "sim-bbb", "status": "FAILED", "error": "ABSENT_SUBSCRIBER",
                        "segments": 2, "reported_at": "2025-09-01T08:00:00Z"}, key=KEY_B)
    assert reply.status_code == 200
    [call] = known.calls
    assert (call["delivered"], call["error"], call["pilot"]) == (False, "ABSENT_SUBSCRIBER", "JMR-2025")


async def test_numbers_in_a_gateway_error_are_not_stored(known):
    await post({"message_id": "sim-aaa", "status": "FAILED", "error": f"handset {DELIVERABLE} off"})
    assert known.calls[0]["error"] == "handset [number] off"


async def test_signature_of_another_pilot_is_refused(known):
    # Signed correctly, but with Jember's key, for a Banyuwangi message.
    reply = await post({"message_id": "sim-aaa", "status": "DELIVERED"}, key=KEY_B)
    assert reply.status_code == 401 and reply.json()["error"] == "bad_signature"
    assert known.calls == [] and known.refused == ["sim-aaa"]


async def test_tampered_body_is_refused(known):
    original = json.dumps({"message_id": "sim-aaa", "status": "FAILED", "error": None}).encode()
    forged = original.replace(b"FAILED", b"DELIVERED")
    reply = await post(forged, signature=sign(original, KEY_A))
    assert reply.status_code == 401 and known.calls == []


@pytest.mark.parametrize("signature", [None, "", "not-hex", "ab" * 31, "sha256=" + "ab" * 32])
async def test_missing_or_malformed_signature_is_refused(known, signature):
    reply = await post({"message_id": "sim-aaa", "status": "DELIVERED"}, key=None, signature=signature)
    assert reply.status_code == 401 and known.calls == [] and known.refused == []


async def test_uppercase_hex_signature_is_accepted(known):
    raw = json.dumps({"message_id": "sim-aaa", "status": "DELIVERED"}).encode()
    assert (await post(raw, signature=sign(raw, KEY_A).upper())).status_code == 200


async def test_unknown_message_id(known):
    reply = await post({"message_id": "sim-zzz", "status": "DELIVERED"})
    assert reply.status_code == 404 and reply.json()["error"] == "unknown_message" and known.calls == []


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[]", b'"DELIVERED"',
    {"status": "DELIVERED"}, {"message_id": "", "status": "DELIVERED"}, {"message_id": 7, "status": "DELIVERED"},
    {"message_id": "x" * 101, "status": "DELIVERED"},
    {"message_id": "sim-aaa"}, {"message_id": "sim-aaa", "status": "delivered"},
    {"message_id": "sim-aaa", "status": "READ"}, {"message_id": "sim-aaa", "status": "FAILED", "error": 5},
])
async def test_malformed_body(known, body):
    reply = await post(body)
    assert reply.status_code == 400 and reply.json()["error"] == "bad_request" and known.calls == []


async def test_oversized_body(known):
    reply = await post({"message_id": "sim-aaa", "status": "DELIVERED", "padding": "x" * 20_000})
    assert reply.status_code == 413 and known.calls == []


async def test_only_post(known):
    transport = httpx.ASGITransport(app=report_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        assert (await http.get(PATH)).status_code == 405


async def test_a_recorder_answer_it_does_not_know_is_a_server_error(monkeypatch):
    async def odd(state, **kwargs):
        return "maybe"

    monkeypatch.setattr(reports, "_record", odd)
    assert (await post({"message_id": "sim-aaa", "status": "DELIVERED"})).status_code == 500


def test_verify_reads_the_pilot_settings_even_raw():
    raw = json.dumps({"message_id": "sim-aaa", "status": "DELIVERED"}).encode()
    verify = reports._verifier(raw, sign(raw, KEY_A))
    assert verify(pilot_for(settings(api_key=KEY_A)))
    assert verify(pilot_for({"gateway_url": "http://127.0.0.1:8602", "api_key": KEY_A, "sender_id": "PERLINSOS"}))
    assert not verify(pilot_for(settings(api_key=KEY_B)))
    assert not verify(pilot_for(None))  # a pilot without the SMS plugin
    assert not verify(pilot_for({"api_key": KEY_A}))  # settings that do not validate


# --- end to end: the simulator's report reaches the route over HTTP ------------------------------------


async def test_simulator_reports_reach_the_route(sms_sim, known):
    with CallbackServer(report_app()) as platform:
        sms = SmsChannel(sms_sim.settings(delivery_report_url=f"{platform.url}{PATH}"))
        delivered = await sms.send(outgoing(DELIVERABLE, "PKH: LAYAK.", key="e2e-1"))
        failed = await sms.send(outgoing(FAILING, "PKH: LAYAK.", key="e2e-2"))
        assert delivered.ok and failed.ok
        for result in (delivered, failed):
            known.pilots[result.provider_reference] = pilot_for(sms_sim.settings())
        wait_until(lambda: len(known.calls) == 2, timeout=10)
    outcomes = {c["provider_reference"]: (c["delivered"], c["error"]) for c in known.calls}
    assert outcomes == {delivered.provider_reference: (True, None),
                        failed.provider_reference: (False, "ABSENT_SUBSCRIBER")}
    assert sms_sim.stats()["reports_sent"] == 2


async def test_simulator_reports_to_a_pilot_with_another_key_are_refused(sms_sim, known):
    with CallbackServer(report_app()) as platform:
        sms = SmsChannel(sms_sim.settings(delivery_report_url=f"{platform.url}{PATH}"))
        result = await sms.send(outgoing(DELIVERABLE, "PKH: LAYAK.", key="e2e-3"))
        known.pilots[result.provider_reference] = pilot_for(settings(api_key="not-the-gateway-key"))
        report = sms_sim.wait_for_report(result.provider_reference, timeout=10)["report"]
    assert report["http_status"] == 401 and report["attempts"] == 1 and known.calls == []


# --- in the platform's app ---------------------------------------------------------------------------


async def test_the_route_is_served_by_the_platform(client):
    http = client.http
    malformed = await http.post(PATH, content=b"{not json", headers={"X-Signature": "ab" * 32})
    assert malformed.status_code == 400
    assert (await http.post(PATH, json={"message_id": "sim-x", "status": "DELIVERED"})).status_code == 401
    raw = json.dumps({"message_id": "sim-nobody-sent", "status": "DELIVERED"}).encode()
    reply = await http.post(PATH, content=raw, headers={"X-Signature": sign(raw, "dev-only-sms-key")})
    # 404 once the platform records reports (nobody sent this id); 503 until perlinsos.notification.reports exists.
    assert reply.status_code == (404 if _platform_records() else 503), reply.text


def _platform_records() -> bool:
    try:
        return importlib.util.find_spec("perlinsos.notification.reports") is not None
    except ModuleNotFoundError:
        return False
