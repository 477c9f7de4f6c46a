from fixtures import seed


async def test_registrations_list_as_admin(client, db, pilot):
    await seed.registrations(db, pilot, 3)
    await seed.staff(db, "admin-1", "ADMIN", "35")
    data = await client.query(
        "{ registrations(pilot: \"BWI-2025\") { edges { node { programme registrant { nik name }"
        " decision { outcome reasons { code verdict message } } } } } }",
        token="staff:admin-1",
    )
    assert "errors" not in data, data
    nodes = data["data"]["registrations"]["edges"]
    assert len(nodes) == 3
    print(nodes[0])
