"""The checks every GraphQL request passes before it is parsed, whichever door it came through.

HTTP (``view.GraphQLView.parse_http_body``) and the websocket (``websocket.GatedTransportWS`` and
``GatedLegacyWS``, on each ``subscribe``/``start``) call :func:`check_request` with the same
settings, so a limit cannot hold on one transport and not the other. Depth, aliases, cost and the
operation names inside the document are measured by ``limits.limits_rule``, which both run.
"""

from __future__ import annotations

import re
from typing import Any

from cross_web import HTTPException

from perlinsos.settings import Settings

#: longest operation name accepted (in ``operationName`` and in the document): the name is
#: stored in every personal-data audit row and shown to the citizen in ``dataAccessLog``.
MAX_OPERATION_NAME = 128
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")  # a GraphQL Name (spec §2.1.9)


class Refusal(HTTPException):
    """A request refused before parsing: an HTTP status for the HTTP door, a machine ``code`` for
    both (the websocket sends it in an ``error`` message), a bilingual message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message)
        self.code = code


def json_depth(value: Any) -> int:
    """Nesting depth of decoded JSON, iteratively (a recursive walk is itself a stack risk)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def valid_operation_name(name: str) -> bool:
    return len(name) <= MAX_OPERATION_NAME and _NAME.fullmatch(name) is not None


def check_request(settings: Settings, query: Any, operation_name: Any, variables: Any, extensions: Any) -> None:
    """Raise :class:`Refusal` for a request no transport may run (the shapes strawberry checks
    for HTTP are checked here too, for the websocket, whose messages strawberry reads unchecked)."""
    if not isinstance(query, str | None):
        raise Refusal(400, "BAD_REQUEST", "query harus teks. / `query` must be a string.")
    if query is not None and len(query.encode()) > settings.max_document_bytes:
        limit = settings.max_document_bytes
        raise Refusal(413, "PAYLOAD_TOO_LARGE", f"Dokumen GraphQL lebih besar dari {limit} byte. / "
                                                f"GraphQL document larger than {limit} bytes.")
    if not isinstance(operation_name, str | None):
        raise Refusal(400, "BAD_REQUEST", "operationName harus teks. / `operationName` must be a string or null.")
    if operation_name is not None and not valid_operation_name(operation_name):
        raise Refusal(400, "BAD_REQUEST", f"operationName harus nama GraphQL (huruf, angka, _) paling panjang "
                                          f"{MAX_OPERATION_NAME} karakter. / `operationName` must be a GraphQL name "
                                          f"of at most {MAX_OPERATION_NAME} characters.")
    for part, value in (("variables", variables), ("extensions", extensions)):
        if not isinstance(value, dict | None):
            raise Refusal(400, "BAD_REQUEST", f"{part} harus objek JSON. / `{part}` must be an object or null.")
    depth = settings.max_variables_depth
    if max(json_depth(variables), json_depth(extensions)) > depth:
        raise Refusal(400, "BAD_REQUEST", f"Variabel bersarang lebih dari {depth} tingkat. / "
                                          f"Variables nested deeper than {depth} levels.")


def subscription_over_http() -> Refusal:
    return Refusal(400, "SUBSCRIPTION_OVER_HTTP",
                   "Langganan hanya lewat websocket di /graphql (protokol graphql-transport-ws). / "
                   "Subscriptions run over the websocket at /graphql (graphql-transport-ws), not over HTTP.")
