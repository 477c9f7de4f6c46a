"""One test per hook of :mod:`perlinsos.hookspecs` (``test_hook_<name>``; the meta-test checks).

Hooks the platform already calls are tested through that surface (GraphQL, pilot files); the
others through ``PluginManager.for_pilot(...)`` with the fixture plugins of
``fixtures.hook_plugins``: batches, merging, awaiting, first-result and per-pilot enabling.
"""

from __future__ import annotations

import gc
import logging
import tomllib
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from conftest import GraphQLClient

from fixtures import registry_plugin, seed, static_auth
from fixtures.hook_plugins import (
    AsyncProviders,
    BpjsIncome,
    BrokenListener,
    Declares,
    DukcapilMirrorLast,
    ElectricityCriteria,
    EmailChannels,
    EventLog,
    EvidenceRule,
    IkdAsync,
    IkdMissFirst,
    IncomeCriteria,
    IncomeSettings,
    KantorDesaPlugin,
    LandRegistry,
    LateAsyncAnswer,
    OtherRegion,
    PlnElectricity,
    RegionalSso,
    StatementRule,
    SyncEventLog,
    WhatsAppChannels,
    WrongRegionGround,
    person,
)
from fixtures.pilots import pilot_data
from perlinsos.app import create_app
from perlinsos.contract import (
    FACTS,
    SIGN_IN,
    AppealDraft,
    Channel,
    ConsentGrant,
    ConsentScope,
    Criterion,
    Fact,
    IdentityProvider,
    OutgoingMessage,
    PilotContext,
    Principal,
    RegistrantRef,
    Verdict,
)
from perlinsos.pilots.files import PilotFileError, bundled_pilot_file, parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.plugins import PluginManager


def manager(**plugins) -> PluginManager:
    return PluginManager(extra_plugins=list(plugins.items()), load_entry_points=False)


def pilot(code: str, *enabled: str, **settings) -> PilotContext:
    plugins = {name: {} for name in enabled} | settings
    return PilotContext(id=None, code=code, name=f"Uji coba {code}", region_codes=("35.10",),
                        programmes=("PKH", "SEMBAKO"), plugins=plugins)


def consent(nik: str) -> ConsentGrant:
    return ConsentGrant(nik=nik, scopes=("person:read", "facts:read"), purpose="bansos-2025",
                        policy_version="2025-08", given_at=datetime(2025, 8, 4, 9, 0, tzinfo=UTC))


def registrants(*ids: int) -> list[RegistrantRef]:
    return [RegistrantRef(registration_id=i, nik=seed.nik(i), kk_number=f"35101501010{i:05d}",
                          region_code=seed.KEMIREN, programme="PKH", consent=consent(seed.nik(i)))
            for i in ids]


@contextmanager
def no_unawaited_coroutines():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not unawaited, unawaited


def test_unawaited_check_catches_a_dropped_coroutine():
    """The guard above must be able to fail, or the first-result test proves nothing."""
    with pytest.raises(AssertionError, match="never awaited"):
        with no_unawaited_coroutines():
            LateAsyncAnswer().fetch_person(nik="1", consent=None, pilot=None)


# --- identity -------------------------------------------------------------------------------------

VIEWER = "{ viewer { subject kind roles pilot } }"
PROVIDERS = '{ pilot(code: "BWI-2025") { identityProviders { issuer name capabilities national } } }'
CONSENT_SCOPES = "{ consentScopes { code purpose text } }"
GIVE_CONSENT = """mutation($scopes: [String!]!) {
  giveConsent(input: {scopes: $scopes, policyVersion: "2025-08"}) { consent { scopes } errors { code field } } }"""


def pilot_file(code: str = "BWI-2025", *, drop: tuple[str, ...] = (), **plugins: dict) -> dict:
    """The test pilot (Banyuwangi with the test sign-in) under ``code``, with plugins added or dropped."""
    data = pilot_data(code=code)
    for name in drop:
        data["plugins"].pop(name)
    data["plugins"].update(plugins)
    return data


def with_test_sign_in(*plugins: tuple[str, object]) -> PluginManager:
    """The installed plugins, the test sign-in (national, as in conftest) and ``plugins``."""
    return PluginManager(extra_plugins=[(static_auth.NAME, static_auth), *plugins], national=static_auth.NATIONAL)


@asynccontextmanager
async def serving(settings, pm: PluginManager) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, pm)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
            yield http
    finally:
        await app.state.perlinsos.db.dispose()


def refusals(data: dict, pm: PluginManager) -> list[tuple[str, str]]:
    with pytest.raises(PilotFileError) as caught:
        parse_pilot(data, pm)
    return caught.value.problems


async def test_hook_identity_providers(db, settings):
    sso = RegionalSso()
    # Another instance, for a pilot in which it declares its issuer for facts only (no sign_in).
    no_sign_in = RegionalSso(declares=[IdentityProvider(RegionalSso.ISSUER, "SSO (fakta)", frozenset({FACTS}))])
    # A neighbour's SSO the Banyuwangi pilot also trusts, declared by a plugin of its own.
    neighbour = Declares(IdentityProvider(RegionalSso.FOREIGN, "SSO tetangga", frozenset({SIGN_IN})))
    pm = with_test_sign_in((RegionalSso.NAME, sso), ("no_sign_in", no_sign_in), ("neighbour", neighbour))
    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_file(**{RegionalSso.NAME: {}, "neighbour": {}}), pm))
        await save_pilot(session, parse_pilot(pilot_file("BWI-2026"), pm))
        await save_pilot(session, parse_pilot(pilot_file("BWI-2027", no_sign_in={}), pm))
    await seed.staff(db, "petugas.kemiren", "FACILITATOR", seed.KEMIREN, "BWI-2025", issuer=RegionalSso.ISSUER)

    async with serving(settings, pm) as http:
        bwi = GraphQLClient(http, pilot="BWI-2025")
        # Its issuer is declared with sign_in: its tokens sign people in, and the staff role given
        # to (its issuer, the subject) in this pilot applies.
        viewer = (await bwi.query(VIEWER, token="sso:petugas.kemiren"))["data"]["viewer"]
        assert viewer == {"subject": "petugas.kemiren", "kind": "staff", "roles": ["FACILITATOR"], "pilot": "BWI-2025"}
        # The same subject at another provider is someone else.
        assert (await bwi.query(VIEWER, token="staff:petugas.kemiren"))["data"]["viewer"]["roles"] == []
        # The plugin recognises the token but vouches for an issuer it did not declare (only another
        # plugin did): nobody here.
        assert (await bwi.post(VIEWER, token="sso-foreign:petugas.kemiren")).status_code == 401
        providers = (await bwi.query(PROVIDERS))["data"]["pilot"]["identityProviders"]
        assert {"issuer": RegionalSso.ISSUER, "name": "SSO Kabupaten Jember", "capabilities": ["sign_in"],
                "national": False} in providers
        assert sso.calls and set(sso.calls) == {("identity_providers", "BWI-2025")}

        # A pilot that does not enable the plugin neither asks it nor trusts its issuer.
        asked = len(sso.calls)
        elsewhere = GraphQLClient(http, pilot="BWI-2026")
        assert (await elsewhere.post(VIEWER, token="sso:petugas.kemiren")).status_code == 401
        assert len(sso.calls) == asked
        # Declared, but not for sign-in: its tokens sign nobody in.
        bwi_2027 = GraphQLClient(http, pilot="BWI-2027")
        assert (await bwi_2027.post(VIEWER, token="sso:petugas.kemiren")).status_code == 401
        assert set(no_sign_in.calls) == {("identity_providers", "BWI-2027")}

    # Refused when the pilot is loaded, naming the plugins: one issuer's sign-in declared by two
    # plugins (they could disagree about who someone is), and declarations the platform cannot use.
    impostor = Declares(IdentityProvider(static_auth.ISSUER, "SSO palsu", frozenset({SIGN_IN})))
    sloppy = Declares({"issuer": RegionalSso.ISSUER, "capabilities": ["sign_in"]})
    facts_only = Declares(IdentityProvider(static_auth.ISSUER, "Fakta", frozenset({FACTS})))
    pm = with_test_sign_in(("impostor", impostor), ("sloppy", sloppy), ("async_providers", AsyncProviders()),
                           ("facts_only", facts_only))
    [(where, message)] = refusals(pilot_file(impostor={}), pm)
    assert where == "(identity)"
    assert all(word in message for word in (static_auth.ISSUER, "sign_in", "impostor", static_auth.NAME)), message
    for name, expected in (("sloppy", "identity_providers must return IdentityProvider objects"),
                           ("async_providers", "must answer synchronously")):
        problems = refusals(pilot_file(**{name: {}}), pm)
        assert [m for w, m in problems if w == f"plugins.{name}" and f"plugin {name!r}" in m and expected in m], \
            problems
    # Facts are not exclusive: a second source reading under one provider's grants is fine.
    assert parse_pilot(pilot_file(facts_only={}), pm).plugins["facts_only"] == {}


async def test_hook_authenticate(client, db, plugin_manager):
    nik = seed.nik(5)
    data = await client.query(VIEWER, token=f"citizen:{nik}")
    assert data["data"]["viewer"] == {"subject": f"citizen-{nik}", "kind": "citizen",
                                      "roles": ["CITIZEN"], "pilot": "BWI-2025"}

    # Identity plugins say who; roles come from the platform's staff assignments.
    await seed.staff(db, "petugas.kemiren", "FACILITATOR", seed.KEMIREN, "BWI-2025")
    data = await client.query(VIEWER, token="staff:petugas.kemiren")
    assert data["data"]["viewer"]["kind"] == "staff"
    assert data["data"]["viewer"]["roles"] == ["FACILITATOR"]

    assert (await client.query(VIEWER))["data"]["viewer"]["kind"] == "anonymous"
    # Recognised but invalid (the plugin raises), and recognised by nobody: both 401.
    assert (await client.post(VIEWER, token="bad:tampered")).status_code == 401
    assert (await client.post(VIEWER, token="ikd:not-a-jwt")).status_code == 401

    # A pilot that does not enable static_auth never asks it.
    data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8")) | {"code": "BWI-2026"}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(data, plugin_manager))
    client.pilot = "BWI-2026"
    assert (await client.post(VIEWER, token=f"citizen:{nik}")).status_code == 401


async def test_hook_fetch_person():
    known, unknown = seed.nik(1), seed.nik(2)
    miss, ikd, mirror, late, jember = (IkdMissFirst(), IkdAsync({known: person(known)}),
                                       DukcapilMirrorLast(), LateAsyncAnswer(), OtherRegion())
    pm = manager(miss=miss, ikd_async=ikd, mirror=mirror, late=late, jember=jember)
    hooks = pm.for_pilot(pilot("BWI-2025", "miss", "ikd_async", "mirror", "late"))

    # miss (tryfirst) awaits to None, so ikd is asked; its awaited answer stops the search.
    with no_unawaited_coroutines():
        found = await hooks.first("fetch_person", nik=known, consent=consent(known))
    assert found == person(known)
    assert miss.calls == ikd.calls == [("fetch_person", "BWI-2025", known)]
    assert mirror.calls == [] and late.calls == []

    # Nobody before the mirror knows this NIK; the mirror answers and `late` is never called.
    with no_unawaited_coroutines():
        found = await hooks.first("fetch_person", nik=unknown, consent=consent(unknown))
    assert found.name == "Dari Mirror"
    assert mirror.calls == [("fetch_person", "BWI-2025", unknown)]
    assert late.calls == []

    # Jember's plugin is installed but only its pilot enables it.
    assert jember.calls == []
    found = await pm.for_pilot(pilot("JMR-2025", "jember")).first("fetch_person", nik=known, consent=consent(known))
    assert found.name == "Dari Jember" and jember.calls == [("fetch_person", "JMR-2025")]
    assert len(ikd.calls) == 2  # not asked for Jember's pilot

    # No enabled plugin knows the NIK: None, not an error.
    assert await pm.for_pilot(pilot("BWI-2025", "miss")).first("fetch_person", nik=known, consent=None) is None


async def test_hook_consent_scopes(db, settings):
    land = LandRegistry()
    # The fixture registry grants consent and a mirror serves the record, for citizens of the
    # test sign-in (no provider of theirs grants consent: plugins bound to none do).
    pm = with_test_sign_in((registry_plugin.NAME, registry_plugin), ("mirror", DukcapilMirrorLast()),
                           (LandRegistry.NAME, land))
    population = {registry_plugin.NAME: {}, "mirror": {}}
    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_file(drop=("ikd",), **population, **{LandRegistry.NAME: {}}), pm))
        await save_pilot(session, parse_pilot(pilot_file("BWI-2026", drop=("ikd",), **population), pm))
    token = f"citizen:{seed.nik(3)}"

    async with serving(settings, pm) as http:
        bwi, other = GraphQLClient(http, pilot="BWI-2025"), GraphQLClient(http, pilot="BWI-2026")
        listed = {s["code"]: s for s in (await bwi.query(CONSENT_SCOPES, language="en"))["data"]["consentScopes"]}
        assert listed["facts:land"] == {"code": "facts:land", "purpose": "bansos-selection",
                                        "text": "Recorded land ownership (BPN)"}
        assert {"person", "facts:income"} <= set(listed)  # beside the platform's own
        listed_id = (await bwi.query(CONSENT_SCOPES, language="id"))["data"]["consentScopes"]
        assert {"code": "facts:land", "purpose": "bansos-selection",
                "text": "Kepemilikan tanah tercatat (BPN)"} in listed_id
        assert land.calls and set(land.calls) == {("consent_scopes", "BWI-2025")}

        given = (await bwi.query(GIVE_CONSENT, {"scopes": ["person", "facts:land"]}, token=token))["data"]
        assert given["giveConsent"] == {"consent": {"scopes": ["person", "facts:land"]}, "errors": []}
        unknown = (await bwi.query(GIVE_CONSENT, {"scopes": ["person", "facts:sea"]}, token=token))["data"]
        assert unknown["giveConsent"] == {"consent": None, "errors": [{"code": "SCOPE_UNKNOWN", "field": "scopes"}]}

        # A pilot that does not enable the registry neither offers its scope nor accepts it.
        assert "facts:land" not in {s["code"] for s in (await other.query(CONSENT_SCOPES))["data"]["consentScopes"]}
        refused = (await other.query(GIVE_CONSENT, {"scopes": ["person", "facts:land"]}, token=token))["data"]
        assert [e["code"] for e in refused["giveConsent"]["errors"]] == ["SCOPE_UNKNOWN"]

    # Refused when the pilot is loaded, naming the plugin: a built-in code, a malformed code, a
    # text a citizen cannot read in both languages, one code declared by two plugins.
    land = LandRegistry.LAND
    cases = {
        "builtin": ([ConsentScope("facts:income", "bansos-selection", {"id": "Penghasilan", "en": "Income"})],
                    "consent scope facts:income clashes with one declared by the platform"),
        "malformed": ([replace(land, code="Facts Land!")], "is not a code like facts:land"),
        "no_english": ([replace(land, text={"id": "Kepemilikan tanah"})], "a citizen-facing text in id and en"),
        "blank_english": ([replace(land, text={"id": "Kepemilikan tanah", "en": "  "})],
                          "a citizen-facing text in id and en"),
        "not_a_scope": ([{"code": "facts:land"}], "consent_scopes must return ConsentScope objects"),
    }
    pm = with_test_sign_in(*((name, LandRegistry(scopes)) for name, (scopes, _) in cases.items()),
                           ("land_a", LandRegistry()), ("land_b", LandRegistry()))
    for name, (_, expected) in cases.items():
        problems = refusals(pilot_file(**{name: {}}), pm)
        assert [m for w, m in problems if w == f"plugins.{name}" and expected in m], (name, problems)
    [(where, message)] = refusals(pilot_file(land_a={}, land_b={}), pm)
    first, second = sorted(("land_a", "land_b"), key=lambda name: where != f"plugins.{name}")
    assert where == f"plugins.{first}" and message.endswith(f"clashes with one declared by {second}"), (where, message)


# --- data -----------------------------------------------------------------------------------------


async def test_hook_collect_facts():
    bpjs, pln, jember = BpjsIncome(), PlnElectricity(down_for=2), OtherRegion()
    pm = manager(bpjs=bpjs, pln=pln, jember=jember)
    batch = registrants(1, 2, 3)
    facts = await pm.for_pilot(pilot("BWI-2025", "bpjs", "pln")).merged("collect_facts", registrants=batch)

    # One call per plugin for the whole batch, never one per registrant.
    assert bpjs.calls == pln.calls == [("collect_facts", "BWI-2025", (1, 2, 3))]
    assert all(isinstance(f, Fact) for f in facts)  # the async plugin's result was awaited
    assert sorted((f.registration_id, f.name) for f in facts) == sorted(
        (i, name) for i in (1, 2, 3) for name in ("monthly_income", "electricity_va"))
    assert [f for f in facts if f.registration_id == 1 and f.name == "monthly_income"][0].value == 1_500_001
    down = [(f.registration_id, f.name, f.value, f.error) for f in facts if f.error]
    assert down == [(2, "electricity_va", None, "timeout")]

    assert jember.calls == []
    facts = await pm.for_pilot(pilot("JMR-2025", "jember")).merged("collect_facts", registrants=batch)
    assert {f.name for f in facts} == {"jember_fact"} and len(bpjs.calls) == 1


# --- criteria -------------------------------------------------------------------------------------


async def test_hook_eligibility_criteria():
    income, electricity, jember = IncomeCriteria(), ElectricityCriteria(), OtherRegion()
    pm = manager(income=income, electricity=electricity, jember=jember)
    bwi = pilot("BWI-2025", "electricity", income=pm.validate_settings("income", {"income_limit": 2_810_139}))
    criteria = await pm.for_pilot(bwi).merged("eligibility_criteria", programme="PKH")

    assert sorted(c.code for c in criteria) == ["ELECTRICITY_ABOVE_LIMIT", "INCOME_ABOVE_LIMIT"]
    assert all(isinstance(c, Criterion) for c in criteria)
    facts = {"monthly_income": Fact(1, "monthly_income", 3_000_000, "BPJS Ketenagakerjaan")}
    results = {c.code: c.evaluate(facts, registrants(1)[0]) for c in criteria}
    assert (results["INCOME_ABOVE_LIMIT"].verdict, results["INCOME_ABOVE_LIMIT"].observed,
            results["INCOME_ABOVE_LIMIT"].limit) == (Verdict.FAIL, 3_000_000, 2_810_139)
    assert results["ELECTRICITY_ABOVE_LIMIT"].verdict is Verdict.UNKNOWN  # no fact: unknown, not fail

    # The programme is passed through, and each pilot's settings reach the plugin.
    sembako = await pm.for_pilot(bwi).merged("eligibility_criteria", programme="SEMBAKO")
    assert [c.code for c in sembako] == ["INCOME_ABOVE_LIMIT"]
    other = pilot("BWI-2026", income=pm.validate_settings("income", {"income_limit": 3_000_001}))
    [criterion] = await pm.for_pilot(other).merged("eligibility_criteria", programme="PKH")
    assert criterion.evaluate(facts, registrants(1)[0]).verdict is Verdict.PASS
    assert income.calls == [("eligibility_criteria", "BWI-2025", "PKH"), ("eligibility_criteria", "BWI-2025", "SEMBAKO"),
                            ("eligibility_criteria", "BWI-2026", "PKH")]

    assert jember.calls == []
    jember_criteria = await pm.for_pilot(pilot("JMR-2025", "jember")).merged("eligibility_criteria", programme="PKH")
    assert [c.code for c in jember_criteria] == ["JEMBER_ONLY"]


# --- notification ---------------------------------------------------------------------------------


async def test_hook_notification_channels():
    whatsapp, email, jember = WhatsAppChannels(), EmailChannels(), OtherRegion()
    pm = manager(whatsapp=whatsapp, email=email, jember=jember)
    channels = await pm.for_pilot(pilot("BWI-2025", "whatsapp", "email")).merged("notification_channels")

    assert sorted(c.name for c in channels) == ["email", "whatsapp"]
    assert all(isinstance(c, Channel) for c in channels)
    by_name = {c.name: c for c in channels}
    assert by_name["whatsapp"].recipient_for({"phone": "+6281234567890"}) == "+6281234567890"
    message = OutgoingMessage(notification_id=41, idempotency_key="decision-41-sms", recipient="+6281234567890",
                              template="DECISION_ELIGIBLE", language="id", title="Anda memenuhi syarat PKH",
                              body="...", short="Perlinsos: ...", params={"programme": "PKH"})
    result = await by_name["whatsapp"].send(message)
    assert result.ok and result.provider_reference == "whatsapp-41"

    assert whatsapp.calls == email.calls == [("notification_channels", "BWI-2025")]
    assert jember.calls == []
    only_email = await pm.for_pilot(pilot("BWI-2026", "email")).merged("notification_channels")
    assert [c.name for c in only_email] == ["email"] and len(whatsapp.calls) == 1
    assert [c.name for c in await pm.for_pilot(pilot("JMR-2025", "jember")).merged("notification_channels")] == [
        "jember_sms"]


# --- appeals --------------------------------------------------------------------------------------


async def test_hook_appeal_grounds():
    pm = PluginManager()  # the built-in appeals plugin, from its entry point
    appeals_settings = pm.validate_settings("appeals", {"review_sla_days": 14})
    grounds = await pm.for_pilot(pilot("BWI-2025", appeals=appeals_settings)).merged("appeal_grounds")
    assert {g.code for g in grounds} == {"NIK_MISUSE", "DATA_INCORRECT", "CIRCUMSTANCES_CHANGED"}
    assert all(g.disputable_reasons and g.title.get("id") and g.title.get("en") for g in grounds)
    nik_misuse = next(g for g in grounds if g.code == "NIK_MISUSE")
    assert "INCOME_ABOVE_LIMIT" in nik_misuse.disputable_reasons and "KTP" in nik_misuse.required_evidence

    # A pilot without the appeals plugin offers no grounds.
    assert await pm.for_pilot(pilot("JMR-2025", "ikd")).merged("appeal_grounds") == []

    # A region's async plugin adds a ground beside the built-in ones, where enabled.
    extra = WrongRegionGround()
    pm = PluginManager(extra_plugins=[("wrong_region", extra)])
    both = await pm.for_pilot(pilot("BWI-2025", "wrong_region", appeals=appeals_settings)).merged("appeal_grounds")
    assert {g.code for g in both} == {"NIK_MISUSE", "DATA_INCORRECT", "CIRCUMSTANCES_CHANGED", "WRONG_REGION"}
    builtin_only = await pm.for_pilot(pilot("BWI-2026", appeals=appeals_settings)).merged("appeal_grounds")
    assert "WRONG_REGION" not in {g.code for g in builtin_only}
    assert extra.calls == [("appeal_grounds", "BWI-2025")]


async def test_hook_check_appeal():
    evidence, statement, jember = EvidenceRule(), StatementRule(), OtherRegion()
    pm = manager(evidence=evidence, statement=statement, jember=jember)
    nik = seed.nik(9)
    decision = {"id": 7, "outcome": "NOT_ELIGIBLE", "reasons": ["INCOME_ABOVE_LIMIT", "STATE_EMPLOYEE"], "nik": nik}
    citizen = Principal(subject=f"citizen-{nik}", kind="citizen", nik=nik)
    good = AppealDraft(decision_id=7, ground="NIK_MISUSE", disputed_reasons=("INCOME_ABOVE_LIMIT",),
                       statement="NIK saya dipakai perusahaan di Surabaya; saya tidak pernah bekerja di sana.",
                       comparison_data={"employer": "-", "monthly_income": 0}, evidence_kinds=("KTP",),
                       appellant_nik=nik)
    hooks = pm.for_pilot(pilot("BWI-2025", "evidence", "statement"))

    assert await hooks.merged("check_appeal", appeal=good, decision=decision, principal=citizen) == []
    bad = replace(good, statement="salah", evidence_kinds=(), disputed_reasons=("OWNS_CAR",))
    problems = await hooks.merged("check_appeal", appeal=bad, decision=decision, principal=citizen)
    # Problems from the sync and the async plugin are merged: the citizen sees every one.
    assert sorted((p.code, p.field) for p in problems) == [
        ("EVIDENCE_MISSING", "evidence"), ("REASON_NOT_GIVEN", "disputedReasons"),
        ("STATEMENT_TOO_SHORT", "statement")]
    assert len(evidence.calls) == len(statement.calls) == 2

    assert jember.calls == []
    jember_problems = await pm.for_pilot(pilot("JMR-2025", "jember")).merged(
        "check_appeal", appeal=good, decision=decision, principal=citizen)
    assert [p.code for p in jember_problems] == ["JEMBER_SAYS_NO"]


# --- schema ---------------------------------------------------------------------------------------

KANTOR = '{ kantorDesa(regionCode: "35.10.15.2004") { name regionCode pilot } }'


async def _post(app, query: str, pilot_code: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://perlinsos.test") as http:
        return await http.post("/graphql", json={"query": query}, headers={"X-Perlinsos-Pilot": pilot_code})


async def test_hook_graphql_schema_parts(db, settings, plugin_manager):
    pm = PluginManager(extra_plugins=[(static_auth.NAME, static_auth), (KantorDesaPlugin.NAME, KantorDesaPlugin())], national=static_auth.NATIONAL)
    for code, extra in (("BWI-2025", {KantorDesaPlugin.NAME: {}}), ("BWI-2026", {})):
        data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8")) | {"code": code}
        data["plugins"].update(extra)
        async with db.write() as session:
            await save_pilot(session, parse_pilot(data, pm))

    app = create_app(settings, pm)
    try:
        response = await _post(app, KANTOR, "BWI-2025")
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"kantorDesa": {
            "name": "Kantor Desa 35.10.15.2004", "regionCode": "35.10.15.2004", "pilot": "BWI-2025"}}}
        # The schema is the deployment's; the resolver answers only where the pilot enables it.
        assert (await _post(app, KANTOR, "BWI-2026")).json() == {"data": {"kantorDesa": None}}
    finally:
        await app.state.perlinsos.db.dispose()

    # Without the plugin installed, the field does not exist.
    plain = create_app(settings, plugin_manager)
    try:
        errors = (await _post(plain, KANTOR, "BWI-2026")).json()["errors"]
        assert "kantorDesa" in errors[0]["message"]
    finally:
        await plain.state.perlinsos.db.dispose()


def test_hook_plugin_settings_schema():
    pm = PluginManager(extra_plugins=[("income", IncomeCriteria()), (static_auth.NAME, static_auth)], national=static_auth.NATIONAL)
    assert pm.settings_model("income") is IncomeSettings
    assert pm.settings_model(static_auth.NAME) is None

    def pilot_file(**plugin_settings):
        data = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
        data["plugins"].update(plugin_settings)
        return data

    spec = parse_pilot(pilot_file(income={"income_limit": 2_500_000}), pm)
    assert pm.validate_settings("income", spec.plugins["income"]) == IncomeSettings(income_limit=2_500_000)

    cases = [
        ({"income": {"income_limit": "dua juta"}}, "plugins.income.income_limit", "integer"),
        ({"income": {"income_limit": -1}}, "plugins.income.income_limit", "greater than 0"),
        ({"income": {}}, "plugins.income.income_limit", "required setting is missing"),
        ({"income": {"income_limit": 1, "income_limt": 1}}, "plugins.income.income_limt", "unknown setting"),
        ({static_auth.NAME: {"secret": "x"}}, f"plugins.{static_auth.NAME}.secret", "takes no settings"),
    ]
    for plugin_settings, field, message in cases:
        with pytest.raises(PilotFileError) as caught:
            parse_pilot(pilot_file(**plugin_settings), pm)
        assert [(f, m) for f, m in caught.value.problems if f == field and message in m], caught.value.problems

    # The built-ins validate the same way (the SMS sender id is at most 11 characters).
    with pytest.raises(PilotFileError, match="plugins.notify_sms.sender_id"):
        data = pilot_file()
        data["plugins"]["notify_sms"]["sender_id"] = "PERLINSOS-BANYUWANGI"
        parse_pilot(data, pm)


# --- events ---------------------------------------------------------------------------------------


async def _check_event(caplog, hook: str, kwargs: dict, recorded: tuple) -> None:
    broken, log_async, log_sync, jember = BrokenListener(), EventLog(), SyncEventLog(), OtherRegion()
    pm = manager(broken=broken, log_async=log_async, log_sync=log_sync, jember=jember)
    with caplog.at_level(logging.ERROR, logger="perlinsos.plugins"):
        await pm.for_pilot(pilot("BWI-2025", "broken", "log_async", "log_sync")).notify(hook, **kwargs)

    # `broken` runs first (tryfirst) and raises; the others still run, and async ones are awaited.
    assert broken.hooks_called() == [hook]
    assert log_async.calls == log_sync.calls == [(hook, "BWI-2025", *recorded)]
    [record] = [r for r in caplog.records if r.name == "perlinsos.plugins"]
    assert "broken" in record.getMessage() and hook in record.getMessage()
    assert record.exc_info and record.exc_info[0] is RuntimeError

    assert jember.calls == []
    await pm.for_pilot(pilot("JMR-2025", "jember")).notify(hook, **kwargs)
    assert jember.calls == [(hook, "JMR-2025")] and len(log_async.calls) == 1


async def test_hook_registrations_created(caplog):
    batch = [{"id": 101, "programme": "PKH"}, {"id": 102, "programme": "SEMBAKO"}]
    await _check_event(caplog, "registrations_created", {"registrations": batch}, ((101, 102),))


async def test_hook_decisions_made(caplog):
    batch = [{"id": 7, "registration_id": 101, "version": 1, "outcome": "NOT_ELIGIBLE",
              "reasons": ["ELECTRICITY_ABOVE_LIMIT"]}, {"id": 8, "registration_id": 102, "version": 1,
                                                        "outcome": "ELIGIBLE", "reasons": []}]
    await _check_event(caplog, "decisions_made", {"decisions": batch}, ((7, 8),))


async def test_hook_appeal_status_changed(caplog):
    appeal = {"id": 3, "decision_id": 7, "ground": "NIK_MISUSE", "status": "UNDER_REVIEW"}
    await _check_event(caplog, "appeal_status_changed",
                       {"appeal": appeal, "old_status": "SUBMITTED", "new_status": "UNDER_REVIEW"},
                       (3, "SUBMITTED", "UNDER_REVIEW"))
