"""Every error a client sees speaks the request's language, in one shape.

Messages are written as bilingual pairs — a :class:`Text`, or the older ``"Bahasa Indonesia. /
English."`` convention — and turned into one language here, where an answer is formatted: the
GraphQL errors in ``MaskWithRequestId`` (HTTP and websocket, results and streamed events), the
HTTP refusals and REST routes in :func:`body`, the websocket's own refusals in :func:`error_dict`.
A message from a client's own document (graphql-core's parse and validation texts) is left whole:
only errors the platform coded, or a :class:`Text`, are split, so a value quoted in a message can
never be cut in two.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from perlinsos import requestids
from perlinsos.errorshape import (  # noqa: F401 - re-exported: the GraphQL side's names
    LANGUAGES, SEPARATOR, Text, body, error_dict, localize,
)

#: set on strawberry's execution context once its document passed validation
VALIDATED = "perlinsos_validated"


def default_code(error: GraphQLError, validated: bool = False) -> str:
    """The code of an error raised without one (graphql-core's own)."""
    if isinstance(error, GraphQLSyntaxError) or isinstance(error.original_error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None and error.original_error is None and not validated:
        return "GRAPHQL_VALIDATION_FAILED"
    if error.path is None:
        return "BAD_USER_INPUT"  # coercing the request's variables: the client's mistake
    return "INTERNAL_SERVER_ERROR"


def speak(error: GraphQLError, language: str | None, validated: bool = False) -> GraphQLError:
    """``error`` with its code (and the request id) in ``extensions`` and its message in ``language``.
    A copy: validation errors are cached across requests (and languages); the original error (kept
    for the view and the logs) stays attached."""
    extensions = dict(error.extensions or {})
    ours = "code" in extensions or isinstance(error.message, Text)
    extensions.setdefault("code", default_code(error, validated))
    rid = requestids.current()
    if rid:
        extensions.setdefault("requestId", rid)
    message = localize(error.message, language) if ours else error.message
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=error.original_error, extensions=extensions)



def localize_payload(value: Any, language: str | None) -> Any:
    """Every error ``message`` in an outgoing websocket payload, in ``language``."""
    if isinstance(value, list):
        return [localize_payload(item, language) for item in value]
    if isinstance(value, dict):
        if isinstance(value.get("message"), str) and isinstance(value.get("extensions"), dict):
            return {**value, "message": localize(value["message"], language)}
        return {k: localize_payload(v, language) for k, v in value.items()}
    return value


#: the code of an HTTP refusal that names none
STATUS_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
                429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE"}
#: the texts of routing's own refusals (any route: /health, /evidence/{id}, plugin routes)
STATUS_TEXTS = {
    404: Text("Alamat tidak ditemukan.", "Not found."),
    405: Text("Metode HTTP ini tidak didukung di alamat ini.", "This HTTP method is not allowed here."),
}


async def http_refusal(request, exc) -> Any:
    """Starlette's 404/405 (and any HTTPException a route raises) in the one error shape."""
    from starlette.responses import JSONResponse

    from perlinsos.languages import pick_language

    status = exc.status_code
    message = STATUS_TEXTS.get(status) or Text(str(exc.detail), str(exc.detail))
    language = pick_language(request.headers.get("accept-language"))
    code = STATUS_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")
    return JSONResponse(body(code, message, language), status_code=status, headers=getattr(exc, "headers", None))
