"""Fixtures for the SMS plugin: the session's gateway simulator (``sms_sim``, a real ``perlinsos sms-sim``
subprocess) and hooks through the real plugin manager (entry points). Delivery reports are recorded by
the platform's own ``record_delivery_report`` (see test_sms_reports.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from perlinsos.contract import OutgoingMessage, PilotContext
from perlinsos.plugins import PilotHooks, PluginManager
from perlinsos_notify_sms.settings import SmsSettings


@pytest.fixture(autouse=True)
def _clean_sms(request) -> Iterator[None]:
    simulator = request.getfixturevalue("sms_sim") if "sms_sim" in request.fixturenames else None
    if simulator is not None:
        simulator.reset()  # no messages, counters or faults from another test
    yield
    if simulator is not None:
        simulator.reset()


@pytest.fixture(scope="session")
def entry_point_plugins() -> PluginManager:
    """The installed plugins only, found through their entry points."""
    return PluginManager()


def pilot_for(settings: Any, code: str = "BWI-2025", **other_plugins: Any) -> PilotContext:
    plugins = {"notify_sms": settings} if settings is not None else {}
    return PilotContext(id=None, code=code, name=code, region_codes=("35.10",), programmes=("PKH",),
                        plugins=plugins | other_plugins)


@pytest.fixture
def hooks_for(entry_point_plugins):
    """``hooks_for(settings)``: hook callers for a pilot that enables only ``notify_sms``."""

    def make(settings: Any, **other_plugins: Any) -> PilotHooks:
        return entry_point_plugins.for_pilot(pilot_for(settings, **other_plugins))

    return make


def outgoing(recipient: str, short: str = "PKH: LAYAK. NIK 3510********0001.", *, key: str = "decision-1-v1",
             notification_id: int = 1, language: str = "id", attempt: int = 1) -> OutgoingMessage:
    return OutgoingMessage(notification_id=notification_id, idempotency_key=key, recipient=recipient,
                           template="DECISION_ELIGIBLE", language=language, title="Hasil seleksi PKH",
                           body="(the full text)", short=short, attempt=attempt)


def settings(**overrides: Any) -> SmsSettings:
    values = {"gateway_url": "http://127.0.0.1:9", "api_key": "key-a", "sender_id": "PERLINSOS"}
    return SmsSettings(**(values | overrides))
