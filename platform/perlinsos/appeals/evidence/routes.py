"""HTTP endpoints for evidence files, beside ``/graphql``.

``POST /evidence`` — the request body *is* the file (not a multipart form)::

    Authorization: Bearer <token>          required; cookies are never consulted
    X-Perlinsos-Pilot: BWI-2025            as for /graphql
    Content-Type: image/jpeg               the declared type (optional; checked against the content)
    X-Filename: foto%20KTP.jpg             percent-encoded UTF-8 (optional)
    X-Evidence-Kind: KTP                   KTP, KK, ELECTRICITY_BILL, HOUSE_PHOTO, SKTM, ...
    X-Citizen-Token: <citizen's token>     when a facilitator uploads for the citizen
    Idempotency-Key: <8-100 characters>    optional: a retry with the same key and file answers the
                                           first upload again; another file with it is refused (409)

Why not GraphQL multipart: a multipart form is a "simple" request a hostile page can make a
browser send cross-site without a CORS preflight (CSRF). This endpoint needs an Authorization
header — which a cross-site form cannot set and a cross-site script can only set after a preflight
this app never grants — and refuses form encodings outright.

Answers ``201`` (``200`` when the same file was already waiting) with
``{id, sha256, sizeBytes, size, contentType, filename, kind, created}`` (``sizeBytes`` as GraphQL's
``EvidenceFile.sizeBytes``; ``size`` is the same number, kept for older clients and deprecated); refusals are
GraphQL's error shape, ``{"errors": [{"message", "extensions": {"code", "header"?, "requestId"}}]}``, in
the ``Accept-Language`` (Bahasa Indonesia by default; docs/errors.md); over the pilot's upload limit
(:mod:`perlinsos.ratelimits`) ``429`` with ``Retry-After`` and ``extensions.retryAfter``.

``GET /evidence/{id}`` streams the file to those :func:`perlinsos.appeals.evidence.service.access`
allows, as an attachment with its sniffed type; anyone else gets the same 404 as for a missing id.
``DELETE /evidence/{id}`` removes a file not yet attached to an appeal (its owner, or the
facilitator who uploaded it).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from perlinsos import idempotency, policy, ratelimits
from perlinsos.identity import auth
from perlinsos.contract import Principal
from perlinsos.db.models import Person, Registration
from perlinsos.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Problem,
    SourceUnavailable,
)
from perlinsos.appeals.evidence import names, service, sniff
from perlinsos.appeals.evidence.errors import EvidenceRefused, body, refusal, status_of
from perlinsos.appeals.evidence.storage import ObjectMissing, Storage, local_storage
from perlinsos import globalids
from perlinsos.languages import pick_language

log = logging.getLogger(__name__)

PILOT_HEADER = "x-perlinsos-pilot"
NO_STORE = {"Cache-Control": "no-store"}


def storage_for(settings) -> Storage:
    """The evidence store of a deployment (a local folder; see :mod:`.storage`)."""
    return local_storage(settings.evidence_dir)


@dataclass
class Caller:
    state: Any
    pilot: Any
    hooks: Any
    principal: Principal
    token: str


async def _caller(request: Request) -> Caller:
    state = request.app.state.perlinsos
    try:
        code = request.headers.get(PILOT_HEADER) or await state.pilots.default_code(state.settings.default_pilot)
        if not code:
            raise refusal("PILOT_REQUIRED")
        pilot = await state.pilots.get(code)
        if pilot is None:
            raise refusal("PILOT_UNKNOWN")
        hooks = state.plugins.for_pilot(pilot)
        token = auth.bearer_token(request.headers.get("authorization"))
        if token is None:
            raise refusal("UNAUTHENTICATED")
        async with state.db.read() as session:
            principal = await auth.authenticate(token, hooks, session)
    except AuthenticationFailed:
        raise refusal("UNAUTHENTICATED") from None  # which check failed helps an attacker only
    except SourceUnavailable:
        raise refusal("IDENTITY_PROVIDER_UNAVAILABLE") from None
    except ConfigurationError:
        log.exception("pilot misconfigured")
        raise refusal("SERVICE_UNAVAILABLE") from None
    return Caller(state, pilot, hooks, principal, token)


def _error(problem: Problem, lang: str) -> JSONResponse:
    status = status_of(problem)
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = problem.retry_after if isinstance(problem, ratelimits.RateLimited) else None
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    content = body(problem, lang, retryAfter=retry_after)
    return JSONResponse(content, status_code=status, headers=headers)


def _lang(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


# --- upload ------------------------------------------------------------------------------------


class _Receiver:
    """The request body with a hard size cap, its type sniffed from the first bytes as they arrive."""

    def __init__(self, stream: AsyncIterator[bytes], limit: int, declared: str | None):
        self.stream, self.limit, self.declared = stream, limit, declared
        self.size, self.head, self.content_type = 0, b"", None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self.limit:
                raise refusal("EVIDENCE_TOO_LARGE", detail=_at_most(self.limit))
            if self.content_type is None:
                self.head += chunk[: sniff.HEAD_BYTES - len(self.head)]
                if len(self.head) >= sniff.HEAD_BYTES:
                    self.content_type = sniff.check(self.head, self.declared)  # refuse before storing more
            yield chunk
        if self.size == 0:
            raise refusal("EVIDENCE_EMPTY")
        if self.content_type is None:
            self.content_type = sniff.check(self.head, self.declared)


def _at_most(size: int) -> tuple[str, str]:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale:
            amount = f"{size / scale:.1f}".removesuffix(".0")
            return f"maks. {amount} {unit}", f"at most {amount} {unit}"
    return f"maks. {size} bait", f"at most {size} bytes"


async def _registered_regions(caller: Caller, nik: str) -> tuple[int, set[str]]:
    async with caller.state.db.read() as session:
        rows = (await session.execute(
            select(Person.id, Registration.region_code)
            .join(Registration, Registration.person_id == Person.id)
            .where(Person.nik == nik, Registration.pilot_id == caller.pilot.id)
        )).all()
    if not rows:
        raise refusal("EVIDENCE_NOT_REGISTERED")
    return rows[0][0], {r[1] for r in rows}


async def upload(request: Request) -> Response:
    lang = _lang(request)
    try:
        return await _upload(request)
    except Problem as exc:
        return _error(exc, lang)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; the staged bytes are gone already


async def _upload(request: Request) -> Response:
    caller = await _caller(request)
    settings = caller.state.settings
    # Everything that can be refused without the body is refused before reading it.
    declared = sniff.declared_type(request.headers.get("content-type"))
    actor = await auth.acting(caller.state.db, caller.hooks, caller.principal, caller.token,
                              request.headers.get("x-citizen-token"))
    kind = (request.headers.get("x-evidence-kind") or "").strip().upper()
    accepted = await service.kinds(caller.hooks)
    if kind not in accepted:
        raise refusal("EVIDENCE_KIND_INVALID", field="kind", detail=", ".join(accepted))
    raw_name = names.decode_header(request.headers.get("x-filename"))
    if raw_name is not None:
        names.check(raw_name)
    limit = settings.max_evidence_bytes
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit():
        if int(length) > limit:
            raise refusal("EVIDENCE_TOO_LARGE", detail=_at_most(limit))
        if int(length) == 0:
            raise refusal("EVIDENCE_EMPTY")
    person_id, regions = await _registered_regions(caller, actor.citizen.nik)
    if actor.facilitator is not None and not any(
        policy.facilitator_covers(actor.facilitator, region, caller.pilot.code) for region in regions
    ):
        raise refusal("FACILITATOR_OUT_OF_AREA")  # a facilitator acts only in their own villages
    key = _client_key(request)
    if key is not None:
        asked = {"kind": kind, "filename": raw_name, "citizen": list(actor.citizen.identity)}
        try:
            done = await idempotency.claim(caller.state.db, caller.principal, key, "evidenceUpload",
                                           idempotency.fingerprint("evidenceUpload", asked, key),
                                           field="Idempotency-Key")
        except Problem as p:  # the key is taken: by another upload, or by this one still running
            raise EvidenceRefused(p.code, p.messages, 409, field="Idempotency-Key") from None
        if done is not None:  # a retry: the same file answers what the first upload did, and counts nothing
            return await _replay(request, settings, limit, declared, done)
        try:
            response = await _store(request, caller, actor, settings, limit, declared, kind, raw_name, person_id)
        except BaseException:
            await idempotency.release(caller.state.db, caller.principal, key)
            raise
        answer = json.loads(response.body)
        await idempotency.complete(caller.state.db, caller.principal, key,  # the file, for a training reset
                                   entity_id=globalids.decode("EvidenceFile", answer["id"]),
                                   response={"status": response.status_code, "body": answer})
        return response
    return await _store(request, caller, actor, settings, limit, declared, kind, raw_name, person_id)


def _client_key(request: Request) -> str | None:
    try:
        return idempotency.check_key(request.headers.get("idempotency-key"), field="Idempotency-Key")
    except Problem as p:
        raise EvidenceRefused(p.code, p.messages, 400, field="Idempotency-Key") from None


async def _replay(request: Request, settings, limit: int, declared: str | None, done) -> Response:
    """Read the retried body only to check it is the same file; store nothing."""
    staged = await storage_for(settings).stage(_Receiver(request.stream(), limit, declared))
    await staged.discard()
    if staged.sha256 != done.response["body"]["sha256"]:
        p = idempotency.refusal("IDEMPOTENCY_KEY_REUSED", "Idempotency-Key")
        raise EvidenceRefused(p.code, p.messages, 409, field="Idempotency-Key")
    gid = done.response["body"]["id"]
    return JSONResponse(done.response["body"], status_code=done.response["status"],
                        headers={**NO_STORE, "Location": f"/evidence/{quote(gid, safe='')}"})


async def _store(request: Request, caller: Caller, actor, settings, limit: int, declared: str | None, kind: str,
                 raw_name: str | None, person_id: int) -> Response:
    # Counted before a byte of the body is read: a refused upload stores nothing.
    await ratelimits.consume(caller.state.db, caller.pilot, "evidence_upload", actor)

    storage = storage_for(settings)
    receiver = _Receiver(request.stream(), limit, declared)
    staged = await storage.stage(receiver)  # a refusal while reading leaves nothing behind
    try:
        content_type = receiver.content_type
        filename = names.clean(raw_name, content_type)
    except BaseException:
        await staged.discard()
        raise
    stored = await service.record_upload(
        caller.state.db, staged, owner=actor.citizen, person_id=person_id,
        uploader=actor.facilitator or actor.citizen, facilitator=actor.facilitator, kind=kind,
        filename=filename, content_type=content_type, max_files=settings.max_evidence_files)
    row = stored.row
    gid = globalids.encode("EvidenceFile", row.id)
    return JSONResponse(
        {"id": gid, "sha256": row.sha256, "sizeBytes": row.size_bytes, "size": row.size_bytes,
         "contentType": row.content_type,
         "filename": row.filename, "kind": row.kind, "created": stored.created},
        status_code=201 if stored.created else 200,
        headers={**NO_STORE, "Location": f"/evidence/{quote(gid, safe='')}"},
    )


# --- download and delete -------------------------------------------------------------------------


def _number(value: str) -> int | None:
    try:
        return globalids.decode("EvidenceFile", value)
    except globalids.MalformedId:  # a malformed id is a missing file
        return None


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = " ".join(re.sub(r"[^A-Za-z0-9._ ()-]", "_", fallback).split()) or "bukti"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def evidence_file(request: Request) -> Response:
    lang = _lang(request)
    try:
        caller = await _caller(request)
        number = _number(request.path_params["id"])
        if number is None:
            raise refusal("EVIDENCE_NOT_FOUND")
        storage = storage_for(caller.state.settings)
        if request.method == "DELETE":
            await service.delete_unattached(caller.state.db, storage, caller.principal, number)
            return Response(status_code=204, headers=NO_STORE)
        return await _download(request, caller, storage, number)
    except Problem as exc:
        return _error(exc, lang)


async def _download(request: Request, caller: Caller, storage: Storage, number: int) -> Response:
    async with caller.state.db.read() as session:
        found = await service.access(session, caller.principal, number)
    if found is None:
        raise refusal("EVIDENCE_NOT_FOUND")
    row = found.row
    headers = {
        **NO_STORE,
        "Content-Disposition": content_disposition(row.filename),
        "Content-Length": str(row.size_bytes),
        "X-Content-Type-Options": "nosniff",
        # Should a browser render it anyway: no scripts, no requests, no plugins.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
        "ETag": f'"{row.sha256}"',
    }
    if request.method == "HEAD":
        return Response(status_code=200, media_type=row.content_type, headers=headers)
    try:
        chunks = await storage.open(row.sha256)
    except ObjectMissing:
        log.error("evidence file %s: its object %s is missing from the store", row.id, row.sha256)
        raise refusal("SERVICE_UNAVAILABLE") from None
    if not found.owner:
        try:
            await service.record_download(caller.state.db, caller.principal, found)  # logged before any byte
        except BaseException:
            await chunks.aclose()
            raise
    return StreamingResponse(chunks, media_type=row.content_type, headers=headers)
