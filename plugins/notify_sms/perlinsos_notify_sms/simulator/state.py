"""The SMS gateway simulator's state: messages by id and idempotency key, counters, faults, and
the rules for numbers it refuses or fails to deliver to."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from perlinsos.idnumbers import InvalidPhone, normalize_phone

FAULT_MODES = (None, "down", "slow", "drop")
#: Numbers ending like this get a FAILED delivery report (as an unreachable handset would).
FAIL_SUFFIX = "0000"
FAIL_ERROR = "ABSENT_SUBSCRIBER"
STAT_NAMES = ("accepted", "duplicates", "refused", "invalid", "unauthorized", "conflicts", "unavailable",
              "slowed", "dropped", "delivered", "failed", "reports_sent", "reports_failed", "report_attempts")


@dataclass(frozen=True)
class Faults:
    mode: str | None = None  # None | "down" | "slow" | "drop"
    delay_seconds: float = 0.0  # "slow": how long each answer waits
    drop_ratio: float = 0.0  # "drop": share of answers cut off (seeded)

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_seconds": self.delay_seconds, "drop_ratio": self.drop_ratio}


@dataclass
class Message:
    message_id: str
    to: str
    sender_id: str
    text: str
    encoding: str
    segments: int
    idempotency_key: str
    callback_url: str | None
    accepted_at: str
    status: str = "ACCEPTED"  # then DELIVERED or FAILED
    error: str | None = None
    requests: int = 1  # how many times it was submitted (1 + duplicates)
    report: dict[str, Any] | None = None  # the delivery report's fate at the callback

    def as_json(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "to": self.to, "sender_id": self.sender_id, "text": self.text,
                "encoding": self.encoding, "segments": self.segments, "idempotency_key": self.idempotency_key,
                "callback_url": self.callback_url, "accepted_at": self.accepted_at, "status": self.status,
                "error": self.error, "requests": self.requests, "report": self.report}


@dataclass
class GatewayState:
    api_key: str
    seed: int = 2025
    report_delay_seconds: float = 0.2
    report_attempts: int = 3
    report_backoff_seconds: float = 0.5
    fail_numbers: frozenset[str] = frozenset()
    refuse_numbers: frozenset[str] = frozenset()
    messages: dict[str, Message] = field(default_factory=dict)  # by message id, in arrival order
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key → message id
    stats: Counter = field(default_factory=Counter)
    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reseed(self) -> None:
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        self.messages.clear()
        self.by_key.clear()
        self.stats.clear()
        self.faults = Faults()
        self.reseed()

    def stats_json(self) -> dict[str, int]:
        return {name: self.stats[name] for name in STAT_NAMES}

    def refusal(self, to: str) -> str | None:
        """Why the gateway refuses ``to`` (an error code), or ``None``: it takes Indonesian mobile
        numbers in E.164 only, and not the numbers it was told to refuse."""
        try:
            if normalize_phone(to) != to:
                return "invalid_number"
        except (InvalidPhone, TypeError):
            return "invalid_number"
        return "number_blocked" if to in self.refuse_numbers else None

    def fails(self, to: str) -> bool:
        return to in self.fail_numbers or to.endswith(FAIL_SUFFIX)

    def accept(self, to: str, sender_id: str, text: str, encoding: str, segments: int, key: str,
               callback_url: str | None) -> Message:
        message = Message(message_id=f"sim-{uuid.uuid4().hex[:20]}", to=to, sender_id=sender_id, text=text,
                          encoding=encoding, segments=segments, idempotency_key=key, callback_url=callback_url,
                          accepted_at=datetime.now(UTC).isoformat(timespec="milliseconds"))
        self.messages[message.message_id] = message
        self.by_key[key] = message.message_id
        return message
