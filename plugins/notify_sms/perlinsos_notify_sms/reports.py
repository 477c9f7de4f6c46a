"""Delivery reports: the gateway's signed callback that marks an SMS DELIVERED or FAILED.

``POST /plugins/notify_sms/delivery-reports`` with a JSON body ``{"message_id": "...", "status":
"DELIVERED" | "FAILED", "error": "..." | null}`` (other fields are ignored) and the header
``X-Signature: <hex HMAC-SHA256 of the raw body, keyed by the pilot's api_key>``. Several pilots
may use different keys, so the signature is checked against each pilot's key first (the
platform's ``signing_pilots``), before the body is parsed or its message looked up; then
``record_delivery_report`` finds the notification and records the report if it is one of those
pilots'.

Answers: 200 recorded; 400 malformed body (a message id or key that is not 1 to 100 printable
ASCII characters); 401 missing or wrong signature; 404 unknown message id; 413 body too large;
503 the platform cannot record reports (the gateway retries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perlinsos_notify_sms.settings import settings_of

log = logging.getLogger("perlinsos_notify_sms.reports")

PATH = "/plugins/notify_sms/delivery-reports"
CHANNEL = "sms"
MAX_BODY_BYTES = 16 * 1024
STATUSES = {"DELIVERED": True, "FAILED": False}
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_LONG_NUMBER = re.compile(r"\+?\d[\d ]{6,}\d")  # a phone number (or worse) inside a gateway's error text
#: a gateway's message id or an idempotency key: printable ASCII, no spaces (never a NUL byte,
#: which PostgreSQL refuses in text)
_REFERENCE = re.compile(r"[\x21-\x7e]{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def sign(body: bytes, key: str) -> str:
    """The signature a gateway puts in ``X-Signature``: hex HMAC-SHA256 of the raw body."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, key: str, signature: str) -> bool:
    return hmac.compare_digest(sign(body, key), signature.strip().lower())


class BadReport(ValueError):
    pass


def parse_report(body: bytes) -> tuple[str, bool, str | None]:
    """``(message_id, delivered, error)`` from a report body; ``BadReport`` when malformed."""
    try:
        report = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadReport("the body is not JSON") from None
    if not isinstance(report, dict):
        raise BadReport("the body must be a JSON object")
    message_id, status, error = report.get("message_id"), report.get("status"), report.get("error")
    if not isinstance(message_id, str) or not _REFERENCE.fullmatch(message_id):
        raise BadReport("message_id: 1 to 100 printable ASCII characters")
    if status not in STATUSES:
        raise BadReport("status: DELIVERED or FAILED")
    if error is not None and not isinstance(error, str):
        raise BadReport("error: a string or null")
    if error is not None:
        error = _CONTROL.sub(" ", _LONG_NUMBER.sub("[number]", error))[:200].strip() or None
    return message_id, STATUSES[status], error


def client_reference(body: bytes) -> str | None:
    """The idempotency key the gateway echoes back (lets a report arrive before the send is recorded)."""
    try:
        key = json.loads(body).get("idempotency_key")
    except (ValueError, AttributeError):
        return None
    return key if isinstance(key, str) and _REFERENCE.fullmatch(key) else None


def _verifier(body: bytes, signature: str):
    def verify(pilot: Any) -> bool:
        try:
            settings = settings_of(pilot)
        except ValidationError:
            return False
        return settings is not None and signature_ok(body, settings.key, signature)

    return verify


async def _signers(state: Any, verify) -> list[int]:
    """The pilots whose key signed the body (``perlinsos.notification.reports``, looked up on each call)."""
    from perlinsos.notification.reports import signing_pilots

    return await signing_pilots(state, verify)


async def _record(state: Any, **kwargs: Any) -> str:
    """The platform's recorder (``perlinsos.notification.reports``), looked up on each call."""
    from perlinsos.notification.reports import record_delivery_report

    return await record_delivery_report(state, **kwargs)


def _answer(status: int, error: str | None = None, message: str | None = None) -> JSONResponse:
    if error is None:
        return JSONResponse({"ok": True}, status_code=status)
    return JSONResponse({"error": error, "message": message}, status_code=status)


async def _read(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def delivery_report(request: Request) -> Response:
    body = await _read(request)
    if body is None:
        return _answer(413, "too_large", f"at most {MAX_BODY_BYTES} bytes")
    signature = request.headers.get("x-signature", "").strip().lower()
    if not _HEX_SIGNATURE.fullmatch(signature):
        return _answer(401, "bad_signature", "X-Signature: the hex HMAC-SHA256 of the body is required")
    state, verify = request.app.state.perlinsos, _verifier(body, signature)
    try:
        # the signature first: nothing an unproven caller sent is parsed further or looked up
        signers = await _signers(state, verify)
        if not signers:
            return _answer(401, "bad_signature", "the signature does not match")
        try:
            message_id, delivered, error = parse_report(body)
        except BadReport as exc:
            return _answer(400, "bad_request", str(exc))
        outcome = await _record(state, channel=CHANNEL, provider_reference=message_id, delivered=delivered,
                                error=error, verify=verify, idempotency_key=client_reference(body),
                                pilot_ids=signers)
    except ImportError:
        log.error("delivery report not recorded: the platform has no perlinsos.notification.reports")
        return _answer(503, "unavailable", "delivery reports cannot be recorded now; retry later")
    log.info("delivery report %s %s: %s", message_id, "DELIVERED" if delivered else "FAILED", outcome)
    if outcome == "ok":
        return _answer(200)
    if outcome == "unknown":
        return _answer(404, "unknown_message", "no SMS with this message id")
    if outcome == "forbidden":
        return _answer(401, "bad_signature", "the signature does not match")
    log.error("delivery report %s: unexpected answer %r from record_delivery_report", message_id, outcome)
    return _answer(500, "internal", "the report could not be recorded")


def routes() -> list[Route]:
    return [Route(PATH, delivery_report, methods=["POST"], name="notify_sms_delivery_reports")]
