"""Many regions, many identity providers, one deployment (issue 12): the two-provider test bed.

Banyuwangi (BWI-2025) trusts IKD for everything. Jember (JBR-2026) lets citizens and staff sign in
with the regency's own OpenID provider (the ``oidc`` plugin and its simulator: other keys, another
issuer) and takes consent, the person record and facts from IKD. Everything goes over real HTTP
to the IKD and OIDC simulators, through GraphQL, on SQLite or PostgreSQL as the suite runs.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from perlinsos.app import create_app
from perlinsos.db.models import IdentityLink, StaffAssignment, StaffRole
from perlinsos.pilots.files import bundled_pilot_file, parse_pilot
from perlinsos.pilots.store import save_pilot
from perlinsos.registration.consent import SCOPES
from sqlalchemy import func, select

from conftest import GraphQLClient
from fixtures.ikd import IkdSimulator
from fixtures.oidc import oidc_provider  # noqa: F401 - the session's OIDC simulator

BWI, JBR = "BWI-2025", "JBR-2026"
ADMIN = "admin.pusat"  # the national office: an IKD subject, national

VIEWER = "{ viewer { kind subject roles pilot } }"
LIST = 'query($p: String!) { registrations(pilot: $p) { nodes { id registrant { name } } } }'
CONSENT = """mutation($s: [String!]!, $t: String) { giveConsent(input: {scopes: $s, policyVersion: "2025-08",
  consentToken: $t}) { consent { id scopes } errors { code field } } }"""
REGISTER = 'mutation { registerHousehold(input: {programme: "PKH"}) { registration { id } errors { code } } }'
ASSIGN = """mutation($i: AssignStaffInput!) { assignStaff(input: $i) { assignment { id issuer subject }
  errors { code field } } }"""
ME = "{ me { person { nik } registrations { programme decision { outcome reasons { code verdict source } } } } }"
RUN = 'mutation($p: String!) { runSelection(pilot: $p) { run { id } errors { code } } }'
RUN_STATUS = 'query($id: ID!) { selectionRun(id: $id) { status decided } }'


@pytest.fixture(scope="module")
def ikd():
    """IKD with people in Banyuwangi and Jember."""
    with IkdSimulator(people=240, regions=("35.10", "35.09")) as sim:
        yield sim


def _ikd_table(ikd) -> dict:
    return {"issuer": ikd.issuer, "audience": ikd.audience, "client_secret": ikd.client_secret,
            "timeout_seconds": 5.0}


@pytest.fixture
async def api(app, db, plugin_manager, ikd, oidc_provider):  # noqa: F811
    """Both pilots stored, the national admin assigned; a client per pilot."""
    import tomllib

    base = tomllib.loads(bundled_pilot_file().read_text(encoding="utf-8"))
    bwi = base | {"plugins": {"ikd": _ikd_table(ikd), "criteria": base["plugins"]["criteria"],
                              "appeals": {}}}
    jbr = base | {"code": JBR, "name": "Uji coba Portal Perlinsos Kabupaten Jember", "regions": ["35.09"],
                  "plugins": {"oidc": oidc_provider.plugin_table(), "ikd": _ikd_table(ikd),
                              "criteria": base["plugins"]["criteria"], "appeals": {}}}
    async with db.write() as session:
        for data in (bwi, jbr):
            await save_pilot(session, parse_pilot(data, plugin_manager))
        session.add(StaffAssignment(issuer=ikd.issuer, subject=ADMIN, role=StaffRole.ADMIN, region_code="35",
                                    created_by="test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        yield {code: GraphQLClient(http, pilot=code) for code in (BWI, JBR)}
    await app.state.perlinsos.db.dispose()  # no connection outlives the test (PostgreSQL templates)


def jember_person(ikd, index: int = 0) -> dict:
    return ikd.people(limit=index + 1, region="35.09", role="HEAD")[index]


def banyuwangi_person(ikd, index: int = 0) -> dict:
    return ikd.people(limit=index + 1, region="35.10", role="HEAD")[index]


async def status(client: GraphQLClient, token: str) -> int:
    return (await client.post(VIEWER, token=token)).status_code


async def assigned(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(StaffAssignment))).scalar_one()


# --- tokens and pilots ----------------------------------------------------------------------------


async def test_a_token_is_accepted_only_by_pilots_that_trust_its_issuer(api, ikd, oidc_provider):  # noqa: F811
    sso_citizen = oidc_provider.token("warga-jbr-1", nik=jember_person(ikd)["nik"])
    assert await status(api[BWI], sso_citizen) == 401  # Banyuwangi does not trust Jember's SSO
    viewer = (await api[JBR].query(VIEWER, token=sso_citizen))["data"]["viewer"]
    assert viewer == {"kind": "citizen", "subject": "warga-jbr-1", "roles": ["CITIZEN"], "pilot": JBR}
    ikd_citizen = ikd.sign_in(banyuwangi_person(ikd)["nik"])
    assert (await api[BWI].query(VIEWER, token=ikd_citizen))["data"]["viewer"]["kind"] == "citizen"
    # the pilot names who it trusts, so a frontend offers the right sign-in buttons
    providers = (await api[JBR].query('{ pilot(code: "JBR-2026") { identityProviders { issuer capabilities '
                                      'national } } }'))["data"]["pilot"]["identityProviders"]
    assert {"issuer": oidc_provider.issuer, "capabilities": ["sign_in"], "national": False} in providers
    assert {"issuer": ikd.issuer, "capabilities": ["consent", "facts", "person", "sign_in"],
            "national": True} in providers


async def test_a_staff_assignment_of_one_pilot_gives_nothing_in_another(api, db, ikd, oidc_provider):  # noqa: F811
    admin = ikd.sign_in_staff(ADMIN)
    given = (await api[JBR].query(ASSIGN, {"i": {"subject": "petugas.jember", "role": "REVIEWER",
                                                 "regionCode": "35.09", "pilot": JBR,
                                                 "issuer": oidc_provider.issuer}}, token=admin))["data"]["assignStaff"]
    assert given["errors"] == [] and given["assignment"]["issuer"] == oidc_provider.issuer
    given = (await api[BWI].query(ASSIGN, {"i": {"subject": "verifikator.bwi", "role": "REVIEWER",
                                                 "regionCode": "35.10", "pilot": BWI}}, token=admin))
    assert given["data"]["assignStaff"]["assignment"]["issuer"] == ikd.issuer  # the one BWI trusts
    person = banyuwangi_person(ikd)
    citizen = ikd.sign_in(person["nik"])
    assert (await api[BWI].query(CONSENT, {"s": list(SCOPES)}, token=citizen))["data"]["giveConsent"]["errors"] == []
    assert (await api[BWI].query(REGISTER, token=citizen))["data"]["registerHousehold"]["errors"] == []

    jember_reviewer = oidc_provider.token("petugas.jember", name="Petugas Jember")
    assert (await api[JBR].query(VIEWER, token=jember_reviewer))["data"]["viewer"]["roles"] == ["REVIEWER"]
    # Banyuwangi's registrations stay out of reach of Jember's reviewer, whichever way asked
    assert (await api[JBR].query(LIST, {"p": BWI}, token=jember_reviewer))["data"]["registrations"]["nodes"] == []
    assert await status(api[BWI], jember_reviewer) == 401
    # the Banyuwangi reviewer reads Banyuwangi; their assignment does not follow them into Jember
    bwi_reviewer = ikd.sign_in_staff("verifikator.bwi")
    assert len((await api[BWI].query(LIST, {"p": BWI}, token=bwi_reviewer))["data"]["registrations"]["nodes"]) == 1
    assert (await api[JBR].query(VIEWER, token=bwi_reviewer))["data"]["viewer"]["roles"] == []
    assert (await api[JBR].query(LIST, {"p": BWI}, token=bwi_reviewer))["data"]["registrations"]["nodes"] == []


async def test_the_same_subject_from_another_issuer_is_someone_else(api, ikd, oidc_provider):  # noqa: F811
    # Jember's SSO signs a token whose `sub` is the national admin's: it is not the admin.
    impostor = oidc_provider.token(ADMIN, name="Bukan admin")
    viewer = (await api[JBR].query(VIEWER, token=impostor))["data"]["viewer"]
    assert viewer["subject"] == ADMIN and viewer["roles"] == []
    refused = await api[JBR].query("{ staffAssignments { nodes { subject } } }", token=impostor)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api[JBR].query(LIST, {"p": BWI}, token=impostor))["data"]["registrations"]["nodes"] == []
    # the real one, through IKD, is the admin in both pilots (a national assignment)
    for code in (BWI, JBR):
        assert (await api[code].query(VIEWER, token=ikd.sign_in_staff(ADMIN)))["data"]["viewer"]["roles"] == ["ADMIN"]
    # Jember trusts both providers for sign-in: a Jember assignment of an IKD subject is that IKD
    # identity's alone, not the SSO account that happens to carry the same subject
    given = await api[JBR].query(ASSIGN, {"i": {"subject": "verifikator.jbr", "role": "REVIEWER", "regionCode": "35.09",
                                                "pilot": JBR, "issuer": ikd.issuer}}, token=ikd.sign_in_staff(ADMIN))
    assert given["data"]["assignStaff"]["errors"] == []
    assert (await api[JBR].query(VIEWER, token=ikd.sign_in_staff("verifikator.jbr")))["data"]["viewer"]["roles"] == [
        "REVIEWER"]
    twin = oidc_provider.token("verifikator.jbr")
    assert (await api[JBR].query(VIEWER, token=twin))["data"]["viewer"]["roles"] == []


@pytest.mark.parametrize("assignment, code", [
    ({"role": "ADMIN", "regionCode": "35"}, "NATIONAL_ROLE_NEEDS_NATIONAL_PROVIDER"),
    ({"role": "REVIEWER", "regionCode": "35.09"}, "NATIONAL_ROLE_NEEDS_NATIONAL_PROVIDER"),
    ({"role": "ADMIN", "regionCode": "35.09", "pilot": JBR}, "ADMIN_IS_NATIONAL"),
    ({"role": "REVIEWER", "regionCode": "35.10.15", "pilot": JBR}, "REGION_OUTSIDE_PILOT"),
    ({"role": "REVIEWER", "regionCode": "35.10", "pilot": BWI}, "ISSUER_NOT_TRUSTED"),
])
async def test_a_regional_provider_cannot_be_given_a_national_or_foreign_role(api, db, ikd, oidc_provider,  # noqa: F811
                                                                               assignment, code):
    before = await assigned(db)
    result = (await api[JBR].query(ASSIGN, {"i": {"subject": "sso-user", "issuer": oidc_provider.issuer}
                                           | assignment}, token=ikd.sign_in_staff(ADMIN)))["data"]["assignStaff"]
    assert result["assignment"] is None and [e["code"] for e in result["errors"]] == [code]
    assert await assigned(db) == before  # nothing stored


# --- a regional sign-in, IKD for consent, person and facts -----------------------------------------


async def test_a_regional_citizen_consents_through_ikd_and_is_decided_with_ikd_facts(api, db, ikd,
                                                                                     oidc_provider):  # noqa: F811
    person, other = jember_person(ikd, 0), jember_person(ikd, 1)
    sso = oidc_provider.token("warga-jbr-7", nik=person["nik"])
    jbr = api[JBR]
    # The SSO's NIK claim opens nothing until IKD confirms it.
    assert (await jbr.query(ME, token=sso))["data"]["me"] is None
    assert (await jbr.query(REGISTER, token=sso))["data"]["registerHousehold"]["errors"] == [
        {"code": "NIK_NOT_CONFIRMED"}]
    given = (await jbr.query(CONSENT, {"s": list(SCOPES)}, token=sso))["data"]["giveConsent"]
    assert given["errors"] == [{"code": "CONSENT_TOKEN_REQUIRED", "field": "consentToken"}]
    # someone else's IKD token does not confirm this NIK (nothing stored, nothing linked)
    given = (await jbr.query(CONSENT, {"s": list(SCOPES), "t": ikd.sign_in(other["nik"])}, token=sso))
    assert given["data"]["giveConsent"]["errors"] == [{"code": "CONSENT_TOKEN_INVALID", "field": "consentToken"}]
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IdentityLink))).scalar_one() == 0
    # the citizen's own IKD token: IKD grants the consent, and the SSO identity is linked to the NIK
    given = (await jbr.query(CONSENT, {"s": list(SCOPES), "t": ikd.sign_in(person["nik"])}, token=sso))
    assert given["data"]["giveConsent"]["errors"] == []
    async with db.read() as s:
        link = (await s.execute(select(IdentityLink))).scalar_one()
    assert (link.issuer, link.subject, link.nik, link.confirmed_by) == (oidc_provider.issuer, "warga-jbr-7",
                                                                        person["nik"], ikd.issuer)
    assert (await jbr.query(REGISTER, token=sso))["data"]["registerHousehold"]["errors"] == []

    admin = ikd.sign_in_staff(ADMIN)
    run = (await jbr.query(RUN, {"p": JBR}, token=admin))["data"]["runSelection"]
    assert run["errors"] == []
    for _ in range(500):
        state = (await jbr.query(RUN_STATUS, {"id": run["run"]["id"]}, token=admin))["data"]["selectionRun"]
        if state["status"] != "RUNNING":
            break
        await asyncio.sleep(0.02)
    assert state == {"status": "FINISHED", "decided": 1}
    (registration,) = (await jbr.query(ME, token=sso))["data"]["me"]["registrations"]
    decision = registration["decision"]
    failed = sorted(r["code"] for r in decision["reasons"] if r["verdict"] == "FAIL")
    assert failed == sorted(person["pkh_reasons"])  # what IKD's synthetic records say about the household
    assert decision["outcome"] == ("NOT_ELIGIBLE" if failed else "ELIGIBLE")
    assert all(r["verdict"] != "UNKNOWN" for r in decision["reasons"])
    # the IKD token alone works too: the citizen is the same person there
    assert (await jbr.query(ME, token=ikd.sign_in(person["nik"])))["data"]["me"]["person"]["nik"] == person["nik"]


async def test_a_regional_provider_cannot_claim_a_banyuwangi_citizens_nik(api, ikd, oidc_provider):  # noqa: F811
    person = banyuwangi_person(ikd, 1)
    citizen = ikd.sign_in(person["nik"])
    assert (await api[BWI].query(CONSENT, {"s": list(SCOPES)}, token=citizen))["data"]["giveConsent"]["errors"] == []
    assert (await api[BWI].query(REGISTER, token=citizen))["data"]["registerHousehold"]["errors"] == []
    forged = oidc_provider.token("pemalsu", nik=person["nik"])
    assert (await api[JBR].query(ME, token=forged))["data"]["me"] is None
    assert (await api[JBR].query(REGISTER, token=forged))["data"]["registerHousehold"]["errors"] == [
        {"code": "NIK_NOT_CONFIRMED"}]
    # and consenting needs that citizen's own IKD token, which the forger does not have
    given = await api[JBR].query(CONSENT, {"s": list(SCOPES), "t": ikd.sign_in(banyuwangi_person(ikd, 2)["nik"])},
                                 token=forged)
    assert given["data"]["giveConsent"]["errors"] == [{"code": "CONSENT_TOKEN_INVALID", "field": "consentToken"}]


# --- bad input: refused with nothing stored -------------------------------------------------------


def test_a_pilot_naming_a_national_provider_the_deployment_does_not_know_is_refused(plugin_manager):
    """With PERLINSOS_NATIONAL_ISSUERS set, IKD (a national plugin) may only be configured with one
    of those issuers: a pilot pointing it elsewhere would make that provider national."""
    from perlinsos.pilots.files import PilotFileError
    from perlinsos.plugins import PluginManager
    from perlinsos.settings import Settings

    from fixtures import static_auth
    from fixtures.pilots import pilot_data

    settings = Settings.from_env({"PERLINSOS_NATIONAL_ISSUERS": f"https://ikd.dukcapil.example,{static_auth.ISSUER}"})
    pinned = PluginManager(extra_plugins=[(static_auth.NAME, static_auth)], national=static_auth.NATIONAL,
                           national_issuers=settings.national_issuers)
    data = pilot_data()
    data["plugins"]["ikd"] = {"issuer": "https://ikd.dukcapil.example.evil", "audience": "portal",
                              "client_secret": "not-a-default"}
    with pytest.raises(PilotFileError) as refused:
        parse_pilot(data, pinned)
    assert refused.value.problems == [("plugins.ikd", "issuer https://ikd.dukcapil.example.evil is not a national "
                                                      "identity provider of this deployment (PERLINSOS_NATIONAL_ISSUERS)")]
    data["plugins"]["ikd"]["issuer"] = "https://ikd.dukcapil.example"
    assert parse_pilot(data, pinned).code == BWI


def test_one_issuer_signed_in_by_two_plugins_is_refused(plugin_manager, oidc_provider):  # noqa: F811
    """Two plugins verifying one issuer's tokens could disagree about who someone is."""
    from perlinsos.pilots.files import PilotFileError

    from fixtures.pilots import pilot_data

    data = pilot_data()
    data["plugins"]["oidc"] = oidc_provider.plugin_table() | {"issuer": data["plugins"]["ikd"]["issuer"]}
    with pytest.raises(PilotFileError) as refused:
        parse_pilot(data, plugin_manager)
    assert any("declared with sign_in by plugins ikd, oidc" in message for _, message in refused.value.problems)


# --- two pilots over one region --------------------------------------------------------------------


async def test_a_reviewer_of_one_pilot_sees_nothing_of_another_pilot_over_the_same_region(client, db, pilot,
                                                                                          plugin_manager):
    """Two pilots may cover the same regency (other programmes, other phases): a reviewer assigned
    for one reads neither the other's registrations nor its appeals, whichever pilot they ask for."""
    from datetime import timedelta

    from perlinsos.db.models import Appeal, AppealStatus, Channel, Decision
    from perlinsos.db.types import utcnow
    from perlinsos.graphql.relay import to_global_id

    from fixtures import seed
    from fixtures.pilots import pilot_data

    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_data() | {"code": "BWI-SMB", "name": "Sembako Banyuwangi",
                                                               "programmes": ["SEMBAKO"]}, plugin_manager))
    ids = await seed.registrations(db, BWI, 2)
    async with db.write() as session:
        decision = (await session.execute(select(Decision).where(Decision.registration_id == ids[0]))).scalar_one()
        session.add(Appeal(decision_id=decision.id, appellant_person_id=1, channel=Channel.SELF,
                           ground="DATA_INCORRECT", disputed_reasons=["ELECTRICITY_ABOVE_LIMIT"],
                           statement="Meteran listrik itu bukan milik kami.", comparison_data={},
                           status=AppealStatus.SUBMITTED, review_due_at=utcnow() + timedelta(days=14)))
    await seed.staff(db, "rev-sembako", "REVIEWER", "35.10", pilot_code="BWI-SMB")
    await seed.staff(db, "rev-pkh", "REVIEWER", "35.10", pilot_code=BWI)
    appeals = 'query($p: String!) { appeals(pilot: $p) { nodes { id } } }'
    one = 'query($id: ID!) { registration(id: $id) { id } }'
    sembako = GraphQLClient(client.http, pilot="BWI-SMB")
    for asking in (sembako, client):  # with its own pilot's header, and with the other's
        token = "staff:rev-sembako"
        assert (await asking.query(LIST, {"p": BWI}, token=token))["data"]["registrations"]["nodes"] == []
        assert (await asking.query(appeals, {"p": BWI}, token=token))["data"]["appeals"]["nodes"] == []
        found = await asking.query(one, {"id": to_global_id("Registration", ids[0])}, token=token)
        assert found["data"]["registration"] is None
    assert len((await client.query(LIST, {"p": BWI}, token="staff:rev-pkh"))["data"]["registrations"]["nodes"]) == 2
    assert len((await client.query(appeals, {"p": BWI}, token="staff:rev-pkh"))["data"]["appeals"]["nodes"]) == 1


async def test_a_citizen_who_consented_through_ikd_before_links_a_regional_sign_in(api, db, ikd,
                                                                                   oidc_provider):  # noqa: F811
    """The consent already stands (given with IKD): giving it again from the regional sign-in with
    the citizen's IKD token returns it, and still confirms the NIK for that sign-in."""
    person = jember_person(ikd, 2)
    ikd_token = ikd.sign_in(person["nik"])
    jbr = api[JBR]
    first = (await jbr.query(CONSENT, {"s": list(SCOPES)}, token=ikd_token))["data"]["giveConsent"]
    assert first["errors"] == []
    sso = oidc_provider.token("warga-jbr-lama", nik=person["nik"])
    again = (await jbr.query(CONSENT, {"s": list(SCOPES), "t": ikd_token}, token=sso))["data"]["giveConsent"]
    assert again["errors"] == [] and again["consent"]["id"] == first["consent"]["id"]  # not a second consent
    assert (await jbr.query(REGISTER, token=sso))["data"]["registerHousehold"]["errors"] == []
    assert (await jbr.query(ME, token=sso))["data"]["me"]["person"]["nik"] == person["nik"]
