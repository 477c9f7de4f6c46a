"""Staff assigned for one pilot act and read in that pilot only, even where another pilot covers the
same regency: Banyuwangi's PKH pilot (BWI-2025) and a Sembako pilot over the same 35.10 (BWI-SMB).
Transparency figures (``pilotStats``) and evidence uploads on a citizen's behalf, over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GraphQLClient
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.db.models import EvidenceFile
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from sqlalchemy import func, select

BWI, SMB = "BWI-2025", "BWI-SMB"
STATS = (Path(__file__).resolve().parents[2] / "schema" / "operations" / "PilotStats.graphql").read_text()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
CITIZEN = seed.nik(0)  # registered in BWI-2025, in Kemiren


@pytest.fixture
async def two_pilots(db, pilot, plugin_manager):
    """BWI-SMB beside the fixture pilot over the same regency; one citizen registered in BWI-2025;
    a reviewer and a facilitator of each pilot, with the same regions."""
    async with db.write() as session:
        await save_pilot(session, parse_pilot(pilot_data() | {"code": SMB, "name": "Sembako Banyuwangi",
                                                               "programmes": ["SEMBAKO"]}, plugin_manager))
    await seed.registrations(db, BWI, 3, region=seed.KEMIREN)
    await seed.registrations(db, SMB, 2, region=seed.KEMIREN, start=50, programme="SEMBAKO")
    for code, suffix in ((BWI, "pkh"), (SMB, "smb")):
        await seed.staff(db, f"rev-{suffix}", "REVIEWER", "35.10", pilot_code=code)
        await seed.staff(db, f"fac-{suffix}", "FACILITATOR", seed.KEMIREN, pilot_code=code)


def header(client, code: str) -> GraphQLClient:
    return GraphQLClient(client.http, pilot=code)


async def stats(asking: GraphQLClient, pilot: str, token: str) -> dict:
    payload = (await asking.query(STATS, {"pilot": pilot}, token=token))["data"]["pilotStats"]
    return {"errors": [e["code"] for e in payload["errors"]],
            "region": payload["stats"]["regionCode"] if payload["stats"] else None}


async def test_a_reviewer_reads_the_figures_of_their_own_pilot_only(client, db, two_pilots):
    # each reviewer, asking in their own pilot, for it: their region by default
    assert await stats(header(client, SMB), SMB, "staff:rev-smb") == {"errors": [], "region": "35.10"}
    assert await stats(header(client, BWI), BWI, "staff:rev-pkh") == {"errors": [], "region": "35.10"}
    # the Sembako reviewer's assignment covers 35.10 too, but for their pilot: not BWI-2025's figures,
    # whichever pilot they send their request through
    for through in (SMB, BWI):
        assert await stats(header(client, through), BWI, "staff:rev-smb") == {"errors": ["FORBIDDEN"],
                                                                               "region": None}
        assert await stats(header(client, through), SMB, "staff:rev-pkh") == {"errors": ["FORBIDDEN"],
                                                                               "region": None}


async def upload(client, pilot: str, token: str) -> tuple[int, str | None]:
    answer = await client.http.post("/evidence", content=JPEG, headers={
        "X-Perlinsos-Pilot": pilot, "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg",
        "X-Evidence-Kind": "KTP", "X-Citizen-Token": f"citizen:{CITIZEN}"})
    errors = answer.json().get("errors") or [{}]
    return answer.status_code, errors[0].get("extensions", {}).get("code")


async def stored(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count(EvidenceFile.id)))).scalar_one()


async def test_a_facilitator_acts_for_a_citizen_in_their_own_pilot_only(client, db, two_pilots):
    # the Sembako facilitator covers Kemiren, but for BWI-SMB: in BWI-2025 they are nobody's facilitator,
    # and through their own pilot the citizen (registered in BWI-2025 only) is not theirs to act for
    assert await upload(client, BWI, "staff:fac-smb") == (403, "NOT_A_FACILITATOR")
    assert await upload(client, SMB, "staff:fac-smb") == (403, "EVIDENCE_NOT_REGISTERED")
    assert await stored(db) == 0
    # the PKH facilitator of the same village acts for them
    assert (await upload(client, BWI, "staff:fac-pkh"))[0] == 201
    assert await stored(db) == 1
