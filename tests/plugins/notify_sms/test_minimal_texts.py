"""SMS minimisation end to end (issue 15, item 7): citizens of the IKD simulator whose households
are refused for their income or for a member's account flagged by PPATK are selected; the SMS the
gateway simulator receives says the outcome and the kind of reason — no amount, no flag — unless
the pilot's ``[plugins.notify_sms] detail`` asks for the full texts."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import GraphQLClient, ikd_pilot_data

from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.registration import consent
from perlinsos.selection import run_selection

PORTAL = "https://portal.test"
SCOPES = list(consent.SCOPES)
GIVE = 'mutation($s: [String!]!) { giveConsent(input: {scopes: $s, policyVersion: "1"}) { errors { code } } }'
REGISTER = 'mutation { registerHousehold(input: {programme: "PKH"}) { errors { code } } }'
INBOX = "{ me { notifications { nodes { body } } } }"
SENSITIVE = re.compile(r"ppatk|judi|gambl|bank|rekening|account|transaksi|transaction|ditandai|flagged|\bRp|BPJS",
                       re.IGNORECASE)


def _people(ikd, reason: str, count: int) -> list[dict]:
    found = [p for p in ikd.people(limit=200, role="HEAD", reason=reason) if p["phone"] and not p["phone_invalid"]]
    assert len(found) >= count, f"the simulator's population has too few {reason} households"
    return found[:count]


def _leaks(text: str) -> list[str]:
    rest = re.sub(r"\d{4}\*{8}\d{4}", "", text.replace(PORTAL, ""))
    return re.findall(r"\d+", rest) + SENSITIVE.findall(rest)


@pytest.mark.parametrize("detail", [None, "minimal", "full"])
async def test_what_the_gateway_receives(detail, ikd, sms_sim, db, app, plugin_manager):
    data = ikd_pilot_data(ikd)
    data["plugins"]["notify_sms"] = {"gateway_url": sms_sim.url, "api_key": sms_sim.api_key, "sender_id": "PERLINSOS",
                                     "portal_url": PORTAL, "max_segments": 6} | ({"detail": detail} if detail else {})
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    people = _people(ikd, "INCOME_ABOVE_LIMIT", 2) + _people(ikd, "UNUSUAL_TRANSACTIONS", 2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        client = GraphQLClient(http)
        for person in people:
            token = ikd.sign_in(person["nik"])
            assert (await client.query(GIVE, {"s": SCOPES}, token=token))["data"]["giveConsent"]["errors"] == []
            assert (await client.query(REGISTER, token=token))["data"]["registerHousehold"]["errors"] == []
        async with db.read() as session:
            context = pilot_context(await get_pilot(session, "BWI-2025"), plugin_manager)
        await run_selection(db, plugin_manager.for_pilot(context))
        await Dispatcher(db, plugin_manager, portal_url=PORTAL, policy=Policy(base_delay=0.0)).drain()
        inbox = [(await client.query(INBOX, token=ikd.sign_in(p["nik"])))["data"]["me"]["notifications"]["nodes"]
                 for p in people]
    await app.state.perlinsos.db.dispose()

    phones = {p["phone"] for p in people}  # the gateway is the session's: other tests' messages are there too
    received = [m["text"] for m in sms_sim.messages() if m["to"] in phones]
    assert len(received) == len(people)
    assert all("TIDAK MEMENUHI SYARAT PKH" in text and PORTAL in text for text in received), received
    # the portal, behind sign-in, always has the full reasons: amounts and PPATK's flags
    full_inbox = "\n".join(n["body"] for nodes in inbox for n in nodes)
    assert "Rp" in full_inbox and "PPATK" in full_inbox
    if detail == "full":  # the pilot asked for it: the reasons as the portal shows them
        assert any(_leaks(text) for text in received), received
    else:  # the default: the kind of reason, and where to read the rest
        assert all(not _leaks(text) for text in received), [(t, _leaks(t)) for t in received]
        assert all("masuk ke" in text for text in received), received


def test_the_setting_is_minimal_or_full():
    from pydantic import ValidationError

    from perlinsos_notify_sms.settings import SmsSettings

    base = {"gateway_url": "http://127.0.0.1:9", "api_key": "k", "sender_id": "PERLINSOS"}
    assert SmsSettings(**base).detail == "minimal"
    with pytest.raises(ValidationError):
        SmsSettings(**base, detail="everything")
