"""Stage 1 end to end: sign in at the IKD simulator, consent, register — alone and through a
facilitator — over GraphQL; and every bad input refused with a clear error, nothing stored."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import GraphQLClient, ikd_pilot_data  # noqa: F401 - GraphQLClient for type hints
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.registration import consent
from perlinsos.app import create_app
from perlinsos.db.models import AuditEvent, Consent, Household, Person, Registration
from perlinsos.graphql.relay import from_global_id
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from sqlalchemy import func, select

SCOPES = list(consent.SCOPES)  # every scope: person and all facts
CONSENT = """mutation($scopes: [String!]!, $citizenToken: String) {
  giveConsent(input: {scopes: $scopes, policyVersion: "2025-08", citizenToken: $citizenToken}) {
    consent { id scopes channel assistedBy live } errors { code message field } } }"""
REGISTER = """mutation($programme: String!, $citizenToken: String) {
  registerHousehold(input: {programme: $programme, citizenToken: $citizenToken}) {
    created registration { id programme channel assistedBy region { code } } errors { code message } } }"""
ME = """{ me { person { nik name region { code } } household { kkNumber members { nik } }
  registrations { id programme channel } consents { live scopes } timeline { kind } } }"""


async def counts(db) -> dict[str, int]:
    async with db.read() as s:
        return {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one()
                for m in (Person, Household, Consent, Registration)}


def tampered(token: str) -> str:
    """The same token with one character of its payload changed (the signature no longer fits)."""
    header, payload, signature = token.split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    return ".".join([header, flipped, signature])


def head(ikd, **filters):
    return ikd.people(limit=1, role="HEAD", **filters)[0]


async def consent(client, token, **variables):
    data = await client.query(CONSENT, {"scopes": SCOPES, **variables}, token=token)
    return data["data"]["giveConsent"]


async def register(client, token, programme="PKH", **variables):
    data = await client.query(REGISTER, {"programme": programme, **variables}, token=token)
    return data["data"]["registerHousehold"]


async def test_a_citizen_signs_in_consents_and_registers(ikd_client, ikd, db):
    person = head(ikd)
    token = ikd.sign_in(person["nik"])
    given = await consent(ikd_client, token)
    assert given["errors"] == [] and given["consent"]["live"] and given["consent"]["channel"] == "SELF"
    result = await register(ikd_client, token)
    assert result["errors"] == [] and result["created"] is True
    assert result["registration"]["channel"] == "SELF" and result["registration"]["assistedBy"] is None
    assert result["registration"]["region"]["code"] == person["region_code"]

    me = (await ikd_client.query(ME, token=token))["data"]["me"]
    assert me["person"]["nik"] == person["nik"]  # the owner sees their NIK in full
    assert me["household"]["kkNumber"] == person["kk_number"]
    assert len(me["household"]["members"]) == person["household_size"]
    assert [r["programme"] for r in me["registrations"]] == ["PKH"]
    assert [t["kind"] for t in me["timeline"]] == ["CONSENT_GIVEN", "REGISTERED"]


async def test_resubmitting_returns_the_same_registration(ikd_client, ikd, db):
    token = ikd.sign_in(head(ikd)["nik"])
    await consent(ikd_client, token)
    first = await register(ikd_client, token)
    again = await register(ikd_client, token)
    burst = await asyncio.gather(*(register(ikd_client, token) for _ in range(5)))  # double taps
    assert again["created"] is False and again["registration"]["id"] == first["registration"]["id"]
    assert {b["registration"]["id"] for b in burst} == {first["registration"]["id"]}
    assert (await counts(db))["registration"] == 1
    # and consenting twice (a double tap) keeps one consent
    assert (await consent(ikd_client, token))["consent"]["id"] == (await consent(ikd_client, token))["consent"]["id"]


async def test_a_facilitator_registers_a_citizen_with_the_citizens_own_token(ikd_client, ikd, db):
    person = head(ikd)
    await seed.staff(db, "pendamping-1", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
    staff_token = ikd.sign_in_staff("pendamping-1", "Pendamping Satu")
    citizen_token = ikd.sign_in(person["nik"])
    given = await consent(ikd_client, staff_token, citizenToken=citizen_token)
    assert given["errors"] == [] and given["consent"]["channel"] == "ASSISTED"
    assert given["consent"]["assistedBy"] == "pendamping-1"
    result = await register(ikd_client, staff_token, citizenToken=citizen_token)
    assert result["errors"] == []
    assert result["registration"]["channel"] == "ASSISTED" and result["registration"]["assistedBy"] == "pendamping-1"
    # the facilitator now sees it in their list (NIK masked); the citizen sees it as theirs
    listed = await ikd_client.query('{ registrations(pilot: "BWI-2025") { nodes { registrant { nik } } } }',
                                    token=staff_token)
    assert [n["registrant"]["nik"][4:12] for n in listed["data"]["registrations"]["nodes"]] == ["********"]
    me = (await ikd_client.query(ME, token=citizen_token))["data"]["me"]
    assert me["registrations"][0]["channel"] == "ASSISTED"
    async with db.read() as s:
        actions = (await s.execute(select(AuditEvent.actor, AuditEvent.action)
                                   .where(AuditEvent.action.in_(["CONSENT_GIVEN", "REGISTRATION_CREATED"])))).all()
    assert sorted(actions) == [("pendamping-1", "CONSENT_GIVEN"), ("pendamping-1", "REGISTRATION_CREATED")]


async def test_a_facilitator_acts_only_inside_their_villages(ikd_client, ikd, db):
    person = head(ikd)
    other_village = next(p["region_code"] for p in ikd.people(limit=200) if p["region_code"] != person["region_code"])
    await seed.staff(db, "pendamping-2", "FACILITATOR", other_village, issuer=ikd.issuer)
    staff_token, citizen_token = ikd.sign_in_staff("pendamping-2"), ikd.sign_in(person["nik"])
    before = await counts(db)
    assisted = await consent(ikd_client, staff_token, citizenToken=citizen_token)
    assert [e["code"] for e in assisted["errors"]] == ["FACILITATOR_OUT_OF_AREA"]
    assert await counts(db) == before
    await consent(ikd_client, citizen_token)  # the citizen consents on their own phone
    before = await counts(db)
    result = await register(ikd_client, staff_token, citizenToken=citizen_token)
    assert [e["code"] for e in result["errors"]] == ["FACILITATOR_OUT_OF_AREA"]
    assert "luar desa" in result["errors"][0]["message"]
    assert await counts(db) == before


async def test_a_repeated_consent_gets_the_same_area_check_and_an_audit_row(ikd_client, ikd, db):
    """Issue 15: the "already given" return skipped the facilitator's area check and the audit log."""
    person = head(ikd)
    other_village = next(p["region_code"] for p in ikd.people(limit=200) if p["region_code"] != person["region_code"])
    await seed.staff(db, "pendamping-luar", "FACILITATOR", other_village, issuer=ikd.issuer)
    await seed.staff(db, "pendamping-desa", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
    citizen_token = ikd.sign_in(person["nik"])
    first = await consent(ikd_client, citizen_token)  # on the citizen's own phone
    outside = await consent(ikd_client, ikd.sign_in_staff("pendamping-luar"), citizenToken=citizen_token)
    assert outside["consent"] is None and [e["code"] for e in outside["errors"]] == ["FACILITATOR_OUT_OF_AREA"]
    inside = await consent(ikd_client, ikd.sign_in_staff("pendamping-desa"), citizenToken=citizen_token)
    assert inside["errors"] == [] and inside["consent"]["id"] == first["consent"]["id"]
    async with db.read() as s:
        trail = (await s.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.entity_id)
                                 .where(AuditEvent.action.like("CONSENT_%")).order_by(AuditEvent.seq))).all()
    consent_id = str(from_global_id("Consent", first["consent"]["id"]))
    assert [(a, e) for _, a, e in trail] == [("CONSENT_GIVEN", consent_id), ("CONSENT_REPEATED", consent_id)]
    assert trail[1][0] == "pendamping-desa"


@pytest.mark.parametrize("case", ["no citizen token", "forged citizen token", "not a facilitator"])
async def test_assisted_registration_needs_a_facilitator_and_the_citizens_token(ikd_client, ikd, db, case):
    person = head(ikd)
    await seed.staff(db, "fac", "FACILITATOR", person["region_code"], issuer=ikd.issuer)
    await seed.staff(db, "rev", "REVIEWER", "35.10", issuer=ikd.issuer)
    staff = ikd.sign_in_staff("rev" if case == "not a facilitator" else "fac")
    citizen_token = {"no citizen token": None, "forged citizen token": tampered(ikd.sign_in(person["nik"])),
                     "not a facilitator": ikd.sign_in(person["nik"])}[case]
    before = await counts(db)
    result = await register(ikd_client, staff, citizenToken=citizen_token)
    expected = {"no citizen token": "CITIZEN_TOKEN_REQUIRED", "forged citizen token": "CITIZEN_TOKEN_INVALID",
                "not a facilitator": "NOT_A_FACILITATOR"}[case]
    assert [e["code"] for e in result["errors"]] == [expected]
    assert await counts(db) == before


async def test_registration_needs_a_live_consent(ikd_client, ikd, db):
    token = ikd.sign_in(head(ikd)["nik"])
    assert [e["code"] for e in (await register(ikd_client, token))["errors"]] == ["CONSENT_REQUIRED"]
    assert await counts(db) == {"person": 0, "household": 0, "consent": 0, "registration": 0}
    given = await consent(ikd_client, token)
    withdrawn = await ikd_client.query("mutation($id: ID!) { withdrawConsent(id: $id) { consent { live } errors { code } } }",
                                       {"id": given["consent"]["id"]}, token=token)
    assert withdrawn["data"]["withdrawConsent"]["consent"]["live"] is False
    before = await counts(db)
    assert [e["code"] for e in (await register(ikd_client, token))["errors"]] == ["CONSENT_REQUIRED"]
    assert await counts(db) == before


async def test_hook_grant_consent(ikd_client, ikd, db):
    """giveConsent asks the identity plugin for a grant; the grant id is what later reads present."""
    person = head(ikd)
    given = await consent(ikd_client, ikd.sign_in(person["nik"]))
    assert given["errors"] == []
    assert ikd.stats().get("POST /consents") == 1
    async with db.read() as s:
        reference = (await s.execute(select(Consent.provider_reference))).scalar_one()
    person_api = ikd.http.get(f"/persons/{person['nik']}", headers={**ikd.secret_headers(),
                                                                     "X-Consent-Grant": reference})
    assert person_api.status_code == 200


async def test_no_identity_plugin_able_to_grant_consent(client, db):
    """The default test pilot's identity plugin (static_auth) cannot grant consents."""
    data = await client.query(CONSENT, {"scopes": ["person"]}, token=f"citizen:{seed.nik(3)}")
    assert [e["code"] for e in data["data"]["giveConsent"]["errors"]] == ["IDENTITY_PROVIDER_UNSUPPORTED"]
    assert (await counts(db))["consent"] == 0


async def test_hook_revoke_consent(ikd_client, ikd, db):
    person = head(ikd)
    token = ikd.sign_in(person["nik"])
    given = await consent(ikd_client, token)
    async with db.read() as s:
        reference = (await s.execute(select(Consent.provider_reference))).scalar_one()
    await ikd_client.query("mutation($id: ID!) { withdrawConsent(id: $id) { errors { code } } }",
                           {"id": given["consent"]["id"]}, token=token)
    refused = ikd.http.get(f"/persons/{person['nik']}", headers={**ikd.secret_headers(), "X-Consent-Grant": reference})
    assert refused.status_code == 403  # the provider no longer honours the grant either


async def test_withdrawal_holds_even_when_the_provider_is_down(ikd_client, ikd, db):
    token = ikd.sign_in(head(ikd)["nik"])
    given = await consent(ikd_client, token)
    ikd.set_fault("down", paths=("/consents",))
    data = await ikd_client.query("mutation($id: ID!) { withdrawConsent(id: $id) { consent { live } errors { code } } }",
                                  {"id": given["consent"]["id"]}, token=token)
    assert data["data"]["withdrawConsent"] == {"consent": {"live": False}, "errors": []}


async def _pilot(db, plugin_manager, ikd, **overrides):
    async with db.write() as session:
        await save_pilot(session, parse_pilot(ikd_pilot_data(ikd, **overrides), plugin_manager))


async def test_registration_window_closed(ikd_client, ikd, db, plugin_manager):
    token = ikd.sign_in(head(ikd)["nik"])
    await consent(ikd_client, token)
    past = datetime.now(UTC) - timedelta(days=30)
    await _pilot(db, plugin_manager, ikd, phases={"registration_opens": past - timedelta(days=60),
                                                  "registration_closes": past})
    before = await counts(db)
    assert [e["code"] for e in (await register(ikd_client, token))["errors"]] == ["REGISTRATION_CLOSED"]
    assert await counts(db) == before


async def test_outside_the_pilot_region_and_unknown_programme(ikd_client, ikd, db, plugin_manager):
    person = head(ikd)
    token = ikd.sign_in(person["nik"])
    await consent(ikd_client, token)
    elsewhere = "35.10.01" if not person["region_code"].startswith("35.10.01") else "35.10.02"
    await _pilot(db, plugin_manager, ikd, regions=[elsewhere])
    before = await counts(db)
    assert [e["code"] for e in (await register(ikd_client, token))["errors"]] == ["OUTSIDE_PILOT_REGION"]
    assert [e["code"] for e in (await register(ikd_client, token, "BLT"))["errors"]] == ["PROGRAMME_NOT_IN_PILOT"]
    assert await counts(db) == before


@pytest.mark.parametrize("fault", ["down", "slow", "garbage"])
async def test_identity_provider_failing_is_a_clear_error_not_a_hang(ikd_client, ikd, db, fault):
    token = ikd.sign_in(head(ikd)["nik"])
    await consent(ikd_client, token)
    before = await counts(db)
    ikd.set_fault(fault, delay_seconds=10, paths=("/persons",))
    started = time.monotonic()
    result = await register(ikd_client, token)
    assert time.monotonic() - started < 5  # the pilot's timeout is 2 s
    assert [e["code"] for e in result["errors"]] == ["IDENTITY_PROVIDER_UNAVAILABLE"]
    assert "coba lagi" in result["errors"][0]["message"]
    assert await counts(db) == before


async def test_identity_provider_down_while_consenting_stores_nothing(ikd_client, ikd, db):
    token = ikd.sign_in(head(ikd)["nik"])
    ikd.set_fault("down", paths=("/consents",))
    given = await consent(ikd_client, token)
    assert [e["code"] for e in given["errors"]] == ["IDENTITY_PROVIDER_UNAVAILABLE"]
    assert await counts(db) == {"person": 0, "household": 0, "consent": 0, "registration": 0}


async def test_english_messages_on_request(ikd_client, ikd, db):
    token = ikd.sign_in(head(ikd)["nik"])
    data = await ikd_client.query(REGISTER, {"programme": "PKH"}, token=token, language="en")
    assert data["data"]["registerHousehold"]["errors"][0]["message"] == "Please give consent to data access first."


@pytest.fixture
async def registry_client(app, db, plugin_manager):
    from fixtures import registry_plugin, static_auth
    from perlinsos.plugins import PluginManager

    plugins = PluginManager(extra_plugins=[(static_auth.NAME, static_auth),
                                           (registry_plugin.NAME, registry_plugin)], national=static_auth.NATIONAL)
    data = pilot_data()
    data["plugins"][registry_plugin.NAME] = {}
    data["plugins"].pop("ikd")
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugins))
    registry_app = create_app(app.state.perlinsos.settings, plugins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=registry_app), base_url="http://t") as http:
        yield GraphQLClient(http)
    await registry_app.state.perlinsos.db.dispose()


@pytest.mark.parametrize("nik, code", [("3510151203800007", "KK_INVALID"), ("3510151203800008", "PERSON_UNKNOWN")])
async def test_records_the_platform_cannot_accept(registry_client, db, nik, code):
    data = await registry_client.query(CONSENT, {"scopes": ["person"]}, token=f"citizen:{nik}")
    assert [e["code"] for e in data["data"]["giveConsent"]["errors"]] == [code]
    assert await counts(db) == {"person": 0, "household": 0, "consent": 0, "registration": 0}


@pytest.mark.parametrize("nik", ["3510151213800001", "351015120380001", "ABCDEFGHIJKLMNOP"])
async def test_a_malformed_nik_from_an_identity_provider_is_refused(registry_client, db, nik):
    before = await counts(db)
    result = await register(registry_client, f"citizen:{nik}")
    assert [e["code"] for e in result["errors"]] == ["NIK_INVALID"]
    assert nik not in str(result)
    assert await counts(db) == before


async def test_a_grant_the_provider_revoked_is_replaced_by_consenting_again(ikd_client, ikd, db):
    """IKD stops honouring the stored grant (revoked there, or the provider lost it): registering
    says so, and giving consent again obtains a new grant rather than returning the dead one."""
    token = ikd.sign_in(head(ikd)["nik"])
    first = await consent(ikd_client, token)
    async with db.read() as s:
        reference = (await s.execute(select(Consent.provider_reference))).scalar_one()
    assert ikd.http.delete(f"/consents/{reference}", headers=ikd.secret_headers()).status_code == 204
    before = await counts(db)
    refused = await register(ikd_client, token)
    assert [e["code"] for e in refused["errors"]] == ["CONSENT_INVALID"]
    assert (await counts(db))["registration"] == before["registration"] == 0
    again = await consent(ikd_client, token)
    assert again["errors"] == [] and again["consent"]["id"] != first["consent"]["id"]
    result = await register(ikd_client, token)
    assert result["errors"] == [] and result["created"] is True
