"""The websocket door of ``/graphql`` (graphql-transport-ws and the legacy graphql-ws) behind the
same gate as HTTP.

Strawberry's handlers read every message unchecked: any size, any JSON depth (a 50,000-deep array
raised inside the ASGI app), any shape (a list where an object belongs raised too), documents of
any size. Here each message is measured before it is decoded, checked for shape, and each
``subscribe``/``start`` goes through :func:`perlinsos.graphql.gate.check_request` (what HTTP
runs), a fresh token check (as HTTP checks every request), and two caps on operations in flight:
per connection and per signed-in user, (issuer, subject), across this process's connections.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import MISSING, fields
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from perlinsos.errors import AuthenticationFailed, ConfigurationError, SourceUnavailable
from perlinsos.graphql.gate import Refusal, check_request
from perlinsos.graphql.loaders import Loaders
from perlinsos.graphql import trusted
from perlinsos.graphql.language_errors import error_dict
from perlinsos.graphql.limits import strip_suggestions

#: close codes (a close reason may hold at most 123 bytes)
TOO_BIG = 1009  # RFC 6455: a message too big to process
INVALID = 4400  # graphql-transport-ws: an invalid message
FORBIDDEN = 4403
MAX_ID = 128
TOO_MANY = "TOO_MANY_SUBSCRIPTIONS"
BAD_MESSAGE = "Pesan tidak sah. / Invalid message."
BAD_TOKEN = "Token tidak sah atau kedaluwarsa. / Invalid or expired token."


class GatedSocket(ASGIWebSocketAdapter):
    """Reads messages with the HTTP body's limits: the size before decoding (``MAX_REQUEST_BYTES``),
    JSON too deep or unreadable as a clean close instead of an exception in the app."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        limit = self.view.state.settings.max_request_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
                    await self.close(TOO_BIG, f"Pesan lebih dari {limit} byte. / Message larger than {limit} bytes.")
                    return
                try:
                    message = json.loads(text)
                except RecursionError:
                    await self.close(INVALID, "JSON terlalu dalam. / JSON nested too deeply.")
                    return
                except ValueError:  # not JSON, or an integer past Python's digit limit
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from None
                yield message
        except KeyError:  # a binary frame
            raise NonTextMessageReceived from None
        except WebSocketDisconnect:
            pass


def _error(code: str, message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _scrubbed(value: Any) -> Any:
    """Every error ``message`` in an outgoing websocket message, without "Did you mean …?"."""
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    if isinstance(value, dict):
        return {k: strip_suggestions(v) if k == "message" and isinstance(v, str) else _scrubbed(v)
                for k, v in value.items()}
    return value


#: what a websocket's context holds for the whole connection; the rest is per operation
_CONNECTION = {"db", "plugins", "settings", "pilot", "hooks", "principal", "language", "request", "token",
               "viewer_household_id", "pilot_cache", "connection_params"}


def operation_context(context: Any) -> Any:
    """A context of its own for one operation on a connection: fresh loaders (no data cached from an
    earlier operation) and a fresh access log (each operation's reads audited under its own name)."""
    kept = {f.name: getattr(context, f.name) for f in fields(context)
            if f.name in _CONNECTION or (f.default is MISSING and f.default_factory is MISSING)}
    kept["loaders"] = Loaders(context.db)
    return type(context)(**kept)


class _PerOperation:
    """The schema as strawberry's handlers call it, giving each operation :func:`operation_context`
    (they pass the connection's one context to every operation)."""

    def __init__(self, schema: Any):
        self._schema = schema

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def stream(self, *args: Any, context_value: Any = None, **kwargs: Any) -> Any:
        return await self._schema.stream(*args, context_value=operation_context(context_value), **kwargs)

    async def subscribe(self, *args: Any, context_value: Any = None, **kwargs: Any) -> Any:
        return await self._schema.subscribe(*args, context_value=operation_context(context_value), **kwargs)


class _Gate:
    """What both protocols share; ``in_flight`` is each protocol's count of running operations."""

    view: Any
    context: Any
    schema: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _PerOperation(self.schema)

    def in_flight(self) -> int:
        raise NotImplementedError

    def _shape_ok(self, message: dict, *, payload: bool) -> bool:
        operation_id = message.get("id")
        if not isinstance(operation_id, str) or not 0 < len(operation_id) <= MAX_ID:
            return False
        body = message.get("payload")
        return not payload or (isinstance(body, dict) and isinstance(body.get("query"), str))

    async def _admit(self, payload: dict, replacing: bool = False) -> dict | None:
        """``None`` to run the operation, else the error to answer it with. Raises
        :class:`AuthenticationFailed` when the connection's token no longer holds."""
        settings = self.view.state.settings
        try:
            check_request(settings, payload.get("query"), payload.get("operationName"), payload.get("variables"),
                          payload.get("extensions"))
        except Refusal as refusal:
            return _error(refusal.code, refusal.reason)
        limit = settings.max_subscriptions_per_connection
        if self.in_flight() - replacing >= limit:
            return _error(TOO_MANY, f"Terlalu banyak operasi berjalan di koneksi ini (batas {limit}). / "
                                    f"Too many operations running on this connection (limit {limit}).")
        principal = await self.view.recheck_token(self.context)
        try:
            self.view.schema.trusted.admit(payload.get("query"), principal)  # as HTTP: production runs the manifest
        except Refusal as refusal:
            return _error(refusal.code, refusal.reason)
        if principal is not None:
            users, limit = self.view.subscribers, settings.max_subscriptions_per_user
            sockets = users.setdefault(principal.identity, set())
            sockets.add(self)
            if sum(socket.in_flight() for socket in sockets) - replacing >= limit:
                return _error(TOO_MANY, f"Terlalu banyak langganan aktif untuk akun ini (batas {limit}); tutup "
                                        f"yang lain dulu. / Too many active subscriptions for this account "
                                        f"(limit {limit}): close others first.")
        return self._unparsable(payload["query"])

    def _unparsable(self, query: str) -> dict | None:
        """A syntax error (or a document past ``MAX_DOCUMENT_TOKENS``) answered as HTTP answers it:
        strawberry's subscribe path lets the parser's error escape its task (logged as "Exception in
        worker task", the client told nothing)."""
        try:
            parse(query, max_tokens=self.view.state.settings.max_document_tokens)
        except GraphQLError as error:
            return _error("GRAPHQL_PARSE_FAILED", error.message)
        return None

    async def handle(self) -> None:
        # the protocol handler's own loop (next in the MRO); the socket leaves the per-user count however it ends
        try:
            await super().handle()
        finally:
            self._forget()

    def _forget(self) -> None:
        principal = getattr(self.context, "principal", None)
        if principal is not None:
            sockets = self.view.subscribers.get(principal.identity)
            if sockets is not None:
                sockets.discard(self)
                if not sockets:
                    del self.view.subscribers[principal.identity]

    def _named_document(self, message: dict) -> dict | None:
        """A ``subscribe``/``start`` naming a trusted document (``documentId``, or Apollo's
        ``extensions.persistedQuery``) gets its ``query`` from the manifest; the refusal if unknown."""
        payload = message.get("payload")
        if not isinstance(payload, dict) or payload.get("query") is not None:
            return None
        named = trusted.document_id(payload)
        if named is None:
            return None
        try:
            payload["query"] = self.view.schema.trusted.resolve(named)
        except Refusal as refusal:
            return _error(refusal.code, refusal.reason)
        return None

    def _spoken(self, error: dict) -> dict:
        """A refusal in the connection's language (``connection_init``'s ``language``, else the
        handshake's ``Accept-Language``), with the request id as over HTTP."""
        language = getattr(self.context, "language", None)
        return error_dict(error["extensions"]["code"], error["message"], language)

    def _outgoing(self, message: Any) -> Any:
        return _scrubbed(message) if self.view.state.settings.production else message


class GatedTransportWS(_Gate, BaseGraphQLTransportWSHandler):
    """graphql-transport-ws: a refused operation gets an ``error`` message (with a code); a
    malformed message closes the socket with 4400, a token that no longer holds with 4403."""

    def in_flight(self) -> int:
        return len(self.operations)

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self.handle_invalid_message(BAD_MESSAGE)
        kind = message["type"]
        unknown = self._named_document(message) if kind == "subscribe" else None
        if kind in ("subscribe", "complete") and not self._shape_ok(message, payload=kind == "subscribe" and not unknown):
            return await self.handle_invalid_message(BAD_MESSAGE)
        if unknown is not None:
            return await self.send_message({"id": message["id"], "type": "error", "payload": [self._spoken(unknown)]})
        if kind == "subscribe" and self.connection_acknowledged and message["id"] not in self.operations:
            try:
                refused = await self._admit(message["payload"])
            except (AuthenticationFailed, ConfigurationError, SourceUnavailable):
                return await self.websocket.close(FORBIDDEN, BAD_TOKEN)
            if refused is not None:
                return await self.send_message({"id": message["id"], "type": "error",
                                                "payload": [self._spoken(refused)]})
        await super().handle_message(message)

    async def send_message(self, message: Any) -> None:
        await super().send_message(self._outgoing(message))


class GatedLegacyWS(_Gate, BaseGraphQLWSHandler):
    """The legacy graphql-ws (subscriptions-transport-ws): the same checks; a refused operation
    gets an ``error`` message for its id."""

    def in_flight(self) -> int:
        return len(self.tasks)

    def _not_a_subscription(self, payload: dict) -> dict | None:
        """graphql-ws runs subscriptions only (strawberry would answer a query with a masked error
        and log a trace): anything else is refused, pointing at graphql-transport-ws."""
        try:
            document = parse(payload["query"], max_tokens=self.view.state.settings.max_document_tokens)
        except GraphQLError:
            return None  # strawberry reports the syntax error itself
        operation_name = payload.get("operationName")
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is OperationType.SUBSCRIPTION:
            return None
        return _error("BAD_REQUEST", "Protokol graphql-ws hanya untuk langganan; pakai graphql-transport-ws untuk "
                                     "query dan mutasi. / graphql-ws carries subscriptions only: use "
                                     "graphql-transport-ws for queries and mutations.")

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self.websocket.close(INVALID, BAD_MESSAGE)
        kind = message["type"]
        unknown = self._named_document(message) if kind == "start" else None
        if kind in ("start", "stop") and not self._shape_ok(message, payload=kind == "start" and not unknown):
            return await self.websocket.close(INVALID, BAD_MESSAGE)
        if unknown is not None:
            return await self.send_message({"type": "error", "id": message["id"], "payload": self._spoken(unknown)})
        if kind == "start" and self.connection_acknowledged:
            try:
                refused = await self._admit(message["payload"], replacing=message["id"] in self.tasks)
                refused = refused or self._not_a_subscription(message["payload"])
            except (AuthenticationFailed, ConfigurationError, SourceUnavailable):
                return await self.websocket.close(FORBIDDEN, BAD_TOKEN)
            if refused is not None:
                return await self.send_message({"type": "error", "id": message["id"], "payload": self._spoken(refused)})
        await super().handle_message(message)

    async def send_message(self, message: Any) -> None:
        await super().send_message(self._outgoing(message))
