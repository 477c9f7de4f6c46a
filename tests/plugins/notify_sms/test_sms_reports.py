"""The delivery-report route: signed reports mark an SMS DELIVERED or FAILED; forged, unknown and
malformed ones are refused and change nothing. The route runs in the platform's app, and the
platform's own ``record_delivery_report`` records the reports in a real database (two pilots with
their own gateway keys)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fixtures.sms import DELIVERABLE, FAILING, CallbackServer, wait_until
from perlinsos.app import create_app
from perlinsos_notify_sms import SmsChannel, reports
from perlinsos_notify_sms.reports import PATH, sign

from .conftest import outgoing, pilot_for, settings
from .reporting import BWI, KEY_A, KEY_B, SMB, Outbox, S, post, second_pilot


@pytest.fixture
async def known(client, db, plugin_manager):
    """Two pilots with their own gateway keys; one sent SMS of each (sim-aaa in BWI-2025, sim-bbb in BWI-SMB)."""
    await second_pilot(db, plugin_manager)
    outbox = Outbox(db)
    outbox.a = await outbox.sms(BWI, "sim-aaa")
    outbox.b = await outbox.sms(SMB, "sim-bbb")
    outbox.http = client.http
    return outbox


async def unchanged(known) -> bool:
    return (await known.row(known.a), await known.row(known.b)) == (("SENT", None, "sim-aaa"),
                                                                     ("SENT", None, "sim-bbb")) \
        and await known.reported() == []


async def test_delivered(known):
    reply = await post(known.http, {"message_id": "sim-aaa", "status": "DELIVERED", "error": None})
    assert reply.status_code == 200 and reply.json() == {"ok": True}
    assert await known.row(known.a) == ("DELIVERED", None, "sim-aaa")
    assert await known.row(known.b) == ("SENT", None, "sim-bbb")
    assert await known.reported() == [("gateway:sms", str(known.a), "DELIVERED")]


async def test_failed_with_the_gateway_error(known):
    reply = await post(known.http, {"message_id": "sim-bbb", "status": "FAILED", "error": "ABSENT_SUBSCRIBER",
                                    "segments": 2, "reported_at": "2025-09-01T08:00:00Z"}, key=KEY_B)
    assert reply.status_code == 200
    assert await known.row(known.b) == ("FAILED", "ABSENT_SUBSCRIBER", "sim-bbb")
    assert await known.reported() == [("gateway:sms", str(known.b), "FAILED")]


async def test_a_failure_without_an_error_text_still_says_why(known):
    assert (await post(known.http, {"message_id": "sim-aaa", "status": "FAILED"})).status_code == 200
    assert await known.row(known.a) == ("FAILED", "delivery failed", "sim-aaa")


async def test_numbers_in_a_gateway_error_are_not_stored(known):
    await post(known.http, {"message_id": "sim-aaa", "status": "FAILED", "error": f"handset {DELIVERABLE} off"})
    assert await known.row(known.a) == ("FAILED", "handset [number] off", "sim-aaa")


async def test_signature_of_another_pilot_is_refused(known):
    # Signed correctly, but with the Sembako pilot's key, for a BWI-2025 message.
    reply = await post(known.http, {"message_id": "sim-aaa", "status": "DELIVERED"}, key=KEY_B)
    assert reply.status_code == 401 and reply.json()["error"] == "bad_signature"
    assert await unchanged(known)


async def test_tampered_body_is_refused(known):
    original = json.dumps({"message_id": "sim-aaa", "status": "FAILED", "error": None}).encode()
    forged = original.replace(b"FAILED", b"DELIVERED")
    reply = await post(known.http, forged, signature=sign(original, KEY_A))
    assert reply.status_code == 401 and await unchanged(known)


@pytest.mark.parametrize("signature", [None, "", "not-hex", "ab" * 31, "sha256=" + "ab" * 32])
async def test_missing_or_malformed_signature_is_refused(known, signature):
    reply = await post(known.http, {"message_id": "sim-aaa", "status": "DELIVERED"}, key=None, signature=signature)
    assert reply.status_code == 401 and await unchanged(known)


async def test_uppercase_hex_signature_is_accepted(known):
    raw = json.dumps({"message_id": "sim-aaa", "status": "DELIVERED"}).encode()
    assert (await post(known.http, raw, signature=sign(raw, KEY_A).upper())).status_code == 200
    assert (await known.row(known.a))[0] == "DELIVERED"


async def test_unknown_message_id(known):
    reply = await post(known.http, {"message_id": "sim-zzz", "status": "DELIVERED"})
    assert reply.status_code == 404 and reply.json()["error"] == "unknown_message" and await unchanged(known)


async def test_a_message_of_another_channel_is_unknown_here(known):
    async with known.db.write() as s:  # the same reference, but the row is not an SMS
        from perlinsos.db.models import Notification

        (await s.get(Notification, known.a)).channel = "pesan"
    reply = await post(known.http, {"message_id": "sim-aaa", "status": "DELIVERED"})
    assert reply.status_code == 404 and (await known.row(known.a))[0] == "SENT"


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[]", b'"DELIVERED"',
    {"status": "DELIVERED"}, {"message_id": "", "status": "DELIVERED"}, {"message_id": 7, "status": "DELIVERED"},
    {"message_id": "x" * 101, "status": "DELIVERED"},
    {"message_id": "sim-aaa"}, {"message_id": "sim-aaa", "status": "delivered"},
    {"message_id": "sim-aaa", "status": "READ"}, {"message_id": "sim-aaa", "status": "FAILED", "error": 5},
])
async def test_malformed_body(known, body):
    reply = await post(known.http, body)
    assert reply.status_code == 400 and reply.json()["error"] == "bad_request" and await unchanged(known)


async def test_oversized_body(known):
    reply = await post(known.http, {"message_id": "sim-aaa", "status": "DELIVERED", "padding": "x" * 20_000})
    assert reply.status_code == 413 and await unchanged(known)


async def test_only_post(known):
    assert (await known.http.get(PATH)).status_code == 405


async def test_a_recorder_answer_it_does_not_know_is_a_server_error(known, monkeypatch):
    async def odd(state, **kwargs):
        return "maybe"

    monkeypatch.setattr(reports, "_record", odd)
    assert (await post(known.http, {"message_id": "sim-aaa", "status": "DELIVERED"})).status_code == 500


def test_verify_reads_the_pilot_settings_even_raw():
    raw = json.dumps({"message_id": "sim-aaa", "status": "DELIVERED"}).encode()
    verify = reports._verifier(raw, sign(raw, KEY_A))
    assert verify(pilot_for(settings(api_key=KEY_A)))
    assert verify(pilot_for({"gateway_url": "http://127.0.0.1:8602", "api_key": KEY_A, "sender_id": "PERLINSOS"}))
    assert not verify(pilot_for(settings(api_key=KEY_B)))
    assert not verify(pilot_for(None))  # a pilot without the SMS plugin
    assert not verify(pilot_for({"api_key": KEY_A}))  # settings that do not validate


# --- end to end: the simulator's reports reach the platform over HTTP ---------------------------------


@pytest.fixture
def platform(settings, plugin_manager):
    """The platform's app served over real HTTP (the simulator posts its reports there)."""
    with CallbackServer(create_app(replace(settings, dispatcher_in_process=False), plugin_manager)) as server:
        yield server


@pytest.fixture
async def gateway_pilot(db, plugin_manager, sms_sim, pilot):
    """The Sembako pilot, its gateway being the simulator (the fixture pilot keeps its own key)."""
    await second_pilot(db, plugin_manager, key=sms_sim.api_key)
    return Outbox(db)


async def wait_for(outbox: Outbox, ids: list[int], timeout: float = 10) -> list[tuple]:
    import asyncio

    for _ in range(int(timeout / 0.05)):
        rows = [await outbox.row(i) for i in ids]
        if all(r[0] not in ("SENDING", "SENT") for r in rows):
            return rows
        await asyncio.sleep(0.05)
    return rows


async def test_simulator_reports_are_recorded(sms_sim, platform, gateway_pilot):
    outbox = gateway_pilot
    # The rows are still SENDING (the dispatcher has not recorded the send yet): the report finds
    # them by the idempotency key the gateway echoes, and records the gateway's reference too.
    ids = [await outbox.sms(SMB, None, S.SENDING, key=key) for key in ("e2e-1", "e2e-2")]
    sms = SmsChannel(sms_sim.settings(delivery_report_url=f"{platform.url}{PATH}"))
    delivered = await sms.send(outgoing(DELIVERABLE, "PKH: LAYAK.", key="e2e-1"))
    failed = await sms.send(outgoing(FAILING, "PKH: LAYAK.", key="e2e-2"))
    assert delivered.ok and failed.ok
    assert await wait_for(outbox, ids) == [("DELIVERED", None, delivered.provider_reference),
                                           ("FAILED", "ABSENT_SUBSCRIBER", failed.provider_reference)]
    # the simulator counts a report once our answer reached it, a moment after the row changed
    wait_until(lambda: sms_sim.stats()["reports_sent"] == 2, timeout=10)


async def test_simulator_reports_for_a_pilot_with_another_key_are_refused(sms_sim, platform, gateway_pilot):
    outbox = gateway_pilot
    [row] = [await outbox.sms(BWI, None, S.SENDING, key="e2e-3")]  # BWI-2025 does not use this gateway's key
    sms = SmsChannel(sms_sim.settings(delivery_report_url=f"{platform.url}{PATH}"))
    result = await sms.send(outgoing(DELIVERABLE, "PKH: LAYAK.", key="e2e-3"))
    report = sms_sim.wait_for_report(result.provider_reference, timeout=10)["report"]
    assert report["http_status"] == 401 and report["attempts"] == 1
    assert await outbox.row(row) == ("SENDING", None, None) and await outbox.reported() == []


async def test_the_route_is_served_by_the_platform(client):
    http = client.http
    # the signature is checked against the pilots' keys first: a body nobody signed is refused unread
    assert (await http.post(PATH, content=b"{not json", headers={"X-Signature": "ab" * 32})).status_code == 401
    malformed = await http.post(PATH, content=b"{not json", headers={"X-Signature": sign(b"{not json", KEY_A)})
    assert malformed.status_code == 400
    assert (await http.post(PATH, json={"message_id": "sim-x", "status": "DELIVERED"})).status_code == 401
    raw = json.dumps({"message_id": "sim-nobody-sent", "status": "DELIVERED"}).encode()
    reply = await http.post(PATH, content=raw, headers={"X-Signature": sign(raw, KEY_A)})
    assert reply.status_code == 404, reply.text  # the platform records reports: nobody sent this id
