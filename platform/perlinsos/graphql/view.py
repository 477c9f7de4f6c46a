"""The ``/graphql`` endpoint: Strawberry's ASGI view with our context and request limits."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError

from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from perlinsos.identity import auth
from perlinsos.errors import AuthenticationFailed, ConfigurationError, SourceUnavailable
from perlinsos.graphql.context import Context
from perlinsos.graphql.gate import Refusal, check_request, subscription_over_http
from perlinsos.graphql import language_errors, trusted
from perlinsos.graphql.language_errors import Text
from perlinsos.graphql.websocket import GatedLegacyWS, GatedSocket, GatedTransportWS
from perlinsos.languages import pick_language
from perlinsos import logs, requestids
from perlinsos.graphql import unavailable
from perlinsos.graphql.errors import masked_body
from perlinsos.graphql.loaders import Loaders
from perlinsos.pilots import store
from perlinsos.plugins import PluginManager

PILOT_HEADER = "x-perlinsos-pilot"
BAD_TOKEN = Text("Token tidak sah atau kedaluwarsa.", "Invalid or expired token.")
log = logging.getLogger("perlinsos.graphql")

# CSRF (the GraphQL-over-HTTP / Apollo convention): a browser sends a cross-site request without
# a CORS preflight only when it is "simple" — GET/POST with no custom header and a content type of
# text/plain, form-urlencoded or multipart. We accept POST only as application/json, and GET only
# with one of these headers, which no cross-site page can add without a preflight.
PREFLIGHT_HEADERS = (PILOT_HEADER, "apollo-require-preflight", "x-apollo-operation-name")

CODES = language_errors.STATUS_CODES
# strawberry's own refusals are English only; these are the ones a client can trigger.
TRANSLATED = {
    "Unable to parse request body as JSON": "Isi permintaan bukan JSON yang sah. / Unable to parse request body as JSON.",
    "Batching is not enabled": "Beberapa operasi dalam satu permintaan (array JSON) tidak didukung; kirim satu "
    "operasi per permintaan. / Batched operations (a JSON array body) are not supported: send one per request.",
    "No GraphQL query found in the request": "Permintaan tidak memuat query GraphQL. / "
    "No GraphQL query found in the request.",
    "mutations are not allowed when using GET": "Mutasi tidak boleh lewat GET; gunakan POST. / "
    "Mutations are not allowed when using GET.",
    "subscriptions are not allowed when using GET": "Langganan tidak boleh lewat GET. / "
    "Subscriptions are not allowed when using GET.",
    "GraphQL only supports GET and POST requests.": "Hanya GET dan POST yang didukung. / "
    "GraphQL only supports GET and POST requests.",
}


#: what each method may run over HTTP: subscriptions only over the websocket (strawberry would run
#: one over HTTP as a query, and its async generator ends in a masked error and a logged trace).
HTTP_OPERATIONS = {"GET": {OperationType.QUERY}, "POST": {OperationType.QUERY, OperationType.MUTATION}}


def problem(status: int, message: str, code: str | None = None, language: str | None = None) -> JSONResponse:
    """A refused request as a GraphQL-style error body (never a trace or a class name), in the
    request's language (docs/errors.md)."""
    message = TRANSLATED.get(message, message)
    code = code or CODES.get(status, "INTERNAL_SERVER_ERROR")
    logs.note(code=code)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(language_errors.body(code, message, language), status_code=status, headers=headers)


class _TooLarge(Exception):
    pass


class _Outage(Exception):
    """The request cannot be answered: the database (or the identity provider) is unavailable."""

    def __init__(self, code: str, cause: BaseException):
        super().__init__(code)
        self.code, self.cause = code, cause


def _capped(receive, limit: int):
    """``receive`` that stops a body (also a chunked one, with no Content-Length) past ``limit``."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return wrapped


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class PilotCache:
    """Pilot contexts by code, re-read every few seconds (several processes may edit pilots)."""

    def __init__(self, db, plugins: PluginManager, ttl: float = 5.0):
        self.db, self.plugins, self.ttl = db, plugins, ttl
        self._cache: dict[str, tuple[float, Any]] = {}
        self._hooks: dict[str, tuple[Any, Any]] = {}  # code -> (pilot context, its bound hooks)

    async def get(self, code: str):
        hit = self._cache.get(code)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        async with self.db.read() as session:
            row = await store.get_pilot(session, code)
        context = store.pilot_context(row, self.plugins) if row else None
        self._cache[code] = (time.monotonic(), context)
        return context

    def hooks(self, pilot):
        """The pilot's hook callers, bound once per cached pilot context (so its trust table is
        built once, not per request); a re-read pilot gets new ones."""
        hit = self._hooks.get(pilot.code)
        if hit is not None and hit[0] is pilot:
            return hit[1]
        hooks = self.plugins.for_pilot(pilot)
        self._hooks[pilot.code] = (pilot, hooks)
        return hooks

    def invalidate(self, code: str) -> None:
        """Forget ``code`` (after this process changed it): the next request reads it again.
        Other processes still see the change within ``ttl`` seconds."""
        self._cache.pop(code, None)

    async def default_code(self, configured: str | None) -> str | None:
        if configured:
            return configured
        async with self.db.read() as session:
            rows = await store.list_pilots(session)
        return rows[0].code if len(rows) == 1 else None


class GraphQLView(GraphQL):
    websocket_adapter_class = GatedSocket
    graphql_transport_ws_handler_class = GatedTransportWS
    graphql_ws_handler_class = GatedLegacyWS

    def __init__(self, schema, *, state, **kwargs):
        super().__init__(schema, max_subscriptions_per_connection=state.settings.max_subscriptions_per_connection,
                         **kwargs)
        self.state = state
        #: (issuer, subject) → this process's websocket handlers of that user (the per-user cap)
        self.subscribers: dict[tuple[str | None, str], set] = {}
        self.outages = unavailable.episodes(state.db)  # watches statements from now on (recovery)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        settings = self.state.settings
        request = Request(scope, receive=_capped(receive, settings.max_request_bytes))
        try:
            self._refuse_unsafe(request)
            response = await self.run(request)
        except HTTPException as exc:
            response = problem(exc.status_code, exc.reason, getattr(exc, "code", None),
                               pick_language(request.headers.get("accept-language")))
            if exc.status_code == 405:
                response.headers["Allow"] = "GET, POST"
        except _TooLarge:
            response = self._too_large(pick_language(request.headers.get("accept-language")))
        except _Outage as exc:
            response = self._outage(request, exc.code, exc.cause)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and asyncio.current_task().cancelling():
                raise  # this request itself is cancelled (client gone, shutdown): nobody to answer
            outage = unavailable.classify(exc)
            if outage is not None:  # outside any field: reading the pilot, the token, the access log
                response = self._outage(request, outage, exc)
                await response(scope, receive, send)
                return
            logs.note(code="INTERNAL_SERVER_ERROR")
            # Anything unforeseen (a stray cancellation too) is logged once, whole, and answered as
            # the masked GraphQL error with the request id to quote.
            log.error("unexpected error serving /graphql (request %s)", requestids.current(), exc_info=exc)
            response = JSONResponse(masked_body(pick_language(request.headers.get("accept-language"))),
                                    status_code=500)
        await response(scope, receive, send)

    def _outage(self, request: Request, code: str, cause: BaseException) -> JSONResponse:
        """503 with ``Retry-After``; a database outage logged once per episode, never a traceback."""
        if code == unavailable.DATABASE_UNAVAILABLE:
            self.outages.failure(cause)
        else:
            log.warning("%s (request %s): %s", code, requestids.current(), cause)
        logs.note(code=code)
        return unavailable.response(code, pick_language(request.headers.get("accept-language")))

    def _too_large(self, language: str) -> JSONResponse:
        limit = self.state.settings.max_request_bytes
        return problem(413, f"Permintaan lebih besar dari {limit} byte. / Request body larger than {limit} bytes.",
                       language=language)

    def _refuse_unsafe(self, request: Request) -> None:
        """Size and CSRF checks that need no body and no database (before authentication)."""
        if request.method not in ("GET", "POST"):
            raise HTTPException(405, "Gunakan GET atau POST. / Use GET or POST.")
        headers = request.headers
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.state.settings.max_request_bytes:
            raise _TooLarge
        if request.method == "POST" and _media_type(headers.get("content-type")) != "application/json":
            raise HTTPException(415, "Kirim operasi sebagai application/json. / "
                                     "Send operations with Content-Type: application/json.")
        if (request.method == "GET" and ("query" in request.query_params or "documentId" in request.query_params)
                and not any(headers.get(h) for h in PREFLIGHT_HEADERS)):
            raise HTTPException(400, "Query lewat GET memerlukan header X-Perlinsos-Pilot (atau "
                                     "apollo-require-preflight). / A GET query needs an X-Perlinsos-Pilot "
                                     "(or apollo-require-preflight) header, to prevent cross-site requests.")

    def decode_json(self, data: str | bytes) -> object:
        try:
            value = json.loads(data)
        except UnicodeDecodeError:
            raise HTTPException(400, "Isi permintaan bukan UTF-8. / The request body is not UTF-8.") from None
        except RecursionError:
            raise HTTPException(400, "JSON terlalu dalam bersarang. / The JSON is nested too deeply.") from None
        except json.JSONDecodeError:
            raise  # strawberry answers it ("Unable to parse request body as JSON")
        except ValueError:  # an integer literal past Python's digit limit
            raise HTTPException(400, "Angka dalam JSON terlalu panjang. / A number in the JSON is too long.") from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "Isi permintaan harus objek JSON. / The request body must be a JSON object.")
        return value

    async def parse_http_body(self, request):
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if item.query is None:  # a trusted document named by its hash (perlinsos.graphql.trusted)
                named = trusted.document_id(await self._raw_request(request) | {"extensions": item.extensions})
                if named is not None:
                    item.query = self.schema.trusted.resolve(named)
            # the websocket door runs the same checks on each subscribe (perlinsos.graphql.websocket)
            check_request(self.state.settings, item.query, item.operation_name, item.variables, item.extensions)
        return data

    def should_render_graphql_ide(self, request) -> bool:
        # a GET naming a trusted document has no `query` either: it is an operation, not the IDE
        return "documentId" not in request.query_params and super().should_render_graphql_ide(request)

    async def _raw_request(self, request) -> dict:
        """The request's top-level members (``documentId`` is not strawberry's): GET's parameters, or
        the JSON body again (cached; only a request without ``query`` is read twice, and it is small)."""
        if request.method == "GET":
            return dict(request.query_params)
        value = json.loads(await request.get_body())
        return value if isinstance(value, dict) else {}

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        """strawberry's, with HTTP's operations only (no subscriptions) and a typed refusal."""
        method = request_adapter.method
        self.schema.trusted.admit(request_data.query, context.principal)  # production: manifest documents only
        try:
            result = await self.schema.execute(
                request_data.query, root_value=root_value, variable_values=request_data.variables,
                context_value=context, operation_name=request_data.operation_name,
                allowed_operation_types=HTTP_OPERATIONS[method], operation_extensions=request_data.extensions)
            down = unavailable.database_failure(result)
            if down is not None:  # a query's or a mutation's field met a database outage: the whole answer is 503
                raise _Outage(unavailable.DATABASE_UNAVAILABLE, down)
            return result
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise subscription_over_http() from None
            raise HTTPException(400, exc.as_http_error_reason(method)) from None
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise HTTPException(400, "No GraphQL query found in the request") from None

    async def on_ws_connect(self, context: Context):
        """Websockets carry no Authorization header from a browser: the token (and the pilot) come
        in ``connection_init``'s payload, checked as an HTTP request's header is. A bad token or an
        unknown pilot closes the connection (4403)."""
        params = getattr(context, "connection_params", None) or {}
        # a non-browser client may send the token in the handshake instead: checked the same way
        raw = params.get("Authorization") or params.get("authorization") or context.request.headers.get("authorization")
        code = params.get("pilot") or await self._pilot_code(context.request)
        language = params.get("language") or params.get("Accept-Language")  # a browser cannot set the header
        if isinstance(language, str):
            context.language = pick_language(language)
        if not isinstance(code, str | None) or not isinstance(raw, str | None):
            raise ConnectionRejectionError(language_errors.error_dict(
                "BAD_REQUEST", "Parameter koneksi tidak sah. / Invalid connection parameters.", context.language))
        try:
            pilot, hooks, principal, token, household_id = await self._identify(code, raw)
        except (AuthenticationFailed, ConfigurationError, SourceUnavailable, LookupError):
            raise ConnectionRejectionError(language_errors.error_dict(
                "UNAUTHENTICATED", BAD_TOKEN, context.language)) from None
        context.pilot, context.hooks, context.principal, context.token = pilot, hooks, principal, token
        context.viewer_household_id = household_id
        return None

    async def recheck_token(self, context: Context):
        """Each websocket operation checks the connection's token again, as HTTP checks each
        request's: an expired or revoked token, or a staff role taken away, holds no longer.
        Raises :class:`AuthenticationFailed`; returns the principal (``None``: anonymous)."""
        if context.token is None:
            return None
        async with self.state.db.read() as session:
            context.principal = await auth.authenticate(context.token, context.hooks, session)
        return context.principal

    async def _pilot_code(self, request: Request | WebSocket) -> str | None:
        state = self.state
        return request.headers.get(PILOT_HEADER) or await state.pilots.default_code(state.settings.default_pilot)

    async def _identify(self, code: str | None, authorization: str | None):
        """(pilot, hooks, principal, token, the citizen's household id) for both doors. Raises
        LookupError for an unknown pilot, AuthenticationFailed for a bad token."""
        state = self.state
        pilot = await state.pilots.get(code) if code else None
        if code and pilot is None:
            raise LookupError(code)
        hooks = state.pilots.hooks(pilot) if pilot else None
        token = auth.bearer_token(authorization)
        if token is None:
            return pilot, hooks, None, None, None  # anonymous: nothing to read
        # A Core connection, not an ORM session: the same statements without the ORM's per-statement
        # work; in autocommit on PostgreSQL (one statement: no transaction to begin and roll back).
        async with state.db.single_reads() as conn:
            principal, household_id = await auth.identify(token, hooks, conn)
        return pilot, hooks, principal, token, household_id

    async def get_context(self, request: Request | WebSocket, response=None) -> Context:
        state = self.state
        context = Context(db=state.db, plugins=state.plugins, settings=state.settings, pilot=None, hooks=None,
                          principal=None, language=pick_language(request.headers.get("accept-language")),
                          loaders=Loaders(state.db), request=request, pilot_cache=state.pilots)
        if isinstance(request, WebSocket):
            return context  # identified in connection_init (on_ws_connect), where refusing closes cleanly
        code = await self._pilot_code(request)
        try:
            pilot, hooks, principal, token, household_id = await self._identify(code, request.headers.get("authorization"))
        except LookupError:
            raise Refusal(400, "PILOT_UNKNOWN", Text(
                f"Uji coba {code[:64]!r} pada header X-Perlinsos-Pilot tidak ditemukan.",
                f"Unknown pilot {code[:64]!r} in the X-Perlinsos-Pilot header.")) from None
        except AuthenticationFailed:
            # Deliberately vague: which check failed helps an attacker, not the user.
            raise Refusal(401, "UNAUTHENTICATED", BAD_TOKEN) from None
        except ConfigurationError:
            log.exception("pilot %r misconfigured (request %s)", code, requestids.current())
            raise Refusal(503, "SERVICE_UNAVAILABLE", Text(
                "Layanan sedang tidak tersedia. Silakan coba lagi nanti.",
                "The service is unavailable. Please try again later.")) from None
        except SourceUnavailable as exc:  # the identity provider did not answer
            raise _Outage(unavailable.SOURCE_UNAVAILABLE, exc) from None
        context.pilot, context.hooks, context.principal, context.token = pilot, hooks, principal, token
        if pilot is not None and pilot.training and response is not None:
            response.headers["X-Perlinsos-Training"] = "1"  # every answer of a class says it is practice
        logs.note(pilot=pilot.code if pilot else None)
        context.viewer_household_id = household_id
        return context
