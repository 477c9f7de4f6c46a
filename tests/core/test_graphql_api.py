"""The read API through GraphQL: connections, authorization, masking, limits, access log."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from fixtures import seed
from perlinsos.db.models import AuditEvent

LIST = """
query List($first: Int, $after: String, $region: String) {
  registrations(pilot: "BWI-2025", first: $first, after: $after, regionCode: $region) {
    edges { cursor node { id programme registrant { nik name }
      decision { outcome reasons { code verdict observed limit message } } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


def edges(data):
    assert "errors" not in data, data
    return data["data"]["registrations"]["edges"]


async def test_pagination_walks_every_registration_once(client, db, pilot):
    await seed.registrations(db, pilot, 25)
    await seed.staff(db, "admin", "ADMIN", "35")
    seen, after, pages = [], None, 0
    while True:
        data = await client.query(LIST, {"first": 10, "after": after}, token="staff:admin")
        conn = data["data"]["registrations"]
        seen += [e["node"]["id"] for e in conn["edges"]]
        pages += 1
        after = conn["pageInfo"]["endCursor"]
        assert conn["pageInfo"]["hasPreviousPage"] is (pages > 1)
        if not conn["pageInfo"]["hasNextPage"]:
            break
    assert pages == 3
    assert len(seen) == 25 == len(set(seen))


@pytest.mark.parametrize("first", [0, -1, 101, 10_000])
async def test_page_size_outside_the_cap_is_refused(client, db, pilot, first):
    await seed.staff(db, "admin", "ADMIN", "35")
    data = await client.query(LIST, {"first": first}, token="staff:admin", language="en")
    assert data["data"] is None
    (error,) = data["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 100" in error["message"]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "UGlsb3Q6MQ==", "%%%"])
async def test_a_forged_cursor_gets_a_clear_error(client, db, pilot, cursor):
    await seed.staff(db, "admin", "ADMIN", "35")
    data = await client.query(LIST, {"after": cursor}, token="staff:admin", language="en")
    assert data["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cursor" in data["errors"][0]["message"]


async def _statements(client, app, first: int) -> int:
    engine = app.state.perlinsos.db.engine.sync_engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        data = await client.query(LIST, {"first": first}, token="staff:admin")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(edges(data)) == first
    return len(statements)


async def test_sql_statements_do_not_grow_with_the_page(client, app, db, pilot):
    await seed.registrations(db, pilot, 100)
    await seed.staff(db, "admin", "ADMIN", "35")
    await client.query(LIST, {"first": 1}, token="staff:admin")  # warm the pilot cache
    one = await _statements(client, app, 1)
    hundred = await _statements(client, app, 100)
    assert one == hundred, (one, hundred)


async def test_relations_without_prefetch_are_batched_too(client, app, db, pilot):
    """`registration(id)` twice in one document (aliases) still loads each level once."""
    ids = await seed.registrations(db, pilot, 2)
    await seed.staff(db, "admin", "ADMIN", "35")
    page = edges(await client.query(LIST, {"first": 2}, token="staff:admin"))
    query = """query($a: ID!, $b: ID!) {
      a: registration(id: $a) { registrant { name } decision { reasons { code } } }
      b: registration(id: $b) { registrant { name } decision { reasons { code } } } }"""
    data = await client.query(query, {"a": page[0]["node"]["id"], "b": page[1]["node"]["id"]},
                              token="staff:admin")
    assert data["data"]["a"]["registrant"]["name"] != data["data"]["b"]["registrant"]["name"]
    assert len(ids) == 2


async def test_admin_sees_masked_niks_and_every_read_is_logged(client, db, pilot):
    await seed.registrations(db, pilot, 3)
    await seed.staff(db, "admin", "ADMIN", "35")
    nodes = [e["node"] for e in edges(await client.query(LIST, token="staff:admin"))]
    assert all(n["registrant"]["nik"].startswith("3510********") for n in nodes)
    async with db.read() as s:
        rows = (await s.execute(select(AuditEvent).where(AuditEvent.action == "READ_PERSONAL_DATA"))).scalars().all()
    assert sorted(r.subject_person_id for r in rows) == [1, 2, 3]
    assert {r.actor for r in rows} == {"admin"}


async def test_reviewer_sees_full_niks_of_their_region_only(client, db, pilot):
    await seed.registrations(db, pilot, 2, region=seed.KEMIREN)
    await seed.registrations(db, pilot, 3, region=seed.LATENG, start=100)
    await seed.staff(db, "rev-glagah", "REVIEWER", "35.10.15")
    nodes = [e["node"] for e in edges(await client.query(LIST, token="staff:rev-glagah"))]
    assert len(nodes) == 2
    assert all("*" not in n["registrant"]["nik"] and len(n["registrant"]["nik"]) == 16 for n in nodes)


async def test_region_scopes_compare_whole_components(client, db, pilot):
    """A scope of 35.10.1 must not cover 35.10.15 (string prefixes would)."""
    await seed.registrations(db, pilot, 2, region=seed.KEMIREN)
    await seed.staff(db, "rev-odd", "REVIEWER", "35.10.1")
    assert edges(await client.query(LIST, token="staff:rev-odd")) == []


async def test_facilitator_sees_only_what_they_assisted(client, db, pilot):
    await seed.registrations(db, pilot, 2, assisted_by="fac-1")
    await seed.registrations(db, pilot, 2, start=50)
    await seed.staff(db, "fac-1", "FACILITATOR", "35.10.15.2004")
    nodes = edges(await client.query(LIST, token="staff:fac-1"))
    assert len(nodes) == 2
    assert all("*" in e["node"]["registrant"]["nik"] for e in nodes)


async def test_citizen_reads_own_registration_and_others_do_not_exist(client, db, pilot):
    await seed.registrations(db, pilot, 2)
    await seed.staff(db, "admin", "ADMIN", "35")
    ids = [e["node"]["id"] for e in edges(await client.query(LIST, token="staff:admin"))]
    one = "query($id: ID!) { registration(id: $id) { registrant { nik } } }"
    own = await client.query(one, {"id": ids[0]}, token=f"citizen:{seed.nik(0)}")
    assert own["data"]["registration"]["registrant"]["nik"] == seed.nik(0)
    other = await client.query(one, {"id": ids[1]}, token=f"citizen:{seed.nik(0)}")
    missing = await client.query(one, {"id": "UmVnaXN0cmF0aW9uOjk5OQ=="}, token=f"citizen:{seed.nik(0)}")
    assert other == missing == {"data": {"registration": None}}
    # and a citizen's list is empty, exactly as if nothing existed
    assert edges(await client.query(LIST, token=f"citizen:{seed.nik(0)}")) == []


async def test_citizen_reading_own_data_is_not_an_access_to_log(client, db, pilot):
    await seed.registrations(db, pilot, 1)
    await seed.staff(db, "admin", "ADMIN", "35")
    ids = [e["node"]["id"] for e in edges(await client.query(LIST, token="staff:admin"))]
    async with db.read() as s:
        before = (await s.execute(select(func.count(AuditEvent.id)))).scalar_one()
    await client.query("query($id: ID!) { registration(id: $id) { registrant { name } } }", {"id": ids[0]},
                       token=f"citizen:{seed.nik(0)}")
    async with db.read() as s:
        assert (await s.execute(select(func.count(AuditEvent.id)))).scalar_one() == before


async def test_anonymous_list_is_refused(client, db, pilot):
    data = await client.query(LIST)
    assert data["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("header", ["Bearer bad:forged", "Bearer unknown-token", "Basic abc", "Bearer "])
async def test_bad_tokens_get_401_without_detail(client, pilot, header):
    response = await client.http.post("/graphql", json={"query": "{ viewer { kind } }"},
                                      headers={"Authorization": header, "X-Perlinsos-Pilot": pilot,
                                               "Accept-Language": "en"})
    assert response.status_code == 401
    assert "signature" not in response.text and "Invalid or expired token" in response.text


async def test_unknown_pilot_header_is_a_clear_400(client, pilot):
    response = await client.http.post("/graphql", json={"query": "{ viewer { kind } }"},
                                      headers={"X-Perlinsos-Pilot": "NOPE-1"})
    assert response.status_code == 400 and "NOPE-1" in response.text


async def test_reasons_follow_the_viewers_language(client, db, pilot):
    await seed.registrations(db, pilot, 1)
    await seed.staff(db, "admin", "ADMIN", "35")
    default = edges(await client.query(LIST, token="staff:admin"))[0]["node"]["decision"]["reasons"][0]
    english = edges(await client.query(LIST, token="staff:admin", language="en-GB,en;q=0.9"))[0]
    assert default["message"].startswith("Daya listrik rumah tercatat 2.200 VA, di atas batas 1.300 VA")
    assert english["node"]["decision"]["reasons"][0]["message"].startswith(
        "Household electricity recorded at 2,200 VA, above the limit of 1,300 VA")
    assert default["observed"] == 2200 and default["limit"] == 1300


async def test_query_depth_is_limited(client, db, pilot):
    await seed.staff(db, "admin", "ADMIN", "35")
    nested = "decision { registration { " * 6 + "id" + " } }" * 6
    data = await client.query('{ registrations(pilot: "BWI-2025") { nodes { ' + nested + " } } }",
                              token="staff:admin", language="en")
    assert data["data"] is None
    assert "exceeds maximum operation depth" in data["errors"][0]["message"]


async def test_alias_count_is_limited(client, pilot):
    aliases = " ".join(f"a{i}: viewer {{ kind }}" for i in range(40))
    data = await client.query("{ " + aliases + " }", language="en")
    assert data["data"] is None
    assert "aliases" in data["errors"][0]["message"]


async def test_oversized_document_is_refused(client, pilot):
    response = await client.post("{ viewer { kind } }" + " " * 25_000, language="en")
    assert response.status_code == 413
    assert "larger than" in response.text


async def test_mutations_over_get_are_refused(client, db, pilot):
    """GET requests can be triggered cross-site (links, images): they never change anything."""
    await seed.staff(db, "admin", "ADMIN", "35")
    mutation = 'mutation { assignStaff(input: {subject: "x", role: ADMIN, regionCode: "35"}) { errors { code } } }'
    response = await client.http.get("/graphql", params={"query": mutation},
                                     headers={"X-Perlinsos-Pilot": pilot, "Authorization": "Bearer staff:admin",
                                              "Accept-Language": "en"})
    assert response.status_code == 400
    assert "mutations are not allowed when using get" in response.text.lower()
    data = await client.query("{ staffAssignments { nodes { subject } } }", token="staff:admin")
    assert [n["subject"] for n in data["data"]["staffAssignments"]["nodes"]] == ["admin"]


class _Leaky:
    """A plugin whose resolver fails with personal data and SQL in the exception message."""

    from perlinsos import hookimpl

    @hookimpl
    def graphql_schema_parts(self):
        import strawberry

        from perlinsos.contract import SchemaPart

        def explode(info: strawberry.Info) -> int:
            raise RuntimeError("SELECT * FROM person WHERE nik = '3510151203800001' -- boom")

        return SchemaPart(query_fields={"explode": strawberry.field(resolver=explode)})


async def test_unexpected_errors_are_masked_with_no_data_sql_or_trace(settings, db, pilot):
    import httpx

    from fixtures import static_auth
    from perlinsos.app import create_app
    from perlinsos.plugins import PluginManager

    app = create_app(settings, PluginManager(extra_plugins=[(static_auth.NAME, static_auth), ("leaky", _Leaky())], national=static_auth.NATIONAL))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/graphql", json={"query": "{ explode }"}, headers={"X-Perlinsos-Pilot": pilot})
    await app.state.perlinsos.db.dispose()
    assert response.status_code == 200
    body = response.text
    assert response.json()["errors"][0]["message"] == "Terjadi kesalahan tak terduga."  # Bahasa Indonesia, the default
    for leak in ("3510151203800001", "SELECT", "Traceback", "RuntimeError", "person"):
        assert leak not in body


async def test_refused_documents_do_not_flood_the_log_or_copy_personal_data_into_it(client, pilot, caplog):
    """A client's mistake is its own business: nothing at WARNING or above, and a NIK typed into a
    refused document (or a variable) never reaches the log."""
    import logging

    caplog.set_level(logging.DEBUG)
    nik = seed.nik(0)
    for _ in range(20):
        await client.post(f'{{ registration(id: "{nik}") {{ nope }} }}', token="staff:admin")
        await client.post("query($n: Int) { viewer { kind } }", {"n": nik}, token="staff:admin")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert nik not in caplog.text


async def test_an_unexpected_error_is_still_logged_whole_for_operators(settings, db, pilot, caplog):
    import logging

    import httpx

    from fixtures import static_auth
    from perlinsos.app import create_app
    from perlinsos.plugins import PluginManager

    app = create_app(settings, PluginManager(extra_plugins=[(static_auth.NAME, static_auth), ("leaky", _Leaky())], national=static_auth.NATIONAL))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        await http.post("/graphql", json={"query": "{ explode }"}, headers={"X-Perlinsos-Pilot": pilot})
    await app.state.perlinsos.db.dispose()
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError
