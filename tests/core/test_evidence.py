"""Appeal evidence files over HTTP: ``POST /evidence`` and ``GET``/``DELETE /evidence/{id}``.

Uploads are refused with a typed error and leave nothing behind (no row, no object, no temporary
file); files are stored once by sha256 under the evidence folder; downloads reach only the owner,
the assisting facilitator, the region's reviewers and the national office, and every download by
someone other than the owner is in the access log.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fixtures import seed, static_auth
from perlinsos.appeals import evidence
from perlinsos.db.models import (
    Appeal,
    AppealStatus,
    AuditEvent,
    Channel,
    Decision,
    EvidenceFile,
    Person,
    Registration,
    StaffAssignment,
)
from perlinsos.db.types import utcnow
from perlinsos.errors import Problem
from perlinsos.appeals.evidence import names, sniff
from perlinsos.appeals.evidence.storage import LocalStorage, local_storage
from perlinsos.graphql.relay import to_global_id
from perlinsos.settings import Settings
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 256 * 1024
MAX_FILES = 3

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 64

OWNER = seed.nik(0)
OTHER = seed.nik(1)


@pytest.fixture
def evidence_dir(tmp_path) -> Path:
    return tmp_path / "evidence"


@pytest.fixture
def settings(database_url, evidence_dir) -> Settings:
    return Settings(database_url=database_url, pilot_cache_seconds=0, evidence_dir=str(evidence_dir),
                    max_evidence_bytes=LIMIT, max_evidence_files=MAX_FILES)


@pytest.fixture
def store(evidence_dir) -> LocalStorage:
    return local_storage(evidence_dir)


@pytest.fixture
async def people(db, pilot):
    """Two citizens of Kemiren (Glagah) with a decision each, one of Lateng (Banyuwangi town)."""
    await seed.registrations(db, pilot, 2, region=seed.KEMIREN)
    await seed.registrations(db, pilot, 1, region=seed.LATENG, start=100)
    await seed.staff(db, "pendamping-1", "FACILITATOR", seed.KEMIREN)
    await seed.staff(db, "pendamping-2", "FACILITATOR", seed.KEMIREN)
    await seed.staff(db, "pendamping-kota", "FACILITATOR", seed.LATENG)
    await seed.staff(db, "rev-glagah", "REVIEWER", "35.10.15")
    await seed.staff(db, "rev-kota", "REVIEWER", "35.10.16")
    await seed.staff(db, "admin", "ADMIN", "35")


async def upload(client, data, *, token: str | None = f"citizen:{OWNER}", content_type: str | None = "image/jpeg",
                 filename: str | None = "ktp.jpg", kind: str | None = "KTP", headers: dict | None = None,
                 language: str | None = None) -> httpx.Response:
    h = {"X-Perlinsos-Pilot": client.pilot}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if content_type:
        h["Content-Type"] = content_type
    if filename is not None:
        h["X-Filename"] = quote(filename, safe="")
    if kind:
        h["X-Evidence-Kind"] = kind
    if language:
        h["Accept-Language"] = language
    h.update(headers or {})
    return await client.http.post("/evidence", content=data, headers=h)


async def download(client, gid: str, token: str | None, method: str = "GET") -> httpx.Response:
    headers = {"X-Perlinsos-Pilot": client.pilot}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await client.http.request(method, f"/evidence/{quote(gid, safe='')}", headers=headers)


def created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    (first,) = response.json()["errors"]  # the one error shape of every route (docs/errors.md)
    error = {"message": first["message"], **first["extensions"]}
    assert error["code"] == code, error
    assert error["message"]
    return error


async def rows(db) -> list[EvidenceFile]:
    async with db.read() as s:
        return list((await s.execute(select(EvidenceFile).order_by(EvidenceFile.id))).scalars())


async def assert_nothing_stored(db, store: LocalStorage, before: int = 0) -> None:
    assert len(await rows(db)) == before
    assert len(list(store.objects())) == before
    assert store.temp_files() == []


# --- uploads that succeed ----------------------------------------------------------------------


@pytest.mark.parametrize(("data", "declared", "name", "content_type", "stored_name"), [
    (JPEG, "image/jpeg", "foto ktp.jpg", "image/jpeg", "foto ktp.jpg"),
    (PNG, "image/png", "rumah.png", "image/png", "rumah.png"),
    (PDF, "application/pdf", "slip gaji.pdf", "application/pdf", "slip gaji.pdf"),
    (JPEG, "image/jpg", "KTP.JPEG", "image/jpeg", "KTP.jpeg"),  # an alias phones send
    (PNG, None, None, "image/png", "bukti.png"),  # nothing declared: the content decides
    (PDF, "application/octet-stream", "scan", "application/pdf", "scan.pdf"),
])
async def test_accepted_types_are_stored_by_sha256_under_the_evidence_folder(
        client, db, people, store, evidence_dir, data, declared, name, content_type, stored_name):
    body = created(await upload(client, data, content_type=declared, filename=name))
    digest = hashlib.sha256(data).hexdigest()
    assert body["sha256"] == digest and body["size"] == len(data)
    assert body["contentType"] == content_type and body["filename"] == stored_name
    assert body["kind"] == "KTP" and body["created"] is True
    path = evidence_dir.resolve() / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert not path.is_relative_to(ROOT)  # not inside the repository (nor any folder it serves)
    (row,) = await rows(db)
    assert row.appeal_id is None and row.uploaded_by == f"citizen-{OWNER}" and row.sha256 == digest
    assert body["id"] == to_global_id("EvidenceFile", row.id)
    assert store.temp_files() == []


async def test_the_same_content_is_stored_once(client, db, people, store):
    first = created(await upload(client, JPEG, kind="KTP"))
    second = created(await upload(client, JPEG, kind="KK", filename="kk.jpg"))
    other = created(await upload(client, JPEG, token=f"citizen:{OTHER}"))
    assert first["sha256"] == second["sha256"] == other["sha256"]
    assert len({first["id"], second["id"], other["id"]}) == 3
    assert [sha for sha, _ in store.objects()] == [first["sha256"]]


async def test_a_retried_upload_answers_the_file_already_waiting(client, db, people, store):
    first = created(await upload(client, PDF, content_type="application/pdf", filename="a.pdf"))
    for _ in range(MAX_FILES + 1):  # even at the limit: a retry is not a new file
        again = await upload(client, PDF, content_type="application/pdf", filename="a.pdf")
        assert again.status_code == 200 and again.json() == {**first, "created": False}
    assert len(await rows(db)) == 1


async def test_a_jpg_name_on_pdf_content_is_stored_as_pdf(client, db, people):
    body = created(await upload(client, PDF, content_type="application/pdf", filename="scan.jpg"))
    assert body["contentType"] == "application/pdf"
    assert body["filename"] == "scan.pdf"  # the name never decides the type, and no longer lies about it


async def test_a_facilitator_uploads_for_the_citizen_with_the_citizens_token(client, db, people):
    body = created(await upload(client, JPEG, token="staff:pendamping-1",
                                headers={"X-Citizen-Token": f"citizen:{OWNER}"}))
    (row,) = await rows(db)
    assert row.uploaded_by == f"citizen-{OWNER}"  # the evidence is the citizen's
    async with db.read() as s:
        event = (await s.execute(select(AuditEvent).where(AuditEvent.action == "EVIDENCE_UPLOADED"))).scalar_one()
    assert event.actor == "pendamping-1" and event.details["assisted_by"] == "pendamping-1"
    assert event.entity_id == str(row.id) and event.subject_person_id == 1
    assert (await download(client, body["id"], f"citizen:{OWNER}")).status_code == 200


# --- refusals: nothing stored --------------------------------------------------------------------


async def test_an_oversized_file_is_refused_and_nothing_is_stored(client, db, people, store):
    too_big = JPEG + b"\x00" * (LIMIT - len(JPEG) + 1)
    error = refused(await upload(client, too_big), 413, "EVIDENCE_TOO_LARGE")
    assert error["message"] == "Berkas bukti terlalu besar. (maks. 256 KiB)"
    await assert_nothing_stored(db, store)


async def test_an_oversized_stream_is_cut_off_as_soon_as_it_passes_the_limit(client, db, people, store):
    sent = 0

    async def chunks():  # no Content-Length: the limit is enforced while reading
        nonlocal sent
        yield JPEG
        sent += len(JPEG)
        for _ in range(100):
            yield b"\x00" * 16384
            sent += 16384

    refused(await upload(client, chunks()), 413, "EVIDENCE_TOO_LARGE")
    assert sent < LIMIT + 2 * 16384  # stopped reading right after the limit, not at the end
    await assert_nothing_stored(db, store)


async def test_a_citizen_may_hold_only_a_few_unattached_files(client, db, people, store):
    for i in range(MAX_FILES):
        created(await upload(client, JPEG + bytes([i]), filename=f"{i}.jpg"))
    error = refused(await upload(client, PNG, content_type="image/png"), 409, "EVIDENCE_TOO_MANY")
    assert f"maks. {MAX_FILES}" in error["message"]
    await assert_nothing_stored(db, store, before=MAX_FILES)
    created(await upload(client, PNG, content_type="image/png", token=f"citizen:{OTHER}"))  # per citizen


@pytest.mark.parametrize(("data", "declared", "status", "code"), [
    (HTML, "application/pdf", 422, "EVIDENCE_TYPE_MISMATCH"),
    (EXE, "application/pdf", 422, "EVIDENCE_TYPE_MISMATCH"),
    (ZIP, "application/pdf", 422, "EVIDENCE_TYPE_MISMATCH"),
    (JPEG, "image/png", 422, "EVIDENCE_TYPE_MISMATCH"),
    (PDF, "image/jpeg", 422, "EVIDENCE_TYPE_MISMATCH"),
    (b"%PDF", "application/pdf", 422, "EVIDENCE_TYPE_MISMATCH"),  # too short to be a PDF
    (PNG[:12], "image/png", 422, "EVIDENCE_TYPE_MISMATCH"),
    (ZIP, "application/octet-stream", 415, "EVIDENCE_TYPE_NOT_ALLOWED"),
    (HTML, None, 415, "EVIDENCE_TYPE_NOT_ALLOWED"),
    (PDF, "text/html", 415, "EVIDENCE_TYPE_NOT_ALLOWED"),  # refused before the body is read
    (JPEG, "image/svg+xml", 415, "EVIDENCE_TYPE_NOT_ALLOWED"),
    (JPEG, "text/plain", 415, "EVIDENCE_TYPE_NOT_ALLOWED"),
    (b"", "image/jpeg", 422, "EVIDENCE_EMPTY"),
])
async def test_content_that_is_not_what_it_claims_is_refused(client, db, people, store, data, declared, status,
                                                             code):
    refused(await upload(client, data, content_type=declared, filename="bukti.pdf"), status, code)
    await assert_nothing_stored(db, store)


async def test_a_refusal_mid_stream_leaves_no_temporary_file(client, db, people, store):
    async def chunks():
        yield HTML[:20]
        yield b"x" * 100_000

    refused(await upload(client, chunks(), content_type="application/pdf"), 422, "EVIDENCE_TYPE_MISMATCH")
    await assert_nothing_stored(db, store)


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                                          "multipart/mixed; boundary=x"])
async def test_forms_are_refused(client, db, people, store, content_type):
    refused(await upload(client, JPEG, content_type=content_type), 415, "EVIDENCE_MULTIPART_NOT_ACCEPTED")
    await assert_nothing_stored(db, store)


async def test_a_real_multipart_upload_is_refused_here_and_on_graphql(client, db, people, store):
    headers = {"Authorization": f"Bearer citizen:{OWNER}", "X-Perlinsos-Pilot": client.pilot, "X-Evidence-Kind": "KTP"}
    answer = await client.http.post("/evidence", files={"file": ("ktp.jpg", JPEG, "image/jpeg")}, headers=headers)
    refused(answer, 415, "EVIDENCE_MULTIPART_NOT_ACCEPTED")
    operations = '{"query": "mutation($f: Upload!) { upload(file: $f) }", "variables": {"f": null}}'
    answer = await client.http.post("/graphql", headers=headers, data={"operations": operations, "map": '{"0": ["variables.f"]}'},
                                    files={"0": ("ktp.jpg", JPEG, "image/jpeg")})
    assert answer.status_code in (400, 415), answer.text  # strawberry's multipart stays off
    await assert_nothing_stored(db, store)


@pytest.mark.parametrize("name", [
    "../ktp.jpg", "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "C:\\ktp.jpg", "a/b.jpg",
    "..", "...", "..ktp.jpg", "ktp\x00.jpg", "ktp\n.jpg", "ktp\r\nX-Evil: 1.jpg", "ktp\t.jpg", "ktp\x7f.jpg",
    "foto\u202egpj.exe", "foto\u2066.jpg", "a\u2215b.jpg", "a\uff0fb.jpg",
])
async def test_names_that_try_to_be_paths_or_hide_what_they_are_are_refused(client, db, people, store, name):
    error = refused(await upload(client, JPEG, filename=name), 422, "EVIDENCE_NAME_INVALID")
    assert error["header"] == "X-Filename"
    await assert_nothing_stored(db, store)


@pytest.mark.parametrize("raw", ["%ff%fe.jpg", "%c0%ae%c0%ae%2fx.jpg", "..%2fx.jpg", "%2e%2e%5cx.jpg", "x%00.jpg"])
async def test_names_are_checked_after_percent_decoding(client, db, people, store, raw):
    refused(await upload(client, JPEG, headers={"X-Filename": raw}), 422, "EVIDENCE_NAME_INVALID")
    await assert_nothing_stored(db, store)


@pytest.mark.parametrize(("name", "content_type", "clean"), [
    (".hidden.jpg", sniff.JPEG, "hidden.jpg"),
    ("  Surat   keterangan \u00a0 tidak mampu .pdf", sniff.PDF, "Surat keterangan tidak mampu.pdf"),
    ('a<b>:c?"d|e*.png', sniff.PNG, "a_b__c__d_e_.png"),
    ("Cafe\u0301.jpg", sniff.JPEG, "Caf\u00e9.jpg"),  # NFC
    ("ktp\u200b\ufeff.jpg", sniff.JPEG, "ktp.jpg"),  # invisible format characters dropped
    ("CON.pdf", sniff.PDF, "_CON.pdf"),
    ("foto.jpg", sniff.PDF, "foto.pdf"),  # the extension follows the content
    ("laporan.tar.gz", sniff.PDF, "laporan.tar.pdf"),
    ("foto", sniff.PNG, "foto.png"),
    ("", sniff.JPEG, "bukti.jpg"),
    (None, sniff.PDF, "bukti.pdf"),
    ("ktp...", sniff.JPEG, "ktp.jpg"),
    ("a..b.pdf", sniff.PDF, "a..b.pdf"),  # ".." inside a name is harmless without separators
    ("Kartu Keluarga (KK) – 2025.PDF", sniff.PDF, "Kartu Keluarga (KK) – 2025.pdf"),
])
def test_other_names_are_sanitised(name, content_type, clean):
    assert names.clean(name, content_type) == clean


def test_long_names_are_cut_keeping_the_extension():
    cleaned = names.clean("x" * 300 + ".pdf", sniff.PDF)
    assert len(cleaned) == names.MAX_LENGTH and cleaned.endswith("x.pdf")


async def test_a_sanitised_name_is_what_is_stored_and_sent_back(client, db, people):
    body = created(await upload(client, PDF, content_type="application/pdf", filename="  .Surat  gaji\u200b.jpg"))
    assert body["filename"] == "Surat gaji.pdf"
    answer = await download(client, body["id"], f"citizen:{OWNER}")
    assert answer.headers["content-disposition"] == "attachment; filename=\"Surat gaji.pdf\"; filename*=UTF-8''Surat%20gaji.pdf"


async def test_a_unicode_name_downloads_with_an_ascii_fallback(client, db, people):
    body = created(await upload(client, JPEG, filename="Foto rumah Bu Siti — Kemiren.jpg"))
    disposition = (await download(client, body["id"], f"citizen:{OWNER}")).headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Foto rumah Bu Siti Kemiren.jpg"; ')
    assert "filename*=UTF-8''Foto%20rumah%20Bu%20Siti%20%E2%80%94%20Kemiren.jpg" in disposition


@pytest.mark.parametrize("kind", [None, "", "PASSPORT", "../KTP"])
async def test_an_unknown_kind_is_refused(client, db, people, store, kind):
    error = refused(await upload(client, JPEG, kind=kind), 422, "EVIDENCE_KIND_INVALID")
    assert "ELECTRICITY_BILL" in error["message"]  # the message lists what is accepted
    await assert_nothing_stored(db, store)


async def test_refusals_speak_english_when_asked(client, db, people):
    indonesian = refused(await upload(client, HTML, content_type="application/pdf"), 422, "EVIDENCE_TYPE_MISMATCH")
    english = refused(await upload(client, HTML, content_type="application/pdf", language="en"), 422,
                      "EVIDENCE_TYPE_MISMATCH")
    assert "berkas" in indonesian["message"].lower()
    assert english["message"] == "The file's content does not match the type it claims to be."


# --- who may upload ----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer bad:forged"},
    {"Authorization": "Bearer nobody-knows-this"},
    {"Authorization": "Basic Y2l0aXplbjp4"},
    {"Authorization": "Bearer"},
    {"Cookie": f"token=citizen:{OWNER}; session=citizen:{OWNER}"},  # cookies are never a credential here
])
async def test_anonymous_and_forged_requests_get_401(client, db, people, store, headers):
    error = refused(await upload(client, JPEG, token=None, headers=headers), 401, "UNAUTHENTICATED")
    assert "citizen" not in error["message"]
    await assert_nothing_stored(db, store)


async def test_401_names_the_scheme(client, db, people):
    answer = await upload(client, JPEG, token=None)
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("token", "headers", "status", "code"), [
    ("staff:pendamping-1", {}, 403, "CITIZEN_TOKEN_REQUIRED"),
    ("staff:pendamping-1", {"X-Citizen-Token": "bad:x"}, 403, "CITIZEN_TOKEN_INVALID"),
    ("staff:pendamping-kota", {"X-Citizen-Token": f"citizen:{OWNER}"}, 403, "FACILITATOR_OUT_OF_AREA"),
    ("staff:rev-glagah", {"X-Citizen-Token": f"citizen:{OWNER}"}, 403, "NOT_A_FACILITATOR"),
    (f"citizen:{OTHER}", {"X-Citizen-Token": f"citizen:{OWNER}"}, 403, "NOT_A_FACILITATOR"),
    ("citizen:3510150101019999", {}, 403, "EVIDENCE_NOT_REGISTERED"),
])
async def test_uploads_for_someone_else_need_a_facilitator_of_their_village(client, db, people, store, token,
                                                                           headers, status, code):
    refused(await upload(client, JPEG, token=token, headers=headers), status, code)
    await assert_nothing_stored(db, store)


async def test_an_unknown_pilot_is_a_clear_400(client, db, people):
    refused(await upload(client, JPEG, headers={"X-Perlinsos-Pilot": "NOPE"}), 400, "PILOT_UNKNOWN")


# --- downloads ---------------------------------------------------------------------------------


async def file_appeal(db, nik: str, evidence_ids: list[str], *, assisted_by: str | None = None) -> int:
    """An appeal row as the appeals service writes it, with the files attached through the public API."""
    async with db.write() as s:
        person = (await s.execute(select(Person).where(Person.nik == nik))).scalar_one()
        decision = (await s.execute(select(Decision).join(
            Registration, Registration.id == Decision.registration_id).where(
            Registration.person_id == person.id))).scalar_one()
        files = await evidence.attachable(s, (static_auth.ISSUER, f"citizen-{nik}"), evidence_ids)
        appeal = Appeal(decision_id=decision.id, appellant_person_id=person.id,
                        channel=Channel.ASSISTED if assisted_by else Channel.SELF, assisted_by=assisted_by,
                        assisted_by_issuer=static_auth.ISSUER if assisted_by else None,
                        ground="DATA_INCORRECT", disputed_reasons=["ELECTRICITY_ABOVE_LIMIT"],
                        statement="Meteran listrik itu bukan milik kami.", comparison_data={},
                        status=AppealStatus.SUBMITTED, review_due_at=utcnow() + timedelta(days=14))
        s.add(appeal)
        await s.flush()
        await evidence.attach(s, appeal.id, files)
        return appeal.id


async def reads(db) -> list[AuditEvent]:
    async with db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.action == "READ_PERSONAL_DATA")
                                     .order_by(AuditEvent.id))).scalars())


async def test_the_owner_downloads_the_file_as_an_attachment(client, db, people):
    body = created(await upload(client, PDF, content_type="application/pdf", filename="slip.pdf"))
    answer = await download(client, body["id"], f"citizen:{OWNER}")
    assert answer.status_code == 200 and answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-length"] == str(len(PDF))
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["cache-control"] == "no-store"
    head = await download(client, body["id"], f"citizen:{OWNER}", "HEAD")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(PDF))
    assert await reads(db) == []  # reading your own file is not an access to log


async def test_before_an_appeal_only_the_owner_the_uploading_facilitator_and_admin_see_it(client, db, people):
    body = created(await upload(client, JPEG, token="staff:pendamping-1",
                                headers={"X-Citizen-Token": f"citizen:{OWNER}"}))
    allowed = {f"citizen:{OWNER}": True, "staff:pendamping-1": True, "staff:admin": True,
               f"citizen:{OTHER}": False, "staff:pendamping-2": False, "staff:rev-glagah": False,
               "staff:rev-kota": False, "staff:pendamping-kota": False}
    for token, ok in allowed.items():
        answer = await download(client, body["id"], token)
        if ok:
            assert answer.status_code == 200 and answer.content == JPEG, token
        else:
            refused(answer, 404, "EVIDENCE_NOT_FOUND")
    assert [(r.actor, r.subject_person_id, r.entity_type) for r in await reads(db)] == [
        ("pendamping-1", 1, "evidence_file"), ("admin", 1, "evidence_file")]


async def test_once_attached_reviewers_of_the_region_and_the_appeals_facilitator_see_it(client, db, people):
    body = created(await upload(client, JPEG))
    await file_appeal(db, OWNER, [body["id"]], assisted_by="pendamping-2")
    allowed = {f"citizen:{OWNER}": True, "staff:rev-glagah": True, "staff:admin": True, "staff:pendamping-2": True,
               f"citizen:{OTHER}": False, "staff:rev-kota": False, "staff:pendamping-1": False,
               "staff:pendamping-kota": False}
    for token, ok in allowed.items():
        answer = await download(client, body["id"], token)
        if ok:
            assert answer.status_code == 200 and answer.content == JPEG, token
        else:
            assert answer.status_code == 404, token
    events = await reads(db)
    assert [(r.actor, r.subject_person_id, r.entity_id) for r in events] == [
        ("rev-glagah", 1, str(1)), ("admin", 1, str(1)), ("pendamping-2", 1, str(1))]
    assert all(r.details["operation"] == "downloadEvidence" and r.actor_role for r in events)


async def test_the_facilitator_who_uploaded_it_still_sees_it_in_the_appeal_while_assigned_there(client, db, people):
    body = created(await upload(client, JPEG, token="staff:pendamping-1",
                                headers={"X-Citizen-Token": f"citizen:{OWNER}"}))
    await file_appeal(db, OWNER, [body["id"]])  # filed by the citizen alone
    assert (await download(client, body["id"], "staff:pendamping-1")).status_code == 200
    async with db.write() as s:  # moved to another district
        await s.execute(StaffAssignment.__table__.update().where(StaffAssignment.subject == "pendamping-1")
                        .values(region_code=seed.LATENG))
    assert (await download(client, body["id"], "staff:pendamping-1")).status_code == 404


async def test_concurrent_uploads_never_pass_the_count(client, db, people, store):
    for i in range(MAX_FILES - 1):
        created(await upload(client, JPEG + bytes([i])))
    answers = await asyncio.gather(*(upload(client, PNG + bytes([i]), content_type="image/png") for i in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    await assert_nothing_stored(db, store, before=MAX_FILES)


async def test_concurrent_identical_uploads_make_one_file(client, db, people, store):
    answers = await asyncio.gather(*(upload(client, PDF, content_type="application/pdf") for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    await assert_nothing_stored(db, store, before=1)


async def test_a_file_you_may_not_see_looks_exactly_like_a_missing_one(client, db, people):
    body = created(await upload(client, JPEG))
    hidden = await download(client, body["id"], f"citizen:{OTHER}")
    missing = await download(client, to_global_id("EvidenceFile", 999), f"citizen:{OTHER}")
    assert (hidden.status_code, without_request_id(hidden)) == (missing.status_code, without_request_id(missing))
    assert hidden.status_code == 404


def without_request_id(response: httpx.Response) -> dict:
    """The body but its request id (each request's own)."""
    body = response.json()
    for error in body["errors"]:
        error["extensions"].pop("requestId", None)
    return body


@pytest.mark.parametrize("gid", ["1", "not-an-id", to_global_id("Appeal", 1), to_global_id("Pilot", 1), "%00",
                                 "..%2F..%2Fetc%2Fpasswd"])
async def test_forged_ids_are_missing_files(client, db, people, gid):
    created(await upload(client, JPEG))
    refused(await download(client, gid, f"citizen:{OWNER}"), 404, "EVIDENCE_NOT_FOUND")


async def test_stored_objects_are_not_reachable_by_their_hash_or_path(client, db, people, evidence_dir):
    body = created(await upload(client, JPEG))
    sha = body["sha256"]
    for path in (f"/evidence/{sha}", f"/var/evidence/{sha[:2]}/{sha[2:4]}/{sha}", f"/{sha}"):
        answer = await client.http.get(path, headers={"Authorization": f"Bearer citizen:{OWNER}",
                                                      "X-Perlinsos-Pilot": client.pilot})
        assert answer.status_code == 404 and answer.content != JPEG


async def test_downloads_need_a_token(client, db, people):
    body = created(await upload(client, JPEG))
    refused(await download(client, body["id"], None), 401, "UNAUTHENTICATED")
    refused(await download(client, body["id"], "bad:forged"), 401, "UNAUTHENTICATED")


# --- delete and attach ---------------------------------------------------------------------------


async def test_the_owner_deletes_an_unattached_file_and_its_bytes_when_unused(client, db, people, store):
    first = created(await upload(client, JPEG))
    second = created(await upload(client, PNG, content_type="image/png"))
    assert (await download(client, first["id"], f"citizen:{OTHER}", "DELETE")).status_code == 404
    refused(await download(client, first["id"], "staff:admin", "DELETE"), 403, "FORBIDDEN")
    assert (await download(client, first["id"], f"citizen:{OWNER}", "DELETE")).status_code == 204
    assert (await download(client, first["id"], f"citizen:{OWNER}")).status_code == 404
    assert [sha for sha, _ in store.objects()] == [second["sha256"]]
    await file_appeal(db, OWNER, [second["id"]])
    refused(await download(client, second["id"], f"citizen:{OWNER}", "DELETE"), 409, "EVIDENCE_ALREADY_ATTACHED")


async def test_deleting_keeps_bytes_another_record_still_uses(client, db, people, store):
    mine = created(await upload(client, JPEG))
    created(await upload(client, JPEG, token=f"citizen:{OTHER}"))
    assert (await download(client, mine["id"], f"citizen:{OWNER}", "DELETE")).status_code == 204
    assert len(list(store.objects())) == 1
    assert (await download(client, mine["id"], f"citizen:{OTHER}")).status_code == 404


async def test_attached_files_free_the_count_and_cannot_be_attached_twice(client, db, people):
    ids = [created(await upload(client, JPEG + bytes([i])))["id"] for i in range(MAX_FILES)]
    await file_appeal(db, OWNER, ids[:2])
    created(await upload(client, PNG, content_type="image/png"))  # two attached: room again
    async with db.read() as s:
        for wrong in ([ids[0]], [ids[2], "garbage"], [to_global_id("EvidenceFile", 999)]):
            with pytest.raises(Problem) as caught:
                await evidence.attachable(s, (static_auth.ISSUER, f"citizen-{OWNER}"), wrong)
            assert caught.value.code == "EVIDENCE_NOT_FOUND" and caught.value.field == "evidence"
        with pytest.raises(Problem):  # someone else's file
            await evidence.attachable(s, (static_auth.ISSUER, f"citizen-{OTHER}"), [ids[2]])
        files = await evidence.attachable(s, (static_auth.ISSUER, f"citizen-{OWNER}"), [ids[2], ids[2]])
        assert [f.id for f in files] == [3]
        assert [f.id for f in await evidence.unattached(s, (static_auth.ISSUER, f"citizen-{OWNER}"))] == [3, 4]
    async with db.write() as s:  # a concurrent appeal took it first: the attach refuses
        await s.execute(EvidenceFile.__table__.update().where(EvidenceFile.id == 3).values(appeal_id=1))
    with pytest.raises(Problem):
        async with db.write() as s:
            await evidence.attach(s, 2, files)


# --- storage -------------------------------------------------------------------------------------


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


async def test_local_storage_is_content_addressed_and_atomic(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    sha, size = await storage.put(_chunks(b"abc", b"def"))
    assert sha == hashlib.sha256(b"abcdef").hexdigest() and size == 6
    assert await storage.put(_chunks(b"abcdef")) == (sha, 6)
    assert [s for s, _ in storage.objects()] == [sha] and await storage.exists(sha)
    assert b"".join([c async for c in await storage.open(sha)]) == b"abcdef"

    async def failing():
        yield b"partial"
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        await storage.stage(failing())
    assert storage.temp_files() == []
    for key in ("../../etc/passwd", sha.upper(), sha[:-1], ""):
        with pytest.raises(ValueError):
            storage.path_for(key)
    await storage.delete(sha)
    assert not await storage.exists(sha) and list(storage.objects()) == []


def test_temporary_files_of_dead_writers_are_cleaned(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    storage.tmp.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(done.stdout)
    from perlinsos.appeals.evidence.storage import _HOST

    dead = storage.tmp / f"up-{_HOST}-{dead_pid}-abc.part"
    mine = storage.tmp / f"up-{_HOST}-{os.getpid()}-def.part"
    elsewhere = storage.tmp / "up-otherhost-1-ghi.part"  # another machine's: only once it is stale
    for path in (dead, mine, elsewhere):
        path.write_bytes(b"half")
    assert storage.clean_temp() == 1
    assert sorted(storage.temp_files()) == sorted([mine, elsewhere])
    old = time.time() - 2 * storage.stale_after_seconds
    os.utime(elsewhere, (old, old))
    assert storage.clean_temp() == 1 and storage.temp_files() == [mine]


async def test_orphaned_objects_are_swept(client, db, people, store):
    kept = created(await upload(client, JPEG))
    orphan, _ = await store.put(_chunks(b"%PDF-1.4 left by a process that died before its commit"))
    assert await evidence.sweep_orphans(db, store) == 0  # too fresh: may be an upload in flight
    old = time.time() - 7200
    for sha in (orphan, kept["sha256"]):
        os.utime(store.path_for(sha), (old, old))
    assert await evidence.sweep_orphans(db, store) == 1
    assert [sha for sha, _ in store.objects()] == [kept["sha256"]]


def test_settings_come_from_the_environment():
    settings = Settings.from_env({"PERLINSOS_EVIDENCE_DIR": "/srv/bukti", "PERLINSOS_MAX_EVIDENCE_BYTES": "1048576",
                                  "PERLINSOS_MAX_EVIDENCE_FILES": "8"})
    assert (settings.evidence_dir, settings.max_evidence_bytes, settings.max_evidence_files) == ("/srv/bukti", 1048576, 8)
    default = Settings.from_env({})
    assert (default.evidence_dir, default.max_evidence_bytes, default.max_evidence_files) == (
        "var/evidence", 5 * 1024 * 1024, 5)


# --- a real server: HTTP over a socket, and kill -9 mid-upload -----------------------------------


SERVER = """
import sys, uvicorn
from fixtures import static_auth
from perlinsos.app import create_app
from perlinsos.plugins import PluginManager
from perlinsos.settings import Settings
url, folder, port = sys.argv[1:4]
settings = Settings(database_url=url, evidence_dir=folder, dispatcher_in_process=False, pilot_cache_seconds=0)
app = create_app(settings, PluginManager(extra_plugins=[(static_auth.NAME, static_auth)], national=static_auth.NATIONAL))
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database_url: str, folder: Path, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, database_url, str(folder), str(self.port)],
                                        cwd=log.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def server(database_url, evidence_dir, tmp_path):
    started: list[Server] = []

    def start() -> Server:
        started.append(Server(database_url, evidence_dir, tmp_path / "server.log"))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def _headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer citizen:{OWNER}", "X-Perlinsos-Pilot": "BWI-2025", "X-Evidence-Kind": "KTP",
            **extra}


async def test_upload_and_download_through_a_real_server(server, db, people, store):
    running = await asyncio.to_thread(server)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
        answer = await http.post("/evidence", content=PDF, headers=_headers(**{
            "Content-Type": "application/pdf", "X-Filename": quote("surat keterangan.pdf")}))
        body = created(answer)
        fetched = await http.get(f"/evidence/{quote(body['id'], safe='')}", headers=_headers())
        assert fetched.content == PDF and fetched.headers["content-type"] == "application/pdf"
        multipart = await http.post("/evidence", files={"f": ("a.jpg", JPEG, "image/jpeg")}, headers=_headers())
        refused(multipart, 415, "EVIDENCE_MULTIPART_NOT_ACCEPTED")
        forged = await http.post("/evidence", content=JPEG, headers={**_headers(), "Authorization": "Bearer bad:x"})
        refused(forged, 401, "UNAUTHENTICATED")

        async def endless():  # chunked, no Content-Length: cut off at the default 5 MiB
            yield JPEG
            for _ in range(200):
                yield b"\0" * 65536

        for content in (JPEG + b"\0" * (20 * 1024 * 1024), endless()):
            answer = await http.post("/evidence", content=content, headers=_headers(**{"Content-Type": "image/jpeg"}))
            assert refused(answer, 413, "EVIDENCE_TOO_LARGE")["message"].endswith("(maks. 5 MiB)")
    assert len(await rows(db)) == 1
    assert len(list(store.objects())) == 1 and store.temp_files() == []


async def test_kill_9_mid_upload_leaves_nothing_half_stored(server, db, people, evidence_dir):
    running = await asyncio.to_thread(server)
    store = LocalStorage(evidence_dir)
    total = 1024 * 1024
    head = (f"POST /evidence HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer citizen:{OWNER}\r\n"
            f"X-Perlinsos-Pilot: BWI-2025\r\nX-Evidence-Kind: KTP\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {total}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.sendall(head + JPEG + b"\x00" * (300_000 - len(JPEG)))
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size > 0 for p in store.temp_files()):  # the server is writing it
            assert time.monotonic() < deadline, "upload never reached the store"
            await asyncio.sleep(0.05)
        running.stop(signal.SIGKILL)
    assert running.process.returncode == -signal.SIGKILL
    assert await rows(db) == []
    assert list(store.objects()) == []  # no object under a final name, partial or whole
    assert len(store.temp_files()) == 1  # only the dead writer's temporary file

    restarted = await asyncio.to_thread(server)
    async with httpx.AsyncClient(base_url=restarted.url, timeout=10) as http:
        created(await http.post("/evidence", content=JPEG, headers=_headers(**{"Content-Type": "image/jpeg"})))
    assert store.temp_files() == []  # the restarted process removed the leftover
    assert len(list(store.objects())) == 1 and len(await rows(db)) == 1
