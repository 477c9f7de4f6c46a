"""``SmsChannel``: the SMS notification channel a pilot gets from ``notification_channels``."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx
from perlinsos.contract import DeliveryResult, OutgoingMessage
from perlinsos.errors import Undeliverable

from perlinsos_notify_sms import client
from perlinsos_notify_sms.numbers import e164, mask_phone
from perlinsos_notify_sms.settings import SmsSettings
from perlinsos_notify_sms.sizing import SmsText, contains_link, fit, gsm_friendly, mask_numbers

log = logging.getLogger("perlinsos_notify_sms")

#: Gateway answers that retrying the same request cannot change (the number or the request is refused).
PERMANENT_STATUSES = frozenset({400, 413, 415, 422})
#: A gateway's error code is echoed in ``DeliveryResult.error`` only when it looks like one.
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,39}")
POINTER_LABEL = {"id": "Rincian:", "en": "Details:"}


class SmsChannel:
    """Sends outbox rows as SMS through the pilot's gateway.

    ``recipient_for`` turns a person's phone into E.164 (or raises ``Undeliverable``); ``send``
    sizes ``message.short`` to ``max_segments`` keeping the portal pointer, and posts it with the
    message's idempotency key — the same on every attempt, so a gateway that saw it sends nothing
    new. Full numbers and NIKs never reach a log line or an error text.
    """

    name = "sms"
    #: at most this many numbers remembered as already validated (a channel lives for a dispatcher's batch)
    CHECKED_MAX = 10_000

    def __init__(self, settings: SmsSettings | Mapping[str, Any]):
        self.settings = settings if isinstance(settings, SmsSettings) else SmsSettings.model_validate(dict(settings))
        #: which texts the platform renders for this channel (perlinsos.notification.minimal)
        self.detail = self.settings.detail
        self._checked: set[str] = set()  # what recipient_for returned: E.164 already, not parsed again by send

    def __repr__(self) -> str:
        return f"SmsChannel(gateway={str(self.settings.gateway_url)!r}, sender_id={self.settings.sender_id!r})"

    # --- the address ------------------------------------------------------------------------------

    def recipient_for(self, person: Mapping[str, Any]) -> str:
        """The person's mobile number in E.164; ``Undeliverable`` (reason in English, without the
        number) when it is missing, malformed, foreign or a landline."""
        to = e164(person.get("phone"))
        if len(self._checked) < self.CHECKED_MAX:
            self._checked.add(to)
        return to

    # --- the text ---------------------------------------------------------------------------------

    def compose(self, message: OutgoingMessage) -> SmsText:
        """The SMS text for ``message``: its ``short`` text with any 16-digit number masked,
        typographic punctuation made GSM-7, the portal URL appended when absent, and at most
        ``max_segments`` segments (shortened with an ellipsis before the portal pointer)."""
        text = mask_numbers(gsm_friendly(message.short or "")).strip()
        link = self.settings.portal_link
        if link and not contains_link(text, link):
            label = POINTER_LABEL.get((message.language or "id")[:2].lower(), POINTER_LABEL["id"])
            text = f"{text}\n{label} {link}" if text else link
        return fit(text, self.settings.max_segments, link=link)

    # --- sending ----------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        settings = self.settings
        try:
            to = message.recipient if message.recipient in self._checked else e164(message.recipient)
        except Undeliverable as exc:
            return DeliveryResult(ok=False, error=str(exc), permanent=True)
        sms = self.compose(message)
        if not sms.text:
            return DeliveryResult(ok=False, error="empty message", permanent=True)
        payload: dict[str, Any] = {"to": to, "sender_id": settings.sender_id, "text": sms.text,
                                   "idempotency_key": message.idempotency_key}
        if settings.delivery_report_url is not None:
            payload["callback_url"] = str(settings.delivery_report_url)
        headers = {"Authorization": f"Bearer {settings.key}", "Idempotency-Key": message.idempotency_key}
        started = time.perf_counter()
        try:
            response = await client.post(settings.messages_url, timeout=settings.timeout_seconds,
                                         json=payload, headers=headers)
        except TimeoutError:
            result = DeliveryResult(ok=False, error=f"SMS gateway: no answer within {settings.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            result = DeliveryResult(ok=False, error=f"SMS gateway unreachable: {type(exc).__name__}")
        else:
            result = _result(response)
        log.info("sms notification=%s attempt=%s to=%s %s/%d segment(s): %s in %.0f ms",
                 message.notification_id, message.attempt, mask_phone(to), sms.encoding, sms.segments,
                 "accepted " + str(result.provider_reference) if result.ok
                 else ("refused: " if result.permanent else "failed: ") + str(result.error),
                 (time.perf_counter() - started) * 1000)
        return result


def _result(response: httpx.Response) -> DeliveryResult:
    status = response.status_code
    body = _json(response)
    if 200 <= status < 300:
        reference = body.get("message_id") if isinstance(body, dict) else None
        if isinstance(reference, str) and 0 < len(reference) <= 100:
            return DeliveryResult(ok=True, provider_reference=reference, **_known_fate(body))
        # Accepted, but we cannot tell which message: retrying with the same key is safe (the
        # gateway answers with the message it already has) and yields the reference.
        return DeliveryResult(ok=False, error=f"SMS gateway: HTTP {status} without a message id")
    code = body.get("error") if isinstance(body, dict) else None
    detail = f" {code}" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
    if status in PERMANENT_STATUSES:
        return DeliveryResult(ok=False, error=f"SMS gateway refused the message: HTTP {status}{detail}",
                              permanent=True)
    if status in (401, 403):
        return DeliveryResult(ok=False, error=f"SMS gateway refused the API key: HTTP {status}{detail}")
    return DeliveryResult(ok=False, error=f"SMS gateway error: HTTP {status}{detail}")


def _known_fate(body: dict[str, Any]) -> dict[str, Any]:
    """A duplicate the gateway has already delivered (or failed to): its fate, since no delivery
    report will be sent for it again. A first send's status is only ever "accepted"."""
    status = body.get("status")
    if body.get("duplicate") is not True or status not in ("DELIVERED", "FAILED"):
        return {}
    code = body.get("error")
    error = f"SMS gateway: {code}" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
    return {"delivery_status": status, "error": error if status == "FAILED" else None}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
