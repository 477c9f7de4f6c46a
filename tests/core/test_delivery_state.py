"""Delivery state when answers are lost (issue 18, item 5), with the real SMS gateway simulator over
HTTP: a re-send the gateway already delivered closes the row DELIVERED; a row closed by a delivery
report gets its ``sent_at``; a late report never reopens a final row; a delivery report is
verified before its message is looked up, and a NUL byte in its message id is a clean 400."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from fixtures.delivery import PORTAL, due_sms, row, sms_pilot
from fixtures.sms import DELIVERABLE, FAILING, CallbackServer, wait_until
from perlinsos.app import create_app
from perlinsos.db.models import NotificationStatus
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos_notify_sms.reports import PATH, sign

S = NotificationStatus
POLICY = Policy(lease=0.5, base_delay=0.0)


async def killed_after_the_gateway_accepted(db, plugin_manager, sms_sim, key: str) -> None:
    """A dispatcher sends to a gateway that accepts, then answers late; it is killed before the
    answer comes, so its result is never written (the row stays SENDING)."""
    sms_sim.set_fault("slow", delay_seconds=3)
    dispatcher = Dispatcher(db, plugin_manager, portal_url=PORTAL, policy=POLICY)
    task = asyncio.ensure_future(dispatcher.run_once())
    await asyncio.to_thread(wait_until, lambda: sms_sim.messages(idempotency_key=key), 10)
    task.cancel()  # kill -9: no result written, no lease given back
    with pytest.raises(asyncio.CancelledError):
        await task
    sms_sim.set_fault(None)


@pytest.mark.parametrize(("fate", "phone", "error"), [("DELIVERED", DELIVERABLE, None),
                                                       ("FAILED", FAILING, "SMS gateway: ABSENT_SUBSCRIBER")])
async def test_a_resend_whose_fate_the_gateway_knows_closes_the_row(db, pilot, plugin_manager, sms_sim, fate,
                                                                      phone, error):
    """The dispatcher's result write and the delivery report are both lost: the re-send's answer
    ``{"duplicate": true, "status": "DELIVERED"}`` (or FAILED) is the only word of its fate left."""
    sms_sim.reset()
    await sms_pilot(db, plugin_manager, sms_sim)  # no report URL: the delivery report goes nowhere
    [nid] = await due_sms(db, phone=phone)
    key = (await row(db, nid)).idempotency_key
    await killed_after_the_gateway_accepted(db, plugin_manager, sms_sim, key)
    assert (await row(db, nid)).status == S.SENDING
    [message] = sms_sim.messages(idempotency_key=key)
    await asyncio.to_thread(wait_until, lambda: sms_sim.message(message["message_id"])["status"] == fate, 10)
    await asyncio.sleep(POLICY.lease + 0.2)  # the dead dispatcher's lease runs out

    done = await Dispatcher(db, plugin_manager, portal_url=PORTAL, policy=POLICY).drain()
    assert done == {fate: 1}
    closed = await row(db, nid)
    assert (closed.status.value, closed.provider_reference, closed.last_error) == (fate, message["message_id"], error)
    assert closed.sent_at is not None and closed.attempts == 2
    assert sms_sim.message(message["message_id"])["requests"] == 2  # re-sent once, sent to the phone once
    assert len(sms_sim.messages(idempotency_key=key)) == 1


async def test_a_row_closed_by_a_report_gets_sent_at_and_a_late_report_changes_nothing(
        db, pilot, settings, plugin_manager, sms_sim, client):
    """The dispatcher died after the gateway accepted; the report (found by the idempotency key
    the gateway echoes) closes the row, and it gets a ``sent_at``. A contradicting report later
    leaves the DELIVERED row as it is."""
    sms_sim.reset()
    platform = CallbackServer(create_app(replace(settings, dispatcher_in_process=False), plugin_manager))
    try:
        await sms_pilot(db, plugin_manager, sms_sim, f"{platform.url}{PATH}")
        [nid] = await due_sms(db, start=10)
        key = (await row(db, nid)).idempotency_key
        await killed_after_the_gateway_accepted(db, plugin_manager, sms_sim, key)
        [message] = sms_sim.messages(idempotency_key=key)
        reported = await asyncio.to_thread(sms_sim.wait_for_report, message["message_id"], 10)
        assert reported["report"]["http_status"] == 200
        closed = await row(db, nid)
        assert (closed.status, closed.provider_reference) == (S.DELIVERED, message["message_id"])
        assert closed.sent_at is not None
        sent_at = closed.sent_at

        late = json.dumps({"message_id": message["message_id"], "status": "FAILED", "error": "EXPIRED"}).encode()
        answer = await client.http.post(PATH, content=late, headers={"X-Signature": sign(late, sms_sim.api_key)})
        assert answer.status_code == 200
        still = await row(db, nid)
        assert (still.status, still.last_error, still.sent_at) == (S.DELIVERED, None, sent_at)
    finally:
        platform.stop()


async def test_a_report_is_verified_before_its_message_is_looked_up(db, pilot, plugin_manager, sms_sim, client):
    """A NUL byte in ``message_id`` (PostgreSQL refuses it in text): unsigned, 401 before any lookup;
    signed by the pilot's gateway, a clean 400. A wrongly signed report about a message that does
    not exist is 401 too, not 404: an unproven caller learns nothing about the outbox."""
    sms_sim.reset()
    await sms_pilot(db, plugin_manager, sms_sim)
    for message_id in ("sim-\x00abc", "sim abc", "x" * 101):
        body = json.dumps({"message_id": message_id, "status": "DELIVERED"}).encode()
        wrong = await client.http.post(PATH, content=body, headers={"X-Signature": sign(body, "not-the-key")})
        assert wrong.status_code == 401 and wrong.json()["error"] == "bad_signature"
        signed = await client.http.post(PATH, content=body, headers={"X-Signature": sign(body, sms_sim.api_key)})
        assert signed.status_code == 400 and signed.json()["error"] == "bad_request"
        assert "message_id" in signed.json()["message"]
    unknown = json.dumps({"message_id": "sim-unknown", "status": "DELIVERED"}).encode()
    wrong = await client.http.post(PATH, content=unknown, headers={"X-Signature": sign(unknown, "not-the-key")})
    assert wrong.status_code == 401
    signed = await client.http.post(PATH, content=unknown, headers={"X-Signature": sign(unknown, sms_sim.api_key)})
    assert signed.status_code == 404 and signed.json()["error"] == "unknown_message"


# --- a consent grant whose answer was lost ---------------------------------------------------------

GIVE = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'


def live(grants: list[dict]) -> list[dict]:
    return [g for g in grants if g["revoked_at"] is None]


@pytest.mark.parametrize("fault", [("cut", "POST /consents"), ("down", "/persons")],
                         ids=["answer-cut-after-the-grant", "person-read-fails-after-the-grant"])
async def test_a_consent_grant_the_platform_did_not_store_does_not_stay_live_at_ikd(ikd, ikd_client, fault):
    """IKD creates the grant, then the answer is cut (the platform never learns its id), or the
    person read under it fails: the platform stores nothing, and IKD holds no live grant from it.
    Asked again once IKD answers, the citizen gets one live grant."""
    from perlinsos.registration import consent

    person = ikd.people(limit=1, offset=7, role="HEAD")[0]
    before = {g["grant_id"] for g in ikd.grants(person["nik"])}
    token = ikd.sign_in(person["nik"])
    ikd.set_fault(fault[0], paths=(fault[1],))
    answer = await ikd_client.query(GIVE, {"s": list(consent.SCOPES)}, token=token)
    assert answer["data"]["giveConsent"]["errors"] == [{"code": "IDENTITY_PROVIDER_UNAVAILABLE"}]
    made = [g for g in ikd.grants(person["nik"]) if g["grant_id"] not in before]
    assert len(made) == 1  # IKD did create it
    assert live(made) == []  # and the platform had it revoked

    ikd.set_fault(None)
    answer = await ikd_client.query(GIVE, {"s": list(consent.SCOPES)}, token=token)
    assert answer["data"]["giveConsent"]["errors"] == []
    made = [g for g in ikd.grants(person["nik"]) if g["grant_id"] not in before]
    assert len(made) == 2 and len(live(made)) == 1
