"""Stage 3 end to end with the real plugins and both simulators: citizens registered at IKD are
selected, every one gets an inbox entry and exactly one SMS — even when a dispatcher dies after
the gateway accepted a message — and the gateway's delivery reports come back over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import replace

import httpx
from conftest import ikd_pilot_data
from fixtures.sms import CallbackServer
from perlinsos.registration import consent
from perlinsos.app import create_app
from perlinsos.db.models import Notification
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy, claim
from perlinsos.notification.rendering import Renderer
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.selection import run_selection
from sqlalchemy import select

SCOPES = list(consent.SCOPES)  # every scope: person and all facts
POLICY = Policy(lease=0.3, base_delay=0.0)


async def test_one_inbox_entry_and_one_sms_each_with_delivery_reports(ikd, sms_sim, db, settings, plugin_manager,
                                                                      ikd_client):
    platform = CallbackServer(create_app(replace(settings, dispatcher_in_process=False), plugin_manager))
    try:
        data = ikd_pilot_data(ikd)
        data["plugins"]["notify_sms"] = {"gateway_url": sms_sim.url, "api_key": sms_sim.api_key,
                                         "sender_id": "PERLINSOS", "portal_url": "https://portal.test",
                                         "delivery_report_url": f"{platform.url}/plugins/notify_sms/delivery-reports"}
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, plugin_manager))
        people = [p for p in ikd.people(limit=40, role="HEAD") if p["phone"] and not p["phone_invalid"]][:6]
        for person in people:
            token = ikd.sign_in(person["nik"])
            consent = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
            assert (await ikd_client.query(consent, {"s": SCOPES}, token=token))["data"]["giveConsent"]["errors"] == []
            register = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
            assert (await ikd_client.query(register, token=token))["data"]["registerHousehold"]["errors"] == []
        async with db.read() as session:
            context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
        await run_selection(db, plugin_manager.for_pilot(context))

        # dispatcher A claims everything, gets one SMS accepted by the gateway, and dies
        claimed = await claim(db, 100, POLICY)
        victim = next(c for c in claimed if c.row.channel == "sms")
        renderer = Renderer(db, plugin_manager, "https://portal.test")
        channel = await renderer.channel(victim.row.pilot_id, "sms")
        text = await renderer.render(victim.row, victim.person)
        from perlinsos.contract import OutgoingMessage

        accepted = await channel.send(OutgoingMessage(
            notification_id=victim.id, idempotency_key=victim.row.idempotency_key,
            recipient=channel.recipient_for({"phone": victim.person.phone}), template=victim.row.template,
            language="id", title=text.title, body=text.body, short=text.short))
        assert accepted.ok
        await asyncio.sleep(POLICY.lease + 0.1)
        # dispatcher B takes over when A's lease runs out
        await Dispatcher(db, plugin_manager, portal_url="https://portal.test", policy=POLICY).drain()

        phones = {p["phone"] for p in people}  # the gateway is shared with the session's other tests
        received = [m for m in sms_sim.messages() if m["to"] in phones]
        # one SMS per citizen at the gateway, the victim's included: either its delivery report
        # (matched by the idempotency key the gateway echoes) settled the row before B came, or
        # B re-sent it with the same key and the gateway dropped the duplicate
        assert len(received) == len(people)
        assert sum(1 for m in received if m["idempotency_key"] == victim.row.idempotency_key) == 1
        assert {m["to"] for m in received} == phones
        assert all("Perlinsos" in m["text"] and "********" in m["text"] for m in received)

        async def report_statuses() -> Counter:
            async with db.read() as s:
                rows = (await s.execute(select(Notification.channel, Notification.status))).all()
            return Counter((c, st.value) for c, st in rows)

        async def reported() -> bool:
            return (await report_statuses())[("sms", "SENT")] == 0

        for _ in range(100):  # the gateway reports asynchronously
            if await reported():
                break
            await asyncio.sleep(0.05)
        counts = await report_statuses()
        assert counts[("portal", "DELIVERED")] == len(people)
        assert counts[("sms", "DELIVERED")] + counts[("sms", "FAILED")] == len(people)

        # forged delivery reports are refused
        body = json.dumps({"message_id": received[0]["message_id"], "status": "FAILED"}).encode()
        url = f"{platform.url}/plugins/notify_sms/delivery-reports"
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, content=body, headers={"X-Signature": "0" * 64,
                                                                 "Content-Type": "application/json"})
            assert forged.status_code == 401
            unknown = json.dumps({"message_id": "msg-unknown", "status": "DELIVERED"}).encode()
            signature = hmac.new(sms_sim.api_key.encode(), unknown, hashlib.sha256).hexdigest()
            missing = await http.post(url, content=unknown, headers={"X-Signature": signature,
                                                                     "Content-Type": "application/json"})
            assert missing.status_code == 404
        assert (await report_statuses()) == counts  # nothing changed by the forgeries
    finally:
        platform.stop()
