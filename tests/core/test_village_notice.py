"""Village notices (issue 14, item 6): GET /notices/<pilot>/<village>.csv|.pdf?programme=...: the
eligible households of a village with name and masked NIK, how to appeal and by when; only once the
pilot's selection has finished (results published), for the national office or a reviewer of the
village's region; one audit row per notice; refusals typed, nothing written."""

from __future__ import annotations

import csv
import io
import re
import uuid
import zlib
from datetime import UTC, datetime

import pytest
from fixtures import seed
from fixtures.pilots import pilot_data
from perlinsos.db.models import AuditEvent, Decision, Outcome, Registration, RunStatus, SelectionRun
from perlinsos.idnumbers import mask_nik
from perlinsos.pilots.files import parse_pilot
from perlinsos.pilots.store import save_pilot
from sqlalchemy import func, select, update

PILOT = "BWI-2025"
URL = f"/notices/{PILOT}/{seed.KEMIREN}"


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
async def village(client, db):
    """Kemiren: 3 households, 2 eligible (Warga Sintetis 0 and 2); Lateng: 1 eligible household."""
    await seed.staff(db, "admin", "ADMIN", "35")
    await seed.staff(db, "rev-in", "REVIEWER", "35.10.15", pilot_code=PILOT)
    await seed.staff(db, "rev-out", "REVIEWER", "35.10.16", pilot_code=PILOT)
    await seed.staff(db, "fac", "FACILITATOR", seed.KEMIREN, pilot_code=PILOT)
    kemiren = await seed.registrations(db, PILOT, 3)
    lateng = await seed.registrations(db, PILOT, 1, region=seed.LATENG, start=10)
    async with db.write() as s:
        await s.execute(update(Decision).where(Decision.registration_id.in_([kemiren[0], kemiren[2], *lateng]))
                        .values(outcome=Outcome.ELIGIBLE))
    return client


async def publish(db, pilot: str = PILOT) -> None:
    """The pilot's selection finished: every decision made, its notifications queued with it."""
    pid = await seed.pilot_id(db, pilot)
    async with db.write() as s:
        s.add(SelectionRun(id=str(uuid.uuid4()), pilot_id=pid, programme=None, status=RunStatus.FINISHED,
                           started_by="admin", finished_at=datetime.now(UTC)))


async def notices_audited(db) -> list[AuditEvent]:
    async with db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.action == "VILLAGE_NOTICE_GENERATED")
                                     .order_by(AuditEvent.id))).scalars())


async def audit_count(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one()


def pdf_text(data: bytes) -> str:
    """The text drawn on the pages: each content stream inflated (fpdf2 compresses them)."""
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            texts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            texts.append(stream.decode("latin-1"))
    return "\n".join(texts)


async def test_no_notice_before_the_results_are_published(village, db):
    before = await audit_count(db)
    response = await village.http.get(f"{URL}.csv", params={"programme": "PKH"}, headers=auth("staff:admin"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["extensions"]["code"] == "RESULTS_NOT_PUBLISHED"
    assert "belum diumumkan" in response.json()["errors"][0]["message"]
    assert await audit_count(db) == before


async def test_the_csv_lists_the_villages_eligible_households_with_masked_niks_and_the_deadline(village, db):
    await publish(db)
    response = await village.http.get(f"{URL}.csv", params={"programme": "PKH"}, headers=auth("staff:rev-in"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = {r[0]: r[1] for r in rows if len(r) == 2}
    assert header["desa"] == f"Kemiren ({seed.KEMIREN})" or header["desa"].endswith(f"({seed.KEMIREN})")
    assert header["batas_sanggah"] == "31-07-2027 23:59 WIB"  # the pilot's appeal_closes, read in WIB
    assert "kantor desa" in header["cara_sanggah"]
    table = rows[rows.index(["no", "nama", "nik"]) + 1:]
    assert table == [["1", "Warga Sintetis 0", mask_nik(seed.nik(0))], ["2", "Warga Sintetis 2", mask_nik(seed.nik(2))]]
    assert seed.nik(0) not in response.text  # never the full NIK on a public notice
    (row,) = await notices_audited(db)
    assert (row.actor, row.entity_id) == ("rev-in", f"{PILOT}/{seed.KEMIREN}/PKH")
    assert {k: row.details[k] for k in ("format", "households")} == {"format": "csv", "households": 2}


async def test_the_pdf_is_a_printable_notice_of_the_village(village, db):
    await publish(db)
    response = await village.http.get(f"{URL}.pdf", params={"programme": "PKH"}, headers=auth("staff:admin"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    text = pdf_text(response.content)
    for expected in ("Kemiren", "Warga Sintetis 0", "Warga Sintetis 2", mask_nik(seed.nik(0)),
                     "Batas waktu sanggah: 31-07-2027 23:59 WIB"):
        assert expected in text, expected
    assert "Warga Sintetis 1" not in text and seed.nik(0) not in text
    assert [r.details["format"] for r in await notices_audited(db)] == ["pdf"]


@pytest.mark.parametrize("token, status, code", [
    (None, 401, "UNAUTHENTICATED"),
    (f"citizen:{seed.nik(0)}", 403, "FORBIDDEN"),
    ("staff:fac", 403, "FORBIDDEN"),
    ("staff:rev-out", 403, "FORBIDDEN"),  # a reviewer of another district
])
async def test_only_the_national_office_and_the_villages_reviewers_generate_it(village, db, token, status, code):
    await publish(db)
    before = await audit_count(db)
    response = await village.http.get(f"{URL}.pdf", params={"programme": "PKH"}, headers=auth(token))
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (status, code)
    assert await audit_count(db) == before


@pytest.mark.parametrize("path, params, status, code", [
    (f"{URL}.docx", {"programme": "PKH"}, 400, "INPUT_INVALID"),
    (f"{URL}.csv", {}, 400, "INPUT_INVALID"),
    (f"{URL}.csv", {"programme": "BLT"}, 400, "PROGRAMME_NOT_IN_PILOT"),
    (f"/notices/{PILOT}/35.10.15.csv", {"programme": "PKH"}, 404, "REGION_UNKNOWN"),  # a district, not a village
    (f"/notices/{PILOT}/35.09.01.2001.csv", {"programme": "PKH"}, 404, "REGION_UNKNOWN"),  # outside the pilot
    ("/notices/NOPE/35.10.15.2004.csv", {"programme": "PKH"}, 404, "PILOT_UNKNOWN"),  # the path names it
])
async def test_bad_requests_are_refused_by_name(village, db, path, params, status, code):
    await publish(db)
    response = await village.http.get(path, params=params, headers=auth("staff:admin"))
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (status, code), response.text
    assert await notices_audited(db) == []


async def test_a_training_pilots_notice_says_latihan(village, db, plugin_manager):
    data = pilot_data(code="LATIHAN-03", training=True)
    async with db.write() as s:
        await save_pilot(s, parse_pilot(data, plugin_manager))
    regs = await seed.registrations(db, "LATIHAN-03", 1, start=50)
    async with db.write() as s:
        await s.execute(update(Decision).where(Decision.registration_id == regs[0]).values(outcome=Outcome.ELIGIBLE))
    await publish(db, "LATIHAN-03")
    response = await village.http.get(f"/notices/LATIHAN-03/{seed.KEMIREN}.csv", params={"programme": "PKH"},
                                      headers=auth("staff:admin"))
    assert response.status_code == 200 and response.headers["X-Perlinsos-Training"] == "1"
    assert response.content.decode("utf-8-sig").startswith("LATIHAN,")
    pdf = await village.http.get(f"/notices/LATIHAN-03/{seed.KEMIREN}.pdf", params={"programme": "PKH"},
                                 headers=auth("staff:admin"))
    assert "LATIHAN - BUKAN PENGUMUMAN RESMI" in pdf_text(pdf.content)
    async with db.read() as s:  # the class's households only
        assert (await s.execute(select(func.count()).select_from(Registration)
                                .where(Registration.id.in_(regs)))).scalar_one() == 1
