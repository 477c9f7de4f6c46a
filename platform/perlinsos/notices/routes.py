"""``GET /notices/<pilot>/<village>.pdf|.csv?programme=PKH``: a village notice to print, behind the
same gate as ``/evidence`` (a bearer token, checked by the pilot's identity providers; the same
refusals in the one error shape). The pilot is the path's: the token is checked by its providers."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from perlinsos.identity import auth
from perlinsos import requestids
from perlinsos.db.types import utcnow
from perlinsos.errors import AuthenticationFailed, ConfigurationError, Problem, SourceUnavailable
from perlinsos.problems import problem
from perlinsos.languages import pick_language
from perlinsos.notices import FORMATS, village_notice
from perlinsos.notices.render import as_csv, as_pdf
from perlinsos.pilots.training import HEADER as TRAINING_HEADER

STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "RESULTS_NOT_PUBLISHED": 409, "PILOT_UNKNOWN": 404,
          "REGION_UNKNOWN": 404, "IDENTITY_PROVIDER_UNAVAILABLE": 503}
NO_STORE = {"Cache-Control": "no-store"}
log = logging.getLogger(__name__)
MEDIA = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


async def _principal(request: Request, code: str):
    state = request.app.state.perlinsos
    try:
        pilot = await state.pilots.get(code)
        if pilot is None:
            raise problem("PILOT_UNKNOWN", field="pilot")
        token = auth.bearer_token(request.headers.get("authorization"))
        if token is None:
            raise problem("UNAUTHENTICATED")
        async with state.db.read() as session:
            return await auth.authenticate(token, state.plugins.for_pilot(pilot), session)
    except AuthenticationFailed:
        raise problem("UNAUTHENTICATED") from None  # which check failed helps an attacker only
    except SourceUnavailable:
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None
    except ConfigurationError:
        log.exception("pilot %r misconfigured", code)
        raise problem("IDENTITY_PROVIDER_UNAVAILABLE") from None  # the pilot's sign-in cannot be checked now


async def notice(request: Request) -> Response:
    lang = pick_language(request.headers.get("accept-language"))
    code, file = request.path_params["pilot"], request.path_params["file"]
    village, _, fmt = file.rpartition(".")
    try:
        if fmt not in FORMATS or not village:
            raise problem("INPUT_INVALID", field="format")
        principal = await _principal(request, code)
        programme = request.query_params.get("programme") or ""
        if not programme:
            raise problem("INPUT_INVALID", field="programme")
        state = request.app.state.perlinsos
        found = await village_notice(state.db, principal, code, village, programme, fmt=fmt, now=utcnow())
    except Problem as p:
        status = STATUS.get(p.code, 400)
        headers = dict(NO_STORE) | ({"WWW-Authenticate": "Bearer"} if status == 401 else {})
        return JSONResponse(_body(p, lang), status_code=status, headers=headers)
    content = as_pdf(found) if fmt == "pdf" else as_csv(found)
    name = f"pengumuman-{found.pilot}-{found.programme}-{found.village_code}.{fmt}"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"}
    if found.training:
        headers[TRAINING_HEADER] = "1"
    return Response(content, media_type=MEDIA[fmt], headers=headers)


def _body(p: Problem, lang: str) -> dict:
    """The one error shape of every route (docs/errors.md)."""
    extensions = {"code": p.code, "requestId": requestids.current()}
    if p.field:
        extensions["field"] = p.field
    return {"errors": [{"message": p.message(lang), "extensions": extensions}]}
