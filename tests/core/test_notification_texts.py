"""SMS minimisation (issue 15, item 7): what leaves the platform through a channel carries the
outcome and the kind of each reason only — no amount, no flag about a household member, no
reviewer's note — while the portal inbox, behind sign-in, keeps the full reasons. Every template,
every reason code, both languages, through the real outbox, renderer and dispatcher."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from conftest import GraphQLClient
from fixtures import fixture_channel as ch
from fixtures import fixture_criteria as fc
from fixtures import seed, static_auth
from fixtures.pilots import pilot_data
from perlinsos_criteria import texts as criteria_texts
from perlinsos_criteria.settings import REASON_CODES
from sqlalchemy import delete, select, update

from perlinsos.app import create_app
from perlinsos.contract import CriterionResult, Verdict
from perlinsos.db.models import Appeal, Channel, Decision, DecisionReason, Notification, Person, Registration
from perlinsos.messages import REASONS, reason_message
from perlinsos.notification import minimal
from perlinsos.notification.dispatcher import Dispatcher
from perlinsos.notification.outbox import Policy
from perlinsos.notification.templates import TEMPLATES
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import get_pilot, pilot_context, save_pilot
from perlinsos.plugins import PluginManager
from perlinsos.registration import consent
from perlinsos.selection import run_selection

PORTAL = "https://portal.test"
FAST = Policy(max_attempts=3, base_delay=0.0, lease=0.2, send_timeout=1.0)
AS_OF = date(2025, 8, 1)
#: every reason code a decision can carry: the platform's catalogue and the criteria plugin's
ALL_CODES = sorted(set(REASONS) | set(REASON_CODES))
#: words that tell about money, accounts, their sources or a member's job or car (id and en)
SENSITIVE = re.compile(r"\b(ppatk|judi|gambling|bank|rekening|account|transaksi|transactions?|flag\w*|ditandai|rp|va|"
                       r"desil|decile|bpjs|pln|dtsen|korlantas|asn|tni|polri|bumn|mobil|cars?|penghasilan bulanan|"
                       r"monthly income|sumber|source)\b", re.IGNORECASE)

#: the full, realistic reason texts a decision stores (what the inbox shows): amounts and flags in them
FULL = {
    "INCOME_ABOVE_LIMIT": CriterionResult("INCOME_ABOVE_LIMIT", Verdict.FAIL, 4_750_000, 2_000_000,
                                          "BPJS Ketenagakerjaan", AS_OF),
    "UNUSUAL_TRANSACTIONS": CriterionResult("UNUSUAL_TRANSACTIONS", Verdict.FAIL, ["JUDI_ONLINE", "TRANSAKSI_TIDAK_WAJAR"],
                                            None, "PPATK", AS_OF),
    "ELECTRICITY_ABOVE_LIMIT": CriterionResult("ELECTRICITY_ABOVE_LIMIT", Verdict.FAIL, 2200, 1300, "PLN", AS_OF),
    "WELFARE_DECILE_ABOVE_LIMIT": CriterionResult("WELFARE_DECILE_ABOVE_LIMIT", Verdict.FAIL, 7, 4, "DTSEN", AS_OF),
    "STATE_EMPLOYEE": CriterionResult("STATE_EMPLOYEE", Verdict.FAIL, ["POLRI"], None, "BKN", AS_OF),
    "OWNS_CAR": CriterionResult("OWNS_CAR", Verdict.FAIL, 2, None, "Korlantas Polri", AS_OF),
    "OUTSIDE_PILOT_REGION": CriterionResult("OUTSIDE_PILOT_REGION", Verdict.FAIL, "35.09.01.2001", None, "IKD", AS_OF),
    "ALREADY_REGISTERED": CriterionResult("ALREADY_REGISTERED", Verdict.FAIL, ["JBR-2026"], None, None, None),
    "NIK_INVALID": CriterionResult("NIK_INVALID", Verdict.FAIL, None, None, "IKD", AS_OF),
}


def full_messages(code: str) -> dict[str, str]:
    if code in FULL:
        return criteria_texts.messages(FULL[code])
    return {lang: reason_message(code, "FAIL", None, None, "IKD", AS_OF, lang) for lang in ("id", "en")}


@pytest.fixture
def plugins():
    fc.reset()
    ch.reset()
    yield PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (fc.NAME, fc), (ch.NAME, ch)],
                        national=static_auth.NATIONAL)
    fc.reset()
    ch.reset()


@pytest.fixture
async def decision(db, plugins) -> tuple[int, int]:
    """A registrant refused for every reason code at once (with the full texts the criteria write),
    an appeal of it whose reviewer's note names an amount; (person id, decision id)."""
    data = pilot_data()
    data["plugins"] = {static_auth.NAME: {}, fc.NAME: {}, ch.NAME: {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
        context = pilot_context(await get_pilot(session, data["code"]), plugins)
    await seed.registrations(db, "BWI-2025", 1, with_decision=False)
    fc.FACTS[seed.nik(0)] = 2200
    await seed.consent(db, seed.nik(0), consent.SCOPES)
    await run_selection(db, plugins.for_pilot(context))
    async with db.write() as s:
        person_id, decision_id = (await s.execute(
            select(Person.id, Decision.id).join(Registration, Registration.person_id == Person.id)
            .join(Decision, Decision.registration_id == Registration.id))).one()
        await s.execute(update(Person).where(Person.id == person_id).values(phone="+6281234567800"))
        await s.execute(delete(Notification))  # the selection's own rows: this test writes every template
        await s.execute(delete(DecisionReason).where(DecisionReason.decision_id == decision_id))
        for code in ALL_CODES:
            s.add(DecisionReason(decision_id=decision_id, code=code, verdict=Verdict.FAIL, criterion_version="1",
                                 messages=full_messages(code)))
        s.add(Appeal(decision_id=decision_id, appellant_person_id=person_id, channel=Channel.SELF,
                     ground="DATA_INCORRECT", disputed_reasons=["INCOME_ABOVE_LIMIT"], statement="bukan penghasilan saya",
                     resolution_note="Penghasilan terbukti Rp 0, bukan Rp 4.750.000; rekening tidak terkait judi online",
                     review_due_at=datetime.now(UTC) + timedelta(days=10)))
    return person_id, decision_id


async def _write_every_template(db, person_id: int, decision_id: int, channels: tuple[str, ...]) -> None:
    async with db.write() as s:
        appeal_id = (await s.execute(select(Appeal.id))).scalar_one()
        pilot_id = (await s.execute(select(Registration.pilot_id))).scalar_one()
        for template in TEMPLATES:
            for lang in ("id", "en"):
                for channel in channels:
                    s.add(Notification(person_id=person_id, pilot_id=pilot_id, decision_id=decision_id,
                                       appeal_id=appeal_id if template.startswith("APPEAL") else None,
                                       channel=channel, template=template, language=lang,
                                       idempotency_key=f"t-{template}-{lang}-{channel}"))


def leaks(text: str) -> list[str]:
    """What in ``text`` is an amount or sensitive wording (the masked NIK and the portal URL aside)."""
    rest = re.sub(r"\d{4}\*{8}\d{4}", "", text.replace(PORTAL, ""))
    return re.findall(r"\d+", rest) + SENSITIVE.findall(rest)


async def test_every_template_in_both_languages_leaves_minimal(db, plugins, decision):
    await _write_every_template(db, *decision, channels=("pesan",))
    done = await Dispatcher(db, plugins, portal_url=PORTAL, batch=50, policy=FAST).drain()
    assert done == {"SENT": len(TEMPLATES) * 2}
    assert {(m.template, m.language) for m in ch.SENT} == {(t, lang) for t in TEMPLATES for lang in ("id", "en")}
    for m in ch.SENT:
        for part in (m.title, m.body, m.short):
            assert not leaks(part), (m.template, m.language, part, leaks(part))
        assert PORTAL in m.body and PORTAL in m.short, (m.template, m.language)
        assert "3510********" in m.short  # which registration it is about: the masked NIK only
        if m.template in ("DECISION_NOT_ELIGIBLE", "DECISION_PENDING"):
            # the outcome and the kind of every reason, each once; where the full reasons are
            kinds = [minimal.kind_of(code, m.language) for code in ALL_CODES]
            assert all(f"- {kind}\n" in m.body for kind in kinds), m.body
            assert ("masuk (login)" if m.language == "id" else "sign in") in m.body
            assert minimal.kind_of(ALL_CODES[0], m.language) in m.short
        if m.template in ("DECISION_NOT_ELIGIBLE", "APPEAL_DISMISSED", "APPEAL_UPHELD"):
            assert ("pendamping" if m.language == "id" else "facilitator") in m.body


async def test_the_portal_inbox_behind_sign_in_keeps_the_full_reasons(db, plugins, decision, settings):
    await _write_every_template(db, *decision, channels=("portal",))
    await Dispatcher(db, plugins, portal_url=PORTAL, batch=50, policy=FAST).drain()
    inbox = "{ me { notifications(first: 20) { nodes { title body } } } }"
    app = create_app(settings, plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        client = GraphQLClient(http)
        mine = (await client.query(inbox, token=f"citizen:{seed.nik(0)}"))["data"]["me"]["notifications"]["nodes"]
        english = (await client.query(inbox, token=f"citizen:{seed.nik(0)}", language="en"))["data"]["me"]
    await app.state.perlinsos.db.dispose()
    bodies = "\n".join(n["body"] for n in mine)
    assert "Rp4.750.000" in bodies and "judi online" in bodies and "PPATK" in bodies
    assert "Rp 4.750.000" in bodies  # the reviewer's note, in the upheld/dismissed texts
    assert "linked to online gambling" in "\n".join(n["body"] for n in english["notifications"]["nodes"])


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("code", ALL_CODES)
def test_every_reason_code_has_a_kind_that_says_nothing_more(code, lang):
    kind = minimal.kind_of(code, lang)
    assert kind != minimal.OTHER_KIND[0 if lang == "id" else 1] and not leaks(kind)
    assert leaks(full_messages(code)[lang]) or code in ("NIK_INVALID", "CONSENT_MISSING")  # the full text would


def test_an_unknown_reason_code_says_only_supporting_data():
    assert minimal.kind_of("A_PLUGINS_OWN_CODE", "id") == "data pendukung"
    assert minimal.minimal_values(["INCOME_ABOVE_LIMIT", "X", "Y"], "en") == {
        "reasons": "- income records\n- supporting records", "main_reason": "income records",
        "resolution": "", "ground": ""}
