"""The IKD simulator's endpoints, over real HTTP (``perlinsos ikd-sim`` in a subprocess)."""

from __future__ import annotations

import re

import jwt
import pytest

from perlinsos import regions
from perlinsos_ikd.households import REASONS, SCOPES
from perlinsos_ikd.population import Population


def test_discovery(ikd_sim):
    doc = ikd_sim.http.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == ikd_sim.issuer
    assert doc["jwks_uri"] == f"{ikd_sim.url}/jwks.json"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(SCOPES) <= set(doc["scopes_supported"])
    assert {"nik", "sub", "exp"} <= set(doc["claims_supported"])


def test_jwks_shape(ikd_sim):
    keys = ikd_sim.jwks()["keys"]
    assert keys and len({k["kid"] for k in keys}) == len(keys)
    for key in keys:
        assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
        assert len(jwt.utils.base64url_decode(key["n"])) == 256  # 2048-bit modulus
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "a private part is published"


def test_sign_in_issues_verifiable_tokens(ikd_sim, citizen):
    reply = ikd_sim.tokens(nik=citizen["nik"])
    assert reply["token_type"] == "Bearer" and reply["expires_in"] == 3600
    client = jwt.PyJWKClient(f"{ikd_sim.url}/jwks.json")  # the blocking client is fine in a sync test
    claims = {}
    for kind in ("id_token", "access_token"):
        key = client.get_signing_key_from_jwt(reply[kind])
        claims[kind] = jwt.decode(reply[kind], key, algorithms=["RS256"], audience=ikd_sim.audience,
                                  issuer=ikd_sim.issuer)
    id_claims = claims["id_token"]
    assert {"iss", "aud", "sub", "nik", "name", "iat", "nbf", "exp", "auth_time", "jti", "kind"} <= set(id_claims)
    assert id_claims["nik"] == citizen["nik"] and id_claims["kind"] == "citizen"
    assert citizen["nik"] not in id_claims["sub"]  # an opaque subject, not the NIK
    assert claims["access_token"]["sub"] == id_claims["sub"] and claims["access_token"]["jti"] != id_claims["jti"]
    assert jwt.get_unverified_header(reply["access_token"])["typ"] == "at+jwt"


def test_sign_in_refusals(ikd_sim):
    unknown = ikd_sim.http.post("/sim/sign-in", json={"nik": "3510151203800001"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_person"
    assert "/" in unknown.json()["message"]  # Bahasa Indonesia / English
    for body in ({}, {"staff_id": ""}, {"staff_id": "a b"}, {"nik": 3510151203800001}):
        assert ikd_sim.http.post("/sim/sign-in", json=body).status_code in (400, 404), body
    assert ikd_sim.http.post("/sim/sign-in", content=b"{not json").status_code == 400


def test_staff_sign_in(ikd_sim):
    claims = jwt.decode(ikd_sim.sign_in_staff("petugas.kemiren"), options={"verify_signature": False})
    assert claims["kind"] == "staff" and claims["sub"] == "petugas.kemiren" and "nik" not in claims


def test_consent_endpoint(ikd_sim, citizen):
    token = ikd_sim.sign_in(citizen["nik"])
    post = lambda body, token=token: ikd_sim.http.post(  # noqa: E731
        "/consents", json=body, headers={"Authorization": f"Bearer {token}"} if token else {})
    ok = post({"scopes": ["person", "facts:bank"], "purpose": "bansos-selection", "policy_version": "v1"})
    assert ok.status_code == 201
    grant = ok.json()
    assert grant["nik"] == citizen["nik"] and grant["scopes"] == ["person", "facts:bank"] and not grant["revoked_at"]
    assert post({"scopes": ["person"], "purpose": "x"}, token=None).status_code == 401
    assert post({"scopes": ["person"], "purpose": "x"}, token="garbage").status_code == 401
    staff = ikd_sim.sign_in_staff("petugas.kemiren")
    assert post({"scopes": ["person"], "purpose": "x"}, token=staff).status_code == 403
    assert post({"scopes": ["everything"], "purpose": "x"}).status_code == 400
    assert post({"scopes": [], "purpose": "x"}).status_code == 400
    assert post({"scopes": ["person"]}).status_code == 400


def test_person_api_refuses_without_grant(ikd_sim, citizen):
    nik = citizen["nik"]
    other = ikd_sim.people(limit=1, offset=3)[0]["nik"]
    person_grant = ikd_sim.grant(nik)["grant_id"]
    facts_only = ikd_sim.grant(nik, scopes=("facts:income",))["grant_id"]
    others_grant = ikd_sim.grant(other)["grant_id"]

    def get(nik, grant=None, secret=True):
        headers = ikd_sim.secret_headers() if secret else {}
        return ikd_sim.http.get(f"/persons/{nik}", headers=headers | ({"X-Consent-Grant": grant} if grant else {}))

    assert get(nik, person_grant, secret=False).status_code == 401
    assert get(nik).status_code == 403
    assert get(nik, facts_only).status_code == 403
    assert get(nik, others_grant).status_code == 403
    assert get("3510151203800001", person_grant).status_code == 404
    body = get(nik, person_grant).json()
    assert body["nik"] == nik and body["kk_number"] == citizen["kk_number"] and body["members"]

    # The citizen may revoke their own grant; someone else may not.
    owner = {"Authorization": f"Bearer {ikd_sim.sign_in(nik)}"}
    stranger = {"Authorization": f"Bearer {ikd_sim.sign_in(other)}"}
    assert ikd_sim.http.delete(f"/consents/{person_grant}", headers=stranger).status_code == 403
    assert ikd_sim.http.delete(f"/consents/{person_grant}").status_code == 401
    assert ikd_sim.http.delete(f"/consents/{person_grant}", headers=owner).status_code == 204
    assert get(nik, person_grant).status_code == 403
    assert ikd_sim.http.delete("/consents/grant_nope", headers=owner).status_code == 404


def test_facts_batch(ikd_sim):
    people = ikd_sim.people(limit=40, role="HEAD")
    all_facts = [p for p in people[:3]]
    grants = {p["nik"]: ikd_sim.grant(p["nik"], scopes=("person", *[s for s in SCOPES if s != "person"]))["grant_id"]
              for p in all_facts}
    income_only = people[3]
    grants[income_only["nik"]] = ikd_sim.grant(income_only["nik"], scopes=("facts:income",))["grant_id"]
    person_only = people[4]
    grants[person_only["nik"]] = ikd_sim.grant(person_only["nik"], scopes=("person",))["grant_id"]
    requests = [{"nik": nik, "grant_id": grant} for nik, grant in grants.items()]
    requests += [{"nik": people[5]["nik"], "grant_id": grants[people[0]["nik"]]},  # someone else's grant
                 {"nik": "3510151203800001", "grant_id": "grant_x"}, {"nik": 42}]
    reply = ikd_sim.http.post("/facts", json={"requests": requests}, headers=ikd_sim.secret_headers())
    assert reply.status_code == 200
    results = reply.json()["results"]
    assert len(results) == len(requests)  # one result per request, in order
    for person, result in zip(all_facts, results[:3], strict=True):
        facts = {f["name"]: f for f in result["facts"]}
        assert set(facts) == {"monthly_income", "bank_flags", "electricity_va", "welfare_decile",
                              "state_employment", "car_ownership"}
        assert all(f["source"] and re.fullmatch(r"\d{4}-\d\d-\d\d", f["as_of"]) for f in facts.values())
        assert result["kk_number"] == person["kk_number"]
        limits_fail = {"ELECTRICITY_ABOVE_LIMIT": facts["electricity_va"]["value"] > 1300,
                       "WELFARE_DECILE_ABOVE_LIMIT": facts["welfare_decile"]["value"] > 4}
        for code, failing in limits_fail.items():
            assert (code in person["pkh_reasons"]) == failing
    assert [f["name"] for f in results[3]["facts"]] == ["monthly_income"]
    assert [r["error"]["code"] for r in results[4:]] == [
        "SCOPE_NOT_GRANTED", "CONSENT_INVALID", "UNKNOWN_PERSON", "UNKNOWN_PERSON"]
    assert ikd_sim.http.post("/facts", json={"requests": []}).status_code == 401
    too_many = {"requests": [{"nik": "1", "grant_id": "x"}] * 1001}
    assert ikd_sim.http.post("/facts", json=too_many, headers=ikd_sim.secret_headers()).status_code == 400


def test_faults(ikd_sim):
    ikd_sim.set_fault("down")
    assert ikd_sim.http.get("/jwks.json").status_code == 503
    assert ikd_sim.http.get("/sim/stats").status_code == 200  # controls are never faulted
    ikd_sim.set_fault("garbage", paths=("/jwks.json",))
    with pytest.raises(ValueError):  # not JSON (nor UTF-8)
        ikd_sim.http.get("/jwks.json").json()
    assert ikd_sim.http.get("/.well-known/openid-configuration").status_code == 200  # not in paths
    ikd_sim.set_fault(None)
    assert ikd_sim.http.get("/jwks.json").status_code == 200
    assert ikd_sim.http.post("/sim/faults", json={"mode": "exploding"}).status_code == 400


def test_people_listing(ikd_sim):
    first = ikd_sim.people(limit=10)
    assert len(first) == 10 and ikd_sim.people(limit=5, offset=5) == first[5:]
    village = first[0]["region_code"]
    assert all(p["region_code"] == village for p in ikd_sim.people(limit=100, village=village))
    assert all(p["relationship"] == "PARENT" for p in ikd_sim.people(limit=20, role="PARENT"))
    for reason in REASONS:  # even 200 people show every reason (the showcase households)
        found = ikd_sim.people(limit=1, reason=reason)
        assert found and reason in found[0]["pkh_reasons"], reason
    misused = ikd_sim.people(limit=50, error="NIK_MISUSE")
    assert misused and all(any(e["kind"] == "NIK_MISUSE" for e in p["data_errors"]) for p in misused)
    electricity = ikd_sim.people(limit=1, error="ELECTRICITY_MISRECORDED")[0]
    assert electricity["ground_truth"] == {"electricity_va": 900}
    assert "ELECTRICITY_ABOVE_LIMIT" in electricity["pkh_reasons"]
    assert "ELECTRICITY_ABOVE_LIMIT" not in electricity["pkh_reasons_corrected"]
    assert any(p["phone_invalid"] for p in ikd_sim.people(limit=200))
    assert ikd_sim.http.get("/sim/people", params={"limit": 0}).status_code == 400
    assert regions.get(village).level == "village"


def test_same_seed_same_people_in_another_process(ikd_sim):
    local = Population(ikd_sim.people_count, ikd_sim.seed)
    listed = ikd_sim.people(limit=ikd_sim.people_count)
    assert len(listed) == ikd_sim.people_count
    expected = [(m.nik, m.name, m.phone, h.kk_number) for h in local.households() for m in h.members]
    assert [(p["nik"], p["name"], p["phone"], p["kk_number"]) for p in listed] == expected


def test_log_has_no_nik(ikd_sim, citizen):
    grant = ikd_sim.grant(citizen["nik"])["grant_id"]
    ikd_sim.http.get(f"/persons/{citizen['nik']}", headers=ikd_sim.secret_headers() | {"X-Consent-Grant": grant})
    ikd_sim.revoke(grant)
    log = ikd_sim.log()
    assert "GET /persons/3510********" in log  # requests are logged ...
    assert not re.search(r"\d{16}", log), "a NIK reached the log"  # ... without NIKs
    assert grant not in log  # nor grant ids


def test_start_in_thread():
    """How a process such as the demo runs the simulator beside itself."""
    import httpx

    from fixtures.ikd import free_port
    from perlinsos_ikd.commands import start_in_thread

    port = free_port()
    server = start_in_thread(port=port, people=20, seed=3)
    try:
        doc = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
        assert doc["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True


def test_scopes_match_the_platform():
    consent = pytest.importorskip("perlinsos.registration.consent")
    assert set(SCOPES) == set(consent.SCOPES)
