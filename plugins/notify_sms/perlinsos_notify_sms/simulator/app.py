"""The SMS gateway simulator's HTTP API (Starlette): ``POST /messages`` as a gateway offers it,
signed delivery reports to the caller's ``callback_url``, and ``/sim/*`` controls for tests and
demos. Numbers are masked in its log; ``GET /sim/messages`` shows them whole (synthetic data)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perlinsos_notify_sms.numbers import mask_phone
from perlinsos_notify_sms.reports import sign
from perlinsos_notify_sms.simulator.state import FAIL_ERROR, FAULT_MODES, Faults, GatewayState, Message
from perlinsos_notify_sms.sizing import measure

log = logging.getLogger("perlinsos_notify_sms.simulator")
MAX_SEGMENTS = 10  # longer texts are refused (400), as gateways cap concatenation
MAX_BODY_BYTES = 64 * 1024
_KEY = re.compile(r"[\x21-\x7e]{1,100}")
_SENDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-]{0,10}")


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, stat: str | None = None):
        super().__init__(code)
        self.status, self.code, self.message, self.stat = status, code, message, stat


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _sim(request: Request) -> GatewayState:
    return request.app.state.sim


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Refusal(413, "too_large", f"at most {MAX_BODY_BYTES} bytes", "invalid")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refusal(400, "bad_request", "the body is not JSON", "invalid") from None
    if not isinstance(body, dict):
        raise Refusal(400, "bad_request", "the body must be a JSON object", "invalid")
    return body


class DroppedResponse(Response):
    """Sends the status line and headers of a 202, then nothing: the server closes the connection
    (uvicorn does when an app returns mid-response). The caller sees the connection cut before
    the body, as when a proxy or a mobile link drops an answer the gateway had already acted on."""

    def __init__(self) -> None:
        super().__init__(b'{"dropped": true}', status_code=202, media_type="application/json")

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})


# --- the gateway --------------------------------------------------------------------------------


async def post_message(request: Request) -> Response:
    sim = _sim(request)
    faults = sim.faults
    dropped = faults.mode == "drop" and sim.rng.random() < faults.drop_ratio  # drawn for every request
    if faults.mode == "down":
        raise Refusal(503, "unavailable", "the gateway is unavailable", "unavailable")
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or key.strip() != sim.api_key:
        raise Refusal(401, "unauthorized", "a valid API key is required (Authorization: Bearer ...)", "unauthorized")
    body = await _body(request)
    to, sender_id, text = body.get("to"), body.get("sender_id"), body.get("text")
    key, callback = body.get("idempotency_key") or request.headers.get("idempotency-key"), body.get("callback_url")
    if not isinstance(to, str):
        raise Refusal(400, "bad_request", "to: the recipient in E.164 (+628...)", "invalid")
    if not isinstance(sender_id, str) or not _SENDER.fullmatch(sender_id):
        raise Refusal(400, "bad_request", "sender_id: 1 to 11 letters, digits, spaces, dots or dashes", "invalid")
    if not isinstance(text, str) or not text:
        raise Refusal(400, "bad_request", "text: a non-empty string", "invalid")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise Refusal(400, "bad_request", "idempotency_key: 1 to 100 printable characters", "invalid")
    if callback is not None and (not isinstance(callback, str) or not re.match(r"https?://[^\s/]+", callback)):
        raise Refusal(400, "bad_request", "callback_url: an http(s) URL", "invalid")
    known = sim.messages.get(sim.by_key.get(key, ""))
    if known is not None:  # the same request again (a retry): the same message, nothing sent
        if known.to != to:
            raise Refusal(409, "idempotency_key_reused", "this idempotency key belongs to another recipient",
                          "conflicts")
        known.requests += 1
        sim.stats["duplicates"] += 1
        message, duplicate = known, True
    else:
        refused = sim.refusal(to)
        if refused is not None:
            raise Refusal(422, refused, "the gateway does not deliver to this number", "refused")
        sized = measure(text)
        if sized.segments > MAX_SEGMENTS:
            raise Refusal(400, "text_too_long", f"at most {MAX_SEGMENTS} segments", "invalid")
        message = sim.accept(to, sender_id, text, sized.encoding, sized.segments, key, callback)
        sim.stats["accepted"] += 1
        duplicate = False
    delay = faults.delay_seconds if faults.mode == "slow" else 0.0
    if not duplicate:  # the report follows the answer, as with a real gateway
        request.app.state.reports.schedule(message, delay + sim.report_delay_seconds)
    request.state.log_to = message.to
    if delay:
        sim.stats["slowed"] += 1
        await asyncio.sleep(delay)  # accepted already: a caller that gave up will retry, a duplicate
    if dropped:
        sim.stats["dropped"] += 1
        request.state.dropped = True  # uvicorn then logs "returned without completing response": on purpose
        return DroppedResponse()
    answer = {"message_id": message.message_id, "segments": message.segments, "encoding": message.encoding,
              "status": message.status, "duplicate": duplicate}
    if duplicate and message.error:  # a retry of a message that failed: why, as its report said
        answer["error"] = message.error
    return JSONResponse(answer, status_code=202)


class Reports:
    """Delivery reports, sent in the background: signed like a gateway signs them, retried on
    connection errors, 5xx and 404 (the platform may not have stored the message id yet)."""

    def __init__(self, sim: GatewayState):
        self.sim = sim
        self.tasks: set[asyncio.Task] = set()
        self.http: httpx.AsyncClient | None = None

    def schedule(self, message: Message, delay: float) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(message, delay))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    async def _deliver(self, message: Message, delay: float) -> None:
        sim = self.sim
        await asyncio.sleep(delay)
        failed = sim.fails(message.to)
        message.status, message.error = ("FAILED", FAIL_ERROR) if failed else ("DELIVERED", None)
        sim.stats["failed" if failed else "delivered"] += 1
        if not message.callback_url:
            return
        body = json.dumps({"message_id": message.message_id, "idempotency_key": message.idempotency_key,
                           "status": message.status, "error": message.error,
                           "segments": message.segments, "reported_at": _now()}).encode()
        headers = {"Content-Type": "application/json", "X-Signature": sign(body, sim.api_key),
                   "User-Agent": "perlinsos-sms-sim"}
        outcome: dict[str, Any] = {"status": message.status, "http_status": None, "attempts": 0, "error": None}
        for attempt in range(1, sim.report_attempts + 1):
            outcome["attempts"] = attempt
            sim.stats["report_attempts"] += 1
            if self.http is None:  # served without its lifespan (e.g. through httpx.ASGITransport)
                self.http = httpx.AsyncClient(follow_redirects=False)
            try:
                reply = await self.http.post(message.callback_url, content=body, headers=headers, timeout=5)
            except (httpx.HTTPError, OSError) as exc:
                outcome |= {"http_status": None, "error": type(exc).__name__}
            else:
                outcome |= {"http_status": reply.status_code, "error": None}
                if reply.is_success or (reply.status_code < 500 and reply.status_code != 404):
                    break
            if attempt < sim.report_attempts:
                await asyncio.sleep(sim.report_backoff_seconds * 2 ** (attempt - 1))
        sent = outcome["http_status"] is not None and 200 <= outcome["http_status"] < 300
        sim.stats["reports_sent" if sent else "reports_failed"] += 1
        message.report = outcome
        log.info("delivery report %s %s to=%s -> %s after %d attempt(s)", message.message_id, message.status,
                 mask_phone(message.to), outcome["http_status"] or outcome["error"], outcome["attempts"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- simulator controls ------------------------------------------------------------------------


async def list_messages(request: Request) -> Response:
    sim, q = _sim(request), request.query_params
    found = [m for m in sim.messages.values()
             if q.get("to") in (None, m.to) and q.get("idempotency_key") in (None, m.idempotency_key)]
    return JSONResponse({"messages": [m.as_json() for m in found]})


async def get_message(request: Request) -> Response:
    message = _sim(request).messages.get(request.path_params["message_id"])
    if message is None:
        raise Refusal(404, "unknown_message", "no such message")
    return JSONResponse(message.as_json())


async def stats(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse({**sim.stats_json(), "messages": len(sim.messages), "faults": sim.faults.as_json(),
                         "pending_reports": len(request.app.state.reports.tasks)})


async def set_faults(request: Request) -> Response:
    body = await _body(request)
    mode, delay, ratio = body.get("mode"), body.get("delay_seconds", 0), body.get("drop_ratio", 0)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (delay, ratio))
    if mode not in FAULT_MODES or not numbers or not 0 <= delay <= 600 or not 0 <= ratio <= 1:
        raise Refusal(400, "bad_request", "mode: null|down|slow|drop, delay_seconds 0..600, drop_ratio 0..1")
    sim = _sim(request)
    sim.faults = Faults(mode, float(delay), float(ratio))
    sim.reseed()  # the same faults, the same requests dropped
    return JSONResponse(sim.faults.as_json())


async def reset(request: Request) -> Response:
    request.app.state.reports.cancel_all()
    _sim(request).reset()
    return JSONResponse({"ok": True})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


# --- the application ---------------------------------------------------------------------------


class AccessLog:
    """One log line per request, the recipient masked."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            to, dropped = scope["state"].get("log_to"), scope["state"].get("dropped")
            log.info("%s %s %s%s%s %.1f ms", scope["method"], scope["path"], status[0],
                     f" to={mask_phone(to)}" if to else "", " (fault: answer dropped)" if dropped else "",
                     (time.perf_counter() - started) * 1000)


async def _refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    if exc.stat:
        _sim(request).stats[exc.stat] += 1
    return _error(exc.status, exc.code, exc.message)


def create_simulator(api_key: str = "dev-only-sms-key", *, seed: int = 2025, report_delay_seconds: float = 0.2,
                     report_attempts: int = 3, report_backoff_seconds: float = 0.5,
                     fail_numbers: tuple[str, ...] = (), refuse_numbers: tuple[str, ...] = ()) -> Any:
    """The simulator as an ASGI app (serve it with uvicorn); its state is ``app.state.sim``."""
    sim = GatewayState(api_key=api_key, seed=seed, report_delay_seconds=report_delay_seconds,
                       report_attempts=report_attempts, report_backoff_seconds=report_backoff_seconds,
                       fail_numbers=frozenset(fail_numbers), refuse_numbers=frozenset(refuse_numbers))
    reports = Reports(sim)

    @contextlib.asynccontextmanager
    async def lifespan(app) -> AsyncIterator[None]:
        reports.http = httpx.AsyncClient(follow_redirects=False)
        try:
            yield
        finally:
            reports.cancel_all()
            await reports.http.aclose()

    routes = [
        Route("/messages", post_message, methods=["POST"]),
        Route("/health", health),
        Route("/sim/messages", list_messages),
        Route("/sim/messages/{message_id}", get_message),
        Route("/sim/stats", stats),
        Route("/sim/faults", set_faults, methods=["POST"]),
        Route("/sim/reset", reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={Refusal: _refusal}, lifespan=lifespan)
    app.add_middleware(AccessLog)
    app.state.sim = sim
    app.state.reports = reports
    return app
