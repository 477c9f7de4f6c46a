"""The websocket door of /graphql passes the same gate as HTTP (issue 15, item 3).

Message and document size, JSON depth, message shape, the token (at connection_init and again on
every operation), depth/alias/cost limits, operation names, the production switch, and caps on
operations in flight per connection and per user. Over a real ASGI websocket (starlette's
TestClient) for both protocols, and at the end over TCP against ``perlinsos serve`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import replace

import anyio.from_thread
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from fixtures import seed
from fixtures.servers import SubprocessServer, free_port
from perlinsos.app import create_app
from perlinsos.db.engine import Database
from perlinsos.db.models import StaffAssignment

PILOT = "BWI-2025"
TRANSPORT, LEGACY = "graphql-transport-ws", "graphql-ws"
CITIZEN = f"citizen:{seed.nik(1)}"
SUBSCRIBE = "subscription { notifications { title } }"


@pytest.fixture
def make_app(settings, plugin_manager, db, pilot):
    """A client of a new app, development or production. Without the lifespan (production's start-up
    refuses the fixture pilot's development secrets), but on one event loop for all its sockets,
    on which its database is disposed at the end."""
    with contextlib.ExitStack() as stack:
        def make(**overrides):
            app = create_app(replace(settings, dispatcher_in_process=False, **overrides), plugin_manager)
            client = TestClient(app)
            client.portal = portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
            stack.callback(portal.call, app.state.perlinsos.db.dispose)
            return client

        yield make


@pytest.fixture
def web(make_app):
    return make_app()


@pytest.fixture(autouse=True)
def no_unhandled_errors(caplog):
    """Nothing a client sends may end as an exception logged by the app, strawberry or the server."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()[:200]}" for r in bad]


class Session:
    """One websocket of either protocol, with the messages each expects."""

    def __init__(self, ws, protocol: str):
        self.ws, self.protocol = ws, protocol

    def init(self, payload: dict | None = None) -> dict:
        self.send({"type": "connection_init", "payload": payload if payload is not None else {}})
        return self.receive()

    def send(self, message) -> None:
        self.ws.send_text(message if isinstance(message, str) else json.dumps(message))

    def receive(self) -> dict:
        """The next message that is not the end of an earlier operation."""
        while (message := json.loads(self.ws.receive_text()))["type"] == "complete":
            pass
        return message

    def run(self, op_id: str, query: str, **payload) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT else "start"
        self.send({"id": op_id, "type": kind, "payload": {"query": query, **payload}})

    def errors(self, op_id: str) -> list[dict]:
        """The refusal of operation ``op_id`` (an ``error`` message), as a list of errors."""
        message = self.receive()
        assert message["type"] == "error" and message["id"] == op_id, message
        payload = message["payload"]
        return payload if isinstance(payload, list) else [payload]

    def result(self, op_id: str) -> dict:
        message = self.receive()
        assert message["type"] in ("next", "data") and message["id"] == op_id, message
        return message["payload"]

    def closed(self) -> WebSocketDisconnect:
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                self.ws.receive_text()
        return closed.value


def connect(web: TestClient, protocol: str = TRANSPORT, headers: dict | None = None):
    return web.websocket_connect("/graphql", subprotocols=[protocol],
                                 # the refusals' texts asserted are the English ones (docs/errors.md)
                                 headers={"X-Perlinsos-Pilot": PILOT, "Accept-Language": "en"} if headers is None
                                 else dict(headers))


def session(ws, protocol: str, token: str | None = None) -> Session:
    s = Session(ws, protocol)
    assert s.init({"Authorization": f"Bearer {token}"} if token else {})["type"] == "connection_ack"
    return s


# --- size and shape, before anything is parsed -------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_a_message_over_the_request_limit_closes_the_socket_before_it_is_decoded(web, protocol):
    with connect(web, protocol) as ws:
        s = session(ws, protocol)
        s.run("1", "{ viewer { kind } }" + " " * 100_001)
        closed = s.closed()
        assert closed.code == 1009 and "100000 bytes" in closed.reason


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_a_document_over_the_document_limit_is_refused_as_over_http(web, protocol):
    with connect(web, protocol) as ws:
        s = session(ws, protocol)
        s.run("1", "{ viewer { kind } }" + " " * 25_000)
        (error,) = s.errors("1")
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and "larger than 20000 bytes" in error["message"]
        s.run("2", "{ viewer { kind } }")  # the connection stays usable
        if protocol == TRANSPORT:
            assert s.result("2")["data"] == {"viewer": {"kind": "anonymous"}}
        else:  # graphql-ws carries subscriptions only: a query is refused, clearly
            (error,) = s.errors("2")
            assert error["extensions"]["code"] == "BAD_REQUEST" and "graphql-transport-ws" in error["message"]


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_json_50000_deep_is_refused_with_a_close_not_an_exception(web, protocol):
    with connect(web, protocol) as ws:
        s = session(ws, protocol)
        s.send("[" * 50_000 + "]" * 50_000)
        closed = s.closed()
        assert closed.code == 4400 and "too deeply" in closed.reason


MALFORMED = {
    TRANSPORT: ["[]", "5", '"subscribe"', '{"type": 5}', '{"type": "subscribe", "id": ["x"], "payload": {}}',
                '{"type": "subscribe", "id": "1", "payload": "{ viewer { kind } }"}',
                '{"type": "subscribe", "id": "1", "payload": {"query": null}}',
                '{"type": "subscribe", "id": "1", "payload": {"query": 5}}', '{"type": "complete", "id": [1]}',
                '{"type": "subscribe", "id": "' + "x" * 200 + '", "payload": {"query": "{ viewer { kind } }"}}'],
    LEGACY: ["[]", '{"type": null}', '{"type": "start"}', '{"type": "start", "id": "1", "payload": []}',
             '{"type": "start", "id": "1", "payload": {}}', '{"type": "stop"}', '{"type": "stop", "id": {}}'],
}


@pytest.mark.parametrize("protocol,message", [(p, m) for p, ms in MALFORMED.items() for m in ms])
def test_a_malformed_message_closes_the_socket_cleanly(web, protocol, message):
    with connect(web, protocol) as ws:
        s = session(ws, protocol)
        s.send(message)
        assert s.closed().code == 4400


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_a_syntax_error_or_too_many_tokens_is_answered_not_lost_in_a_task(web, protocol):
    """strawberry's subscribe path let the parser's error escape ("Exception in worker task")."""
    with connect(web, protocol) as ws:
        s = session(ws, protocol)
        s.run("1", "subscription { notifications { title }")
        (error,) = s.errors("1")
        assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED" and "Syntax Error" in error["message"]
        s.run("2", "subscription { notifications { " + "title " * 3_000 + "} }")
        assert "more than 3000 tokens" in s.errors("2")[0]["message"]


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_variables_too_deep_or_of_the_wrong_shape_are_refused(web, protocol):
    with connect(web, protocol) as ws:
        s = session(ws, protocol)
        nested: dict = {}
        for _ in range(25):
            nested = {"a": nested}
        s.run("1", "query($x: JSON) { viewer { kind } }", variables={"x": nested})
        assert "nested deeper than 20" in s.errors("1")[0]["message"]
        s.run("2", "{ viewer { kind } }", variables=[1])
        assert s.errors("2")[0]["extensions"]["code"] == "BAD_REQUEST"


# --- the token ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
@pytest.mark.parametrize("payload,headers", [
    ({"Authorization": "Bearer bad:forged"}, None),
    ({"Authorization": "Basic Y2l0aXplbjpz"}, None),
    ({"Authorization": ["Bearer staff:admin"]}, None),
    ({"Authorization": "Bearer staff:admin", "pilot": "NOPE-1"}, None),
    ({"Authorization": "Bearer staff:admin", "pilot": {"code": PILOT}}, None),
    ({}, {"X-Perlinsos-Pilot": "NOPE-1"}),
    ({}, {"X-Perlinsos-Pilot": PILOT, "Authorization": "Bearer bad:forged"}),
])
def test_a_bad_token_or_pilot_is_refused_at_connection_init(web, protocol, payload, headers):
    with connect(web, protocol, headers) as ws:
        s = Session(ws, protocol)
        s.send({"type": "connection_init", "payload": payload})
        if protocol == TRANSPORT:
            assert s.closed().code == 4403
        else:
            assert s.receive()["type"] == "connection_error"
            s.closed()


async def _revoke(url: str, subject: str) -> None:
    from datetime import UTC, datetime

    database = Database(url)
    try:
        async with database.write() as session_:
            await session_.execute(update(StaffAssignment).where(StaffAssignment.subject == subject)
                                   .values(revoked_at=datetime.now(UTC)))
    finally:
        await database.dispose()


async def test_the_token_and_roles_are_checked_again_on_every_operation(make_app, db, settings):
    """As HTTP checks each request: a role revoked while the socket is open counts at once."""
    await seed.staff(db, "admin", "ADMIN", "35")
    web = make_app()
    query = "{ staffAssignments { nodes { subject } } }"

    def scenario():
        with connect(web) as ws:
            s = session(ws, TRANSPORT, "staff:admin")
            s.run("1", query)
            assert s.result("1")["data"]["staffAssignments"]["nodes"] == [{"subject": "admin"}]
            asyncio.run(_revoke(settings.database_url, "admin"))
            s.run("2", query)
            answer = s.result("2")
            assert answer["data"] is None and answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    await asyncio.to_thread(scenario)


async def test_each_operation_on_a_socket_is_audited_under_its_own_name(make_app, db, pilot):
    """One context per connection meant one access log: after the first operation's rows were
    written, later operations' reads of personal data were written nowhere."""
    await seed.registrations(db, pilot, 1)
    await seed.staff(db, "admin", "ADMIN", "35")
    web = make_app()
    read = 'query {} { registrations(pilot: "BWI-2025", first: 5) { nodes { registrant { name } } } }'
    log = "{ me { dataAccessLog(first: 20) { edges { node { operation } } } } }"

    def scenario() -> list[str]:
        with connect(web) as ws:
            s = session(ws, TRANSPORT, "staff:admin")
            for n, name in enumerate(["First", "Second"]):
                s.run(str(n), read.replace("{}", name, 1))
                assert s.result(str(n))["data"]["registrations"]["nodes"] == [{"registrant": {"name": "Warga Sintetis 0"}}]
            s.run("2", "query Third { viewer { kind } }")
            s.result("2")
        answer = web.post("/graphql", json={"query": log},
                          headers={"X-Perlinsos-Pilot": PILOT, "Authorization": f"Bearer citizen:{seed.nik(0)}"})
        return sorted(e["node"]["operation"] for e in answer.json()["data"]["me"]["dataAccessLog"]["edges"])

    assert await asyncio.to_thread(scenario) == ["First", "Second"]


# --- limits on the document, and production ----------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_depth_aliases_and_operation_names_are_limited_on_subscribe(web, protocol):
    with connect(web, protocol) as ws:
        s = session(ws, protocol, CITIZEN)
        aliases = "subscription { " + " ".join(f"a{i}: notifications {{ title }}" for i in range(31)) + " }"
        s.run("1", aliases)
        assert s.errors("1")[0]["extensions"]["code"] == "TOO_MANY_ALIASES"
        long_name = "A" * 129
        s.run("2", f"subscription {long_name} {{ notifications {{ title }} }}")
        (error,) = s.errors("2")
        assert error["extensions"]["code"] == "OPERATION_NAME_TOO_LONG" and long_name not in json.dumps(error)
        s.run("3", "query A { viewer { kind } }", operationName=long_name)
        assert s.errors("3")[0]["extensions"]["code"] == "BAD_REQUEST"
        s.run("4", "query A { viewer { kind } }", operationName="A-B")
        assert s.errors("4")[0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
def test_production_answers_over_the_websocket_give_no_suggestions_and_no_introspection(make_app, protocol):
    web = make_app(production=True, trusted_documents="allow")  # documents outside the manifest, on purpose
    with connect(web, protocol) as ws:
        s = session(ws, protocol, "staff:admin")
        s.run("1", "subscription { notifications { titel } }")
        s.run("2", "subscription { notificationz { title } }")
        if protocol == TRANSPORT:  # graphql-ws carries subscriptions only
            s.run("3", 'mutation($r: StaffRole!) { assignStaff(input: {subject: "m", role: $r, regionCode: "35"}) '
                       '{ errors { code } } }', variables={"r": "ADMN"})
            s.run("4", "{ __schema { types { name } } }")
        answers = [s.receive() for _ in range(4 if protocol == TRANSPORT else 2)]
        text = json.dumps(answers)
        assert "Did you mean" not in text and "Cannot query field 'titel'" in text
        assert protocol == LEGACY or "introspection has been disabled" in text


# --- caps on operations in flight --------------------------------------------------------------


def _subscribe_until_refused(s: Session, prefix: str, count: int) -> list[dict]:
    for i in range(count):
        s.run(f"{prefix}{i}", SUBSCRIBE)
    s.send({"type": "ping"})  # answered after every subscribe above was handled, in order
    replies = []
    while (message := s.receive())["type"] != "pong":
        replies.append(message)
    return replies


async def test_operations_in_flight_are_capped_per_connection_and_per_user(make_app, db, pilot):
    await seed.registrations(db, pilot, 2)
    web = make_app(max_subscriptions_per_connection=3, max_subscriptions_per_user=5)

    def scenario():
        with connect(web) as one, connect(web) as two, connect(web) as other:
            first = session(one, TRANSPORT, CITIZEN)
            (refused,) = _subscribe_until_refused(first, "a", 4)
            assert refused["id"] == "a3" and refused["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
            assert "this connection (limit 3)" in refused["payload"][0]["message"]
            second = session(two, TRANSPORT, CITIZEN)  # the same citizen: 3 + 2 reach the cap of 5
            (refused,) = _subscribe_until_refused(second, "b", 3)
            assert refused["id"] == "b2" and "this account (limit 5)" in refused["payload"][0]["message"]
            # another citizen is not affected; and completing one frees its place
            assert _subscribe_until_refused(session(other, TRANSPORT, f"citizen:{seed.nik(0)}"), "c", 3) == []
            first.send({"id": "a0", "type": "complete"})
            assert _subscribe_until_refused(second, "d", 1) == []

    await asyncio.to_thread(scenario)


# --- the real thing: `perlinsos serve` over TCP ------------------------------------------------


class Served(SubprocessServer):
    """``perlinsos serve`` on a free port, over the test's database."""

    def __init__(self, database_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._start("serve", ["--port", str(self.port), "--database-url", database_url], url=self.url,
                    ready_path="/health", timeout=60)


async def _ws_closed(url: str, *messages: str) -> tuple[int, str]:
    """Send ``messages`` after connection_init; the close code and reason the server ends with."""
    async with ws_connect(url, subprotocols=[TRANSPORT], max_size=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for message in messages:
            await ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_perlinsos_serve_applies_the_gate_over_tcp_names_no_server_and_caches_nothing(database_url):
    with Served(database_url) as server:
        answer = server.http.post("/graphql", json={"query": "{ viewer { kind } }"})
        assert answer.json() == {"data": {"viewer": {"kind": "anonymous"}}}
        assert answer.headers["cache-control"] == "no-store" and "server" not in answer.headers
        assert answer.headers["date"]  # an origin server with a clock sends Date (RFC 9110)
        over_http = server.http.post("/graphql", json={"query": SUBSCRIBE})
        assert over_http.status_code == 400 and over_http.json()["errors"][0]["extensions"]["code"] == \
            "SUBSCRIPTION_OVER_HTTP"
        url = f"ws://127.0.0.1:{server.port}/graphql"
        huge = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { kind } }" + " " * 15_000_000}})
        assert (await _ws_closed(url, huge))[0] == 1009  # uvicorn's ws_max_size, before the app reads it
        assert await _ws_closed(url, "[" * 50_000 + "]" * 50_000) == (4400, "JSON terlalu dalam. / JSON nested too deeply.")
        async with ws_connect(url, subprotocols=[TRANSPORT]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer forged.jwt.x"}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 4403
        log = server.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log and "ERROR" not in log, log[-3000:]
