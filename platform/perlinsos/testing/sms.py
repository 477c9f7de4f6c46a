"""``SmsSimulator``: the SMS gateway simulator as a real subprocess (``perlinsos sms-sim``) on a free
port. The ``perlinsos_sms`` fixture gives a session's simulator, reset around each test; delivery
reports can go to a :func:`perlinsos.testing.fake_http_source`.

    with SmsSimulator(fail_numbers=(FAILING,)) as sms:
        settings = sms.settings(portal_url="https://portal.example")  # SmsSettings for plugins={"notify_sms": ...}
        ...
        sms.messages(to="+6281234567890")   # what the gateway received
        sms.stats()["duplicates"]
        sms.set_fault("slow", delay_seconds=3)

Everything goes over HTTP, exactly as the plugin talks to a gateway.
"""

from __future__ import annotations

from typing import Any

import httpx
from perlinsos_notify_sms.settings import SmsSettings

from perlinsos.testing.servers import SubprocessServer, free_port, wait_until

DEFAULT_KEY = "test-sms-key"
#: Synthetic Indonesian mobile numbers with a known fate at the session's simulator.
DELIVERABLE = "+6281234567890"
FAILING = "+6281311112222"  # listed with --fail-numbers: the report says FAILED
FAILING_BY_SUFFIX = "+6285712340000"  # ends 0000: FAILED by the simulator's rule
REFUSED = "+6281298765432"  # listed with --refuse-numbers: 422 number_blocked


class SmsSimulator(SubprocessServer):
    """A running ``perlinsos sms-sim`` on a free local port."""

    def __init__(self, api_key: str = DEFAULT_KEY, seed: int = 2025, *, report_delay: float = 0.05,
                 report_attempts: int = 3, report_backoff: float = 0.1, fail_numbers: tuple[str, ...] = (),
                 refuse_numbers: tuple[str, ...] = (), startup_timeout: float = 30):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key, self.seed = api_key, seed
        self._start("sms-sim", ["--port", str(self.port), "--api-key", api_key, "--seed", str(seed),
                                "--report-delay", str(report_delay), "--report-attempts", str(report_attempts),
                                "--report-backoff", str(report_backoff), "--fail-numbers", ",".join(fail_numbers),
                                "--refuse-numbers", ",".join(refuse_numbers)],
                    url=self.url, ready_path="/health", timeout=startup_timeout, drop_env=("PERLINSOS_SMS_API_KEY",))

    # --- the gateway API, raw -------------------------------------------------------------------

    def post(self, body: Any = None, *, api_key: str | None = None, content: bytes | None = None,
             **fields: Any) -> httpx.Response:
        """``POST /messages`` as a client would (``body`` or ``fields``; the simulator's key unless told)."""
        key = self.api_key if api_key is None else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if content is not None:
            return self.http.post("/messages", content=content, headers=headers)
        payload = body if body is not None else {"sender_id": "PERLINSOS", "text": "Tes", **fields}
        return self.http.post("/messages", json=payload, headers=headers)

    # --- what it received, and its controls ----------------------------------------------------

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        """Messages received (filters: ``to``, ``idempotency_key``), oldest first."""
        response = self.http.get("/sim/messages", params=filters)
        response.raise_for_status()
        return response.json()["messages"]

    def message(self, message_id: str) -> dict[str, Any]:
        response = self.http.get(f"/sim/messages/{message_id}")
        response.raise_for_status()
        return response.json()

    def wait_for_report(self, message_id: str, timeout: float = 5) -> dict[str, Any]:
        """The message once its delivery report is done (sent or given up)."""
        return wait_until(lambda: (m := self.message(message_id)) and m["report"] and m, timeout)

    def stats(self) -> dict[str, Any]:
        """Counters: accepted, duplicates, refused, invalid, unauthorized, conflicts, unavailable, slowed,
        dropped, delivered, failed, reports_sent, reports_failed, report_attempts (plus messages, faults)."""
        return self.http.get("/sim/stats").json()

    def set_fault(self, mode: str | None, delay_seconds: float = 0, drop_ratio: float = 0) -> None:
        """``down`` (503), ``slow`` (accept, then answer ``delay_seconds`` late), ``drop`` (accept, then
        cut the connection before the body, for a seeded ``drop_ratio`` share of requests) or None."""
        self.http.post("/sim/faults", json={"mode": mode, "delay_seconds": delay_seconds,
                                            "drop_ratio": drop_ratio}).raise_for_status()

    def reset(self) -> None:
        """Forget messages, counters and faults; cancel pending delivery reports; reseed."""
        self.http.post("/sim/reset").raise_for_status()

    def settings(self, **overrides: Any) -> SmsSettings:
        """SmsSettings pointing at this simulator."""
        values = {"gateway_url": self.url, "api_key": self.api_key, "sender_id": "PERLINSOS"}
        return SmsSettings(**(values | overrides))
